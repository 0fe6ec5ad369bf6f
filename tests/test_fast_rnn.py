"""The fast LSTM/GRU layers compute what Keras's layers compute: outputs and every gradient, with every
option the tasks use, with both loop runners (plain graph below XLA_MIN_UNITS units, XLA above)."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import TINY
from rnn_tf.models import bptt
from rnn_tf.models.cells import recurrent_layer
from rnn_tf.models.classifier import build_classifier
from rnn_tf.models.fast_rnn import XLA_MIN_UNITS, FastGRU, FastLSTM
from rnn_tf.models.language_model import build_language_model
from rnn_tf.models.seq2seq import build_seq2seq

STOCK = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}
FAST = {"lstm": FastLSTM, "gru": FastGRU}
TOL = dict(rtol=1e-5, atol=1e-5)


def copy_weights(source: keras.Model, target: keras.Model) -> None:
    assert [w.path for w in source.weights] == [w.path for w in target.weights]
    for a, b in zip(source.weights, target.weights):
        b.assign(a)


def outputs_and_gradients(layer, x, mask, states, seed=0):
    """The layer's outputs and the gradients of a loss on all of them w.r.t. inputs, states, weights."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        if states:
            tape.watch(states)
        out = layer(x, mask=mask, initial_state=states)
        out = list(out) if isinstance(out, (list, tuple)) else [out]
        weights = [tf.constant(np.random.default_rng(seed + i).normal(size=o.shape), o.dtype) for i, o in enumerate(out)]
        loss = sum(tf.reduce_sum(tf.sin(o * w)) for o, w in zip(out, weights))
    grads = tape.gradient(loss, [x, *(states or []), *layer.trainable_weights])
    assert all(g is not None for g in grads)
    return [o.numpy() for o in out], [tf.convert_to_tensor(g).numpy() for g in grads]


@pytest.mark.parametrize("units", [5, XLA_MIN_UNITS + 3])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("masked, go_backwards, return_sequences, initial_state, zero_output", [
    (False, False, True, False, False),
    (False, False, False, True, False),
    (True, False, True, True, False),    # right-padded, state from an encoder (translate's decoder)
    (True, False, False, False, False),  # last state of padded texts (classify)
    (True, True, True, False, True),     # the backward half of a Bidirectional layer
    (False, True, False, True, False),
])
def test_fast_layer_equals_the_keras_layer(cell, units, masked, go_backwards, return_sequences, initial_state,
                                           zero_output):
    rng = np.random.default_rng(units)
    batch, steps, features = 4, 9, 6
    options = dict(return_sequences=return_sequences, return_state=True, go_backwards=go_backwards)
    fast, stock = FAST[cell](units, **options), STOCK[cell](units, **options)
    for layer in (fast, stock):
        layer.zero_output_for_mask = zero_output
        layer.build((batch, steps, features))
    for a, b in zip(stock.weights, fast.weights):  # Keras's initialisers, plus a bias that matters
        a.assign(a + rng.normal(scale=0.1, size=a.shape).astype("float32"))
        b.assign(a)
    x = tf.constant(rng.normal(size=(batch, steps, features)).astype("float32"))
    mask = tf.constant(np.arange(steps)[None] < np.array([9, 5, 1, 7])[:, None]) if masked else None
    states = [tf.constant(rng.normal(size=(batch, units)).astype("float32"))
              for _ in range(2 if cell == "lstm" else 1)] if initial_state else None
    calls = []
    original = bptt._loop
    with pytest.MonkeyPatch.context() as mp:  # the fast path really ran
        mp.setattr(bptt, "_loop", lambda fn, n: calls.append(fn.__name__) or original(fn, n))
        fast_out, fast_grads = outputs_and_gradients(fast, x, mask, states)
        assert calls == [f"_{cell}_forward", f"_{cell}_backward"]
        calls.clear()  # with no GradientTape recording: the states-only loop, the same outputs
        inferred = fast(x, mask=mask, initial_state=states)
        assert calls == [f"_{cell}_states"]
    stock_out, stock_grads = outputs_and_gradients(stock, x, mask, states)
    assert len(fast_out) == len(stock_out)
    for a, b in zip(fast_out + fast_grads, stock_out + stock_grads):
        np.testing.assert_allclose(a, b, **TOL)
    for a, b in zip(inferred, stock_out):
        np.testing.assert_allclose(a, b, **TOL)


@pytest.mark.parametrize("units", [5, XLA_MIN_UNITS + 3])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_a_gradient_asked_for_without_a_tape_is_the_same(cell, units):
    """Outside a GradientTape the layers run the states-only loop; tf.gradients in a graph still gets
    the hand-written gradient (the full forward loop runs first)."""
    rng = np.random.default_rng(1)
    layer = FAST[cell](units, return_sequences=True)
    layer.build((3, 7, 4))
    x = tf.constant(rng.normal(size=(3, 7, 4)).astype("float32"))

    @tf.function
    def graph_gradients(x):
        return tf.gradients(tf.reduce_sum(tf.sin(layer(x))), [x, *layer.trainable_weights])

    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(tf.sin(layer(x)))
    expected = tape.gradient(loss, [x, *layer.trainable_weights])
    for a, b in zip(graph_gradients(x), expected):
        np.testing.assert_allclose(tf.convert_to_tensor(a).numpy(), tf.convert_to_tensor(b).numpy(), **TOL)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_fit_runs_the_backward_loop_and_evaluate_the_states_only_loop(cell):
    """Keras's training step records a gradient (the loops that keep what the backward loop needs);
    its evaluation does not (the states only)."""
    from rnn_tf.datasets import language_model_dataset
    from rnn_tf.tasks.textgen import TextgenConfig
    from rnn_tf.textgen import build_model

    ids = np.random.default_rng(4).integers(2, 30, 2000).astype("int32")
    lm = build_model(TextgenConfig(cell=cell, units=XLA_MIN_UNITS + 3, embedding_dim=8, seq_len=20, batch_size=8), 30)
    calls = []
    original = bptt._loop
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(bptt, "_loop", lambda fn, n: calls.append(fn.__name__) or original(fn, n))
        lm.training.fit(language_model_dataset(ids, 20, 8, seed=0), steps_per_epoch=1, verbose=0)
        assert set(calls) == {f"_{cell}_forward", f"_{cell}_backward"}
        calls.clear()
        lm.training.evaluate(language_model_dataset(ids, 20, 8, shuffle=False, repeat=False), verbose=0)
        assert set(calls) == {f"_{cell}_states"}


def model_gradients(model, inputs, targets, from_logits):
    with tf.GradientTape() as tape:
        out = model(inputs, training=True)
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(targets, out, from_logits=from_logits))
    return out.numpy(), [tf.convert_to_tensor(g).numpy() for g in tape.gradient(loss, model.trainable_weights)]


def assert_same_model(build, inputs, targets, from_logits=True):
    fast, stock = build("fast"), build("keras")
    copy_weights(stock, fast)
    for a, b in zip(model_gradients(fast, inputs, targets, from_logits)[1],
                    model_gradients(stock, inputs, targets, from_logits)[1]):
        np.testing.assert_allclose(a, b, **TOL)
    np.testing.assert_allclose(fast(inputs).numpy(), stock(inputs).numpy(), **TOL)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_two_layer_language_models_agree(cell):
    ids = np.random.default_rng(1).integers(0, 11, (3, 12)).astype("int32")
    assert_same_model(lambda impl: build_language_model(11, cell, 40, 2, 5, 0.0, impl).training, ids[:, :-1], ids[:, 1:])


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_language_models_fed_from_the_token_table_agree(cell, tmp_path):
    """A vocabulary of 11 beside 8 x 12 rows: the first layer gathers X W + b from the projected
    embedding table (and sums its gradient per token id) instead of the GEMMs; same outputs, same
    gradients, and a weights file laid out as the plain graph's."""
    from rnn_tf.models.fast_rnn import FastRecurrence

    ids = np.random.default_rng(2).integers(0, 11, (8, 13)).astype("int32")
    calls = []
    original = FastRecurrence.sequences_from_tokens
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(FastRecurrence, "sequences_from_tokens", lambda *a: calls.append(1) or original(*a))
        assert_same_model(lambda impl: build_language_model(11, cell, 40, 2, 5, 0.0, impl).training,
                          ids[:, :-1], ids[:, 1:])
    assert calls  # the table was used
    model = build_language_model(11, cell, 40, 2, 5, 0.3).training
    assert model.get_layer("rnn_1").takes_tokens(11, ids[:, :-1])
    assert not model.get_layer("rnn_1").takes_tokens(25, ids[:, :-1])  # 25 x 4 > 96 rows: the GEMMs
    model.save_weights(str(tmp_path / "chain.weights.h5"))
    plain = keras.Model(model.input, model.output)
    plain.save_weights(str(tmp_path / "plain.weights.h5"))
    import h5py

    layouts = []
    for name in ("chain", "plain"):
        with h5py.File(tmp_path / f"{name}.weights.h5") as f:
            f.visit(layouts.append)
    assert layouts[:len(layouts) // 2] == layouts[len(layouts) // 2:]
    np.testing.assert_allclose(model(ids, training=False).numpy(), plain(ids, training=False).numpy(), **TOL)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_bidirectional_masked_classifiers_agree(cell):
    ids = np.array([[3, 4, 5, 6, 7, 0, 0, 0], [2, 3, 0, 0, 0, 0, 0, 0], [5, 4, 3, 2, 6, 7, 8, 9]], np.int32)
    for pooling in ("last", "mean"):
        assert_same_model(lambda impl: build_classifier(12, 3, "rnn", cell, 33, 2, True, pooling, 6, 0.0,
                                                        implementation=impl), ids, np.array([0, 1, 2]),
                          from_logits=False)


def test_bidirectional_seq2seq_models_agree():
    source = np.array([[3, 4, 5, 0], [2, 3, 4, 5]], np.int32)
    target_in = np.array([[1, 5, 6, 0, 0], [1, 4, 5, 6, 7]], np.int32)
    target_out = np.array([[5, 6, 2, 0, 0], [4, 5, 6, 7, 2]], np.int32)
    for cell in ("gru", "lstm"):
        assert_same_model(lambda impl: build_seq2seq(10, 10, cell, 36, 1, True, "bahdanau", 5, 0.0, impl).training,
                          [source, target_in], target_out)


def test_recurrent_dropout_falls_back_to_the_keras_loop():
    layer = recurrent_layer("lstm", 8, name="rnn", return_sequences=True, recurrent_dropout=0.5)
    assert isinstance(layer, FastLSTM)
    calls = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(bptt, "_loop", lambda fn, n: calls.append(fn) or fn)
        layer(tf.ones((2, 5, 3)), training=True)
        assert calls == []  # Keras's loop, with its dropout masks
        layer(tf.ones((2, 5, 3)), training=False)
        assert len(calls) == 1  # without dropout at inference, the fast loop


def test_keras_implementation_builds_the_stock_layers():
    assert type(recurrent_layer("gru", 4, name="a", implementation="keras")) is keras.layers.GRU
    assert type(recurrent_layer("gru", 4, name="b")) is FastGRU
    assert type(recurrent_layer("simple_rnn", 4, name="c")) is keras.layers.SimpleRNN


def test_weights_files_are_laid_out_the_same_by_either_implementation(tmp_path):
    import h5py

    layouts = []
    for implementation in ("fast", "keras"):
        lm = build_language_model(9, "lstm", 4, 2, 3, 0.1, implementation)
        lm.training.save_weights(str(tmp_path / f"{implementation}.weights.h5"))
        with h5py.File(tmp_path / f"{implementation}.weights.h5") as f:
            names = []
            f.visit(names.append)
            layouts.append(names)
    assert layouts[0] == layouts[1] and "layers/lstm_1/cell/vars/1" in layouts[0]


def test_fast_layers_round_trip_their_config_inside_bidirectional():
    layer = keras.layers.Bidirectional(FastLSTM(6, return_sequences=True))
    clone = keras.layers.Bidirectional.from_config(layer.get_config())
    assert type(clone.forward_layer) is FastLSTM and type(clone.backward_layer) is FastLSTM
    assert clone.backward_layer.go_backwards


def train(run_dir, corpus, **kw):
    from rnn_tf.textgen import train_textgen

    return train_textgen(str(run_dir), {"corpus": str(corpus), **TINY, **kw}, verbose=0, stream=open(os.devnull, "w"))


def test_runs_load_and_sample_the_same_with_either_implementation(tmp_path, corpus_dir):
    from rnn_tf.runs import RunDir
    from rnn_tf.sampling import Sampler
    from rnn_tf.textgen import load_textgen_run

    train(tmp_path / "run", corpus_dir, epochs=1, units=XLA_MIN_UNITS, cell="gru")
    run = RunDir(str(tmp_path / "run"))
    assert json.load(open(run.config))["rnn_implementation"] == "fast"
    texts, logits = [], []
    for implementation in ("fast", "keras"):
        config = json.load(open(run.config))
        config["rnn_implementation"] = implementation
        json.dump(config, open(run.config, "w"))
        cfg, vocab, lm = load_textgen_run(str(tmp_path / "run"))
        texts.append(Sampler(lm, vocab).generate("The welfare", 40, [0.8], 2, seed=3))
        logits.append(lm.training(np.arange(2, 14, dtype="int32")[None]).numpy())
    assert texts[0] == texts[1]
    np.testing.assert_allclose(logits[0], logits[1], **TOL)


def test_old_run_configs_default_to_fast_and_resume_may_switch(tmp_path, corpus_dir):
    from rnn_tf.tasks.textgen import TextgenConfig
    from rnn_tf.runs import RunDir
    from rnn_tf.textgen import train_textgen

    train(tmp_path / "run", corpus_dir, epochs=1, rnn_implementation="keras")
    run = RunDir(str(tmp_path / "run"))
    config = json.load(open(run.config))
    assert config["rnn_implementation"] == "keras"
    del config["rnn_implementation"]  # a run folder from before the option existed
    assert TextgenConfig.from_dict(config).rnn_implementation == "fast"
    resumed = train_textgen(str(tmp_path / "run"), {"epochs": 2, "rnn_implementation": "fast"}, resume=True,
                            verbose=0, stream=open(os.devnull, "w"))
    assert resumed.epochs_done == 2
    assert json.load(open(run.config))["rnn_implementation"] == "fast"


def test_resume_is_exact_with_the_compiled_loops(tmp_path, corpus_dir):
    settings = dict(units=XLA_MIN_UNITS, layers=2, dropout=0.2, lr_decay=0.5)
    straight = train(tmp_path / "straight", corpus_dir, epochs=2, **settings)
    train(tmp_path / "stopped", corpus_dir, epochs=1, **settings)
    from rnn_tf.textgen import train_textgen

    resumed = train_textgen(str(tmp_path / "stopped"), {"epochs": 2}, resume=True, verbose=0,
                            stream=open(os.devnull, "w"))
    for a, b in zip(straight.history, resumed.history):
        assert float(a["loss"]) == pytest.approx(float(b["loss"]), rel=1e-5)
        assert float(a["val_loss"]) == pytest.approx(float(b["val_loss"]), rel=1e-5)


def test_bad_implementation_is_a_one_line_error(capsys, tmp_path):
    from helpers import assert_user_error

    assert_user_error(["textgen", "train", "--run-dir", str(tmp_path / "r"), "--rnn-implementation", "cudnn"],
                      capsys, "invalid choice")
    from rnn_tf.tasks.textgen import TextgenConfig
    from rnn_tf.errors import UserError

    with pytest.raises(UserError, match="rnn-implementation"):
        TextgenConfig(rnn_implementation="cudnn").validate()
