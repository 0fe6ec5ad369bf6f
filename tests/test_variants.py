"""The LSTM variants (models/variants.py): each cell's step against a NumPy transcription of its
equations, its initial values, its config and weights round trips, and each task using one."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import TINY_CLASSIFY, labelled_rows, write_corpus, write_csv
from helpers import run_model_checks, train_run
from rnn_tf.cli import main
from rnn_tf.models.cells import CELLS, recurrent_layer
from rnn_tf.models.variants import CIFGLSTMCell, NFGLSTMCell, PeepholeLSTMCell
from rnn_tf.names import CELLS as CELL_NAMES, SEQ2SEQ_CELLS

VARIANTS = ("peephole_lstm", "cifg_lstm", "nfg_lstm")
CELL_CLASS = {"peephole_lstm": PeepholeLSTMCell, "cifg_lstm": CIFGLSTMCell, "nfg_lstm": NFGLSTMCell}
UNITS, INPUTS = 4, 5


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def reference_step(cell: str, w: dict, x, h, c):
    """One step of ``cell`` in NumPy, written from the equations in the cells' docstrings."""
    z = x @ w["kernel"] + h @ w["recurrent_kernel"] + w["bias"]
    if cell == "peephole_lstm":
        zi, zf, zg, zo = np.split(z, 4, axis=-1)
        i = sigmoid(zi + w["p_i"] * c)
        f = sigmoid(zf + w["p_f"] * c)
        c_new = f * c + i * np.tanh(zg)
        o = sigmoid(zo + w["p_o"] * c_new)  # the output gate looks at the new cell state
    else:
        zi, zg, zo = np.split(z, 3, axis=-1)
        i, o = sigmoid(zi), sigmoid(zo)
        f = 1 - i if cell == "cifg_lstm" else 1.0
        c_new = f * c + i * np.tanh(zg)
    return o * np.tanh(c_new), c_new


def random_cell(cell: str, seed: int = 0):
    """A built cell with random weights (peepholes included, nonzero), and those weights by name."""
    rng = np.random.default_rng(seed)
    layer = CELL_CLASS[cell](UNITS)
    layer.build((None, INPUTS))
    values = [rng.normal(0, 0.7, v.shape).astype("float32") for v in layer.weights]
    layer.set_weights(values)
    w = {v.name: value for v, value in zip(layer.weights, values)}
    for gate in ("input", "forget", "output"):
        if f"{gate}_gate_peephole_weights" in w:
            w[f"p_{gate[0]}"] = w[f"{gate}_gate_peephole_weights"]
    return layer, w


@pytest.mark.parametrize("cell", VARIANTS)
def test_one_step_equals_the_numpy_reference(cell):
    layer, w = random_cell(cell)
    rng = np.random.default_rng(1)
    x, h, c = (rng.normal(0, 1, (3, n)).astype("float32") for n in (INPUTS, UNITS, UNITS))
    if cell == "peephole_lstm":
        assert all(np.abs(w[p]).min() > 0 for p in ("p_i", "p_f", "p_o"))
    out, (h_new, c_new) = layer(x, [h, c])
    h_ref, c_ref = reference_step(cell, w, x, h, c)
    np.testing.assert_allclose(c_new.numpy(), c_ref, atol=1e-5)
    np.testing.assert_allclose(h_new.numpy(), h_ref, atol=1e-5)
    np.testing.assert_array_equal(out.numpy(), h_new.numpy())


def test_cifg_forgets_one_minus_its_input_gate_and_nfg_never_forgets():
    rng = np.random.default_rng(2)
    x, h, c = (tf.constant(rng.normal(0, 1, (3, n)), "float32") for n in (INPUTS, UNITS, UNITS))
    cifg = random_cell("cifg_lstm")[0].gates(x, [h, c])
    np.testing.assert_allclose(cifg["f"].numpy(), 1 - cifg["i"].numpy(), atol=1e-6)
    np.testing.assert_allclose(cifg["c"].numpy(), (1 - cifg["i"]) * c + cifg["i"] * cifg["g"], atol=1e-6)
    nfg = random_cell("nfg_lstm")[0].gates(x, [h, c])
    assert "f" not in nfg
    np.testing.assert_allclose(nfg["c"].numpy(), c + nfg["i"] * nfg["g"], atol=1e-6)


def test_initial_values_follow_keras_lstm():
    for cell, blocks in (("peephole_lstm", 4), ("cifg_lstm", 3), ("nfg_lstm", 3)):
        layer = CELL_CLASS[cell](UNITS)
        layer.build((None, INPUTS))
        assert layer.kernel.shape == (INPUTS, blocks * UNITS)
        r = layer.recurrent_kernel.numpy()
        assert r.shape == (UNITS, blocks * UNITS)
        np.testing.assert_allclose(r @ r.T, np.eye(UNITS), atol=1e-5)  # orthogonal rows
        forget = np.r_[np.zeros(UNITS), np.ones(UNITS), np.zeros(2 * UNITS)] if cell == "peephole_lstm" else 0
        np.testing.assert_array_equal(layer.bias.numpy(), np.zeros(blocks * UNITS) + forget)
    plain = PeepholeLSTMCell(UNITS, unit_forget_bias=False)
    plain.build((None, INPUTS))
    np.testing.assert_array_equal(plain.bias.numpy(), np.zeros(4 * UNITS))
    assert plain.input_gate_peephole_weights.shape == (UNITS,)


@pytest.mark.parametrize("cell", VARIANTS)
def test_cell_config_round_trips(cell):
    options = {"kernel_initializer": keras.initializers.RandomNormal(stddev=0.3)}
    if cell == "peephole_lstm":
        options.update(unit_forget_bias=False, peephole_initializer="zeros")
    layer = CELL_CLASS[cell](7, name="c", **options)
    config = layer.get_config()
    again = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(again) is CELL_CLASS[cell] and again.get_config() == config and again.units == 7
    assert json.loads(json.dumps(config)) == config


@pytest.mark.parametrize("cell", VARIANTS)
def test_each_variant_builds_trains_a_step_and_round_trips(cell, tmp_path):
    rnn = recurrent_layer(cell, UNITS, name="rnn", return_sequences=True)
    assert isinstance(rnn, keras.layers.RNN) and isinstance(rnn.cell, CELL_CLASS[cell])
    inputs = keras.Input((None, INPUTS))
    model = keras.Model(inputs, keras.layers.Dense(2, name="out")(rnn(inputs)))
    rng = np.random.default_rng(3)
    x = rng.normal(0, 1, (4, 6, INPUTS)).astype("float32")
    before = [v.numpy().copy() for v in rnn.weights]
    run_model_checks(model, x, rng.normal(0, 1, (4, 6, 2)).astype("float32"), (4, 6, 2), "mse", tmp_path)
    assert all(not np.array_equal(b, v.numpy()) for b, v in zip(before, rnn.weights))  # peepholes train too


@pytest.mark.parametrize("cell", VARIANTS)
def test_the_layer_unrolls_the_step_and_a_mask_carries_the_state(cell):
    layer, w = random_cell(cell)
    rnn = keras.layers.RNN(layer, return_sequences=True, return_state=True)
    rng = np.random.default_rng(4)
    x = rng.normal(0, 1, (2, 5, INPUTS)).astype("float32")
    lengths = [5, 3]
    mask = np.arange(5)[None, :] < np.array(lengths)[:, None]
    ys, h_last, c_last = rnn(x, mask=tf.constant(mask))
    for b, n in enumerate(lengths):
        h, c = np.zeros((1, UNITS)), np.zeros((1, UNITS))
        for t in range(n):
            h, c = reference_step(cell, w, x[b:b + 1, t], h, c)
            np.testing.assert_allclose(ys[b, t].numpy(), h[0], atol=1e-5)
        np.testing.assert_allclose(h_last[b].numpy(), h[0], atol=1e-5)  # padding leaves the state alone
        np.testing.assert_allclose(c_last[b].numpy(), c[0], atol=1e-5)


def test_every_task_and_search_may_name_the_variants():
    assert set(VARIANTS) <= set(CELL_NAMES) <= set(CELLS) and set(VARIANTS) <= set(SEQ2SEQ_CELLS)
    assert all(CELLS[v].states == ("h", "c") and CELLS[v].doc for v in VARIANTS)
    from rnn_tf.cli import build_parser
    from rnn_tf.search.space import build_space
    from rnn_tf.tasks import get_task

    for task in ("textgen", "classify", "tag", "translate"):
        args = build_parser().parse_args([task, "train", "--cell", "cifg_lstm", "--run-dir", "r"])
        assert args.cell == "cifg_lstm"
    base = get_task("classify").config(data="x.csv").validate()
    assert build_space("classify", base, {"cell": list(VARIANTS)})["cell"]["values"] == list(VARIANTS)
    assert "nfg_lstm" not in build_space("classify", base)["cell"]["values"]  # the default space is unchanged


def test_textgen_trains_and_generates_with_a_variant_through_the_cli(tmp_path, capsys):
    corpus, run_dir = write_corpus(tmp_path / "corpus"), tmp_path / "run"
    assert main(["textgen", "train", "--corpus", str(corpus), "--run-dir", str(run_dir), "--cell", "peephole_lstm",
                 "--epochs", "1", "--units", "8", "--embedding-dim", "4", "--seq-len", "16", "--batch-size", "4",
                 "--steps-per-epoch", "3", "--sample-length", "10", "--seed", "3", "--quiet"]) == 0
    assert json.loads((run_dir / "config.json").read_text())["cell"] == "peephole_lstm"
    capsys.readouterr()
    args = ["textgen", "generate", "--run-dir", str(run_dir), "--length", "12", "--num-samples", "2", "--seed", "5",
            "--json"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert [len(s["text"]) for s in first["samples"]] == [12, 12]


def test_a_bidirectional_variant_classifier_trains_and_ignores_padding(tmp_path):
    from rnn_tf.classify import predict
    from rnn_tf.models.classifier import build_classifier

    data = write_csv(tmp_path / "reviews.csv", labelled_rows(40))
    result = train_run("classify", tmp_path / "run", {"data": str(data), **TINY_CLASSIFY, "cell": "nfg_lstm",
                                                      "bidirectional": True, "pooling": "mean"})
    assert result.epochs_done == 1 and 0 <= result.report["accuracy"] <= 1
    assert predict(str(tmp_path / "run"), ["a superb film"])[0]["label"] in ("neg", "pos")

    model = build_classifier(10, 3, cell="cifg_lstm", units=4, embedding_dim=3, bidirectional=True, pooling="last")
    x = np.array([[3, 4, 5, 0, 0], [6, 7, 0, 0, 0], [3, 3, 3, 3, 3]], "int32")
    probs = model.predict(x, verbose=0)
    np.testing.assert_allclose(model.predict(np.pad(x, ((0, 0), (0, 6))), verbose=0), probs, atol=1e-6)


def test_a_variant_encoder_decoder_steps_as_it_trains():
    from rnn_tf.decoding import START_ID, Decoder
    from rnn_tf.models.seq2seq import build_seq2seq

    source = np.array([[5, 6, 7, 0, 0], [8, 9, 0, 0, 0]], "int32")
    target_in = np.array([[START_ID, 4, 5, 6], [START_ID, 7, 0, 0]], "int32")
    model = build_seq2seq(12, 10, "peephole_lstm", 6, 1, True, "luong-dot", 5)
    full = model.training([source, target_in]).numpy()
    memory, states, mask = Decoder(model)._encode(tf.constant(source))
    assert len(states) == 2  # h and c, bridged from both directions
    for t in range(target_in.shape[1]):
        logits, *rest = model.step([tf.constant(target_in[:, t]), *states, memory, mask])
        states = rest[:-1]
        real = target_in[:, t] != 0
        np.testing.assert_allclose(logits.numpy()[real], full[real, t], rtol=1e-4, atol=1e-5)
