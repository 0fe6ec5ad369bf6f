"""The recurrences of the fast LSTM and GRU layers (``fast_rnn``), with backpropagation through time
written out by hand.

    forward   loop t = 1..T:  z_t = Z_x[t] + h_{t-1} U,  then the gate arithmetic   (Z_x = X W + b: one
              GEMM before the loop, done by the layer)
    backward  loop t = T..1:  dz_t = the state gradients times factors the forward loop kept (the gate
              derivatives and the gate values they multiply),  dh_{t-1} = dz_t U^T
              dU = H_prev^T dZ as one GEMM over all steps after the loop; the layer's X W + b gives
              dX, dW and db by ordinary automatic differentiation

The backward loop carries only the state gradients (dh, and dc for the LSTM): this is where a reader
sees them shrink or grow step by step. ``lstm_step`` and ``gru_step`` are the one-step functions that
both the loop and the layers' one-step views (sampling, decoding) call.

Where no gradient is being recorded (validation, prediction, encoding a source sentence), a lighter
forward loop runs instead: the states only, nothing kept for a backward loop (a fifth to a third
quicker).
"""

from __future__ import annotations

import tensorflow as tf

try:  # whether a GradientTape records these tensors (TensorFlow answers it only in a private module)
    from tensorflow.python.eager.record import should_record_backprop as _recorded
except ImportError:  # pragma: no cover - a TensorFlow without it: always the loops with a backward pass
    def _recorded(tensors):
        return True


def _lstm_gate_constants(units, dtype):
    """Per-column constants for the (B, 4H) gate block [i, f, g, o]: sigmoid(x) = (tanh(x / 2) + 1) / 2,
    so one tanh over the block scaled by ``scale``, then ``* scale + shift``, gives all four gates;
    their derivatives are ``alpha + G (beta - G)``: s (1 - s) for the sigmoids, 1 - g^2 for g."""
    one, half, zero = (tf.fill([units], tf.constant(v, dtype)) for v in (1.0, 0.5, 0.0))
    scale = tf.concat([half, half, one, half], axis=0)
    shift = tf.concat([half, half, zero, half], axis=0)
    alpha = tf.concat([zero, zero, one, zero], axis=0)
    return scale, shift, alpha, 1.0 - alpha


def lstm_step(zx_t, h, c, u):
    """One LSTM step from the projected input: (h, c, gate block [i, f, g, o]). The loop and the
    one-step view both call it. Elementwise work on the whole (B, 4H) block is much faster on a CPU
    than on four slices."""
    scale, shift, _, _ = _lstm_gate_constants(tf.shape(u)[0], zx_t.dtype)
    block = tf.tanh((zx_t + tf.matmul(h, u)) * scale) * scale + shift
    i, f, g, o = tf.split(block, 4, axis=1)
    c = f * c + i * g
    return o * tf.tanh(c), c, block


def gru_step(zx_t, h, u, b_rec):
    """One GRU step from the projected input: (h, [z, r, hh, rh], from which the forward loop derives what
    the backward loop multiplies by)."""
    units = tf.shape(u)[0]
    inner = tf.matmul(h, u) + b_rec
    zr = tf.tanh((zx_t[:, :2 * units] + inner[:, :2 * units]) * 0.5) * 0.5 + 0.5  # both sigmoids, one block
    z, r = tf.split(zr, 2, axis=1)
    rh = inner[:, 2 * units:]
    hh = tf.tanh(zx_t[:, 2 * units:] + r * rh)
    return z * h + (1.0 - z) * hh, tf.concat([z, r, hh, rh], axis=1)


def _replace_row(rows, t, row):
    """``rows`` with row t replaced. The loops below read row t of an array and then replace it with
    what the next loop needs (Z_x becomes p forward, p becomes dZ backward): XLA updates the one
    buffer in place instead of filling a new array per loop (measured: 49-50 -> 44-45 ms a step)."""
    return tf.tensor_scatter_nd_update(rows, [[t]], row[None])


def _lstm_forward(zx, u, h0, c0, m, masked):
    """The forward loop: only h U and the gate arithmetic per step. Besides the states it keeps, per
    step, what the backward loop multiplies by (so that loop is a few fused kernels, not a dozen):
      p  = [g, c_prev, i, tanh c] * the gate derivatives   (B, 4H): dz = [dc, dc, dc, dh] * p
      qf = [o (1 - tanh^2 c), f]                           (B, 2H): dc += dh q;  dc_prev = dc f
    p takes the place of Z_x, row by row (``_replace_row``)."""
    steps = tf.shape(zx)[0]
    _, _, alpha, beta = _lstm_gate_constants(tf.shape(u)[0], zx.dtype)

    def step(t, h, c, hs, zp, qfs):
        h_new, c_new, block = lstm_step(zp[t], h, c, u)  # rows >= t still hold Z_x
        i, f, g, o = tf.split(block, 4, axis=1)
        tc = tf.tanh(c_new)
        p = tf.concat([g, c, i, tc], axis=1) * (alpha + block * (beta - block))
        qf = tf.concat([o * (1.0 - tc * tc), f], axis=1)
        if masked:  # a masked step keeps the state
            h_new, c_new = tf.where(m[t], h_new, h), tf.where(m[t], c_new, c)
        return t + 1, h_new, c_new, hs.write(t, h_new), _replace_row(zp, t, p), qfs.write(t, qf)

    ta = lambda: tf.TensorArray(zx.dtype, size=steps)  # noqa: E731
    _, _, c_last, hs, ps, qfs = tf.while_loop(lambda t, *_: t < steps, step, (0, h0, c0, ta(), zx, ta()),
                                              maximum_iterations=steps)
    return hs.stack(), ps, qfs.stack(), c_last


def _lstm_states(zx, u, h0, c0, m, masked):
    """The forward loop alone, for when no gradient is recorded: (states (T, B, H), last cell state)."""
    steps = tf.shape(zx)[0]

    def step(t, h, c, hs):
        h_new, c_new, _ = lstm_step(zx[t], h, c, u)
        if masked:
            h_new, c_new = tf.where(m[t], h_new, h), tf.where(m[t], c_new, c)
        return t + 1, h_new, c_new, hs.write(t, h_new)

    _, _, c_last, hs = tf.while_loop(lambda t, *_: t < steps, step,
                                     (0, h0, c0, tf.TensorArray(zx.dtype, size=steps)), maximum_iterations=steps)
    return hs.stack(), c_last


def _lstm_backward(d_hs, d_c_last, u, h0, hs, ps, qfs, m, masked):
    """Backpropagation through time: the loop carries dh and dc back one step at a time (dh through
    U^T); dU is one GEMM over all steps afterwards. dz takes the place of p, row by row. Returns
    (dZ_x, dU, dh0, dc0)."""
    units = tf.shape(u)[0]
    steps = tf.shape(ps)[0]
    u_t = tf.transpose(u)

    def step(t, dh, dc, pdz):
        dh = dh + d_hs[t]
        q, f = tf.split(qfs[t], 2, axis=1)
        if masked:  # a masked step changed nothing: its gradient passes straight through
            m_t = tf.cast(m[t], dh.dtype)
            dh_new, dc_new = dh * m_t, dc * m_t
        else:
            dh_new, dc_new = dh, dc
        dc_new = dc_new + dh_new * q
        # dz: d_block = [dc g, dc c_prev, dc i, dh tanh c] through the gate nonlinearities, = [dc, dc, dc, dh] p
        dz = tf.concat([dc_new, dc_new, dc_new, dh_new], axis=1) * pdz[t]  # rows <= t still hold p
        dh_prev, dc_prev = tf.matmul(dz, u_t), dc_new * f
        if masked:
            dh_prev, dc_prev = dh_prev + dh * (1.0 - m_t), dc_prev + dc * (1.0 - m_t)
        return t - 1, dh_prev, dc_prev, _replace_row(pdz, t, dz)

    _, dh0, dc0, dzs = tf.while_loop(lambda t, *_: t >= 0, step, (steps - 1, tf.zeros_like(h0), d_c_last, ps),
                                     maximum_iterations=steps)
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


def lstm_recurrence(zx, u, h0, c0, m):
    """(states (T, B, H), last cell state) from the projected inputs Z_x (T, B, 4H), with the
    hand-written gradient. Gate order i, f, c, o as in Keras. ``m``: (T, B, 1) bool or None."""
    masked, units, steps = m is not None, u.shape[0], tf.shape(zx)[0]
    zx, m = _bucketed(zx, m, units)
    m = m if masked else tf.zeros((), tf.bool)
    recorded = _recorded([zx, u, h0, c0])  # else: no tape records this call (validation, prediction)

    @tf.custom_gradient
    def recurrence(zx, u, h0, c0):
        # stop_gradient: the tape must not differentiate the loop itself (that is what grad is for)
        args = (*map(tf.stop_gradient, (zx, u, h0, c0)), m, masked)
        if recorded:
            hs, ps, qfs, c_last = _loop(_lstm_forward, units)(*args)
        else:
            (hs, c_last), ps, qfs = _loop(_lstm_states, units)(*args), None, None

        def grad(d_hs, d_c_last):
            d_c_last = tf.zeros_like(c0) if d_c_last is None else d_c_last
            # asked for without a tape (tf.gradients, in a graph): the full forward loop runs first
            p, qf = (ps, qfs) if recorded else _loop(_lstm_forward, units)(*args)[1:3]
            return _loop(_lstm_backward, units)(d_hs, d_c_last, u, h0, hs, p, qf, m, masked)

        return (hs, c_last), grad

    hs, c_last = recurrence(zx, u, h0, c0)
    return hs[:steps], c_last


def _gru_forward(zx, u, b_rec, h0, m, masked):
    """The forward loop. Besides the states it keeps, per step, what the backward loop multiplies by:
      p  = [(h_prev - hh) z (1 - z),  a r (1 - r) rh,  a r]   (B, 3H), a = (1 - z)(1 - hh^2):
           d inner = [dh, dh, dh] p  (the gradient of h U + b_rec; that of x W + b is the same with a
           in place of a r)
      az = [a, z]                                            (B, 2H)
    p takes the place of Z_x, row by row (``_replace_row``)."""
    steps = tf.shape(zx)[0]

    def step(t, h, hs, zp, azs):
        h_new, kept = gru_step(zp[t], h, u, b_rec)  # rows >= t still hold Z_x
        z, r, hh, rh = tf.split(kept, 4, axis=1)
        a = (1.0 - z) * (1.0 - hh * hh)
        p = tf.concat([(h - hh) * z * (1.0 - z), a * r * (1.0 - r) * rh, a * r], axis=1)
        if masked:
            h_new = tf.where(m[t], h_new, h)
        return t + 1, h_new, hs.write(t, h_new), _replace_row(zp, t, p), azs.write(t, tf.concat([a, z], axis=1))

    ta = lambda: tf.TensorArray(zx.dtype, size=steps)  # noqa: E731
    _, _, hs, ps, azs = tf.while_loop(lambda t, *_: t < steps, step, (0, h0, ta(), zx, ta()),
                                      maximum_iterations=steps)
    return hs.stack(), ps, azs.stack()


def _gru_states(zx, u, b_rec, h0, m, masked):
    """The forward loop alone, for when no gradient is recorded: the states (T, B, H)."""
    steps = tf.shape(zx)[0]

    def step(t, h, z_prev, hs):
        h_new, gates = gru_step(zx[t], h, u, b_rec)
        # z is carried to the next step (as 0·z there), only so that XLA computes it in a kernel of its
        # own: with nothing else using it, XLA fuses the whole step's gate arithmetic into one kernel
        # that it does not vectorize (100 steps at batch 64: 20.6 against 13.3 ms)
        z = gates[:, :tf.shape(h)[1]]
        h_new = h_new + 0.0 * z_prev
        if masked:
            h_new = tf.where(m[t], h_new, h)
        return t + 1, h_new, z, hs.write(t, h_new)

    _, _, _, hs = tf.while_loop(lambda t, *_: t < steps, step,
                                (0, h0, tf.zeros_like(h0), tf.TensorArray(zx.dtype, size=steps)),
                                maximum_iterations=steps)
    return hs.stack()


def _gru_backward(d_hs, u, h0, hs, ps, azs, m, masked):
    """d inner takes the place of p, row by row. Returns (dZ_x, dU, d recurrent bias, dh0)."""
    steps, units = tf.shape(ps)[0], tf.shape(u)[0]
    u_t = tf.transpose(u)

    def step(t, dh, dxs, pdi):
        dh = dh + d_hs[t]
        dh_new = dh * tf.cast(m[t], dh.dtype) if masked else dh
        a, z = tf.split(azs[t], 2, axis=1)
        d_inner = tf.concat([dh_new, dh_new, dh_new], axis=1) * pdi[t]  # rows <= t still hold p
        dh_prev = tf.matmul(d_inner, u_t) + dh_new * z
        if masked:
            dh_prev = dh_prev + dh * (1.0 - tf.cast(m[t], dh.dtype))
        dx = tf.concat([d_inner[:, :2 * units], dh_new * a], axis=1)
        return t - 1, dh_prev, dxs.write(t, dx), _replace_row(pdi, t, d_inner)

    _, dh0, dxs, dinners = tf.while_loop(lambda t, *_: t >= 0, step,
                                        (steps - 1, tf.zeros_like(h0), tf.TensorArray(ps.dtype, size=steps), ps),
                                        maximum_iterations=steps)
    dinners = tf.reshape(dinners, [-1, 3 * units])
    h_prev = tf.concat([h0[None], hs[:-1]], axis=0)
    du = tf.matmul(tf.reshape(h_prev, [-1, units]), dinners, transpose_a=True)
    return dxs.stack(), du, tf.reduce_sum(dinners, axis=0), dh0


def gru_recurrence(zx, u, b_rec, h0, m):
    """States (T, B, H) from the projected inputs Z_x (T, B, 3H) (``reset_after=True``), with the
    hand-written gradient. Gate order z, r, h as in Keras: z = s(x_z + h U_z + b_z),
    r = s(x_r + h U_r + b_r), hh = tanh(x_h + r (h U_h + b_h)), h' = z h + (1 - z) hh."""
    masked, units, steps = m is not None, u.shape[0], tf.shape(zx)[0]
    zx, m = _bucketed(zx, m, units)
    m = m if masked else tf.zeros((), tf.bool)
    recorded = _recorded([zx, u, b_rec, h0])  # else: no tape records this call (validation, prediction)

    @tf.custom_gradient
    def recurrence(zx, u, b_rec, h0):
        args = (*map(tf.stop_gradient, (zx, u, b_rec, h0)), m, masked)
        hs, ps, azs = (_loop(_gru_forward, units)(*args) if recorded
                       else (_loop(_gru_states, units)(*args), None, None))

        def grad(d_hs):
            p, az = (ps, azs) if recorded else _loop(_gru_forward, units)(*args)[1:]  # as for the LSTM
            return _loop(_gru_backward, units)(d_hs, u, h0, hs, p, az, m, masked)

        return hs, grad

    return recurrence(zx, u, b_rec, h0)[:steps]
