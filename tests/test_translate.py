import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import write_pairs
from helpers import assert_user_error, train_run
from rnn_tf.cli import main
from rnn_tf.tasks.translate import TranslateConfig
from rnn_tf.corpora import load_pairs
from rnn_tf.decoding import END_ID, START_ID, Decoder, strip_output
from rnn_tf.errors import UserError
from rnn_tf.models.layers import ATTENTIONS
from rnn_tf.models.seq2seq import build_seq2seq
from rnn_tf.runs import RunDir
from rnn_tf.translate import (
    SPLITS, evaluation_pairs, masked_loss, sentence_text, token_ids, train_translator, translate_pairs,
    translate_texts,
)
from rnn_tf.vocab import Vocabulary

@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory):
    return write_pairs(tmp_path_factory.mktemp("pairs") / "fra.txt")


TINY = dict(units=8, embedding_dim=6, batch_size=4, epochs=2, seed=2, max_words=None, test_fraction=0.15,
            val_fraction=0.15)


# --- data ------------------------------------------------------------------------------------------
def test_pairs_are_normalised_filtered_and_reversible(tmp_path):
    path = write_pairs(tmp_path / "fra.txt", attribution=True)
    pairs = load_pairs(str(path))
    assert pairs[0] == (["i", "am", "red", "."], ["je", "suis", "rouge", "!"])
    assert (["la", "maison", "est", "très", "grande", "et", "elle", "est", "rouge", "."]) == pairs[-1][1]  # accents kept
    assert len(load_pairs(str(path), max_words=5)) == 20
    prefixed = load_pairs(str(path), prefix_filter=True)
    assert {" ".join(e[:2]) for e, _ in prefixed} == {"i am", "he is", "you are"}
    assert load_pairs(str(path), reverse=True)[0] == (["je", "suis", "rouge", "!"], ["i", "am", "red", "."])


def test_a_malformed_pairs_file_names_the_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("Hello.\tBonjour.\nno tab on this line\n", encoding="utf-8")
    with pytest.raises(UserError, match="line 2 is not 'english<TAB>translation'"):
        load_pairs(str(path))
    with pytest.raises(UserError, match="not found"):
        load_pairs(str(tmp_path / "none.txt"))
    with pytest.raises(UserError, match="no sentence pairs left"):
        load_pairs(str(write_pairs(tmp_path / "ok.txt")), max_words=1)


# --- the model ---------------------------------------------------------------------------------------
SOURCE = np.array([[5, 6, 7, 0, 0], [8, 9, 0, 0, 0]], "int32")
TARGET_IN = np.array([[START_ID, 4, 5, 6], [START_ID, 7, 0, 0]], "int32")
TARGET_OUT = np.array([[4, 5, 6, END_ID], [7, END_ID, 0, 0]], "int32")


@pytest.mark.parametrize("attention", ATTENTIONS)
@pytest.mark.parametrize("cell, bidirectional, layers", [("gru", False, 1), ("lstm", True, 2), ("simple_rnn", False, 2)])
def test_step_view_equals_teacher_forcing_and_padding_gets_no_attention(attention, cell, bidirectional, layers):
    model = build_seq2seq(12, 10, cell, 6, layers, bidirectional, attention, 5)
    full = model.training([SOURCE, TARGET_IN]).numpy()
    memory, states, mask = Decoder(model)._encode(tf.constant(SOURCE))  # as decoding feeds the step view
    for t in range(TARGET_IN.shape[1]):
        logits, *rest = model.step([tf.constant(TARGET_IN[:, t]), *states, memory, mask])
        states, weights = rest[:-1], rest[-1].numpy()
        real = TARGET_IN[:, t] != 0
        np.testing.assert_allclose(logits.numpy()[real], full[real, t], rtol=1e-4, atol=1e-5)
        assert np.all(weights[SOURCE == 0] == 0.0)  # padding never receives attention
        if attention != "none":
            np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-5)


def test_the_loss_ignores_padding():
    model = build_seq2seq(12, 10, "gru", 6, attention="luong-dot", embedding_dim=5)
    logits = model.training([SOURCE, TARGET_IN]).numpy()
    ce = keras.losses.sparse_categorical_crossentropy(TARGET_OUT, logits, from_logits=True).numpy()
    real = TARGET_OUT != 0
    # per position, so that Keras's mean over positions (and its scaling under tf.distribute) applies
    assert float(np.mean(masked_loss(TARGET_OUT, logits))) == pytest.approx(ce[real].mean(), rel=1e-5)


def sequence_logprob(model, source, output):
    """log p(output, <end> | source) under teacher forcing."""
    out = list(output) + [END_ID]
    tin = np.array([[START_ID] + out[:-1]], "int32")
    logp = tf.nn.log_softmax(model.training([source[None], tin])).numpy()[0]
    return sum(logp[t, tok] for t, tok in enumerate(out))


def test_beam_of_one_is_greedy_and_a_wider_beam_scores_at_least_as_well():
    keras.utils.set_random_seed(0)
    model = build_seq2seq(12, 10, "gru", 8, attention="bahdanau", embedding_dim=5)
    decoder = Decoder(model)
    greedy, _ = decoder.greedy(SOURCE, 8)
    np.testing.assert_array_equal(decoder.beam(SOURCE, 1, 8, alpha=0.0), greedy)
    wide = decoder.beam(SOURCE, 4, 8, alpha=0.0)
    for i in range(len(SOURCE)):
        g, b = strip_output(greedy[i]), strip_output(wide[i])
        if END_ID in greedy[i] and END_ID in wide[i]:
            assert sequence_logprob(model, SOURCE[i], b) >= sequence_logprob(model, SOURCE[i], g) - 1e-4


def test_each_decoding_loop_is_traced_once_for_batches_of_any_shape():
    model = build_seq2seq(12, 10, "gru", 8, attention="luong-dot", embedding_dim=5)
    decoder = Decoder(model)
    for source, length in ((SOURCE, 6), (SOURCE[:2, :3], 9), (SOURCE[:1], 4)):
        decoder.greedy(source, length)
        decoder.beam(source, 3, length)
        decoder.beam(source, 2, length)
    assert decoder.greedy_loop.experimental_get_tracing_count() == 1
    assert decoder.beam_loop.experimental_get_tracing_count() == 1


def test_teacher_forced_attention_of_the_greedy_output_is_the_greedy_attention():
    keras.utils.set_random_seed(1)
    model = build_seq2seq(12, 10, "gru", 8, attention="luong-general", embedding_dim=5)
    decoder = Decoder(model)
    ids, weights = decoder.greedy(SOURCE, 6)
    outputs = [strip_output(row) for row in ids]
    again = decoder.attention(SOURCE, outputs)
    for i, out in enumerate(outputs):
        rows = min(len(out) + 1, ids.shape[1])  # a translation cut at max_length has no <end> row
        np.testing.assert_allclose(again[i, :rows], weights[i, :rows], atol=1e-5)
    assert np.all(again[1, :, 2:] == 0.0)  # padding gets no weight here either


def test_sampling_is_seeded():
    model = build_seq2seq(12, 10, "gru", 8, embedding_dim=5)
    decoder = Decoder(model)
    a, _ = decoder.greedy(SOURCE, 6, temperature=1.5, seed=4)
    b, _ = decoder.greedy(SOURCE, 6, temperature=1.5, seed=4)
    np.testing.assert_array_equal(a, b)


# --- runs --------------------------------------------------------------------------------------------
def train(run_dir, pairs, **kw):
    return train_run("translate", run_dir, {"pairs": str(pairs), **TINY, **kw})


@pytest.fixture(scope="module")
def trained(tmp_path_factory, pairs_file):
    run_dir = tmp_path_factory.mktemp("translate") / "run"
    return run_dir, train(run_dir, pairs_file)


def test_a_translation_run_is_complete_and_reloads_identically(trained):
    run_dir, result = trained
    for name in ("config.json", "source_vocab.json", "target_vocab.json", "split.json", "best.weights.h5",
                 "metrics.json", "history.csv"):
        assert (run_dir / name).is_file(), name
    assert {"bleu", "chrf", "sentences"} <= set(result.report) and result.report["sentences"] == 3
    a = translate_texts(str(run_dir), ["I am red.", "He is blue."])
    b = translate_texts(str(run_dir), ["I am red.", "He is blue."])
    assert [r["translation"] for r in a] == [r["translation"] for r in b]
    assert a[0]["attention"].shape[1] == 4  # one column per source token
    assert translate_texts(str(run_dir), ["I am red."], beam_size=3)[0]["attention"] is None
    beam = translate_texts(str(run_dir), ["I am red.", "He is blue."], beam_size=3, attention=True)
    for r in beam:
        assert r["attention"].shape == (len(r["tokens"]) + 1, 4)
        np.testing.assert_allclose(r["attention"].sum(axis=1), 1.0, rtol=1e-5)


def test_every_epoch_translates_the_same_validation_sentences_into_samples_txt(trained):
    run_dir = str(trained[0])
    blocks = open(os.path.join(run_dir, "samples.txt"), encoding="utf-8").read().split("----- translations after ")
    assert [b.split(" -----")[0] for b in blocks[1:]] == ["epoch 1", "epoch 2"]
    lines = blocks[-1].splitlines()[1:]
    sources, outputs, references = lines[0::3], lines[1::3], lines[2::3]
    cfg = TranslateConfig.from_dict(RunDir(run_dir).read_config())
    val = evaluation_pairs(run_dir, cfg, part="val")[:3]
    source_vocab, target_vocab = (Vocabulary.load(os.path.join(run_dir, f"{side}_vocab.json"))
                                  for side in ("source", "target"))
    assert [s.strip() for s in sources] == [sentence_text(s) for s, _ in val]
    assert [r[4:] for r in references] == [sentence_text(t) for _, t in val]
    last = translate_texts(run_dir, [s.strip() for s in sources], weights="last")
    assert [o[4:] for o in outputs] == [r["translation"] for r in last]


def test_resume_continues_exactly(tmp_path, pairs_file):
    train(tmp_path / "straight", pairs_file, epochs=3)
    train(tmp_path / "stopped", pairs_file, epochs=1)
    train_translator(str(tmp_path / "stopped"), {"epochs": 3}, resume=True, verbose=0, stream=open(os.devnull, "w"))
    a, b = RunDir(str(tmp_path / "straight")).read_history(), RunDir(str(tmp_path / "stopped")).read_history()
    assert [r["step"] for r in a] == [r["step"] for r in b]
    for ra, rb in zip(a, b):
        assert float(ra["loss"]) == pytest.approx(float(rb["loss"]), rel=1e-5)


def test_references_keep_words_the_training_pairs_never_had(trained):
    """A word seen only in held-out pairs is scored as itself: a translator that writes <unk> there
    earns nothing for it (the reference is the sentence, not the vocabulary's spelling of it)."""
    from rnn_tf.translate import load_translator_run

    cfg, src_vocab, tgt_vocab, model = load_translator_run(str(trained[0]))
    pair = (["i", "am", "purple", "."], ["je", "suis", "violet", "!"])
    assert "violet" not in tgt_vocab.stoi
    hypotheses, references = translate_pairs(model, src_vocab, tgt_vocab, cfg, [pair])
    assert references == ["je suis violet!"] and "<unk>" not in references[0]


@pytest.fixture(scope="module")
def subword_run(tmp_path_factory, pairs_file):
    run_dir = tmp_path_factory.mktemp("translate") / "subword"
    return run_dir, train(run_dir, pairs_file, level="subword", max_vocab=300)


def test_a_subword_translator_spells_both_sides_in_pieces_and_writes_whole_words(subword_run, pairs_file):
    run_dir, result = subword_run
    source, target = (Vocabulary.load(str(run_dir / f"{side}_vocab.json")) for side in ("source", "target"))
    assert source.level == target.level == "subword" and target.itos[START_ID:END_ID + 1] == ["<start>", "<end>"]
    pairs = load_pairs(str(pairs_file))
    for s, t in pairs:  # every sentence comes back whole from its pieces; nothing is unknown
        for vocab, words in ((source, s), (target, t)):
            ids = token_ids(vocab, words)
            assert 1 not in ids.tolist() and vocab.decode(ids) == " ".join(words)
    assert len(token_ids(target, ["je", "suis", "violet", "!"])) > 0  # an unseen word is spelt, not <unk>
    out = translate_texts(str(run_dir), ["I am purple.", "He is blue."])
    assert all("<unk>" not in r["translation"] and r["translation"] == r["translation"].strip() for r in out)
    assert out[0]["source_tokens"] == [source.itos[j] for j in token_ids(source, ["i", "am", "purple", "."])]
    assert out[0]["attention"].shape[1] == len(out[0]["source_tokens"])
    assert {"bleu", "chrf"} <= set(result.report)
    again = translate_texts(str(run_dir), ["I am purple.", "He is blue."], beam_size=2)
    assert len(again) == 2


def test_a_translator_level_is_words_or_pieces():
    with pytest.raises(UserError, match="unknown --level 'char'"):
        TranslateConfig(pairs="p.txt", level="char").validate()


def test_unknown_words_warn_and_empty_input_is_an_error(trained):
    with pytest.warns(UserWarning, match="not in the source vocabulary"):
        out = translate_texts(str(trained[0]), ["I am purple."])
    assert out[0]["source_tokens"] == ["i", "am", "purple", "."]  # the attention plot shows the word typed
    with pytest.raises(UserError, match="empty input"):
        translate_texts(str(trained[0]), ["   "])
    with pytest.raises(UserError, match="beam-size"):
        translate_texts(str(trained[0]), ["I am red."], beam_size=0)


def load_script(name):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, os.path.join(os.path.dirname(__file__), "..", "scripts",
                                                                      f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_significance_script_compares_greedy_and_beam_on_both_splits(trained):
    from rnn_tf.translate import evaluate_translator

    script = load_script("translate_significance")
    rows = [line.split(" | ") for line in script.compare(str(trained[0]), 2, 0.6, 20)[2:]]
    assert [(r[0].strip("| ").split()[0], r[1]) for r in rows] == [
        ("val", "greedy"), ("val", "beam 2"), ("test", "greedy"), ("test", "beam 2")]
    assert rows[2][2].split()[0] == f"{evaluate_translator(str(trained[0]))['bleu']:.1f}"
    assert rows[3][2].split()[0] == f"{evaluate_translator(str(trained[0]), beam_size=2)['bleu']:.1f}"
    assert 0.0 <= float(rows[3][3]) <= 1.0 and rows[2][3] == ""


def test_the_unk_reference_script_scores_both_ways(trained, capsys):
    from rnn_tf.translate import evaluate_translator

    assert load_script("unk_reference_gap").main([str(trained[0])]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("references as written") and lines[2].startswith("unseen words as <unk>")
    assert float(lines[1].split()[4]) == pytest.approx(evaluate_translator(str(trained[0]))["bleu"], abs=0.01)


def test_two_runs_on_one_split_are_compared_by_paired_bootstrap(trained, subword_run, tmp_path, pairs_file):
    script = load_script("compare_translators")
    lines = script.compare([(str(trained[0]), "best"), (str(subword_run[0]), "best")], 1, 0.6, 20)
    assert lines[0] == "3 test sentences, greedy" and len(lines) == 5
    assert "(word)" in lines[3] and "(subword)" in lines[4] and 0.0 <= float(lines[4].split(" | ")[2]) <= 1.0
    train(tmp_path / "other", pairs_file, seed=5, epochs=1)
    with pytest.raises(UserError, match="another test split"):
        script.compare([(str(trained[0]), "best"), (str(tmp_path / "other"), "best")], 1, 0.6, 20)


def test_compiled_greedy_equals_the_benchmarks_eager_word_by_word_loop(trained):
    from rnn_tf.translate import evaluation_pairs, load_translator_run, max_output_length, token_ids, translate_pairs

    bench = load_script("bench_translate")
    cfg, src_vocab, tgt_vocab, model = load_translator_run(str(trained[0]))
    pairs = evaluation_pairs(str(trained[0]), cfg)
    compiled, _ = translate_pairs(model, src_vocab, tgt_vocab, cfg, pairs, batch_size=3)
    eager = [tgt_vocab.decode(bench.naive_greedy(model, ids, max_output_length(cfg, len(ids))))
             for ids in (token_ids(src_vocab, s) for s, _ in pairs)]
    assert eager == compiled and any(compiled)


def test_cli_translate_evaluate_and_attention_plot(trained, tmp_path, capsys):
    run_dir = str(trained[0])
    png = tmp_path / "attention.png"
    assert main(["translate", "translate", "--run-dir", run_dir, "I am red.", "You are green.",
                 "--plot-attention", str(png), "--json"]) == 0
    lines = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    assert [l["source"] for l in lines] == ["i am red .", "you are green ."]
    assert png.read_bytes()[:4] == b"\x89PNG"
    beam_png = tmp_path / "beam-attention.png"
    assert main(["translate", "translate", "--run-dir", run_dir, "I am red.", "--beam-size", "3",
                 "--plot-attention", str(beam_png)]) == 0
    capsys.readouterr()
    assert beam_png.read_bytes()[:4] == b"\x89PNG"
    assert main(["translate", "evaluate", "--run-dir", run_dir, "--beam-size", "3", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"bleu", "chrf", "sentences"} <= set(report) and report["beam_size"] == 3 and report["split"] == "test"
    assert main(["translate", "evaluate", "--run-dir", run_dir, "--split", "val", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    split = json.load(open(os.path.join(run_dir, "split.json")))
    assert report["split"] == "val" and report["sentences"] == len(split["val"])
    cfg = TranslateConfig.from_dict(RunDir(run_dir).read_config())
    pairs = load_pairs(cfg.pairs, cfg.reverse, cfg.max_words, cfg.prefix_filter)
    for part in SPLITS:
        assert evaluation_pairs(run_dir, cfg, part=part) == [pairs[i] for i in split[part]]


@pytest.mark.parametrize("args, match", [
    (["translate", "train", "--pairs", "{bad}", "--run-dir", "{tmp}/new"], "line 2 is not"),
    (["translate", "train", "--run-dir", "{tmp}/new"], "no sentence pairs given"),
    (["translate", "train", "--pairs", "{pairs}", "--cell", "irnn"], "invalid choice: 'irnn'"),
    (["translate", "train", "--pairs", "{pairs}", "--run-dir", "{tmp}/new", "--patience", "-2"], "--patience -2 is negative"),
    (["translate", "translate", "--run-dir", "{run}", " "], "empty input"),
    (["translate", "translate", "--run-dir", "{classify}", "hello"], "not a translate run"),
    (["translate", "evaluate", "--run-dir", "{tmp}/nothing"], "not a run folder"),
    (["translate", "evaluate", "--run-dir", "{run}", "--pairs", "{pairs}", "--split", "val"], "not allowed with"),
])
def test_cli_user_errors_exit_2_with_one_line(trained, pairs_file, tmp_path, capsys, args, match):
    bad = tmp_path / "bad.txt"
    bad.write_text("Hi.\tSalut.\nbroken line\n", encoding="utf-8")
    classify = tmp_path / "classify"
    classify.mkdir()
    (classify / "config.json").write_text(json.dumps({"task": "classify"}))
    args = [a.format(bad=bad, tmp=tmp_path, pairs=pairs_file, run=trained[0], classify=classify) for a in args]
    assert_user_error(args, capsys, match)
    assert not (tmp_path / "new").exists()


def test_a_run_without_attention_has_no_heat_map_to_plot(tmp_path, pairs_file, capsys):
    train(tmp_path / "plain", pairs_file, epochs=1, attention="none")
    png = tmp_path / "attention.png"
    assert_user_error(["translate", "translate", "--run-dir", str(tmp_path / "plain"), "I am red.",
                       "--plot-attention", str(png)], capsys, "no attention to show")
    assert not png.exists()
