"""Encoder-decoder with attention (sequence to sequence), in three views built from the same layers.

    encoder   source ids -> embedding (padding masked) -> n recurrent layers (optionally
              bidirectional) -> "memory" (one state per source word) + the decoder's initial states
    decoder   target ids -> embedding -> n recurrent layers started from the encoder's final states
              -> attention over the memory (padding gets no weight) -> tanh(W [state; context])
              -> logits
``training`` runs the decoder over the whole (teacher-forced) target at once; ``encoder`` and
``step`` (one target token + states -> logits + states + attention weights) are the inference views.
All three share the layer objects, so they share weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from rnn_tf.models.cells import cell_spec, recurrent_layer
from rnn_tf.models.layers import DropMask, Dropout, SequenceAttention
from rnn_tf.names import ATTENTIONS, SEQ2SEQ_CELLS


@dataclass
class Seq2Seq:
    training: keras.Model  # [source ids, target input ids] -> logits
    encoder: keras.Model  # source ids -> [memory, *decoder initial states]
    step: keras.Model  # [token, *states, memory, source mask] -> [logits, *states, attention weights]
    state_sizes: list[int]


def build_seq2seq(
    source_vocab: int,
    target_vocab: int,
    cell: str = "gru",
    units: int = 256,
    layers: int = 1,
    bidirectional: bool = False,
    attention: str = "bahdanau",
    embedding_dim: int = 128,
    dropout: float = 0.0,
    implementation: str = "fast",
) -> Seq2Seq:
    if cell not in SEQ2SEQ_CELLS:
        raise ValueError(f"unknown cell {cell!r} for an encoder-decoder: use one of {', '.join(SEQ2SEQ_CELLS)}")
    if attention not in ATTENTIONS:
        raise ValueError(f"unknown attention {attention!r}: use one of {', '.join(ATTENTIONS)}")
    if layers < 1:
        raise ValueError(f"layers must be 1 or more, not {layers}")
    state_names = cell_spec(cell).states

    # --- the layers, each made once, by name ---
    source_embedding = keras.layers.Embedding(source_vocab, embedding_dim, mask_zero=True, name="source_embedding")
    encoders = []
    for i in range(layers):
        rnn = recurrent_layer(cell, units, return_sequences=True, return_state=True, name=f"encoder_{i + 1}",
                              implementation=implementation)
        encoders.append(keras.layers.Bidirectional(rnn, name=f"biencoder_{i + 1}") if bidirectional else rnn)
    bridges = [[keras.layers.Dense(units, activation="tanh", name=f"bridge_{i + 1}_{s}") for s in state_names]
               for i in range(layers)] if bidirectional else None
    memory_projection = keras.layers.Dense(units, name="memory") if bidirectional else None
    target_embedding = keras.layers.Embedding(target_vocab, embedding_dim, mask_zero=True, name="target_embedding")
    decoders = [recurrent_layer(cell, units, return_sequences=True, return_state=True, name=f"decoder_{i + 1}",
                                implementation=implementation)
                for i in range(layers)]
    for rnn in decoders:
        rnn.cell.name = f"{rnn.name}_cell"
    attend = None if attention == "none" else SequenceAttention(attention, units, name="attention")
    attentional = None if attend is None else keras.layers.Dense(units, activation="tanh", name="attentional")
    drop = Dropout(dropout, name="dropout")
    logits_layer = keras.layers.Dense(target_vocab, name="logits")

    # --- encoder view ---
    source = keras.Input(shape=(None,), dtype="int32", name="source")
    x = source_embedding(source)
    initial_states = []
    for i, encoder in enumerate(encoders):
        x, *states = encoder(x)
        if bidirectional:  # forward and backward final states -> one decoder state each
            n = len(state_names)
            states = [bridges[i][j](keras.layers.Concatenate(name=f"final_{i + 1}_{state_names[j]}")(
                [states[j], states[n + j]])) for j in range(n)]
        initial_states += states
    memory = memory_projection(x) if bidirectional else x
    encoder_model = keras.Model(source, [memory, *initial_states], name="encoder")

    def decode(x, states, memory, source_mask):
        """Decoder layers on embedded targets (B, T, E); returns logits, new states, attention weights."""
        new_states = []
        for i, rnn in enumerate(decoders):
            layer_states = states[i * len(state_names):(i + 1) * len(state_names)]
            x, *s = rnn(x, initial_state=layer_states)
            new_states += s
        weights = None
        if attend is not None:
            context, weights = attend(x, memory, source_mask=source_mask)
            x = attentional(keras.layers.Concatenate(name="state_and_context")([x, context]))
        return logits_layer(drop(x)), new_states, weights

    # --- training view: teacher forcing over the whole target ---
    target_in = keras.Input(shape=(None,), dtype="int32", name="target_in")
    source_mask = keras.ops.not_equal(source, 0)
    logits, _, _ = decode(target_embedding(target_in), initial_states, memory, source_mask)
    logits = DropMask(name="unmasked_logits")(logits)  # the loss and the accuracy mask padding themselves
    training = keras.Model([source, target_in], logits, name=f"{cell}_{attention}_seq2seq")

    # --- step view: one target token per sentence ---
    token = keras.Input(shape=(), dtype="int32", name="token")
    states_in = [keras.Input(shape=(units,), name=f"decoder_{i + 1}_{s}") for i in range(layers) for s in state_names]
    memory_in = keras.Input(shape=(None, units), name="memory_in")
    mask_in = keras.Input(shape=(None,), dtype="bool", name="source_mask")
    x = keras.ops.take(target_embedding.embeddings, token, axis=0)  # the same weights, no mask to carry
    new_states = []
    for i, rnn in enumerate(decoders):
        x, s = rnn.cell(x, states_in[i * len(state_names):(i + 1) * len(state_names)])
        new_states += list(s) if isinstance(s, (list, tuple)) else [s]
    if attend is not None:
        context, weights = attend(keras.ops.expand_dims(x, 1), memory_in, source_mask=mask_in)
        x = attentional(keras.ops.concatenate([x, context[:, 0]], axis=-1))
        weights = weights[:, 0]
    else:
        weights = keras.ops.zeros_like(keras.ops.cast(mask_in, "float32"))
    step = keras.Model([token, *states_in, memory_in, mask_in], [logits_layer(x), *new_states, weights], name="step")
    return Seq2Seq(training, encoder_model, step, [units] * (layers * len(state_names)))
