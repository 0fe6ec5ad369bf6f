"""``textgen evaluate --copy-check``: window hashes agree with a plain set of tuples, the longest copied
span is found exactly, and the command reports samples beside held-out text."""

import json

import numpy as np

from conftest import TINY
from helpers import exit_code, train_run
from rnn_tf.copying import TrainingText, Windows, copy_figures


def test_window_hashes_match_the_windows_themselves():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 5, 400)
    w = Windows(ids)
    for length in (1, 3, 10, 400):
        hashes = w.hashes(length)
        windows = [tuple(ids[i:i + length]) for i in range(len(ids) - length + 1)]
        assert len(set(hashes.tolist())) == len(set(windows))  # equal windows hash equal, different ones not
        first = {}
        for h, t in zip(hashes.tolist(), windows):
            assert first.setdefault(h, t) == t
    assert w.hashes(401).size == 0


def test_the_longest_copied_span_and_the_share_of_seen_ngrams():
    rng = np.random.default_rng(1)
    train = rng.integers(0, 50, 5000)
    copied = train[1234:1234 + 37]
    text = np.concatenate([rng.integers(50, 60, 20), copied, rng.integers(50, 60, 20)])  # 50..59: never in training
    figures = copy_figures(TrainingText(train), [rng.integers(50, 60, 30), text], n=10)
    assert figures["longest"] == 37 and figures["longest_at"] == (1, 20)
    assert figures["seen_share"] == (37 - 10 + 1) / ((30 - 10 + 1) + (77 - 10 + 1))


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
