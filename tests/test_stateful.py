"""``textgen train --stateful``: truncated backpropagation through time. The tracks stream, states
carried from batch to batch (and reset at a track's start), exact resume, generation, and validation
that neither disturbs the carried states nor measures anything but independent windows."""

import numpy as np
import pytest

from conftest import TINY
from helpers import assert_user_error, exit_code, train_run
from rnn_tf.datasets import track_dataset, track_windows
from rnn_tf.models.language_model import build_language_model
from test_train import fingerprint

# 4 tracks of 1,095 characters (the test corpus): 3 windows of 301 each, so a few steps wrap around.
SHORT_TRACKS = dict(TINY, seq_len=300, steps_per_epoch=2, stateful=True)


def train(run_dir, corpus, **kw):
    return train_run("textgen", run_dir, {"corpus": str(corpus), **SHORT_TRACKS, **kw})


@pytest.fixture(scope="module")
def stateful_run(tmp_path_factory):
    """One tiny one-epoch stateful run shared by the tests that leave it as it is."""
    from conftest import write_corpus

    base = tmp_path_factory.mktemp("stateful")
    result = train(base / "run", write_corpus(base / "corpus"), epochs=1)
    return base / "run", result


def test_a_memory_mapped_corpus_gives_the_same_track_batches(tmp_path):
    ids = np.arange(1000, 1050)
    mapped = np.memmap(tmp_path / "ids.bin", np.uint16, "w+", shape=ids.shape)
    mapped[:] = ids
    for start in (0, 4):
        a = list(track_dataset(ids, 4, 3, start_step=start).take(5))
        b = list(track_dataset(mapped, 4, 3, start_step=start).take(5))
        for ((xa, ka), ya), ((xb, kb), yb) in zip(a, b):
            for u, v in ((xa, xb), (ka, kb), (ya, yb)):
                np.testing.assert_array_equal(u.numpy(), v.numpy())


def test_rows_continue_each_other_across_batches_and_restart_at_the_wrap():
    ids, seq_len, batch = np.arange(1000, 1050), 4, 3  # tracks of 16 ids: 3 windows each
    windows = track_windows(ids, seq_len, batch)
    assert windows.shape == (3, 3, 5)
    stream = [((x.numpy(), keep.numpy()), y.numpy()) for (x, keep), y in track_dataset(ids, seq_len, batch).take(7)]
    for k, ((x, keep), y) in enumerate(stream):
        w = k % 3
        for j in range(batch):  # row j, window w of track j = ids[16 j : 16 (j + 1)]
            np.testing.assert_array_equal(x[j], ids[16 * j + 4 * w: 16 * j + 4 * w + 4])
            np.testing.assert_array_equal(y[j], ids[16 * j + 4 * w + 1: 16 * j + 4 * w + 5])
        assert (keep == (0.0 if w == 0 else 1.0)).all()
        if w > 0:  # the window continues the previous one: its first input is the last target before it
            np.testing.assert_array_equal(x[:, 0], stream[k - 1][1][:, -1])
    later = [((x.numpy(), keep.numpy()), y.numpy()) for (x, keep), y in track_dataset(ids, 4, 3, start_step=4).take(3)]
    for (a, b) in zip(stream[4:], later):  # batch k is a function of k: a resumed stream is the same
        np.testing.assert_array_equal(a[0][0], b[0][0])
        np.testing.assert_array_equal(a[0][1], b[0][1])


@pytest.mark.parametrize("cell, implementation", [("lstm", "fast"), ("gru", "fast"), ("simple_rnn", "keras")])
def test_the_state_after_batch_k_is_that_of_running_the_concatenated_windows(cell, implementation, monkeypatch):
    import keras

    from rnn_tf.models import fast_rnn

    keras.utils.set_random_seed(3)
    ids = np.random.default_rng(0).integers(2, 11, 63).astype(np.int32)  # 3 tracks
    lm = build_language_model(11, cell, units=6, layers=2, embedding_dim=3, implementation=implementation,
                              stateful_batch_size=3)
    initial_states = []  # what the fast loop starts from, call by call
    original = fast_rnn.FastRecurrence.inner_loop

    def spy(self, sequences, initial_state, mask, training=False):
        initial_states.append([np.array(s) for s in initial_state])
        return original(self, sequences, initial_state, mask, training=training)

    monkeypatch.setattr(fast_rnn.FastRecurrence, "inner_loop", spy)
    tracks = ids.reshape(3, 21)  # 21 ids a track: 4 windows of 5 (+1), as track_windows cuts them
    carried_before = []
    for k, ((x, keep), _) in enumerate(track_dataset(ids, 5, 3).take(5)):
        carried_before.append([np.array(v) for layer in lm.training.carried for v in layer])
        logits = np.array(lm.training((x, keep)))
        w = k % 4
        whole = np.array(lm.training(tracks[:, : 5 * (w + 1)]))  # ids alone: from a zero state
        np.testing.assert_allclose(logits, whole[:, 5 * w:], rtol=1e-4, atol=1e-5)
    # The state carried into batch 4 is the step view's after all 4 windows of each track in one go.
    states = lm.zero_states(3)
    for t in range(20):
        out = lm.step([keras.ops.convert_to_tensor(tracks[:, t]), *states])
        states = out[1:]
    for got, want in zip(carried_before[4], states):
        np.testing.assert_allclose(got, np.array(want), rtol=1e-4, atol=1e-5)
    if implementation == "fast" and cell in ("lstm", "gru"):
        assert all(fast_rnn._fast_path_applies(rnn, training=True) for rnn in lm.training.rnns)
        # the fast loop ran with the carried state as its initial state (batch 2's first layer)
        assert len(initial_states) == 5 * 2 * 2  # per batch: a carried call and a whole-track call, 2 layers each
        np.testing.assert_allclose(initial_states[4 * 2][0], carried_before[2][0], rtol=1e-6)
        assert np.abs(carried_before[2][0]).sum() > 0


def test_resume_is_exact_with_stateful(tmp_path, corpus_dir):
    # 16 tracks of 273 characters: 4 windows of 61. (With --units 32 and more the step is compiled whole
    # by XLA: the same result, checked by hand, at three times the cost of this test.)
    settings = dict(dropout=0.2, batch_size=16, seq_len=60, steps_per_epoch=3)
    straight = train(tmp_path / "straight", corpus_dir, epochs=2, **settings)
    train(tmp_path / "stopped", corpus_dir, epochs=1, **settings)
    resumed = train_run("textgen", tmp_path / "stopped", {"epochs": 2}, resume=True)
    assert [r["step"] for r in resumed.history] == [r["step"] for r in straight.history] == ["3", "6"]
    for a, b in zip(straight.history, resumed.history):  # step 5 starts the tracks over
        assert float(a["loss"]) == pytest.approx(float(b["loss"]), rel=1e-5)
        assert float(a["val_loss"]) == pytest.approx(float(b["val_loss"]), rel=1e-5)
    from rnn_tf.textgen import load_textgen_run

    _, _, lm_a = load_textgen_run(str(tmp_path / "straight"), "last")
    _, _, lm_b = load_textgen_run(str(tmp_path / "stopped"), "last")
    for wa, wb in zip(lm_a.training.get_weights(), lm_b.training.get_weights()):  # the carried states too
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6)
    carried_a = [np.array(v) for c in lm_a.training.carried for v in c]
    carried_b = [np.array(v) for c in lm_b.training.carried for v in c]
    assert len(carried_a) == 2 and all(np.abs(v).sum() > 0 for v in carried_a)  # h and c
    for va, vb in zip(carried_a, carried_b):
        np.testing.assert_allclose(va, vb, rtol=1e-5, atol=1e-6)


def test_validation_and_evaluation_leave_the_carried_states_alone_and_measure_independent_windows(stateful_run):
    from rnn_tf.datasets import language_model_dataset
    from rnn_tf.runs import RunDir
    from rnn_tf.tasks.textgen import TextgenConfig
    from rnn_tf.textgen import build_model, evaluate_textgen, load_textgen_run, prepare_textgen_data

    run_dir, result = stateful_run
    cfg, vocab, lm = load_textgen_run(str(run_dir), "last")
    carried = [np.array(v) for c in lm.training.carried for v in c]
    assert any(np.abs(v).sum() > 0 for v in carried)
    plain = TextgenConfig.from_dict({**RunDir(str(run_dir)).read_config(), "stateful": False})
    same = build_model(plain, len(vocab))
    for name, layer in (("embedding", lm.training.embedding), ("rnn_1", lm.training.rnns[0]),
                        ("logits", lm.training.logits)):
        same.training.get_layer(name).set_weights(layer.get_weights())
    compiled = build_model(cfg, len(vocab))
    compiled.training.set_weights(lm.training.get_weights())
    val = language_model_dataset(prepare_textgen_data(cfg, vocab).val_ids, cfg.seq_len, cfg.batch_size,
                                 shuffle=False, repeat=False)
    loss = compiled.training.evaluate(val, verbose=0)  # what fit's validation runs
    assert loss == pytest.approx(same.training.evaluate(val, verbose=0), rel=1e-5)
    assert loss == pytest.approx(float(result.history[0]["val_loss"]), rel=1e-5)
    for before, after in zip(carried, [np.array(v) for c in compiled.training.carried for v in c]):
        np.testing.assert_array_equal(before, after)
    evaluate_textgen(str(run_dir), "last")
    for before, after in zip(carried, [np.array(v) for c in lm.training.carried for v in c]):
        np.testing.assert_array_equal(before, after)


def test_a_stateful_run_generates_and_evaluates_and_its_config_says_stateful(stateful_run, capsys):
    from rnn_tf.runs import RunDir
    from rnn_tf.tasks.textgen import TextgenConfig

    run_dir = str(stateful_run[0])
    assert RunDir(run_dir).read_config()["stateful"] is True
    capsys.readouterr()
    assert exit_code(["textgen", "generate", "--run-dir", run_dir, "--length", "12", "--seed", "0",
                      "--num-samples", "2", "--json"]) == 0
    assert '"samples"' in capsys.readouterr().out
    assert exit_code(["textgen", "evaluate", "--run-dir", run_dir, "--json"]) == 0
    assert '"bpc"' in capsys.readouterr().out
    old = {k: v for k, v in TextgenConfig().to_dict().items() if k != "stateful"}  # a config.json from before
    assert TextgenConfig.from_dict(old).stateful is False


def test_a_resume_that_switches_stateful_is_refused_and_writes_nothing(stateful_run, tmp_path, corpus_dir, capsys):
    train(tmp_path / "windows", corpus_dir, epochs=1, stateful=False)
    for run_dir, flag in ((stateful_run[0], "--no-stateful"), (tmp_path / "windows", "--stateful")):
        before = fingerprint(run_dir)
        assert_user_error(["textgen", "train", "--run-dir", str(run_dir), "--resume", "--epochs", "2", flag],
                          capsys, "--stateful")
        assert fingerprint(run_dir) == before


def test_a_corpus_too_short_for_the_tracks_is_one_line_before_anything_is_written(tmp_path, corpus_dir, capsys):
    run_dir = tmp_path / "run"
    assert_user_error(["textgen", "train", "--corpus", str(corpus_dir), "--stateful", "--batch-size", "64",
                       "--seq-len", "100", "--steps-per-epoch", "2", "--run-dir", str(run_dir)],
                      capsys, "use a smaller --batch-size or --seq-len")
    assert not run_dir.exists()
