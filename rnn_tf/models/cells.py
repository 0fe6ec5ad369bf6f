"""The registry of recurrent cells: a string names a cell, the registry builds its Keras layer.

    simple_rnn     Elman RNN: h_t = tanh(W x_t + U h_{t-1} + b). Gradients through time are products
                   of U and tanh' factors, so they vanish or explode over long spans.
    irnn           Le, Jaitly & Hinton (2015): a SimpleRNN with ReLU and U initialised to the identity,
                   so at the start it copies its state forward and gradients neither shrink nor grow.
    lstm           Hochreiter & Schmidhuber (1997): input, forget and output gates around an additive
                   cell state; the additive path lets gradients flow over long spans.
    gru            Cho et al. (2014): update and reset gates, no separate cell state.
    peephole_lstm  Gers & Schmidhuber (2000): an LSTM whose gates also see the cell state.
    cifg_lstm      Greff et al. (2017): an LSTM with coupled input and forget gates, f = 1 - i.
    nfg_lstm       Hochreiter & Schmidhuber (1997) as first published: no forget gate,
                   c_t = c_{t-1} + i g.

The three LSTM variants are cells of their own in ``models.variants``, run by Keras's step-by-step
loop (no fast CPU path, no cuDNN kernel: see that module).

LSTM and GRU keep Keras's defaults (tanh/sigmoid, no recurrent dropout, ``reset_after=True``), which
is what lets TensorFlow run them with cuDNN kernels when a GPU is present. Dropout is applied between
layers by separate ``Dropout`` layers for the same reason.

Two implementations compute the same thing with the same variables (``implementation``):
    fast   (default) LSTM and GRU as ``models.fast_rnn.FastLSTM`` / ``FastGRU``: on a CPU the input
           projection is one GEMM over all steps and backpropagation through time is written out by
           hand; on a GPU, Keras's cuDNN kernels as before. SimpleRNN/IRNN and the LSTM variants run
           Keras's own loop either way.
    keras  Keras's layers as they are.
A weights file saved with either loads into the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import keras

from rnn_tf import names
from rnn_tf.models.fast_rnn import FastGRU, FastLSTM
from rnn_tf.models.variants import CIFGLSTM, NFGLSTM, PeepholeLSTM


@dataclass(frozen=True)
class CellSpec:
    layer: Callable[..., keras.layers.RNN]
    states: tuple[str, ...]  # names of the recurrent state tensors, e.g. ("h", "c") for an LSTM
    options: dict = field(default_factory=dict)
    doc: str = ""
    fast_layer: Callable[..., keras.layers.RNN] | None = None  # the same layer with the fast CPU loop


CELLS: dict[str, CellSpec] = {
    "simple_rnn": CellSpec(keras.layers.SimpleRNN, ("h",), {}, "Elman RNN with tanh"),
    "irnn": CellSpec(
        keras.layers.SimpleRNN,
        ("h",),
        {
            "activation": "relu",
            "recurrent_initializer": keras.initializers.Identity(gain=1.0),
            "kernel_initializer": keras.initializers.RandomNormal(stddev=0.001),
        },
        "ReLU RNN with identity recurrent weights (Le et al. 2015)",
    ),
    "lstm": CellSpec(keras.layers.LSTM, ("h", "c"), {}, "long short-term memory", FastLSTM),
    "gru": CellSpec(keras.layers.GRU, ("h",), {}, "gated recurrent unit", FastGRU),
    # LSTM variants (models.variants): Keras's step-by-step loop, no fast path
    "peephole_lstm": CellSpec(PeepholeLSTM, ("h", "c"), {}, "LSTM with peepholes (Gers & Schmidhuber 2000)"),
    "cifg_lstm": CellSpec(CIFGLSTM, ("h", "c"), {}, "LSTM, coupled input and forget gates (Greff et al. 2017)"),
    "nfg_lstm": CellSpec(NFGLSTM, ("h", "c"), {}, "LSTM, no forget gate (Hochreiter & Schmidhuber 1997)"),
}


def cell_spec(cell: str) -> CellSpec:
    try:
        return CELLS[cell]
    except KeyError:
        raise ValueError(f"unknown cell {cell!r}: use one of {', '.join(CELLS)}") from None


def check_implementation(implementation: str) -> None:
    if implementation not in names.IMPLEMENTATIONS:
        raise ValueError(f"unknown implementation {implementation!r}: use one of {', '.join(names.IMPLEMENTATIONS)}")


def recurrent_layer(cell: str, units: int, *, name: str, implementation: str = "fast", **kwargs) -> keras.layers.RNN:
    """A fresh Keras recurrent layer for ``cell``; ``kwargs`` (return_sequences, ...) pass through.

    Initialisers are cloned for every layer so that no two layers share an initialiser object.
    """
    spec = cell_spec(cell)
    check_implementation(implementation)
    if units < 1:
        raise ValueError(f"units must be 1 or more, not {units}")
    options = {
        k: (v.__class__.from_config(v.get_config()) if isinstance(v, keras.initializers.Initializer) else v)
        for k, v in spec.options.items()
    }
    if implementation == "fast" and spec.fast_layer is not None:
        return spec.fast_layer(units, name=name, **options, **kwargs)
    return spec.layer(units, name=name, **options, **kwargs)


def state_sizes(cell: str, units: int) -> list[int]:
    """The sizes of the state tensors one layer of ``cell`` carries from step to step."""
    return [units] * len(cell_spec(cell).states)
