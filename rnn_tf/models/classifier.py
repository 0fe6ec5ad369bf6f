"""Text classifiers (many-to-one): one factory, options rather than copies.

    rnn  embedding (padding masked) -> 1..n recurrent layers, optionally bidirectional -> the sequence
         summarised by its last state, mean or max over time, or learned attention -> softmax
    cnn  embedding -> 1-D convolutions of several widths -> max over time -> softmax (Kim 2014)
    bow  the bag-of-words / tf-idf design matrix -> logistic regression or a small MLP

Inputs are right-padded ids (padding id 0), so on a GPU masked LSTM/GRU layers keep their cuDNN kernels.
"""

from __future__ import annotations

import keras

from rnn_tf.names import BOW_HEADS, CLASSIFIER_MODELS as MODELS, POOLINGS
from rnn_tf.models.cells import recurrent_layer
from rnn_tf.models.layers import AttentionPooling, BagOfWords, Dropout, MaskedPooling



def build_classifier(
    vocab_size: int,
    num_classes: int,
    model: str = "rnn",
    cell: str = "lstm",
    units: int = 64,
    layers: int = 1,
    bidirectional: bool = False,
    pooling: str = "last",
    embedding_dim: int = 64,
    dropout: float = 0.3,
    filters: int = 100,
    kernel_sizes: tuple[int, ...] = (3, 4, 5),
    bow_head: str = "logistic",
    bow_weighting: str = "tfidf",
    implementation: str = "fast",
) -> keras.Model:
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}: use one of {', '.join(MODELS)}")
    if pooling not in POOLINGS:
        raise ValueError(f"unknown pooling {pooling!r}: use one of {', '.join(POOLINGS)}")
    if bow_head not in BOW_HEADS:
        raise ValueError(f"unknown bag-of-words head {bow_head!r}: use one of {', '.join(BOW_HEADS)}")
    if num_classes < 2:
        raise ValueError(f"a classifier needs two or more classes, not {num_classes}")
    ids = keras.Input(shape=(None,), dtype="int32", name="ids")

    if model == "bow":
        x = BagOfWords(vocab_size, bow_weighting, name="bag_of_words")(ids)
        if bow_head == "mlp":
            x = Dropout(dropout, name="bow_dropout")(x)
            x = keras.layers.Dense(units, activation="relu", name="hidden")(x)
        x = Dropout(dropout, name="dropout")(x)
        probs = keras.layers.Dense(num_classes, activation="softmax", name="classes")(x)
        return keras.Model(ids, probs, name=f"bow_{bow_head}_classifier")

    if model == "cnn":
        # Padding embeds as zeros (what "same" convolution pads with) and is left out of the max, so a
        # text's prediction does not depend on how much padding its batch has.
        mask = keras.ops.not_equal(ids, 0)
        x = keras.layers.Embedding(vocab_size, embedding_dim, name="embedding")(ids)
        x = x * keras.ops.expand_dims(keras.ops.cast(mask, x.dtype), -1)
        branches = [
            MaskedPooling("max", name=f"max_over_time_{k}")(
                keras.layers.Conv1D(filters, k, padding="same", activation="relu", name=f"conv_{k}")(x),
                mask=mask,
            )
            for k in kernel_sizes
        ]
        x = branches[0] if len(branches) == 1 else keras.layers.Concatenate(name="features")(branches)
        x = Dropout(dropout, name="dropout")(x)
        probs = keras.layers.Dense(num_classes, activation="softmax", name="classes")(x)
        return keras.Model(ids, probs, name="cnn_classifier")

    if layers < 1:
        raise ValueError(f"layers must be 1 or more, not {layers}")
    x = keras.layers.Embedding(vocab_size, embedding_dim, mask_zero=True, name="embedding")(ids)
    for i in range(layers):
        last = i == layers - 1
        rnn = recurrent_layer(cell, units, return_sequences=not (last and pooling == "last"), name=f"rnn_{i + 1}",
                              implementation=implementation)
        if bidirectional:
            rnn = keras.layers.Bidirectional(rnn, name=f"birnn_{i + 1}")
        x = rnn(x)
        if dropout and not last:
            x = Dropout(dropout, name=f"dropout_{i + 1}")(x)
    if pooling in ("mean", "max"):
        x = MaskedPooling(pooling, name=f"{pooling}_pooling")(x)
    elif pooling == "attention":
        x = AttentionPooling(units, name="attention_pooling")(x)
    x = Dropout(dropout, name="dropout")(x)
    probs = keras.layers.Dense(num_classes, activation="softmax", name="classes")(x)
    kind = ("bi" if bidirectional else "") + cell
    return keras.Model(ids, probs, name=f"{kind}_{pooling}_classifier")
