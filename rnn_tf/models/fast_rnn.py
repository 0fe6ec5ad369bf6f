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

That is backpropagation through time written out by hand (``tf.custom_gradient``): the backward loop
carries only the state gradients, which is where a reader sees them shrink or grow step by step.

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

from rnn_tf.names import IMPLEMENTATIONS


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


def _lstm_gate_constants(units, dtype):
    """Per-column constants for the (B, 4H) gate block [i, f, g, o]: sigmoid(x) = (tanh(x / 2) + 1) / 2,
    so one tanh over the block scaled by ``scale``, then ``* scale + shift``, gives all four gates;
    their derivatives are ``alpha + G (beta - G)``: s (1 - s) for the sigmoids, 1 - g^2 for g."""
    one, half, zero = (tf.fill([units], tf.constant(v, dtype)) for v in (1.0, 0.5, 0.0))
    scale = tf.concat([half, half, one, half], axis=0)
    shift = tf.concat([half, half, zero, half], axis=0)
    alpha = tf.concat([zero, zero, one, zero], axis=0)
    return scale, shift, alpha, 1.0 - alpha


def _lstm_step(zx_t, h, c, u):
    """One LSTM step from the projected input: (h, c, gate block [i, f, g, o]). The loop and the
    one-step view both call it. Elementwise work on the whole (B, 4H) block is much faster on a CPU
    than on four slices."""
    scale, shift, _, _ = _lstm_gate_constants(tf.shape(u)[0], zx_t.dtype)
    block = tf.tanh((zx_t + tf.matmul(h, u)) * scale) * scale + shift
    i, f, g, o = tf.split(block, 4, axis=1)
    c = f * c + i * g
    return o * tf.tanh(c), c, block


def _gru_step(zx_t, h, u, b_rec):
    """One GRU step from the projected input: (h, what the backward loop keeps: [z, r, hh, rh])."""
    units = tf.shape(u)[0]
    inner = tf.matmul(h, u) + b_rec
    zr = tf.tanh((zx_t[:, :2 * units] + inner[:, :2 * units]) * 0.5) * 0.5 + 0.5  # both sigmoids, one block
    z, r = tf.split(zr, 2, axis=1)
    rh = inner[:, 2 * units:]
    hh = tf.tanh(zx_t[:, 2 * units:] + r * rh)
    return z * h + (1.0 - z) * hh, tf.concat([z, r, hh, rh], axis=1)


def _lstm_forward(zx, u, h0, c0, m, masked):
    """The forward loop: only h U and the gate arithmetic per step. Returns the states, the cell
    states and the gate blocks of every step (kept for the backward loop)."""
    steps = tf.shape(zx)[0]

    def step(t, h, c, hs, cs, gates):
        h_new, c_new, block = _lstm_step(zx[t], h, c, u)
        if masked:  # a masked step keeps the state
            h_new, c_new = tf.where(m[t], h_new, h), tf.where(m[t], c_new, c)
        return t + 1, h_new, c_new, hs.write(t, h_new), cs.write(t, c_new), gates.write(t, block)

    ta = lambda: tf.TensorArray(zx.dtype, size=steps)  # noqa: E731
    _, _, c_last, hs, cs, gates = tf.while_loop(lambda t, *_: t < steps, step, (0, h0, c0, ta(), ta(), ta()),
                                                maximum_iterations=steps)
    return hs.stack(), cs.stack(), gates.stack(), c_last


def _lstm_backward(d_hs, d_c_last, u, h0, c0, hs, cs, gates, m, masked):
    """Backpropagation through time: the loop carries dh and dc back one step at a time (dh through
    U^T); dU is one GEMM over all steps afterwards. Returns (dZ_x, dU, dh0, dc0)."""
    steps, units = tf.shape(gates)[0], tf.shape(u)[0]
    _, _, alpha, beta = _lstm_gate_constants(units, gates.dtype)
    c_prev = tf.concat([c0[None], cs[:-1]], axis=0)
    u_t = tf.transpose(u)

    def step(t, dh, dc, dzs):
        dh = dh + d_hs[t]
        block = gates[t]
        i, f, g, o = tf.split(block, 4, axis=1)
        tc = tf.tanh(cs[t])
        if masked:  # a masked step changed nothing: its gradient passes straight through
            m_t = tf.cast(m[t], dh.dtype)
            dh_new, dc_new = dh * m_t, dc * m_t
        else:
            dh_new, dc_new = dh, dc
        dc_new = dc_new + dh_new * o * (1.0 - tc * tc)
        d_block = tf.concat([dc_new * g, dc_new * c_prev[t], dc_new * i, dh_new * tc], axis=1)
        dz = d_block * (alpha + block * (beta - block))  # through the gate nonlinearities
        dh_prev, dc_prev = tf.matmul(dz, u_t), dc_new * f
        if masked:
            dh_prev, dc_prev = dh_prev + dh * (1.0 - m_t), dc_prev + dc * (1.0 - m_t)
        return t - 1, dh_prev, dc_prev, dzs.write(t, dz)

    _, dh0, dc0, dzs = tf.while_loop(lambda t, *_: t >= 0, step,
                                     (steps - 1, tf.zeros_like(h0), d_c_last, tf.TensorArray(gates.dtype, size=steps)),
                                     maximum_iterations=steps)
    dzs = dzs.stack()
    h_prev = tf.concat([h0[None], hs[:-1]], axis=0)
    du = tf.matmul(tf.reshape(h_prev, [-1, units]), tf.reshape(dzs, [-1, 4 * units]), transpose_a=True)
    return dzs, du, dh0, dc0


# The loops are compiled with XLA (one fused kernel per step, no per-op dispatch) once the layer is
# large enough for that to pay back its compile time (about a second per new input shape).
XLA_MIN_UNITS = 32
_COMPILED = {}


# XLA compiles a loop once per input shape. Padded batches (classify, translate) are trimmed to their
# longest text, so their length varies from batch to batch; masked inputs are therefore padded further,
# with masked steps (which change nothing), to a multiple of TIME_BUCKET steps: a few shapes, a few
# compiles.
TIME_BUCKET = 8


def _loop(fn, units: int):
    if units < XLA_MIN_UNITS:
        return fn
    if fn not in _COMPILED:
        _COMPILED[fn] = tf.function(fn, jit_compile=True)
    return _COMPILED[fn]


def _bucketed(zx, m, units):
    """(zx, m) with masked steps appended up to a multiple of TIME_BUCKET, when that saves compiles."""
    if m is None or units < XLA_MIN_UNITS:
        return zx, m
    extra = -tf.shape(zx)[0] % TIME_BUCKET
    return tf.pad(zx, [[0, extra], [0, 0], [0, 0]]), tf.pad(m, [[0, extra], [0, 0], [0, 0]])


def _lstm_recurrence(zx, u, h0, c0, m):
    """(states (T, B, H), last cell state) from the projected inputs Z_x (T, B, 4H), with the
    hand-written gradient. Gate order i, f, c, o as in Keras. ``m``: (T, B, 1) bool or None."""
    masked, units, steps = m is not None, u.shape[0], tf.shape(zx)[0]
    zx, m = _bucketed(zx, m, units)
    m = m if masked else tf.zeros((), tf.bool)

    @tf.custom_gradient
    def recurrence(zx, u, h0, c0):
        # stop_gradient: the tape must not differentiate the loop itself (that is what grad is for)
        hs, cs, gates, c_last = _loop(_lstm_forward, units)(*map(tf.stop_gradient, (zx, u, h0, c0)), m, masked)

        def grad(d_hs, d_c_last):
            d_c_last = tf.zeros_like(c0) if d_c_last is None else d_c_last
            return _loop(_lstm_backward, units)(d_hs, d_c_last, u, h0, c0, hs, cs, gates, m, masked)

        return (hs, c_last), grad

    hs, c_last = recurrence(zx, u, h0, c0)
    return hs[:steps], c_last


def _gru_forward(zx, u, b_rec, h0, m, masked):
    steps = tf.shape(zx)[0]

    def step(t, h, hs, saved):
        h_new, kept = _gru_step(zx[t], h, u, b_rec)
        if masked:
            h_new = tf.where(m[t], h_new, h)
        return t + 1, h_new, hs.write(t, h_new), saved.write(t, kept)

    ta = lambda: tf.TensorArray(zx.dtype, size=steps)  # noqa: E731
    _, _, hs, saved = tf.while_loop(lambda t, *_: t < steps, step, (0, h0, ta(), ta()), maximum_iterations=steps)
    return hs.stack(), saved.stack()


def _gru_backward(d_hs, u, h0, hs, saved, m, masked):
    """Returns (dZ_x, dU, d recurrent bias, dh0)."""
    steps, units = tf.shape(saved)[0], tf.shape(u)[0]
    h_prev = tf.concat([h0[None], hs[:-1]], axis=0)
    u_t = tf.transpose(u)

    def step(t, dh, dxs, dinners):
        dh = dh + d_hs[t]
        z, r, hh, rh = tf.split(saved[t], 4, axis=1)
        dh_new = dh * tf.cast(m[t], dh.dtype) if masked else dh
        da_h = dh_new * (1.0 - z) * (1.0 - hh * hh)
        da_z = dh_new * (h_prev[t] - hh) * z * (1.0 - z)
        da_r = da_h * rh * r * (1.0 - r)
        d_inner = tf.concat([da_z, da_r, da_h * r], axis=1)
        dh_prev = tf.matmul(d_inner, u_t) + dh_new * z
        if masked:
            dh_prev = dh_prev + dh * (1.0 - tf.cast(m[t], dh.dtype))
        return t - 1, dh_prev, dxs.write(t, tf.concat([da_z, da_r, da_h], axis=1)), dinners.write(t, d_inner)

    ta = lambda: tf.TensorArray(saved.dtype, size=steps)  # noqa: E731
    _, dh0, dxs, dinners = tf.while_loop(lambda t, *_: t >= 0, step, (steps - 1, tf.zeros_like(h0), ta(), ta()),
                                        maximum_iterations=steps)
    dinners = tf.reshape(dinners.stack(), [-1, 3 * units])
    du = tf.matmul(tf.reshape(h_prev, [-1, units]), dinners, transpose_a=True)
    return dxs.stack(), du, tf.reduce_sum(dinners, axis=0), dh0


def _gru_recurrence(zx, u, b_rec, h0, m):
    """States (T, B, H) from the projected inputs Z_x (T, B, 3H) (``reset_after=True``), with the
    hand-written gradient. Gate order z, r, h as in Keras: z = s(x_z + h U_z + b_z),
    r = s(x_r + h U_r + b_r), hh = tanh(x_h + r (h U_h + b_h)), h' = z h + (1 - z) hh."""
    masked, units, steps = m is not None, u.shape[0], tf.shape(zx)[0]
    zx, m = _bucketed(zx, m, units)
    m = m if masked else tf.zeros((), tf.bool)

    @tf.custom_gradient
    def recurrence(zx, u, b_rec, h0):
        hs, saved = _loop(_gru_forward, units)(*map(tf.stop_gradient, (zx, u, b_rec, h0)), m, masked)

        def grad(d_hs):
            return _loop(_gru_backward, units)(d_hs, u, h0, hs, saved, m, masked)

        return hs, grad

    return recurrence(zx, u, b_rec, h0)[:steps]


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
        multiplying (a loop compiled with XLA computes the table once, outside the loop)."""
        return ops.matmul(embeddings, self.cell.kernel) + self._input_bias()

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
        h, c, _ = _lstm_step(zx, states[0], states[1], tf.convert_to_tensor(self.cell.recurrent_kernel))
        return h, [h, c]

    def _recurrence(self, zx, states, m):
        hs, c_last = _lstm_recurrence(zx, tf.convert_to_tensor(self.cell.recurrent_kernel), *states, m)
        return hs, [hs[-1], c_last]


@keras.saving.register_keras_serializable(package="rnn_tf")
class GRU(FastRecurrence, keras.layers.GRU):
    """``keras.layers.GRU`` (``reset_after=True``) with the fast CPU loop (see the module docstring)."""

    def _input_bias(self):
        return tf.convert_to_tensor(self.cell.bias)[0]

    def step_projected(self, zx, states):
        """One step of the cell from the projected input x W + b_input (what ``cell(x, states)`` computes)."""
        h = states[0] if isinstance(states, (list, tuple)) else states
        h, _ = _gru_step(zx, h, tf.convert_to_tensor(self.cell.recurrent_kernel), tf.convert_to_tensor(self.cell.bias)[1])
        return h, [h]

    def _recurrence(self, zx, states, m):
        bias = tf.convert_to_tensor(self.cell.bias)
        hs = _gru_recurrence(zx, tf.convert_to_tensor(self.cell.recurrent_kernel), bias[1], states[0], m)
        return hs, [hs[-1]]


class TokenStep(keras.layers.Layer):
    """One step of a fast layer fed straight by an embedding: token ids + states -> output + states.

    x_t W + b is then one row of the projected embedding table (``token_table``): a gather replaces a
    small GEMM per step, several times faster for a batch of sampling streams. Under XLA the table is
    computed once, outside the sampling loop. It holds the two layers, so it shares their weights."""

    def __init__(self, embedding: keras.layers.Embedding, rnn: FastRecurrence, **kwargs):
        super().__init__(**kwargs)
        self.embedding, self.rnn = embedding, rnn

    def call(self, token, states):
        zx = ops.take(self.rnn.token_table(self.embedding.embeddings), token, axis=0)
        return self.rnn.step_projected(zx, states)


FastLSTM, FastGRU = LSTM, GRU  # the names the rest of the package uses
