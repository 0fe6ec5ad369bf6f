"""Loss and accuracy over real tokens only, for models that emit one output per token (the translator's
decoder, the tagger): targets are right-padded with id 0, and padding is never a target, so it is left
out of both the average and the count.

The models that use these end in ``layers.DropMask``, so Keras does not weight them by a second mask.
"""

from __future__ import annotations

import keras

from rnn_tf.vocab import PAD_ID


def masked_loss(y_true, logits):
    """Cross-entropy averaged over the real target tokens of the batch (padding left out).

    Returned per position, weighted so that Keras's mean over all positions is that average: a loss
    Keras reduces itself is also scaled the way it scales every loss under tf.distribute (a scalar
    would be summed over the replicas). Each replica then averages over its own share of the batch."""
    mask = keras.ops.cast(keras.ops.not_equal(y_true, PAD_ID), "float32")
    ce = keras.losses.sparse_categorical_crossentropy(y_true, logits, from_logits=True)
    positions = keras.ops.cast(keras.ops.size(mask), "float32")
    return ce * mask * (positions / keras.ops.maximum(keras.ops.sum(mask), 1.0))


@keras.saving.register_keras_serializable(package="rnn_tf")
class MaskedAccuracy(keras.metrics.Metric):
    """Share of real target tokens predicted exactly (argmax); padding is left out."""

    def __init__(self, name="masked_accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.hits = self.add_variable(shape=(), initializer="zeros", name="hits")
        self.tokens = self.add_variable(shape=(), initializer="zeros", name="tokens")

    def update_state(self, y_true, logits, sample_weight=None):
        y_true = keras.ops.cast(y_true, "int32")
        mask = keras.ops.cast(keras.ops.not_equal(y_true, PAD_ID), "float32")
        hit = keras.ops.cast(keras.ops.equal(y_true, keras.ops.cast(keras.ops.argmax(logits, axis=-1), "int32")),
                             "float32")
        self.hits.assign_add(keras.ops.sum(hit * mask))
        self.tokens.assign_add(keras.ops.sum(mask))

    def result(self):
        return self.hits / keras.ops.maximum(self.tokens, 1.0)

    def reset_state(self):
        self.hits.assign(0.0)
        self.tokens.assign(0.0)
