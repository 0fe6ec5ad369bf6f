"""Decoding a sequence-to-sequence model: greedy, temperature sampling and beam search.

Each is one compiled ``tf.function`` over a batch of source sentences: the encoder runs once, then the
decoder's step view runs once per output token, for every sentence (and every beam) at once, until
all have written ``<end>`` or ``max_length`` tokens.

Beam search keeps the ``beam_size`` best partial translations per sentence by total log-probability.
A finished beam is carried along unchanged. The winner is chosen by score / lp(length) with the GNMT
length penalty lp = ((5 + length) / 6) ** alpha (alpha 0: no penalty, so short outputs are favoured).
A beam of size 1 is greedy decoding.

``Decoder.attention`` finds the attention weights of translations already chosen (beam search keeps
none) by feeding them back through the step model.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from rnn_tf.models.seq2seq import Seq2Seq
from rnn_tf.vocab import PAD_ID, UNK_ID

START_ID, END_ID = 2, 3  # target vocabularies reserve these after <pad> and <unk>


class Decoder:
    def __init__(self, model: Seq2Seq):
        self.model = model
        # Every argument is a tensor of free length: one trace serves batches of any size and padding.
        ids, scalar = tf.TensorSpec([None, None], tf.int32), lambda dtype: tf.TensorSpec([], dtype)
        self.greedy_loop = tf.function(self._greedy_loop, input_signature=[
            ids, scalar(tf.int32), scalar(tf.float32), scalar(tf.int64)])
        self.beam_loop = tf.function(self._beam_loop, input_signature=[
            ids, scalar(tf.int32), scalar(tf.int32), scalar(tf.float32)])

    def _encode(self, source):
        memory, *states = self.model.encoder(source, training=False)
        # tf.identity drops the Keras mask riding on the memory: the step view takes the mask explicitly.
        return tf.identity(memory), list(states), tf.not_equal(source, PAD_ID)

    def _greedy_loop(self, source, max_length, temperature, seed):
        memory, states, mask = self._encode(source)
        batch = tf.shape(source)[0]
        token = tf.fill([batch], START_ID)
        finished = tf.zeros([batch], tf.bool)
        tokens = tf.TensorArray(tf.int32, size=max_length)
        weights = tf.TensorArray(tf.float32, size=max_length)
        for i in tf.range(max_length):
            logits, *rest = self.model.step([token, *states, memory, mask], training=False)
            states, attention = list(rest[:-1]), rest[-1]
            logits = tf.tensor_scatter_nd_update(  # never write padding or <unk>
                tf.transpose(logits), [[PAD_ID], [UNK_ID]], tf.fill([2, batch], -1e9))
            logits = tf.transpose(logits)
            if temperature > 0:
                noise = tf.random.stateless_uniform(tf.shape(logits), tf.stack([seed, tf.cast(i, tf.int64)]),
                                                    minval=1e-20, maxval=1.0)
                logits = logits / temperature - tf.math.log(-tf.math.log(noise))  # Gumbel-max sampling
            token = tf.where(finished, PAD_ID, tf.argmax(logits, axis=-1, output_type=tf.int32))
            tokens = tokens.write(i, token)
            weights = weights.write(i, attention)
            finished = finished | tf.equal(token, END_ID)
            if tf.reduce_all(finished):
                break
        return tf.transpose(tokens.stack()), tf.transpose(weights.stack(), [1, 0, 2])

    def _beam_loop(self, source, beam_size, max_length, alpha):
        memory, states, mask = self._encode(source)
        batch, k = tf.shape(source)[0], beam_size
        tile = lambda t: tf.repeat(t, k, axis=0)  # noqa: E731  (B, ...) -> (B*K, ...), beams of a sentence adjacent
        memory, mask, states = tile(memory), tile(mask), [tile(s) for s in states]
        vocab = self.model.step.output_shape[0][-1]
        # Only the first beam is alive at the start, so the first step does not pick k copies of one word.
        scores = tf.concat([tf.zeros([batch, 1]), tf.fill([batch, k - 1], -1e9)], axis=1)
        finished = tf.zeros([batch, k], tf.bool)
        lengths = tf.zeros([batch, k])
        sequences = tf.zeros([batch, k, max_length], tf.int32)
        token = tf.fill([batch * k], START_ID)
        positions = tf.range(max_length)
        banned = tf.reduce_any(tf.one_hot([PAD_ID, UNK_ID], vocab, on_value=True, off_value=False), axis=0)
        carry_on = tf.where(tf.range(vocab) == PAD_ID, 0.0, -1e9)  # a finished beam's only extension
        for i in tf.range(max_length):
            logits, *rest = self.model.step([token, *states, memory, mask], training=False)
            states = list(rest[:-1])
            logp = tf.nn.log_softmax(tf.where(banned[None, :], -1e9, logits))
            logp = tf.reshape(logp, [batch, k, vocab])
            logp = tf.where(finished[:, :, None], carry_on[None, None, :], logp)
            total = tf.reshape(scores[:, :, None] + logp, [batch, k * vocab])
            scores, index = tf.math.top_k(total, k)
            beam, token_bk = index // vocab, index % vocab
            states = [tf.ensure_shape(tf.reshape(tf.gather(tf.reshape(s, [batch, k, -1]), beam, batch_dims=1),
                                                 [batch * k, -1]), s.shape) for s in states]
            was_finished = tf.gather(finished, beam, batch_dims=1)
            lengths = tf.gather(lengths, beam, batch_dims=1) + tf.where(was_finished, 0.0, 1.0)
            sequences = tf.gather(sequences, beam, batch_dims=1)
            sequences = tf.where(positions[None, None, :] == i, token_bk[:, :, None], sequences)
            finished = was_finished | tf.equal(token_bk, END_ID)
            token = tf.reshape(token_bk, [batch * k])
            if tf.reduce_all(finished):
                break
        penalty = tf.pow((5.0 + lengths) / 6.0, alpha)
        best = tf.argmax(scores / penalty - tf.where(finished, 0.0, 1e6), axis=1, output_type=tf.int32)
        return tf.gather(sequences, best, batch_dims=1)

    def greedy(self, source: np.ndarray, max_length: int, temperature: float = 0.0, seed: int = 0):
        """(tokens (B, L), attention weights (B, L, S)); ``temperature`` > 0 samples instead."""
        tokens, weights = self.greedy_loop(tf.constant(source, tf.int32), tf.constant(int(max_length)),
                                       tf.constant(float(temperature)), tf.constant(int(seed), tf.int64))
        return tokens.numpy(), weights.numpy()

    def beam(self, source: np.ndarray, beam_size: int, max_length: int, alpha: float = 0.6) -> np.ndarray:
        return self.beam_loop(tf.constant(source, tf.int32), tf.constant(int(beam_size)), tf.constant(int(max_length)),
                          tf.constant(float(alpha))).numpy()

    def attention(self, source: np.ndarray, outputs: list[list[int]]) -> np.ndarray:
        """Attention weights (B, L, S) of given translations (ids without ``<end>``), found by feeding
        each one back through the step model (teacher forcing): for beam-search outputs, whose
        search keeps no weights. Row t is the attention while writing output t (the last: ``<end>``)."""
        memory, states, mask = self._encode(tf.constant(source, tf.int32))
        length = max(map(len, outputs)) + 1
        inputs = np.full((len(outputs), length), PAD_ID, np.int32)
        for i, out in enumerate(outputs):
            inputs[i, : len(out) + 1] = [START_ID, *out]
        weights = []
        for t in range(length):  # a few eager steps for a few sentences: not worth compiling
            *rest, attention = self.model.step([tf.constant(inputs[:, t]), *states, memory, mask], training=False)
            states = rest[1:]
            weights.append(attention)
        return np.stack(weights, axis=1)


def strip_output(ids) -> list[int]:
    """The ids before the first ``<end>``, without padding."""
    out = []
    for i in np.asarray(ids).tolist():
        if i == END_ID:
            break
        if i != PAD_ID:
            out.append(i)
    return out
