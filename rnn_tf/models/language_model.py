"""The language model: embedding -> n recurrent layers -> dense logits, in two views.

``build_language_model`` makes the layers once, by name, and wires them into
  * ``training``: (batch, time) ids -> (batch, time, vocab) logits, every position predicted;
  * ``step``: one id per stream plus the recurrent states -> logits plus the new states.
Both views use the *same layer objects*, so they share weights: train one, sample with the other, no
copying and no rebuilding by layer index. The step view calls each layer's ``cell`` directly, which is
exactly the function the training view unrolls over time.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from rnn_tf.models.cells import cell_spec, recurrent_layer, state_sizes
from rnn_tf.models.fast_rnn import FastRecurrence, TokenStep


@dataclass
class LanguageModel:
    training: keras.Model
    step: keras.Model
    state_sizes: list[int]  # flat: one entry per state tensor, layer by layer

    def zero_states(self, batch_size):
        import tensorflow as tf

        return [tf.zeros((batch_size, size)) for size in self.state_sizes]


def build_language_model(
    vocab_size: int,
    cell: str = "lstm",
    units: int = 256,
    layers: int = 1,
    embedding_dim: int = 64,
    dropout: float = 0.0,
    implementation: str = "fast",
) -> LanguageModel:
    spec = cell_spec(cell)
    if layers < 1:
        raise ValueError(f"layers must be 1 or more, not {layers}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), not {dropout}")
    if embedding_dim < 1:
        raise ValueError(f"embedding_dim must be 1 or more, not {embedding_dim}")

    embedding = keras.layers.Embedding(vocab_size, embedding_dim, name="embedding")
    rnns = [recurrent_layer(cell, units, return_sequences=True, name=f"rnn_{i + 1}",
                            implementation=implementation) for i in range(layers)]
    for rnn in rnns:  # Keras names every cell "<kind>_cell"; the step view needs unique names
        rnn.cell.name = f"{rnn.name}_cell"
    drops = [keras.layers.Dropout(dropout, name=f"dropout_{i + 1}") for i in range(layers)]
    logits = keras.layers.Dense(vocab_size, name="logits")

    # Training view: whole sequences.
    ids = keras.Input(shape=(None,), dtype="int32", name="ids")
    x = embedding(ids)
    for rnn, drop in zip(rnns, drops):
        x = rnn(x)
        if dropout:
            x = drop(x)
    training = keras.Model(ids, logits(x), name=f"{cell}_language_model")

    # Step view: one id per stream, states in and out (dropout is off at inference).
    token = keras.Input(shape=(), dtype="int32", name="token")
    states_in, states_out = [], []
    x = embedding(token)
    for i, rnn in enumerate(rnns):
        layer_states = [keras.Input(shape=(units,), name=f"rnn_{i + 1}_{s}") for s in spec.states]
        if i == 0 and isinstance(rnn, FastRecurrence):
            # The first layer's x W + b is a row of the projected embedding table: a gather instead of a
            # small GEMM per step (several times faster for a batch of streams). The same weights.
            x, new_states = TokenStep(embedding, rnn, name="token_step")(token, layer_states)
        else:
            x, new_states = rnn.cell(x, layer_states)
        states_in += layer_states
        states_out += list(new_states) if isinstance(new_states, (list, tuple)) else [new_states]
    step = keras.Model([token, *states_in], [logits(x), *states_out], name=f"{cell}_step")

    return LanguageModel(training, step, state_sizes(cell, units) * layers)
