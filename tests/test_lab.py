"""The training-dynamics lab: the problems, the gradient measurement, and the commands."""

import csv
import json
import math

import numpy as np
import pytest

from helpers import assert_user_error, exit_code
from rnn_tf.lab.problems import COPY_LENGTH, DELIMITER, adding, copy_memory, get_problem


def test_the_adding_problem_marks_one_value_in_each_half_and_sums_them():
    batch = adding(2000, 30, np.random.default_rng(0))
    values, markers = batch.inputs[..., 0], batch.inputs[..., 1]
    assert batch.inputs.shape == (2000, 30, 2) and batch.targets.shape == (2000, 1)
    assert (markers[:, :15].sum(axis=1) == 1).all() and (markers[:, 15:].sum(axis=1) == 1).all()
    np.testing.assert_allclose(batch.targets[:, 0], (values * markers).sum(axis=1), rtol=1e-6)
    assert get_problem("adding").baseline(batch) == pytest.approx(1 / 6, abs=0.01)  # Var(U + U')


def test_the_copy_task_recalls_its_ten_symbols_after_the_delimiter():
    batch = copy_memory(50, 7, np.random.default_rng(0))
    assert batch.inputs.shape == batch.targets.shape == (50, 7 + 2 * COPY_LENGTH)
    symbols = batch.inputs[:, :COPY_LENGTH]
    assert ((symbols >= 1) & (symbols <= 8)).all()
    assert (batch.inputs[:, COPY_LENGTH + 6] == DELIMITER).all()
    assert (batch.inputs[:, COPY_LENGTH:COPY_LENGTH + 6] == 0).all() and (batch.inputs[:, -COPY_LENGTH:] == 0).all()
    np.testing.assert_array_equal(batch.targets[:, -COPY_LENGTH:], symbols)
    assert (batch.targets[:, :-COPY_LENGTH] == 0).all()
    assert get_problem("copy").baseline(batch) == pytest.approx(10 * math.log(8) / 27)


def _tanh_rnn(scale):
    """A tanh RNN on the adding problem whose recurrent kernel is ``scale`` times the identity."""
    import keras

    from rnn_tf.lab.experiments import build_model

    keras.utils.set_random_seed(0)
    model = build_model(get_problem("adding"), "simple_rnn", 6)
    cell = model.get_layer("rnn").cell
    cell.recurrent_kernel.assign(scale * np.eye(6, dtype="float32"))
    return model


def test_hidden_gradients_at_the_loss_and_their_decay_through_a_contracting_tanh_rnn():
    from rnn_tf.lab.experiments import hidden_gradients

    problem = get_problem("adding")
    batch = adding(8, 20, np.random.default_rng(1))
    model = _tanh_rnn(0.5)
    norms = hidden_gradients(model, problem, batch)
    assert norms.shape == (20,)
    # at k = T: the squared error's gradient 2 (prediction - y) times the read-out's weights
    head = model.get_layer("head")
    w = np.asarray(head.kernel)[:, 0]
    errors = model.predict(batch.inputs, verbose=0)[:, 0] - batch.targets[:, 0]
    assert norms[-1] == pytest.approx(np.mean(np.abs(2 * errors)) * np.linalg.norm(w), rel=1e-4)
    # each step back multiplies by U^T diag(tanh') with ||U|| = 0.5: at least halving per step
    assert all(norms[k] <= 0.5 * norms[k + 1] * (1 + 1e-5) for k in range(19))
    # an identity recurrence loses far less
    kept = hidden_gradients(_tanh_rnn(1.0), problem, batch)
    assert kept[0] / kept[-1] > 100 * norms[0] / norms[-1]


def test_chrono_initialisation_opens_the_memory_gate_on_time_scales_up_to_the_length():
    import keras

    from rnn_tf.lab.experiments import build_model

    units, length = 32, 60
    for cell in ("lstm", "peephole_lstm", "cifg_lstm", "gru"):
        keras.utils.set_random_seed(0)
        bias = np.asarray(build_model(get_problem("adding"), f"{cell}+chrono", units, length=length, seed=3)
                          .get_layer("rnn").cell.bias)
        row = bias[0] if bias.ndim == 2 else bias
        if cell == "gru":
            keep = row[:units]  # update gate z: h' = z h + (1 - z) candidate
            assert (bias[1, :units] == 0).all()
        elif cell == "cifg_lstm":
            keep = -row[:units]  # f = 1 - i
        else:
            keep = row[units:2 * units]
            np.testing.assert_allclose(row[:units], -keep)  # the input gate starts as closed as f is open
        time_scales = np.exp(keep)  # 1 / (1 - sigmoid(b)) - 1 = e^b steps
        assert time_scales.min() >= 1 and time_scales.max() <= length - 1 and time_scales.max() > length / 2, cell
        assert len(np.unique(keep)) == units  # one time scale per unit


def test_a_chrono_lstm_keeps_far_gradients_that_keras_default_lstm_loses():
    import keras

    from rnn_tf.lab.experiments import build_model, hidden_gradients

    problem, length = get_problem("adding"), 40
    batch = adding(8, length, np.random.default_rng(1))
    ratios = {}
    for cell in ("lstm", "lstm+chrono"):
        keras.utils.set_random_seed(0)
        norms = hidden_gradients(build_model(problem, cell, 16, length=length), problem, batch)
        ratios[cell] = norms[0] / norms[-1]
    assert ratios["lstm+chrono"] > 20 * ratios["lstm"]


def _read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_lab_gradients_writes_its_table_and_plot_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "grads"
    argv = ["lab", "gradients", "--cell", "simple_rnn", "lstm", "--length", "12", "--steps", "3", "--units", "8",
            "--batch-size", "4", "--out", str(out), "--json"]
    assert exit_code(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["cells"]) == {"simple_rnn", "lstm"} and result["length"] == 12
    rows = _read_csv(out / "gradients.csv")
    assert len(rows) == 2 * 2 * 12 and {r["stage"] for r in rows} == {"init", "trained"}
    assert sorted({int(r["distance"]) for r in rows}) == list(range(12))
    assert all(float(r["grad_norm"]) >= 0 for r in rows)
    png = (out / "gradients.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert_user_error(argv, capsys, "gradients.csv' exists: pass --overwrite")
    assert (out / "gradients.png").read_bytes() == png  # untouched


def test_lab_task_compares_each_cell_with_the_baseline(tmp_path, capsys):
    out = tmp_path / "copy"
    assert exit_code(["lab", "task", "copy", "--cell", "gru", "--length", "5", "8", "--steps", "4", "--units", "8",
                      "--batch-size", "4", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "copy: test cross-entropy against the trivial baseline" in printed
    rows = _read_csv(out / "results.csv")
    assert [(r["cell"], r["length"], r["steps"]) for r in rows] == [("gru", "5", "4"), ("gru", "8", "4")]
    assert float(rows[0]["baseline"]) == pytest.approx(10 * math.log(8) / 25, rel=1e-5)
    assert (out / "curves.png").stat().st_size > 1000


def test_lab_clipping_records_every_steps_gradient_norm_and_stops_a_diverging_run(tmp_path, capsys):
    out = tmp_path / "clip"
    # plain gradient descent with a far too large learning rate: unclipped it blows up, clipped it stays finite
    assert exit_code(["lab", "clipping", "--cell", "lstm", "--length", "30", "--steps", "25", "--units", "16",
                      "--optimizer", "sgd", "--learning-rate", "3", "--clip", "0", "0.5", "--out", str(out),
                      "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)["runs"]
    assert runs["no clipping"]["diverged"] and not runs["clipnorm 0.5"]["diverged"]
    assert runs["clipnorm 0.5"]["steps_run"] == 25 and runs["no clipping"]["steps_run"] < 25
    rows = _read_csv(out / "clipping.csv")
    assert len(rows) == runs["no clipping"]["steps_run"] + 25
    assert all(float(r["grad_norm"]) > 0 for r in rows if r["setting"] == "clipnorm 0.5")


@pytest.mark.parametrize("flags, message", [
    (["--length", "1"], "--length 1 is too short"),
    (["--steps", "0"], "--steps 0 is too small"),
    (["--learning-rate", "0"], "--learning-rate 0 is not above 0"),
    (["--clipnorm", "-1"], "a clipping norm is negative"),
])
def test_bad_lab_flags_are_one_line_and_exit_2(tmp_path, capsys, flags, message):
    assert_user_error(["lab", "task", "adding", "--out", str(tmp_path / "x"), *flags], capsys, message)
    assert not (tmp_path / "x").exists()


def test_a_cell_with_its_own_defaults_gets_them_unless_the_flags_are_given():
    import argparse

    from rnn_tf.lab.command import CELL_DEFAULTS, add_lab_commands, setting

    parser = argparse.ArgumentParser()
    add_lab_commands(parser.add_subparsers())
    args = parser.parse_args(["task", "adding"])
    assert setting(args, "irnn", "learning_rate") == CELL_DEFAULTS["irnn"]["learning_rate"]
    assert setting(args, "irnn", "steps") == CELL_DEFAULTS["irnn"]["steps"]
    assert (setting(args, "lstm", "learning_rate"), setting(args, "lstm", "steps")) == (1e-2, 1000)
    given = parser.parse_args(["task", "adding", "--steps", "7", "--learning-rate", "0.5"])
    assert (setting(given, "irnn", "steps"), setting(given, "irnn", "learning_rate")) == (7, 0.5)
    clipping = parser.parse_args(["clipping", "--cell", "irnn"])  # one setting for every clip value
    assert (setting(clipping, "irnn", "steps"), setting(clipping, "irnn", "learning_rate")) == (1000, 0.2)
