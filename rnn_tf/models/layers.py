"""Small layers the model factories share. Each round-trips through ``get_config``/``from_config``."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from rnn_tf.names import ATTENTIONS


@keras.saving.register_keras_serializable(package="rnn_tf")
class Dropout(keras.layers.Dropout):
    """``keras.layers.Dropout`` whose mask is drawn with the Philox generator named explicitly.

    Keras draws it with TensorFlow's default stateless generator, and under XLA on a CPU (the text
    generator compiles its whole training step) that default ran ~30x slower than Philox asked for by
    name: 434 ms against 15 ms for one (64, 100, 256) mask, which made a training step with dropout 4-5x
    slower than one without. The same seed generator (saved with the run) drives it, so resuming stays
    exact. Named ``Dropout`` like Keras's: a weights file names layers after their class."""

    def call(self, inputs, training=False):
        if not training or self.rate <= 0:
            return inputs
        import tensorflow as tf

        if self.rate >= 1.0:
            return tf.zeros_like(inputs)
        seed = tf.cast(tf.math.floormod(self.seed_generator.next(), tf.int32.max - 1), tf.int32)
        noise_shape = None
        if self.noise_shape is not None:
            noise_shape = [tf.shape(inputs)[i] if d is None else d for i, d in enumerate(self.noise_shape)]
        return tf.nn.experimental.stateless_dropout(inputs, rate=self.rate, seed=seed, rng_alg="philox",
                                                    noise_shape=noise_shape)


@keras.saving.register_keras_serializable(package="rnn_tf")
class MaskedPooling(keras.layers.Layer):
    """Mean or max over time that ignores padded steps (the mask comes from ``Embedding(mask_zero)``)."""

    def __init__(self, mode: str = "mean", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("mean", "max"):
            raise ValueError(f"pooling mode must be mean or max, not {mode!r}")
        self.mode = mode
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return ops.mean(inputs, axis=1) if self.mode == "mean" else ops.max(inputs, axis=1)
        m = ops.expand_dims(ops.cast(mask, inputs.dtype), -1)
        if self.mode == "mean":
            return ops.sum(inputs * m, axis=1) / ops.maximum(ops.sum(m, axis=1), 1.0)
        return ops.max(ops.where(m > 0, inputs, ops.full_like(inputs, -1e9)), axis=1)

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


@keras.saving.register_keras_serializable(package="rnn_tf")
class AttentionPooling(keras.layers.Layer):
    """Learned attention over time: score_t = v . tanh(W h_t + b), weights = softmax over the real
    (unpadded) steps, output = sum_t weight_t h_t. The weights of the last call are kept for plots."""

    def __init__(self, units: int = 64, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.supports_masking = True

    def build(self, input_shape):
        self.project = keras.layers.Dense(self.units, activation="tanh", name="project")
        self.project.build(input_shape)
        self.score = keras.layers.Dense(1, use_bias=False, name="score")
        self.score.build((*input_shape[:-1], self.units))

    def call(self, inputs, mask=None):
        scores = ops.squeeze(self.score(self.project(inputs)), -1)
        if mask is not None:
            scores = ops.where(mask, scores, ops.full_like(scores, -1e9))
        weights = ops.softmax(scores, axis=-1)
        return ops.sum(inputs * ops.expand_dims(weights, -1), axis=1)

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="rnn_tf")
class BagOfWords(keras.layers.Layer):
    """The lectures' design matrix, computed inside the model from the same padded ids as every other
    model: one column per vocabulary entry, word order thrown away.

    ``weighting``: ``count``, ``binary``, or ``tfidf`` (sublinear tf = 1 + log(count), times
    idf = log((1 + n) / (1 + df)) + 1, rows L2-normalised). The idf vector is a non-trainable weight,
    set from the training texts by ``adapt`` and saved with the other weights.
    """

    def __init__(self, vocab_size: int, weighting: str = "tfidf", **kwargs):
        super().__init__(**kwargs)
        if weighting not in ("count", "binary", "tfidf"):
            raise ValueError(f"weighting must be count, binary or tfidf, not {weighting!r}")
        self.vocab_size, self.weighting = vocab_size, weighting

    def build(self, input_shape):
        self.idf = self.add_weight(shape=(self.vocab_size,), initializer="ones", trainable=False, name="idf")

    def adapt(self, ids: np.ndarray) -> None:
        """Document frequencies from a (documents, length) array of padded ids."""
        if not self.built:
            self.build(ids.shape)
        df = np.zeros(self.vocab_size)
        for row in ids:
            df[np.unique(row)] += 1
        idf = np.log((1 + len(ids)) / (1 + df)) + 1.0
        idf[0] = 0.0  # padding is not a word
        self.idf.assign(idf.astype("float32"))

    def call(self, ids):
        import tensorflow as tf

        # Counts per row without a (batch, length, vocabulary) one-hot tensor.
        counts = tf.math.bincount(tf.cast(ids, tf.int32), minlength=self.vocab_size,
                                  maxlength=self.vocab_size, axis=-1, dtype=tf.float32)
        counts = counts * ops.cast(ops.arange(self.vocab_size) > 0, counts.dtype)  # drop padding
        if self.weighting == "count":
            return counts
        if self.weighting == "binary":
            return ops.cast(counts > 0, counts.dtype)
        tf = ops.where(counts > 0, 1.0 + ops.log(ops.maximum(counts, 1.0)), 0.0) * self.idf
        return tf / ops.maximum(ops.sqrt(ops.sum(tf * tf, axis=-1, keepdims=True)), 1e-12)

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "weighting": self.weighting}


@keras.saving.register_keras_serializable(package="rnn_tf")
class DropMask(keras.layers.Layer):
    """Passes its input on without the Keras mask riding on it. A model whose loss and metrics mask
    padding themselves ends in one, so Keras does not weight them by a second (possibly different) mask."""

    def call(self, inputs, mask=None):
        return ops.copy(inputs)  # a new tensor: the input's mask stays behind

    def compute_mask(self, inputs, mask=None):
        return None




@keras.saving.register_keras_serializable(package="rnn_tf")
class SequenceAttention(keras.layers.Layer):
    """Attention of every query step over every (unpadded) source step.

    Scores of query q_t against source state h_s:
      bahdanau       v . tanh(W1 q_t + W2 h_s)    additive, with its own projections (Bahdanau et al. 2015)
      luong-dot      q_t . h_s                    (Luong et al. 2015)
      luong-general  q_t . (W h_s)
    Padded source steps get no weight. ``call`` returns (context (B, T, D), weights (B, T, S)).
    """

    def __init__(self, kind: str = "bahdanau", units: int = 64, **kwargs):
        super().__init__(**kwargs)
        if kind not in ATTENTIONS[:-1]:
            raise ValueError(f"attention kind must be one of {ATTENTIONS[:-1]}, not {kind!r}")
        self.kind, self.units = kind, units

    def build(self, query_shape, values_shape, source_mask_shape=None):
        if self.kind == "bahdanau":
            self.w1 = keras.layers.Dense(self.units, use_bias=False, name="w1")
            self.w1.build(query_shape)
            self.w2 = keras.layers.Dense(self.units, name="w2")
            self.w2.build(values_shape)
            self.v = keras.layers.Dense(1, use_bias=False, name="v")
            self.v.build((None, None, None, self.units))
        elif self.kind == "luong-general":
            self.w = keras.layers.Dense(query_shape[-1], use_bias=False, name="w")
            self.w.build(values_shape)

    def call(self, query, values, source_mask=None):
        if self.kind == "bahdanau":
            hidden = ops.tanh(ops.expand_dims(self.w1(query), 2) + ops.expand_dims(self.w2(values), 1))
            scores = ops.squeeze(self.v(hidden), -1)
        else:
            keys = values if self.kind == "luong-dot" else self.w(values)
            scores = ops.matmul(query, ops.transpose(keys, (0, 2, 1)))
        if source_mask is not None:
            scores = ops.where(ops.expand_dims(source_mask, 1), scores, ops.full_like(scores, -1e9))
        weights = ops.softmax(scores, axis=-1)
        return ops.matmul(weights, values), weights

    def compute_mask(self, *args, **kwargs):
        return None

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "units": self.units}
