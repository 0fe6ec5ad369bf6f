"""Whole-line generation (``textgen train --lines``) and conditional generation (``--condition-on``):
items and their split, padded item batches, the label in both views of the model, generation that
ends at the end token, --novel, per-label evaluation, and the one-line errors."""

import json

import numpy as np
import pytest

from conftest import TINY
from helpers import assert_user_error, exit_code, train_run
from rnn_tf.datasets import item_dataset, item_rows
from rnn_tf.items import Item, load_items, split_items
from rnn_tf.vocab import PAD_ID


def write_table(path, rows, header=("text", "label")):
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def letter_rows(n=60):
    """Items that give their label away: label a -> runs of 'a', label b -> runs of 'b'."""
    rng = np.random.default_rng(0)
    return [(letter * int(rng.integers(2, 6)), letter) for _ in range(n // 2) for letter in "ab"]


def cli_json(argv, capsys):
    """The CLI in-process with --json: (exit code, the JSON it printed)."""
    code = exit_code([*argv, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if code == 0 else out


LINES = dict(TINY, lines=True, seq_len=12, steps_per_epoch=4, val_fraction=0.2)


# --- items and batches ----------------------------------------------------------------------------
def test_lines_of_a_text_corpus_and_rows_of_a_table(tmp_path):
    (tmp_path / "names.txt").write_text("Anna\n\n  Bob \nCarla\n", encoding="utf-8")
    assert load_items(str(tmp_path / "names.txt"), True, None) == [Item("Anna"), Item("Bob"), Item("Carla")]
    table = write_table(tmp_path / "t.csv", [("first\nline", "x"), ("second", "y")])
    assert [i.text for i in load_items(str(table), True, None)] == ["first line", "second"]
    assert load_items(str(table), True, "label") == [Item("first line", "x"), Item("second", "y")]


def test_the_split_holds_out_whole_items_of_every_label_the_same_way_for_a_seed():
    items = [Item(f"item{i}", "ab"[i % 2]) for i in range(40)]
    train, val = split_items(items, 0.25, seed=3)
    assert len(val) == 10 and sorted(i.label for i in val) == ["a"] * 5 + ["b"] * 5
    assert set(train).isdisjoint(val) and len(train) + len(val) == 40
    assert split_items(items, 0.25, seed=3) == (train, val)
    assert split_items(items, 0.25, seed=4) != (train, val)


def test_item_rows_start_and_end_with_the_boundary_and_cut_long_items():
    rows, cut = item_rows([np.array([5, 6]), np.array([7, 8, 9, 10, 11])], boundary=2, max_len=5)
    assert cut == 1 and rows.shape == (2, 6)
    np.testing.assert_array_equal(rows[0], [2, 5, 6, 2, PAD_ID, PAD_ID])
    np.testing.assert_array_equal(rows[1], [2, 7, 8, 9, 10, 11])  # cut: keeps its start, not its end


def test_item_batches_weigh_padding_zero_and_batch_k_is_a_function_of_seed_and_k():
    rows, _ = item_rows([np.arange(3, 3 + n) for n in range(1, 9)], boundary=2, max_len=20)
    labels = np.arange(8) % 3
    first = [(x[0].numpy(), x[1].numpy(), y.numpy(), w.numpy())
             for x, y, w in item_dataset(rows, 4, labels=labels, seed=5).take(5)]
    for x, label, y, w in first:
        np.testing.assert_array_equal(w, (y != PAD_ID).astype(np.float32))
        assert x.shape == y.shape == (4, rows.shape[1] - 1) and label.shape == (4,)
        for row, lab in zip(x, label):  # each row's label travels with it
            assert lab == labels[np.flatnonzero((rows[:, :-1] == row).all(axis=1))[0]]
    later = [x[0].numpy() for x, _, _ in item_dataset(rows, 4, labels=labels, seed=5, start_step=3).take(2)]
    np.testing.assert_array_equal(later[0], first[3][0])
    np.testing.assert_array_equal(later[1], first[4][0])


# --- the model: one label, two views ---------------------------------------------------------------
@pytest.mark.parametrize("mode, cell, implementation", [
    ("input", "lstm", "fast"), ("input", "gru", "keras"), ("state", "lstm", "fast"), ("input", "simple_rnn", "fast"),
    ("state", "gru", "fast")])
def test_the_step_view_with_a_label_computes_the_training_view(mode, cell, implementation):
    import keras
    import tensorflow as tf

    from rnn_tf.models.language_model import build_language_model

    keras.utils.set_random_seed(1)
    lm = build_language_model(9, cell, units=32, layers=2, embedding_dim=4, implementation=implementation,
                              num_labels=3, condition_mode=mode)
    ids = np.random.default_rng(0).integers(2, 9, (3, 6)).astype(np.int32)
    labels = np.array([0, 2, 1], np.int32)
    expected = lm.training([ids, labels]).numpy()
    states = lm.start_states(tf.constant(labels))
    for t in range(ids.shape[1]):
        out = lm.step(lm.step_inputs(tf.constant(ids[:, t]), tf.constant(labels), states))
        states = list(out[1:])
        np.testing.assert_allclose(out[0].numpy(), expected[:, t], rtol=1e-4, atol=1e-5)
    other = lm.training([ids, (labels + 1) % 3]).numpy()
    assert np.abs(other - expected).max() > 1e-4  # the label changes what the model predicts


# --- training, generating, evaluating --------------------------------------------------------------
@pytest.fixture(scope="module")
def letters_run(tmp_path_factory):
    """A conditioned line-mode run that learns which letter each label repeats."""
    base = tmp_path_factory.mktemp("letters")
    table = write_table(base / "letters.csv", letter_rows())
    settings = dict(LINES, corpus=str(table), condition_on="label", units=24, embedding_dim=8, learning_rate=0.03,
                    steps_per_epoch=40, epochs=2, batch_size=8)
    result = train_run("textgen", base / "run", settings)
    return base / "run", result, table


def test_a_conditioned_line_run_draws_whole_items_of_the_requested_label(letters_run, capsys):
    run, result, _ = letters_run
    assert result.config.labels == ["a", "b"]
    code, out = cli_json(["textgen", "generate", "--run-dir", str(run), "--condition", "b", "a", "--num-samples", "8",
                          "--temperature", "0.5", "--seed", "1", "--length", "40"], capsys)
    assert code == 0
    samples = out["samples"]
    assert [s["condition"] for s in samples] == ["b"] * 8 + ["a"] * 8
    for s in samples:
        assert s["ended"] and "\n" not in s["text"] and s["text"]
        assert set(s["text"]) == {s["condition"]}, s


def test_evaluate_reports_every_label_and_generate_novel_reports_the_rate(letters_run, capsys):
    run, _, _ = letters_run
    code, report = cli_json(["textgen", "evaluate", "--run-dir", str(run)], capsys)
    assert code == 0
    assert set(report["per_label"]) == {"a", "b"} and report["bpc"] < 2.0
    weighted = sum(r["loss"] * r["tokens"] for r in report["per_label"].values()) / report["tokens"]
    assert weighted == pytest.approx(report["loss"], rel=1e-5)
    code, out = cli_json(["textgen", "generate", "--run-dir", str(run), "--novel", "--num-samples", "3", "--seed", "2",
                          "--temperature", "1.5"], capsys)
    assert code == 0
    from rnn_tf.runs import RunDir
    from rnn_tf.tasks.textgen import TextgenConfig
    from rnn_tf.textgen import training_items

    training = training_items(RunDir(str(run)).load_config(TextgenConfig))
    assert 0.0 <= out["novelty"] <= 1.0 and out["drawn"] >= 6
    assert all(s["text"] not in training for s in out["samples"])


def test_guidance_draws_from_the_contrast_of_the_labels_logits(letters_run):
    """Greedy (top-k 1) guided items follow argmax((1 + w) logits(own) - w logits(other)), step by step,
    with both copies of each stream fed the drawn token; w = 0 is the plain sampler."""
    import tensorflow as tf

    from rnn_tf.sampling import Sampler
    from rnn_tf.textgen import load_textgen_run

    cfg, vocab, lm = load_textgen_run(str(letters_run[0]))
    sampler = Sampler(lm, vocab, jit_compile=False)
    w, length = 2.0, 6
    guided = sampler.items("", length, [1.0], 1, top_k=1, seed=0, conditions=cfg.conditions, guidance=w)
    newline = vocab.stoi["\n"]
    for label, label_id in cfg.conditions:
        states = [lm.start_states(tf.constant([k])) for k in range(2)]
        token, text = newline, ""
        for _ in range(length):
            logits = []
            for k in range(2):
                out = lm.step(lm.step_inputs(tf.constant([token]), tf.constant([k]), states[k]), training=False)
                logits.append(out[0].numpy()[0])
                states[k] = list(out[1:])
            mixed = (1 + w) * logits[label_id] - w * logits[1 - label_id]
            mixed[:2] = -np.inf  # padding and unknown are never drawn
            token = int(mixed.argmax())
            if token == newline:
                break
            text += vocab.itos[token]
        assert [s.text for s in guided if s.condition == label] == [text]
    plain = sampler.items("", length, [1.0], 3, seed=4, conditions=cfg.conditions)
    assert sampler.items("", length, [1.0], 3, seed=4, conditions=cfg.conditions, guidance=0.0) == plain


def test_bad_conditions_are_one_line_errors(letters_run, corpus_dir, tmp_path, capsys):
    run, _, table = letters_run
    assert_user_error(["textgen", "generate", "--run-dir", str(run), "--condition", "c"], capsys,
                      "'c' is not a label of this run")
    plain = tmp_path / "plain"
    train_run("textgen", plain, dict(TINY, corpus=str(corpus_dir), epochs=1))
    assert_user_error(["textgen", "generate", "--run-dir", str(plain), "--condition", "a"], capsys,
                      "was not trained with --condition-on")
    assert_user_error(["textgen", "generate", "--run-dir", str(plain), "--novel"], capsys, "--novel")
    assert_user_error(["textgen", "generate", "--run-dir", str(plain), "--guidance", "0.2"], capsys,
                      "--guidance steers samples towards their label: it needs a run trained with --condition-on")
    assert_user_error(["textgen", "generate", "--run-dir", str(run), "--guidance", "-1"], capsys,
                      "--guidance -1.0 is out of range")
    assert_user_error(["textgen", "evaluate", "--run-dir", str(run), "--guidance", "0.2"], capsys,
                      "--guidance applies to the samples --classifier judges")
    assert_user_error(["textgen", "train", "--run-dir", str(tmp_path / "x"), "--corpus", str(table), "--lines",
                       "--stateful"], capsys, "--stateful")
    assert_user_error(["textgen", "train", "--run-dir", str(tmp_path / "x"), "--corpus", str(corpus_dir),
                       "--condition-on", "president"], capsys, "only the sotu corpus")
    assert_user_error(["textgen", "train", "--run-dir", str(tmp_path / "x"), "--corpus", str(table), "--lines",
                       "--condition-on", "label", "--label-column", "kind"], capsys, "no column 'kind'")
    assert not (tmp_path / "x").exists()


def test_a_conditioned_line_run_resumes_exactly(tmp_path):
    from rnn_tf.textgen import load_textgen_run

    table = write_table(tmp_path / "names.csv", [(f"name{i % 7}x{i % 3}", "fm"[i % 2]) for i in range(50)])
    settings = dict(LINES, corpus=str(table), condition_on="label", dropout=0.2)
    whole = train_run("textgen", tmp_path / "whole", dict(settings, epochs=2))
    train_run("textgen", tmp_path / "parts", dict(settings, epochs=1))
    parts = train_run("textgen", tmp_path / "parts", {"epochs": 2}, resume=True)
    for a, b in zip(whole.history, parts.history):
        assert float(a["loss"]) == pytest.approx(float(b["loss"]), rel=1e-5)
        assert float(a["val_loss"]) == pytest.approx(float(b["val_loss"]), rel=1e-5)
    _, _, lm_a = load_textgen_run(str(tmp_path / "whole"), "last")
    _, _, lm_b = load_textgen_run(str(tmp_path / "parts"), "last")
    for wa, wb in zip(lm_a.training.get_weights(), lm_b.training.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6)


def test_a_conditioned_stream_run_labels_every_window_by_its_document(tmp_path, capsys):
    for label, line in (("pos", "What a fine and lovely day it is today. "), ("neg", "Nothing ever works here at all. ")):
        (tmp_path / "data" / label).mkdir(parents=True)
        for k in range(3):
            (tmp_path / "data" / label / f"{k}.txt").write_text(line * 12, encoding="utf-8")
    result = train_run("textgen", tmp_path / "run", dict(TINY, corpus=str(tmp_path / "data"), condition_on="label",
                                                         val_fraction=0.34, epochs=1))
    assert result.config.labels == ["neg", "pos"]
    code, report = cli_json(["textgen", "evaluate", "--run-dir", str(tmp_path / "run")], capsys)
    assert code == 0
    assert set(report["per_label"]) <= {"neg", "pos"} and report["per_label"]
    code, out = cli_json(["textgen", "generate", "--run-dir", str(tmp_path / "run"), "--length", "20", "--seed", "1"],
                         capsys)
    assert code == 0
    assert [s["condition"] for s in out["samples"]] == ["neg", "pos"]


def test_a_classifier_judges_whether_samples_carry_their_label(letters_run, tmp_path):
    from rnn_tf.errors import UserError
    from rnn_tf.textgen import sample_match

    run, _, table = letters_run
    judge = dict(model="bow", level="char", epochs=3, batch_size=8, seed=1, learning_rate=0.05)
    train_run("classify", tmp_path / "judge", dict(judge, data=str(table)))
    result = sample_match(str(run), str(tmp_path / "judge"), num_samples=20, temperature=0.5, seed=1)
    assert result["conditioned"] and result["samples"] == 40
    for label in ("a", "b"):
        figures = result["labels"][label]
        assert figures["classified_as_requested"] >= 0.9 and 0 < figures["prior"] < 1
    assert result["ended"] > 0.5 and 0.0 <= result["novelty"] <= 1.0
    other = write_table(tmp_path / "other.csv", [("x" * (1 + i % 4), "xy"[i % 2]) for i in range(40)])
    train_run("classify", tmp_path / "other", dict(judge, data=str(other)))
    with pytest.raises(UserError, match="does not know the label 'a'"):
        sample_match(str(run), str(tmp_path / "other"), num_samples=2)


def test_embedding_dropout_trains_is_saved_resumes_and_generates(tmp_path, capsys):
    import keras
    import tensorflow as tf

    from rnn_tf.models.language_model import build_language_model

    keras.utils.set_random_seed(1)
    lm = build_language_model(9, "lstm", units=8, embedding_dim=4, num_labels=2, embedding_dropout=0.5)
    plain = build_language_model(9, "lstm", units=8, embedding_dim=4, num_labels=2)
    assert "embedding_dropout" in [l.name for l in lm.training.layers]
    assert "embedding_dropout" not in [l.name for l in plain.training.layers]  # at 0 the model it always was
    assert [w.path for w in plain.training.trainable_weights] == [w.path for w in lm.training.trainable_weights]
    ids, labels = np.full((2, 5), 3, np.int32), np.array([0, 1], np.int32)
    served = lm.training([ids, labels], training=False).numpy()
    assert np.abs(lm.training([ids, labels], training=True).numpy() - served).max() > 1e-4  # on in training
    out = lm.step(lm.step_inputs(tf.constant(ids[:, 0]), tf.constant(labels), lm.zero_states(2)))
    np.testing.assert_allclose(out[0].numpy(), served[:, 0], rtol=1e-4, atol=1e-5)  # off when sampling

    table = write_table(tmp_path / "names.csv", [(f"name{i % 7}x{i % 3}", "fm"[i % 2]) for i in range(50)])
    settings = dict(LINES, corpus=str(table), condition_on="label", embedding_dropout=0.3)
    train_run("textgen", tmp_path / "run", dict(settings, epochs=1))
    assert json.loads((tmp_path / "run" / "config.json").read_text())["embedding_dropout"] == 0.3
    resumed = train_run("textgen", tmp_path / "run", {"epochs": 2}, resume=True)
    assert resumed.config.embedding_dropout == 0.3 and len(resumed.history) == 2
    code, out = cli_json(["textgen", "generate", "--run-dir", str(tmp_path / "run"), "--num-samples", "2",
                          "--seed", "1", "--length", "12"], capsys)
    assert code == 0 and [s["condition"] for s in out["samples"]] == ["f", "f", "m", "m"]
    assert_user_error(["textgen", "train", "--run-dir", str(tmp_path / "bad"), "--corpus", str(table), "--lines",
                       "--embedding-dropout", "1.5"], capsys, "--embedding-dropout 1.5 is out of range")
    assert not (tmp_path / "bad").exists()
