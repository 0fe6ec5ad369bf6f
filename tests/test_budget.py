"""``--max-time``: a training run stops at the end of the step where its time budget runs out, saves
the cut epoch as it stands, and ``--resume`` continues exactly: the same history and weights as a run
that never stopped. A fake clock makes the cuts fall on chosen steps."""

import types

import numpy as np
import pytest

from conftest import TINY
from helpers import assert_user_error, train_run
from rnn_tf.budget import parse_duration

SETTINGS = dict(TINY, steps_per_epoch=6, dropout=0.3, layers=2, lr_decay=0.5)


@pytest.fixture
def clock(monkeypatch):
    """rnn_tf.budget's clock advances one second every time it is read."""
    import rnn_tf.budget

    now = [0.0]

    def monotonic():
        now[0] += 1.0
        return now[0]

    monkeypatch.setattr(rnn_tf.budget, "time", types.SimpleNamespace(monotonic=monotonic))
    return now


def test_durations():
    assert [parse_duration(t) for t in ("600", "90s", "10m", "2h", "1h30m", "1.5h", " 2 m ")] == [
        600, 90, 600, 7200, 5400, 5400, 120]
    for bad in ("", "10x", "m", "-5", "0"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_a_run_cut_twice_by_its_budget_resumes_to_exactly_the_uninterrupted_run(tmp_path, corpus_dir, clock):
    from rnn_tf.runs import RunDir
    from rnn_tf.textgen import load_textgen_run

    settings = dict(SETTINGS, corpus=str(corpus_dir))
    straight = train_run("textgen", tmp_path / "straight", dict(settings, epochs=2))
    # the clock reads 1 at the start and k + 1 after step k: a budget of 3.5 s ends after step 4 of 6
    cut = train_run("textgen", tmp_path / "cut", dict(settings, epochs=2, max_time=3.5))
    run = RunDir(str(tmp_path / "cut"))
    state = run.read_state()
    assert cut.epochs_done == 0 and state["partial"]["epoch"] == 1 and state["partial"]["steps_done"] == 4
    assert not run.read_history()  # no whole epoch yet
    # 4.5 s more: the last 2 steps of epoch 1 (a whole epoch, committed), then 3 of epoch 2
    train_run("textgen", tmp_path / "cut", {"epochs": 2, "max_time": 4.5}, resume=True)
    state = run.read_state()
    assert state["epoch"] == 1 and state["partial"]["epoch"] == 2 and state["partial"]["steps_done"] == 3
    resumed = train_run("textgen", tmp_path / "cut", {"epochs": 2}, resume=True)  # no budget: to the end
    assert "partial" not in run.read_state() and resumed.epochs_done == 2
    for a, b in zip(straight.history, resumed.history, strict=True):
        assert a["step"] == b["step"]
        for column in ("loss", "val_loss", "grad_norm", "grad_norm_max", "learning_rate"):
            assert float(a[column]) == pytest.approx(float(b[column]), rel=1e-5), column
    _, _, lm_a = load_textgen_run(str(tmp_path / "straight"), "last")
    _, _, lm_b = load_textgen_run(str(tmp_path / "cut"), "last")
    for wa, wb in zip(lm_a.training.get_weights(), lm_b.training.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6)


def test_a_budget_that_ends_with_an_epoch_commits_it_whole(tmp_path, corpus_dir, clock):
    from rnn_tf.runs import RunDir

    result = train_run("textgen", tmp_path / "run", dict(SETTINGS, corpus=str(corpus_dir), epochs=3, max_time=5.5))
    assert result.epochs_done == 1 and "partial" not in RunDir(str(tmp_path / "run")).read_state()


def test_a_classifier_is_cut_and_resumed_too(tmp_path, clock):
    from conftest import TINY_CLASSIFY, labelled_rows, write_csv
    from rnn_tf.runs import RunDir

    data = write_csv(tmp_path / "data.csv", labelled_rows(96))
    settings = dict(TINY_CLASSIFY, data=str(data), epochs=2)
    straight = train_run("classify", tmp_path / "straight", settings)
    train_run("classify", tmp_path / "cut", dict(settings, max_time=2.5))
    assert RunDir(str(tmp_path / "cut")).read_state()["partial"]["steps_done"] == 3  # of 10 in epoch 1
    resumed = train_run("classify", tmp_path / "cut", {"epochs": 2}, resume=True)
    for a, b in zip(straight.history, resumed.history, strict=True):
        for column in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert float(a[column]) == pytest.approx(float(b[column]), rel=1e-5), column


def test_a_budget_spans_all_the_folds_of_a_cross_validation(tmp_path, clock):
    from conftest import TINY_CLASSIFY, labelled_rows, write_csv
    from rnn_tf.runs import RunDir

    data = write_csv(tmp_path / "data.csv", labelled_rows(96))
    settings = dict(TINY_CLASSIFY, data=str(data), epochs=2, folds=3)
    straight = train_run("classify", tmp_path / "straight", settings)
    cut = train_run("classify", tmp_path / "cut", dict(settings, max_time=12))
    assert cut.cut and not (tmp_path / "cut" / "folds.json").exists()
    assert RunDir(str(tmp_path / "cut" / "fold-1")).read_state()["partial"]  # cut inside the first fold
    second = train_run("classify", tmp_path / "cut", {"max_time": 30}, resume=True)  # into a later fold
    assert second.cut and (tmp_path / "cut" / "fold-1" / "metrics.json").is_file()
    resumed = train_run("classify", tmp_path / "cut", {}, resume=True)
    assert not resumed.cut
    for a, b in zip(straight.report["folds"], resumed.report["folds"], strict=True):
        assert a["accuracy"] == pytest.approx(b["accuracy"]) and a["confusion"] == b["confusion"]


def test_bad_budgets_are_one_line_errors(tmp_path, corpus_dir, capsys):
    assert_user_error(["textgen", "train", "--run-dir", str(tmp_path / "r"), "--corpus", str(corpus_dir),
                       "--max-time", "10x"], capsys, "is not a duration")
    assert_user_error(["tune", "textgen", "--project-dir", str(tmp_path / "t"), "--corpus", str(corpus_dir),
                       "--max-time", "10m"], capsys, "--train-best")
    assert not (tmp_path / "r").exists() and not (tmp_path / "t").exists()
