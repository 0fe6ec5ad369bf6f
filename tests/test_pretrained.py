"""``classify train --embeddings FILE`` and ``--init-from RUN``: word vectors in every format gensim reads,
coverage saved, frozen vectors stay as they were; a word-level language model's layers start the
classifier; every mismatch is a one-line error before anything is written."""

import json

import numpy as np
import pytest

from conftest import FILLER, NEG_WORDS, POS_WORDS, TINY, TINY_CLASSIFY, labelled_rows, write_csv
from helpers import assert_user_error, train_run
from rnn_tf.pretrained import load_vectors

WORDS = FILLER + POS_WORDS + NEG_WORDS


def vectors(dim=6, skip=("dull",)) -> dict:
    rng = np.random.default_rng(1)
    return {w: rng.normal(size=dim).astype(np.float32) for w in WORDS + ["unused"] if w not in skip}


def write_glove(path, table) -> str:
    with open(path, "w", encoding="utf-8") as f:
        for word, v in table.items():
            f.write(word + " " + " ".join(f"{x:.6f}" for x in v) + "\n")
    return str(path)


def test_every_vector_format_reads_the_same(tmp_path):
    from gensim.models import KeyedVectors

    table = vectors()
    kv = KeyedVectors(6)
    kv.add_vectors(list(table), np.stack(list(table.values())))
    kv.save_word2vec_format(str(tmp_path / "w2v.txt"))  # a "count dim" header, as fastText's .vec
    kv.save_word2vec_format(str(tmp_path / "w2v.bin"), binary=True)
    kv.save(str(tmp_path / "vectors.kv"))
    paths = [write_glove(tmp_path / "glove.txt", table), *(str(tmp_path / n) for n in ("w2v.txt", "w2v.bin", "vectors.kv"))]
    for path in paths:
        loaded = load_vectors(path)
        assert loaded.vector_size == 6 and len(loaded.key_to_index) == len(table), path
        np.testing.assert_allclose(loaded["good"], table["good"], atol=1e-5)


def test_vectors_start_the_embeddings_and_frozen_ones_stay(tmp_path):
    import keras

    data = write_csv(tmp_path / "reviews.csv", labelled_rows(48))
    table = vectors()
    path = write_glove(tmp_path / "glove.txt", table)
    settings = {**TINY_CLASSIFY, "data": str(data), "embeddings": path, "freeze_embeddings": True}
    settings.pop("embedding_dim")
    train_run("classify", tmp_path / "run", settings)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    info = json.loads((tmp_path / "run" / "pretrained.json").read_text())
    assert config["embedding_dim"] == 6  # taken from the file
    assert info["vocabulary"] == len(WORDS) and info["found"] == len(WORDS) - 1  # all but "dull"
    assert info["coverage"] == pytest.approx((len(WORDS) - 1) / len(WORDS)) and 0.9 < info["token_coverage"] < 1.0
    from rnn_tf.classify import load_classifier_run

    _, vocab, model = load_classifier_run(str(tmp_path / "run"))
    trained = model.get_layer("embedding").get_weights()[0]
    for word in ("good", "film", "boring"):
        np.testing.assert_allclose(trained[vocab.stoi[word]], table[word], atol=1e-5)
    assert np.all(trained[0] == 0) and np.any(trained[vocab.stoi["dull"]] != 0)  # padding zero; a missing word random
    assert isinstance(model, keras.Model)


def test_a_word_language_model_starts_the_classifier(tmp_path):
    from rnn_tf.classify import build_model, encode_split
    from rnn_tf.labelled import Example
    from rnn_tf.pretrained import initialise
    from rnn_tf.tasks.classify import ClassifyConfig
    from rnn_tf.textgen import load_textgen_run

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "reviews.txt").write_text("\n".join(t for t, _ in labelled_rows(80, seed=4)) + "\n")
    train_run("textgen", tmp_path / "lm", {**TINY, "corpus": str(corpus), "level": "word", "embedding_dim": 5})
    data = write_csv(tmp_path / "reviews.csv", labelled_rows(48))
    train_run("classify", tmp_path / "run", {"data": str(data), "init_from": str(tmp_path / "lm"), "batch_size": 8,
                                             "epochs": 1, "seed": 3, "max_length": 12})
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (config["cell"], config["units"], config["layers"], config["embedding_dim"]) == ("lstm", 8, 1, 5)
    assert json.loads((tmp_path / "run" / "pretrained.json").read_text())["found"] == len(WORDS)

    # before training, the recurrent layer is the language model's and each word has the model's row
    _, lm_vocab, lm = load_textgen_run(str(tmp_path / "lm"))
    cfg = ClassifyConfig(**{k: v for k, v in config.items() if k != "task"})
    examples = [Example(t, label) for t, label in labelled_rows(48)]
    vocab, (x_train, _), _ = encode_split(cfg, examples, examples[:4])
    model = build_model(cfg, len(vocab))
    initialise(model, vocab, cfg, x_train, seed=0)
    for ours, theirs in zip(model.get_layer("rnn_1").get_weights(), lm.training.get_layer("rnn_1").get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    lm_table, table = lm.training.get_layer("embedding").get_weights()[0], model.get_layer("embedding").get_weights()[0]
    np.testing.assert_array_equal(table[vocab.stoi["great"]], lm_table[lm_vocab.stoi["great"]])


def test_the_command_line_takes_the_size_from_the_vectors(tmp_path):
    from helpers import exit_code

    path = write_glove(tmp_path / "glove.txt", vectors(dim=7))
    data = write_csv(tmp_path / "reviews.csv", labelled_rows(24))
    argv = ["classify", "train", "--data", str(data), "--run-dir", str(tmp_path / "run"), "--embeddings", path,
            "--epochs", "1", "--batch-size", "8", "--units", "4", "--quiet"]
    assert exit_code(argv) == 0
    assert json.loads((tmp_path / "run" / "config.json").read_text())["embedding_dim"] == 7


@pytest.mark.parametrize("extra,match", [
    (["--embeddings", "missing.txt"], "not found"),
    (["--embeddings", "glove.txt", "--embedding-dim", "8"], "differs from the 6 dimensions"),
    (["--embeddings", "glove.txt", "--model", "bow"], "no embedding layer"),
    (["--freeze-embeddings"], "add --embeddings FILE or --init-from RUN"),
    (["--embeddings", "garbage.txt"], "not a word-vector file"),
    (["--init-from", "nowhere"], "nowhere"),
    (["--init-from", "lm", "--bidirectional"], "without --bidirectional"),
])
def test_bad_pretrained_settings_are_one_line_errors_that_write_nothing(tmp_path, capsys, monkeypatch, extra, match):
    monkeypatch.chdir(tmp_path)
    write_glove(tmp_path / "glove.txt", vectors())
    (tmp_path / "garbage.txt").write_text("3 6\nthis is not\n")
    data = write_csv(tmp_path / "reviews.csv", labelled_rows(20))
    assert_user_error(["classify", "train", "--data", str(data), "--run-dir", "run", *extra], capsys, match)
    assert not (tmp_path / "run").exists()
