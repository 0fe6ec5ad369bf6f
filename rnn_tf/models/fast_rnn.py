"""LSTM and GRU layers that compute exactly what Keras's compute, but train fast on a CPU.

Keras runs ``keras.layers.LSTM`` on a CPU one time step at a time: every step multiplies the input by
the kernel (x_t W) *and* the state by the recurrent kernel (h U), and TensorFlow's automatic
differentiation of that loop adds a small weight-gradient product per step. Only h U truly has to
wait for the previous step. So these layers split the work the way PyTorch's and cuDNN's fused RNNs
do:

  forward   Z_x = X W + b              one GEMM over all B*T rows, before the loop
            loop t = 1..T:  z_t = Z_x[t] + h_{t-1} U,  then the gate arithmetic
  backward  loop t = T..1:  dz_t from the gate derivatives,  dh_{t-1} = dz_t U^T
            dU = H_prev^T dZ,  and X W + b's own gradients (dX, dW, db)
            as single GEMMs over all B*T rows, after the loop

That is backpropagation through time written out by hand (``tf.custom_gradient``), in ``bptt.py``:
the backward loop carries only the state gradients, which is where a reader sees them shrink or grow
step by step. This module holds the layers and what decides when the fast path applies.

The layers are subclasses of ``keras.layers.LSTM`` / ``keras.layers.GRU``: the same cell, the same
variables under the same names (every ``.weights.h5`` file loads into either), the same ``layer.cell``
for one-step sampling and decoding. Only ``inner_loop`` changes, and only where the fast path
applies: CPU (on a GPU Keras's cuDNN kernel is used), tanh/sigmoid activations, a bias, GRU with
``reset_after=True``, no dropout inside the cell while training, no unrolling. Anything else runs
Keras's own loop. Masks (right-padded, as the tasks make them), ``go_backwards`` (for
``Bidirectional``), initial states, ``return_sequences`` and ``return_state`` are covered, with
Keras's semantics for masked steps: the state is carried, the output is the previous output (or
zero with ``zero_output_for_mask``).
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from rnn_tf.models.bptt import XLA_MIN_UNITS, gru_recurrence, gru_step, lstm_recurrence, lstm_step
from rnn_tf.names import IMPLEMENTATIONS


# The token table replaces the input GEMMs when the vocabulary has at most a quarter as many rows as a
# batch (room for the scatter-add and the gather it costs instead).
TABLE_ROWS_FACTOR = 4


def _gpu_available() -> bool:
    return bool(tf.config.list_logical_devices("GPU"))


def _is(fn, name: str) -> bool:
    return getattr(fn, "__name__", "") == name


def _time_major(x, go_backwards):
    xt = tf.transpose(x, [1, 0, 2])
    return tf.reverse(xt, [0]) if go_backwards else xt


def _prepare_mask(mask, go_backwards):
    """(B, T) mask -> time-major (T, B, 1) bool, reversed with the inputs; None stays None."""
    if mask is None:
        return None
    if isinstance(mask, (list, tuple)):
        mask = mask[0]
    m = tf.transpose(tf.cast(mask, tf.bool))[:, :, None]
    return tf.reverse(m, [0]) if go_backwards else m


def _outputs(states, m, zero_output_for_mask):
    """Keras's outputs from the state sequence (T, B, H): at a masked step the state is carried, and
    the output is the previous output (zeros before the first real step), or zero."""
    if m is None:
        return states
    mf = tf.cast(m, states.dtype)
    if zero_output_for_mask:
        return states * mf
    return states * tf.cast(tf.cumsum(mf, axis=0) > 0, states.dtype)


def _input_projection(xt, kernel, bias):
    """X W + b for every time step in one GEMM: (T, B, E) -> (T, B, G)."""
    shape = tf.shape(xt)
    z = tf.matmul(tf.reshape(xt, [-1, shape[2]]), kernel) + bias
    return tf.reshape(z, [shape[0], shape[1], tf.shape(kernel)[1]])


def whole_step_jit(model: keras.Model) -> bool | str:
    """``jit_compile`` for a model whose batches all have one shape (the text generator's): True
    when it holds a fast layer large enough for compiled loops, so XLA fuses the rest of the training
    step around them too (measured in scripts/bench_rnn.py); otherwise Keras's "auto"."""
    fast = [layer for layer in model._flatten_layers() if isinstance(layer, FastRecurrence)]
    if not _gpu_available() and any(layer.implementation_choice == "fast" and layer.units >= XLA_MIN_UNITS
                                    for layer in fast):
        return True
    return "auto"


def _fast_path_applies(layer, training) -> bool:
    cell = layer.cell
    return (
        layer.implementation_choice == "fast"
        and getattr(cell, "reset_after", True)  # GRU: only reset_after=True (Keras's default)
        and not _gpu_available()
        and not layer.unroll
        and cell.use_bias
        and _is(cell.activation, "tanh")
        and _is(cell.recurrent_activation, "sigmoid")
        and not (training and (cell.dropout or cell.recurrent_dropout))
        and cell.compute_dtype == "float32"
    )


class FastRecurrence:
    """What FastLSTM and FastGRU share: the ``implementation`` switch and its config entry."""

    def __init__(self, units, implementation_choice: str = "fast", **kwargs):
        if implementation_choice not in IMPLEMENTATIONS:
            raise ValueError(f"implementation_choice must be one of {IMPLEMENTATIONS}, not {implementation_choice!r}")
        super().__init__(units, **kwargs)
        self.implementation_choice = implementation_choice

    def get_config(self):
        return {**super().get_config(), "implementation_choice": self.implementation_choice}

    def token_table(self, embeddings):
        """The input projection of every row of an embedding matrix, (V, E) -> (V, G): for a layer fed
        by an embedding, x_t W + b is one row of this table, so a one-step model gathers it instead of
        multiplying (a loop compiled with XLA computes the table once, outside the loop). Where the
        layer's input is the embedding followed by more features (a label's vector), the table uses
        the kernel's first E rows and ``extra_projection`` the rest."""
        rows = ops.shape(embeddings)[1]
        return ops.matmul(embeddings, self.cell.kernel[:rows]) + self._input_bias()

    def extra_projection(self, extra, rows: int):
        """The product of the input features after the first ``rows`` with their kernel rows."""
        return ops.matmul(extra, self.cell.kernel[rows:])

    def takes_tokens(self, vocab_size: int, ids, training=False) -> bool:
        """Whether ``sequences_from_tokens`` applies to ids of this shape: the fast path, a layer
        returning its sequences and nothing else, and a vocabulary small beside the rows of a batch
        (the table costs V rows of x W + b forward and V rows of dW and dX backward, the per-row GEMMs
        B*T: it wins for characters, not for a word vocabulary)."""
        rows = None if None in tuple(ids.shape) else ids.shape[0] * ids.shape[1]
        return (_fast_path_applies(self, training) and self.return_sequences and not self.return_state
                and rows is not None and vocab_size * TABLE_ROWS_FACTOR <= rows)

    def sequences_from_tokens(self, embeddings, ids):
        """What ``self(embedding(ids))`` returns (zero starting states, no mask), with Z_x = X W + b
        gathered from the projected embedding table (``token_table``) in time-major order: no GEMM over
        all B*T rows forward, and backward the rows' gradients are summed per token id (a scatter-add)
        before two small GEMMs give dW and the embeddings' gradient. Exact: row k of E W + b is the
        projection of token k's vector."""
        zx = ops.take(self.token_table(embeddings), tf.reverse(tf.transpose(ids), [0]) if self.go_backwards
                      else tf.transpose(ids), axis=0)
        states = self.get_initial_state(tf.shape(ids)[0])
        hs, _ = self._recurrence(zx, list(states) if isinstance(states, (list, tuple)) else [states], None)
        return tf.transpose(hs, [1, 0, 2])

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if not _fast_path_applies(self, training):
            return super().inner_loop(sequences, initial_state, mask, training=training)
        m = _prepare_mask(mask, self.go_backwards)
        zx = _input_projection(_time_major(sequences, self.go_backwards), self.cell.kernel, self._input_bias())
        states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        hs, final_states = self._recurrence(zx, states, m)
        ys = _outputs(hs, m, self.zero_output_for_mask)
        return ys[-1], tf.transpose(ys, [1, 0, 2]), final_states


# The classes are named LSTM and GRU, like Keras's: a weights file names each layer after its class
# (``layers/lstm/cell/vars/...``), so only these names keep every file loadable by either implementation.
@keras.saving.register_keras_serializable(package="rnn_tf")
class LSTM(FastRecurrence, keras.layers.LSTM):
    """``keras.layers.LSTM`` with the fast CPU loop (see the module docstring)."""

    def _input_bias(self):
        return self.cell.bias

    def step_projected(self, zx, states):
        """One step of the cell from the projected input x W + b (what ``cell(x, states)`` computes)."""
        h, c, _ = lstm_step(zx, states[0], states[1], tf.convert_to_tensor(self.cell.recurrent_kernel))
        return h, [h, c]

    def _recurrence(self, zx, states, m):
        hs, c_last = lstm_recurrence(zx, tf.convert_to_tensor(self.cell.recurrent_kernel), *states, m)
        return hs, [hs[-1], c_last]


@keras.saving.register_keras_serializable(package="rnn_tf")
class GRU(FastRecurrence, keras.layers.GRU):
    """``keras.layers.GRU`` (``reset_after=True``) with the fast CPU loop (see the module docstring)."""

    def _input_bias(self):
        return tf.convert_to_tensor(self.cell.bias)[0]

    def step_projected(self, zx, states):
        """One step of the cell from the projected input x W + b_input (what ``cell(x, states)`` computes)."""
        h = states[0] if isinstance(states, (list, tuple)) else states
        h, _ = gru_step(zx, h, tf.convert_to_tensor(self.cell.recurrent_kernel), tf.convert_to_tensor(self.cell.bias)[1])
        return h, [h]

    def _recurrence(self, zx, states, m):
        bias = tf.convert_to_tensor(self.cell.bias)
        hs = gru_recurrence(zx, tf.convert_to_tensor(self.cell.recurrent_kernel), bias[1], states[0], m)
        return hs, [hs[-1]]


class TokenStep(keras.layers.Layer):
    """One step of a fast layer fed straight by an embedding: token ids + states -> output + states.

    x_t W + b is then one row of the projected embedding table (``token_table``): a gather replaces a
    small GEMM per step, several times faster for a batch of sampling streams. Under XLA the table is
    computed once, outside the sampling loop. It holds the two layers, so it shares their weights."""

    def __init__(self, embedding: keras.layers.Embedding, rnn: FastRecurrence, **kwargs):
        super().__init__(**kwargs)
        self.embedding, self.rnn = embedding, rnn

    def call(self, token, states, extra=None):
        zx = ops.take(self.rnn.token_table(self.embedding.embeddings), token, axis=0)
        if extra is not None:  # features concatenated after the embedding (a label's vector)
            zx = zx + self.rnn.extra_projection(extra, self.embedding.output_dim)
        return self.rnn.step_projected(zx, states)


FastLSTM, FastGRU = LSTM, GRU  # the names the rest of the package uses
