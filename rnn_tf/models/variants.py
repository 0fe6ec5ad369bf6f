"""Three LSTM variants for studying what each part of the LSTM does: Keras RNN cells, each wrapped by
``keras.layers.RNN`` and registered in ``models.cells`` under the names below.

    peephole_lstm  Gers & Schmidhuber (2000): the gates also see the cell state (peephole weights).
    cifg_lstm      Greff et al. (2017), "coupled input and forget gate": f = 1 - i, three blocks.
    nfg_lstm       Hochreiter & Schmidhuber (1997), the original LSTM with no forget gate: the cell
                   state only accumulates, c_t = c_{t-1} + i * g.

They keep Keras's LSTM conventions where they apply: variables ``kernel`` (glorot_uniform),
``recurrent_kernel`` (orthogonal) and ``bias`` (zeros, plus 1 on the forget-gate block where there is
one), blocks in Keras's order (i, f, g, o, less the blocks a cell does without), tanh and sigmoid.
Every cell's ``gates(inputs, states)`` returns each gate's value, for the curious and for the tests.

No fast path: on a CPU, ``models/fast_rnn.py`` and ``bptt.py`` write backpropagation through time out
by hand for Keras's LSTM and GRU only, and on a GPU only those two layers have cuDNN kernels. These
cells run Keras's step-by-step loop (``keras.layers.RNN``) on either device, so they train a few
times slower than ``lstm`` of the same size; masks, ``go_backwards`` (``Bidirectional``), initial
states and one-step calls of ``layer.cell`` all work as for any Keras cell.
"""

from __future__ import annotations

import keras
from keras import ops


class LSTMVariantCell(keras.layers.Layer):
    """What the variants share: the kernels, the bias, the states (h, c) and the config.

    A subclass names its weight blocks in ``BLOCKS`` and computes its gates in ``gates``."""

    BLOCKS: tuple[str, ...] = ()  # the kernel's column blocks, in order

    def __init__(self, units, kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", **kwargs):
        if units < 1:
            raise ValueError(f"units must be 1 or more, not {units}")
        super().__init__(**kwargs)
        self.units = units
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.state_size = [units, units]
        self.output_size = units

    def build(self, input_shape):
        width = len(self.BLOCKS) * self.units
        self.kernel = self.add_weight(shape=(input_shape[-1], width), name="kernel",
                                      initializer=self.kernel_initializer)
        self.recurrent_kernel = self.add_weight(shape=(self.units, width), name="recurrent_kernel",
                                                initializer=self.recurrent_initializer)
        self.bias = self.add_weight(shape=(width,), name="bias", initializer=self._bias_init)

    def _bias_init(self, shape, dtype=None):
        return self.bias_initializer(shape, dtype=dtype)

    def _blocks(self, inputs, h):
        """x W + h U + b, split into the named blocks."""
        z = ops.matmul(inputs, self.kernel) + ops.matmul(h, self.recurrent_kernel) + self.bias
        return dict(zip(self.BLOCKS, ops.split(z, len(self.BLOCKS), axis=-1)))

    def gates(self, inputs, states) -> dict:
        """Every gate's value at this step and the new states: keys i, (f,) g, o, c, h."""
        raise NotImplementedError

    def call(self, inputs, states, training=False):
        values = self.gates(inputs, states)
        return values["h"], [values["h"], values["c"]]

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": keras.initializers.serialize(self.recurrent_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }


@keras.saving.register_keras_serializable(package="rnn_tf")
class PeepholeLSTMCell(LSTMVariantCell):
    """LSTM with peephole connections (Gers & Schmidhuber 2000, "Recurrent nets that time and count"):

        i   = sigmoid(x W_i + h_{t-1} U_i + p_i * c_{t-1} + b_i)
        f   = sigmoid(x W_f + h_{t-1} U_f + p_f * c_{t-1} + b_f)
        g   = tanh(x W_g + h_{t-1} U_g + b_g)
        c_t = f * c_{t-1} + i * g
        o   = sigmoid(x W_o + h_{t-1} U_o + p_o * c_t + b_o)     (the output gate sees the new state)
        h_t = o * tanh(c_t)

    p_i, p_f, p_o are vectors (diagonal peephole matrices), named as in TensorFlow's former
    ``PeepholeLSTMCell`` (``input_gate_peephole_weights``, ...) and initialised like it, with
    ``peephole_initializer`` (glorot_uniform). ``unit_forget_bias`` adds 1 to b_f, as Keras's LSTM does.
    """

    BLOCKS = ("i", "f", "g", "o")

    def __init__(self, units, peephole_initializer="glorot_uniform", unit_forget_bias=True, **kwargs):
        super().__init__(units, **kwargs)
        self.peephole_initializer = keras.initializers.get(peephole_initializer)
        self.unit_forget_bias = unit_forget_bias

    def build(self, input_shape):
        super().build(input_shape)
        self.input_gate_peephole_weights, self.forget_gate_peephole_weights, self.output_gate_peephole_weights = (
            self.add_weight(shape=(self.units,), name=f"{gate}_gate_peephole_weights",
                            initializer=self.peephole_initializer)
            for gate in ("input", "forget", "output"))

    def _bias_init(self, shape, dtype=None):
        if not self.unit_forget_bias:
            return self.bias_initializer(shape, dtype=dtype)
        u = self.units
        return ops.concatenate([self.bias_initializer((u,), dtype=dtype), ops.ones((u,), dtype=dtype),
                                self.bias_initializer((2 * u,), dtype=dtype)])

    def gates(self, inputs, states):
        h, c_prev = states[0], states[1]
        z = self._blocks(inputs, h)
        i = ops.sigmoid(z["i"] + self.input_gate_peephole_weights * c_prev)
        f = ops.sigmoid(z["f"] + self.forget_gate_peephole_weights * c_prev)
        g = ops.tanh(z["g"])
        c = f * c_prev + i * g
        o = ops.sigmoid(z["o"] + self.output_gate_peephole_weights * c)
        return {"i": i, "f": f, "g": g, "o": o, "c": c, "h": o * ops.tanh(c)}

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias,
                "peephole_initializer": keras.initializers.serialize(self.peephole_initializer)}


@keras.saving.register_keras_serializable(package="rnn_tf")
class CIFGLSTMCell(LSTMVariantCell):
    """LSTM with coupled input and forget gates (CIFG; Greff et al. 2017, "LSTM: A search space
    odyssey", as in the GRU, a unit forgets exactly as much as it writes):

        i   = sigmoid(x W_i + h_{t-1} U_i + b_i)
        f   = 1 - i
        g   = tanh(x W_g + h_{t-1} U_g + b_g)
        c_t = f * c_{t-1} + i * g
        o   = sigmoid(x W_o + h_{t-1} U_o + b_o)
        h_t = o * tanh(c_t)

    The kernel has three blocks (i, g, o), a quarter fewer weights than an LSTM. The bias starts at
    zero: there is no forget-gate block to add Keras's unit forget bias to.
    """

    BLOCKS = ("i", "g", "o")

    def gates(self, inputs, states):
        h, c_prev = states[0], states[1]
        z = self._blocks(inputs, h)
        i, g, o = ops.sigmoid(z["i"]), ops.tanh(z["g"]), ops.sigmoid(z["o"])
        f = 1.0 - i
        c = f * c_prev + i * g
        return {"i": i, "f": f, "g": g, "o": o, "c": c, "h": o * ops.tanh(c)}


@keras.saving.register_keras_serializable(package="rnn_tf")
class NFGLSTMCell(LSTMVariantCell):
    """LSTM with no forget gate, as first published (Hochreiter & Schmidhuber 1997, "Long short-term
    memory"; the forget gate came with Gers, Schmidhuber & Cummins 2000):

        i   = sigmoid(x W_i + h_{t-1} U_i + b_i)
        g   = tanh(x W_g + h_{t-1} U_g + b_g)
        c_t = c_{t-1} + i * g          (the constant error carousel: nothing is ever erased)
        o   = sigmoid(x W_o + h_{t-1} U_o + b_o)
        h_t = o * tanh(c_t)

    The kernel has three blocks (i, g, o). The cell state can grow without bound over a long stream
    (each step adds up to 1 in size), so tanh(c_t) saturates: what the forget gate was added to fix.
    """

    BLOCKS = ("i", "g", "o")

    def gates(self, inputs, states):
        h, c_prev = states[0], states[1]
        z = self._blocks(inputs, h)
        i, g, o = ops.sigmoid(z["i"]), ops.tanh(z["g"]), ops.sigmoid(z["o"])
        c = c_prev + i * g
        return {"i": i, "g": g, "o": o, "c": c, "h": o * ops.tanh(c)}


def rnn_layer(cell_class: type[LSTMVariantCell], cell_name: str):
    """A layer factory with ``keras.layers.LSTM``'s signature: ``(units, **RNN kwargs) -> keras.layers.RNN``
    around a fresh cell named ``cell_name`` (as Keras's LSTM names its cell ``lstm_cell``)."""

    def make(units: int, **kwargs) -> keras.layers.RNN:
        return keras.layers.RNN(cell_class(units, name=cell_name), **kwargs)

    make.__name__ = make.__qualname__ = cell_name.removesuffix("_cell")
    return make


PeepholeLSTM = rnn_layer(PeepholeLSTMCell, "peephole_lstm_cell")
CIFGLSTM = rnn_layer(CIFGLSTMCell, "cifg_lstm_cell")
NFGLSTM = rnn_layer(NFGLSTMCell, "nfg_lstm_cell")
