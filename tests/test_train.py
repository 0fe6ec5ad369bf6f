import hashlib
import json
import os

import numpy as np
import pytest

from conftest import TINY
from helpers import train_run
from rnn_tf.errors import UserError
from rnn_tf.runs import RunDir
from rnn_tf.textgen import load_textgen_run, train_textgen


def train(run_dir, corpus, **kw):
    return train_run("textgen", run_dir, {"corpus": str(corpus), **TINY, **kw})


def fingerprint(folder):
    """Name -> hash of every file below ``folder``: proves that nothing was touched."""
    out = {}
    for root, _, files in os.walk(folder):
        for f in files:
            p = os.path.join(root, f)
            out[os.path.relpath(p, folder)] = hashlib.sha256(open(p, "rb").read()).hexdigest()
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny two-epoch run shared by the read-only tests."""
    from conftest import write_corpus

    base = tmp_path_factory.mktemp("trained")
    corpus = write_corpus(base / "corpus")
    result = train(base / "run", corpus, epochs=2)
    return base / "run", corpus, result


def test_a_run_folder_holds_everything_needed(trained):
    run_dir, _, result = trained
    run = RunDir(str(run_dir))
    for path in (run.config, run.vocab, run.state, run.history, run.samples, run.best_weights,
                 run.checkpoint(1), run.checkpoint(2)):
        assert os.path.isfile(path), path
    assert not [f for f in os.listdir(run.checkpoints) if "partial" in f]
    config = json.load(open(run.config))
    assert config["cell"] == "lstm" and config["seed"] == 7 and config["prime"].startswith("Fellow")
    history = run.read_history()
    assert [int(r["epoch"]) for r in history] == [1, 2]
    assert [int(r["step"]) for r in history] == [3, 6]
    for row in history:
        assert float(row["val_bpc"]) == pytest.approx(float(row["val_loss"]) / np.log(2), rel=1e-4)
        assert float(row["val_perplexity"]) == pytest.approx(np.exp(float(row["val_loss"])), rel=1e-4)
    samples = open(run.samples, encoding="utf-8").read()
    assert "samples after epoch 2" in samples and "temperature 0.5" in samples
    assert result.epochs_done == 2 and not result.stopped_on_nan


def test_weights_hold_the_optimizer_state(trained):
    import h5py

    with h5py.File(RunDir(str(trained[0])).checkpoint(2)) as f:
        assert "optimizer" in f and len(f["optimizer"]["vars"]) > 1


def test_resume_continues_exactly_where_the_run_stopped(tmp_path, corpus_dir):
    straight = train(tmp_path / "straight", corpus_dir, epochs=3, lr_decay=0.5, dropout=0.3, layers=2)
    train(tmp_path / "stopped", corpus_dir, epochs=1, lr_decay=0.5, dropout=0.3, layers=2)
    resumed = train_textgen(str(tmp_path / "stopped"), {"epochs": 3}, resume=True, verbose=0,
                            stream=open(os.devnull, "w"))
    assert resumed.epochs_done == 3
    a, b = straight.history, resumed.history
    assert [r["epoch"] for r in b] == ["1", "2", "3"]
    assert [r["step"] for r in b] == [r["step"] for r in a] == ["3", "6", "9"]
    # the learning-rate schedule continues too (0.01 halved after every epoch)
    assert [float(r["learning_rate"]) for r in b] == [float(r["learning_rate"]) for r in a] == [0.005, 0.0025, 0.00125]
    for ra, rb in zip(a, b):  # the same batches in the same order: the same losses
        assert float(ra["loss"]) == pytest.approx(float(rb["loss"]), rel=1e-5)
        assert float(ra["val_loss"]) == pytest.approx(float(rb["val_loss"]), rel=1e-5)
        assert float(ra["grad_norm"]) == pytest.approx(float(rb["grad_norm"]), rel=1e-4)
    _, _, lm_a = load_textgen_run(str(tmp_path / "straight"), "last")
    _, _, lm_b = load_textgen_run(str(tmp_path / "stopped"), "last")
    for wa, wb in zip(lm_a.training.get_weights(), lm_b.training.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6)


def test_a_decaying_learning_rate_reaches_zero_at_the_planned_step_and_survives_a_resume(tmp_path, corpus_dir):
    import math

    from rnn_tf.tasks.textgen import TextgenConfig
    from rnn_tf.textgen import learning_rate_schedule

    straight = train(tmp_path / "straight", corpus_dir, epochs=3, lr_schedule="linear")
    assert json.loads((tmp_path / "straight" / "config.json").read_text())["lr_schedule_steps"] == 9  # 3 x 3 steps
    train(tmp_path / "stopped", corpus_dir, epochs=1, lr_schedule="linear", lr_schedule_steps=9)
    resumed = train_textgen(str(tmp_path / "stopped"), {"epochs": 3}, resume=True, verbose=0,
                            stream=open(os.devnull, "w"))
    for a, b, want in zip(straight.history, resumed.history, [0.01 * (1 - step / 9) for step in (3, 6, 9)]):
        assert float(a["learning_rate"]) == pytest.approx(want, abs=1e-7)  # after each epoch's last step
        assert float(b["learning_rate"]) == pytest.approx(want, abs=1e-7)
        assert float(a["loss"]) == pytest.approx(float(b["loss"]), rel=1e-5)
    with pytest.raises(UserError, match="--epochs 4 trains past the end of the linear learning-rate schedule "
                                        r"\(step 9, where the rate reaches zero\)"):
        train_textgen(str(tmp_path / "stopped"), {"epochs": 4}, resume=True, verbose=0)
    with pytest.raises(UserError, match="--lr-decay and --lr-schedule linear are two schedules"):
        train(tmp_path / "both", corpus_dir, epochs=1, lr_schedule="linear", lr_decay=0.5)
    cosine = learning_rate_schedule(TextgenConfig(learning_rate=0.01, lr_schedule="cosine", lr_schedule_steps=9), 3)
    for step in (0, 3, 6, 9, 12):
        want = 0.01 * (1 + math.cos(math.pi * min(step, 9) / 9)) / 2
        assert float(cosine(step)) == pytest.approx(want, abs=1e-7)


def test_history_records_the_gradient_norm_before_clipping(tmp_path, corpus_dir):
    clipped = train(tmp_path / "clipped", corpus_dir, epochs=1, clipnorm=1e-4).history[0]
    free = train(tmp_path / "free", corpus_dir, epochs=1, clipnorm=0).history[0]
    for row in (clipped, free):  # the mean and the largest of the epoch's per-step global norms
        assert 0 < float(row["grad_norm"]) <= float(row["grad_norm_max"])
    # the same first step either way; clipping acts after the norm is taken, so it reads far above 1e-4
    assert float(clipped["grad_norm"]) > 100 * 1e-4
    assert float(clipped["loss"]) > float(free["loss"])  # and the clipped run barely moved


def test_a_history_without_gradient_norms_gains_the_columns_on_resume(trained, tmp_path):
    """A run written by a version before the gradient-norm columns resumes; its old rows stay, blank
    in the new columns."""
    import csv
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(trained[0], run_dir)
    run = RunDir(str(run_dir))
    rows = run.read_history()
    old = [k for k in rows[0] if not k.startswith("grad_norm")]
    with open(run.history, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=old, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    train_textgen(str(run_dir), {"epochs": 3}, resume=True, verbose=0, stream=open(os.devnull, "w"))
    history = run.read_history()
    assert [r["epoch"] for r in history] == ["1", "2", "3"]
    assert history[0]["grad_norm"] == "" and float(history[2]["grad_norm"]) > 0
    assert [r["loss"] for r in history[:2]] == [r["loss"] for r in rows]


def test_resume_restores_the_optimizer_step_and_state(trained, tmp_path):
    import shutil

    import keras

    from rnn_tf.tasks.textgen import TextgenConfig
    from rnn_tf.textgen import build_model
    from rnn_tf.vocab import Vocabulary

    run_dir = tmp_path / "run"
    shutil.copytree(trained[0], run_dir)
    run = RunDir(str(run_dir))
    cfg = TextgenConfig.from_dict(run.read_config())
    lm = build_model(cfg, len(Vocabulary.load(run.vocab)), 3)
    lm.training.optimizer.build(lm.training.trainable_variables)
    lm.training.load_weights(run.checkpoint(2))
    assert int(lm.training.optimizer.iterations.numpy()) == 6
    assert any(np.abs(keras.ops.convert_to_numpy(v)).sum() > 0 for v in lm.training.optimizer.variables[2:])


def test_resume_keeps_the_best_epoch_when_later_epochs_are_worse(trained, tmp_path):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(trained[0], run_dir)
    run = RunDir(str(run_dir))
    state = run.read_state()
    state["best_val_loss"] = -1.0  # pretend epoch 2 was unbeatable
    run.write_json(run.state, state)
    best_before = fingerprint(run_dir)["best.weights.h5"]
    train_textgen(str(run_dir), {"epochs": 3}, resume=True, verbose=0, stream=open(os.devnull, "w"))
    assert fingerprint(run_dir)["best.weights.h5"] == best_before
    assert run.read_state()["best_epoch"] == state["best_epoch"]


def test_patience_stops_early_and_a_resume_out_of_patience_is_refused(trained, tmp_path, capsys):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(trained[0], run_dir)
    run = RunDir(str(run_dir))
    run.write_json(run.state, {**run.read_state(), "best_epoch": 1, "best_val_loss": -1.0})  # unbeatable epoch 1
    result = train_textgen(str(run_dir), {"epochs": 6, "patience": 2}, resume=True, verbose=0)
    assert result.epochs_done == 3 and "no lower val_loss for 2 epochs (best: epoch 1)" in capsys.readouterr().out
    assert [r["epoch"] for r in run.read_history()] == ["1", "2", "3"]
    before = fingerprint(run_dir)
    with pytest.raises(UserError, match="stopped early at epoch 3.*larger --patience"):
        train_textgen(str(run_dir), {"epochs": 6, "patience": 2}, resume=True, verbose=0)
    assert fingerprint(run_dir) == before
    result = train_textgen(str(run_dir), {"epochs": 6, "patience": 4}, resume=True, verbose=0,
                           stream=open(os.devnull, "w"))
    assert result.epochs_done == 5 and run.read_config()["patience"] == 4


def test_an_interrupted_epoch_is_dropped_from_the_history_on_resume(trained, tmp_path):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(trained[0], run_dir)
    run = RunDir(str(run_dir))
    state = run.read_state()
    first = run.read_history()[0]  # as if epoch 2 crashed before its commit: state.json still says epoch 1
    run.write_json(run.state, {**state, "epoch": 1, "best_epoch": 1, "best_val_loss": float(first["val_loss"])})
    result = train_textgen(str(run_dir), {"epochs": 2}, resume=True, verbose=0, stream=open(os.devnull, "w"))
    assert [r["epoch"] for r in result.history] == ["1", "2"]


def test_a_new_run_refuses_a_non_empty_folder_and_touches_nothing(trained):
    run_dir, corpus, _ = trained
    before = fingerprint(run_dir)
    with pytest.raises(UserError, match="not empty"):
        train(run_dir, corpus, epochs=1)
    assert fingerprint(run_dir) == before


def test_overwrite_replaces_a_run_but_never_a_folder_of_other_files(tmp_path, corpus_dir):
    other = tmp_path / "mine"
    other.mkdir()
    (other / "thesis.tex").write_text("precious")
    with pytest.raises(UserError, match="not an rnn_tf run"):
        train_textgen(str(other), {"corpus": str(corpus_dir), **TINY}, overwrite=True, verbose=0)
    assert (other / "thesis.tex").read_text() == "precious"
    train(tmp_path / "run", corpus_dir, epochs=2)
    result = train_textgen(str(tmp_path / "run"), {"corpus": str(corpus_dir), **TINY, "epochs": 1},
                           overwrite=True, verbose=0, stream=open(os.devnull, "w"))
    assert result.epochs_done == 1 and not os.path.exists(RunDir(str(tmp_path / "run")).checkpoint(2))


@pytest.mark.parametrize("settings, match", [
    ({"units": 16}, "--units 16 differs"),
    ({"cell": "gru"}, "--cell gru differs"),
    ({"epochs": 2}, "already trained 2 epochs"),
])
def test_bad_resumes_are_user_errors_and_touch_nothing(trained, settings, match):
    run_dir = trained[0]
    before = fingerprint(run_dir)
    with pytest.raises(UserError, match=match):
        train_textgen(str(run_dir), settings, resume=True, verbose=0)
    assert fingerprint(run_dir) == before


def test_a_checkpoint_without_its_optimizer_state_is_not_resumed_from(trained, tmp_path):
    """Keras only warns and restarts the optimizer; a resume must not silently lose Adam's moments."""
    import shutil

    import h5py

    run_dir = tmp_path / "run"
    shutil.copytree(trained[0], run_dir)
    run = RunDir(str(run_dir))
    with h5py.File(run.checkpoint(2), "a") as f:
        del f["optimizer"]
    state = run.read_state()
    del state["files"]  # a run folder from before the fingerprints (with them the change is named first)
    run.write_json(run.state, state)
    before = fingerprint(run_dir)
    with pytest.raises(UserError, match="do not fit.*Skipping variable loading for optimizer"):
        train_textgen(str(run_dir), {"epochs": 3}, resume=True, verbose=0, stream=open(os.devnull, "w"))
    assert fingerprint(run_dir) == before


def test_resume_of_a_folder_without_a_run_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="not a run folder"):
        train_textgen(str(tmp_path), {}, resume=True, verbose=0)


@pytest.mark.parametrize("settings, match", [
    ({"corpus": "/no/such/corpus.txt"}, "not found"),
    ({"seq_len": 5000}, "shorter than one window"),
    ({"cell": "lstmm"}, "unknown cell"),
    ({"learning_rate": 0.0}, "learning-rate"),
    ({"temperatures": [0.0]}, "above 0"),
    ({"patience": -1}, "--patience -1 is negative"),
])
def test_bad_new_runs_are_user_errors_and_write_nothing(tmp_path, corpus_dir, settings, match):
    with pytest.raises(UserError, match=match):
        train_textgen(str(tmp_path / "run"), {"corpus": str(corpus_dir), **TINY, **settings}, verbose=0)
    assert not (tmp_path / "run").exists()


def test_weights_of_another_model_are_a_user_error(trained, tmp_path, corpus_dir):
    train(tmp_path / "bigger", corpus_dir, epochs=1, units=12)
    with pytest.raises(UserError, match="do not fit"):
        load_textgen_run(str(trained[0]), str(RunDir(str(tmp_path / "bigger")).checkpoint(1)))


def test_each_cell_and_the_word_level_train_an_epoch(tmp_path, corpus_dir):
    for cell in ("simple_rnn", "irnn", "gru"):
        result = train(tmp_path / cell, corpus_dir, epochs=1, cell=cell, layers=2, dropout=0.1)
        assert result.epochs_done == 1
    words = train(tmp_path / "words", corpus_dir, epochs=1, level="word", seq_len=8)
    assert words.epochs_done == 1
    cfg, vocab, _ = load_textgen_run(str(tmp_path / "words"))
    assert vocab.level == "word" and "Senate" in vocab.stoi


def test_a_diverging_run_stops_without_saving_the_bad_epoch(tmp_path, corpus_dir):
    result = train(tmp_path / "nan", corpus_dir, epochs=3, learning_rate=1e6, clipnorm=0.0, cell="irnn", units=16)
    assert result.stopped_on_nan
    run = RunDir(str(tmp_path / "nan"))
    assert not os.path.exists(run.checkpoint(result.epochs_done + 1))
    for row in run.read_history():
        assert np.isfinite(float(row["loss"]))
