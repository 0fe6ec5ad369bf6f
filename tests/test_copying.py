"""``textgen evaluate --copy-check``: window hashes agree with a plain set of tuples, the longest copied
span is found exactly, and the command reports samples beside held-out text."""

import json

import numpy as np

from conftest import TINY
from helpers import exit_code, train_run
import pytest

from rnn_tf import copying
from rnn_tf.copying import NgramIndex, copy_figures, ngram_hashes
from rnn_tf.vocab import Vocabulary


def test_ngram_hashes_match_the_windows_themselves():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 5, 400)
    for length in (1, 3, 10, 400):
        hashes = ngram_hashes(ids, length)
        windows = [tuple(ids[i:i + length]) for i in range(len(ids) - length + 1)]
        assert len(set(hashes.tolist())) == len(set(windows))  # equal windows hash equal, different ones not
        first = {}
        for h, t in zip(hashes.tolist(), windows):
            assert first.setdefault(h, t) == t
    assert ngram_hashes(ids, 401).size == 0


def brute_force_longest(train, text):
    best = 0
    s = " ".join(map(str, train)) + " "
    for i in range(len(text)):
        for j in range(i + best + 1, len(text) + 1):
            if " " + " ".join(map(str, text[i:j])) + " " in " " + s:
                best = j - i
            else:
                break
    return best


@pytest.mark.parametrize("on_disk", [False, True])
def test_the_longest_copied_span_and_the_share_of_seen_ngrams(tmp_path, monkeypatch, on_disk):
    if on_disk:  # several buckets, built in several pieces
        monkeypatch.setattr(copying, "BUCKET_ROWS", 700)
        monkeypatch.setattr(copying, "PIECE", 999)
    rng = np.random.default_rng(1)
    train = rng.integers(0, 50, 5000)
    copied = train[1234:1234 + 37]
    text = np.concatenate([rng.integers(50, 60, 20), copied, rng.integers(50, 60, 20)])  # 50..59: never in training
    index = NgramIndex(train, 10, str(tmp_path / "index") if on_disk else None)
    assert index.bits == (3 if on_disk else 0)
    figures = copy_figures(index, [rng.integers(50, 60, 30), text])
    assert figures["longest"] == 37 and figures["longest_at"] == (1, 20)
    assert figures["seen_share"] == (37 - 10 + 1) / ((30 - 10 + 1) + (77 - 10 + 1))
    small = rng.integers(0, 3, 3000)  # a tiny alphabet: many repeats, long chance matches
    probe = rng.integers(0, 3, 60)
    assert copy_figures(NgramIndex(small, 4), [probe])["longest"] == brute_force_longest(small.tolist(), probe.tolist())


def test_an_index_on_disk_is_built_once_and_a_half_built_one_is_rebuilt(tmp_path, monkeypatch):
    ids = np.arange(100) % 7
    folder = tmp_path / "ngrams"
    NgramIndex(ids, 3, str(folder))
    stamp = (folder / "index.json").stat().st_mtime_ns
    NgramIndex(ids, 3, str(folder))
    assert (folder / "index.json").stat().st_mtime_ns == stamp  # reused
    (folder / "index.json").unlink()  # as if interrupted before it was complete
    again = NgramIndex(ids, 3, str(folder))
    assert (folder / "index.json").is_file() and copy_figures(again, [ids[10:30]])["longest"] == 20
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".ngrams-")]  # no temporary folder left


def test_epoch_notes_give_figures_and_stay_away_from_a_huge_training_text(monkeypatch):
    vocab = Vocabulary.build("the cat sat on the mat. the dog sat on the log.", "char")
    ids = vocab.encode("the cat sat on the mat. the dog sat on the log.")
    notes = copying.SampleNotes(vocab, ids)
    assert notes("the dog sat on the mat") == "100% of 10-char n-grams seen in training, longest copied span 19 chars"  # "the dog sat on the "
    monkeypatch.setattr(copying, "NOTES_MAX_TOKENS", len(ids) - 1)
    assert copying.SampleNotes(vocab, ids)("the dog sat on the mat") is None


def test_copy_check_reports_samples_beside_held_out_text(tmp_path, corpus_dir, capsys):
    train_run("textgen", tmp_path / "run", dict(TINY, corpus=str(corpus_dir), epochs=1))
    argv = ["textgen", "evaluate", "--run-dir", str(tmp_path / "run"), "--copy-check", "--num-samples", "4",
            "--seed", "1"]
    assert exit_code([*argv, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ngram"] == 10 and report["unit"] == "chars"
    for key in ("samples", "held_out"):
        assert report[key]["texts"] == 4 and 0.0 <= report[key]["seen_share"] <= 1.0
    # the toy corpus repeats four lines: held-out text is all found in training, samples of an untrained model less
    assert report["held_out"]["seen_share"] == 1.0 and report["held_out"]["longest"] == TINY["sample_length"]
    assert report["samples"]["seen_share"] < 1.0
    assert exit_code(argv) == 0 and "longest copied span" in capsys.readouterr().out
    samples = (tmp_path / "run" / "samples.txt").read_text(encoding="utf-8")  # every epoch's samples say it too
    assert samples.count("n-grams seen in training, longest copied span") == len(TINY["temperatures"])


def test_copy_check_of_a_subword_run_counts_pieces(tmp_path, corpus_dir, capsys):
    train_run("textgen", tmp_path / "run", dict(TINY, corpus=str(corpus_dir), epochs=1, level="subword", max_vocab=300))
    argv = ["textgen", "evaluate", "--run-dir", str(tmp_path / "run"), "--copy-check", "--num-samples", "2", "--json"]
    assert exit_code(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ngram"] == 3 and report["unit"] == "subword pieces" and report["held_out"]["seen_share"] == 1.0
