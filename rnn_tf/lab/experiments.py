"""The lab's experiments: a recurrent layer on a long-range problem, trained in a fixed step budget.

    build_model       inputs -> one recurrent layer of any registered cell -> a linear read-out
    train             fresh batches every step (the problems are infinite), the test loss every so often,
                      the global gradient norm before clipping and the training loss of every step
    hidden_gradients  ||dL/dh_k|| for every step k of a sequence, L the loss at the last step

``hidden_gradients`` unrolls the layer's own cell in an eager Python loop, one step at a time, so that
every h_k is a tensor the gradient tape can be asked about: the gradient reaching h_k is the sum over
every path from h_k to the loss, which is what backpropagation through time carries back. The training
loop is Keras's (``train_on_batch``, compiled), the same layers the tasks train.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from rnn_tf.fitting import SGD, Adam
from rnn_tf.lab.problems import COPY_SYMBOLS, Problem
from rnn_tf.models.cells import recurrent_layer

TEST_SIZE = 1000  # sequences in the fixed test set of every run


OPTIMIZERS = {"adam": Adam, "sgd": SGD}


# Chrono initialisation (Tallec & Ollivier 2018, "Can recurrent neural networks warp time?"): the gate
# that keeps the memory starts with bias log(u), u ~ U(1, T - 1), so that unit j forgets on a time scale of
# about u_j steps, spread up to the task's length T; an LSTM's input gate starts at the opposite bias.
# Which block of the bias each gated cell keeps its memory with (Keras's block order):
#   lstm, peephole_lstm  blocks (i, f, g, o): b_f = log(u), b_i = -log(u)
#   cifg_lstm            blocks (i, g, o), f = 1 - i: b_i = -log(u), so f starts near 1
#   gru                  blocks (z, r, h), h' = z * h + (1 - z) * candidate: b_z = log(u)
CHRONO = "+chrono"
CHRONO_BLOCKS = {"lstm": {1: 1.0, 0: -1.0}, "peephole_lstm": {1: 1.0, 0: -1.0}, "cifg_lstm": {0: -1.0},
                 "gru": {0: 1.0}}


def chrono_initialise(layer, cell: str, length: int, seed: int) -> None:
    """Set ``layer``'s gate biases to the chrono initialisation for sequences of ``length`` steps."""
    bias = layer.cell.bias
    units = layer.cell.units
    values = np.array(bias.numpy())
    log_u = np.log(np.random.default_rng(seed).uniform(1.0, max(length - 1, 2), size=units))
    row = values[0] if values.ndim == 2 else values  # the GRU's bias: (input, recurrent) rows
    for block, sign in CHRONO_BLOCKS[cell].items():
        row[block * units:(block + 1) * units] = sign * log_u
    if values.ndim == 2:
        values[1, :units] = 0.0  # the recurrent row's z block: the whole bias sits in the input row
    bias.assign(values)


def lab_cell(name: str) -> tuple[str, bool]:
    """'lstm+chrono' -> ('lstm', True); a registered cell name -> (name, False)."""
    return (name[: -len(CHRONO)], True) if name.endswith(CHRONO) else (name, False)


def build_model(problem: Problem, cell: str, units: int, *, learning_rate: float = 1e-3,
                clipnorm: float | None = 1.0, optimizer: str = "adam", implementation: str = "fast",
                length: int = 100, seed: int = 1) -> keras.Model:
    """The lab's model: adding reads (value, marker) pairs and predicts the sum from the last state;
    copy embeds its ten input symbols and predicts a symbol at every step. ``optimizer``: "adam", or
    "sgd" (plain gradient descent, whose step grows with the gradient: where clipping matters most).
    ``cell`` may end in "+chrono": its gates start with the chrono initialisation for ``length`` steps."""
    cell, chrono = lab_cell(cell)
    if problem.sequence_output:
        inputs = keras.Input(shape=(None,), dtype="int32", name="symbols")
        x = keras.layers.Embedding(COPY_SYMBOLS + 2, 16, name="embedding")(inputs)
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        outputs = COPY_SYMBOLS + 2
    else:
        inputs = keras.Input(shape=(None, 2), name="values_and_markers")
        x, loss, outputs = inputs, keras.losses.MeanSquaredError(), 1
    rnn = recurrent_layer(cell, units, name="rnn", implementation=implementation,
                          return_sequences=problem.sequence_output)
    model = keras.Model(inputs, keras.layers.Dense(outputs, name="head")(rnn(x)), name=f"{cell}_{problem.name}")
    if chrono:
        chrono_initialise(rnn, cell, length, seed)
    model.compile(optimizer=OPTIMIZERS[optimizer](learning_rate=learning_rate, global_clipnorm=clipnorm or None),
                  loss=loss,
                  jit_compile=True)  # one compile per run: every batch has one shape
    return model


@dataclass
class Run:
    """What one (cell, length) training run gives: its curves and its final test loss."""

    cell: str
    length: int
    baseline: float
    steps: list[int] = field(default_factory=list)  # where the test loss was measured
    test_loss: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)  # every step
    grad_norm: list[float] = field(default_factory=list)  # every step, before clipping
    seconds: float = 0.0

    @property
    def final(self) -> float:
        return self.test_loss[-1] if self.test_loss else math.nan

    @property
    def diverged(self) -> bool:
        return not math.isfinite(self.final)


def train(model: keras.Model, problem: Problem, cell: str, length: int, steps: int, batch_size: int, seed: int,
          evaluations: int = 20) -> Run:
    """``steps`` steps of fresh batches; the test loss on a fixed set ``evaluations`` times. A run
    whose loss stops being finite stops there (its test loss is then NaN)."""
    rng = np.random.default_rng(seed)
    test = problem.make(TEST_SIZE, length, np.random.default_rng(seed + 10_000))
    run = Run(cell, length, problem.baseline(test))
    every = max(1, steps // evaluations)
    started = time.perf_counter()
    for step in range(1, steps + 1):
        batch = problem.make(batch_size, length, rng)
        loss = float(model.train_on_batch(batch.inputs, batch.targets))
        run.train_loss.append(loss)
        run.grad_norm.append(model.optimizer.gradient_norms()["last"])
        if not math.isfinite(loss):
            run.steps.append(step)
            run.test_loss.append(math.nan)
            break
        if step % every == 0 or step == steps:
            run.steps.append(step)
            run.test_loss.append(float(model.evaluate(test.inputs, test.targets, batch_size=TEST_SIZE, verbose=0)))
    run.seconds = time.perf_counter() - started
    return run


def hidden_gradients(model: keras.Model, problem: Problem, batch) -> np.ndarray:
    """Mean over the batch of ||dL_i/dh_k||, k = 1..T, where L_i is example i's loss at the last step
    (adding: its squared error; copy: the cross-entropy of the last symbol)."""
    rnn, head = model.get_layer("rnn"), model.get_layer("head")
    cell = rnn.cell
    x = tf.convert_to_tensor(batch.inputs)
    if problem.sequence_output:
        x = model.get_layer("embedding")(x)
    n = int(x.shape[0])
    sizes = cell.state_size if isinstance(cell.state_size, (list, tuple)) else [cell.state_size]
    states = [tf.zeros((n, size)) for size in sizes]
    hidden = []
    with tf.GradientTape() as tape:
        for t in range(x.shape[1]):  # eager, one step at a time: every h_k stays a tensor we can ask about
            h, states = cell(x[:, t], states)
            states = list(states) if isinstance(states, (list, tuple)) else [states]
            hidden.append(h)
        prediction = head(hidden[-1])
        if problem.sequence_output:
            losses = keras.losses.sparse_categorical_crossentropy(batch.targets[:, -1], prediction, from_logits=True)
        else:
            losses = tf.square(prediction[:, 0] - batch.targets[:, 0])
        total = tf.reduce_sum(losses)  # a sum, so that each example's gradient is its own
    grads = tape.gradient(total, hidden)
    return np.array([float(tf.reduce_mean(tf.norm(g, axis=1))) if g is not None else 0.0 for g in grads])
