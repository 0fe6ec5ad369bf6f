"""Generate text with the one-step model, in one compiled TensorFlow loop.

The prime is fed once, one token per step, to warm up the recurrent state; then every step turns the
last token and the state into logits and draws the next token. Nothing is re-fed: each generated
character costs one cell step, not a pass over a whole window.

Drawing a token:
  * temperature T divides the logits (T < 1 sharpens, T > 1 flattens); each stream has its own T, so
    several temperatures and several samples run as one batch;
  * top-k keeps the k most likely tokens, top-p (nucleus) the smallest set whose probability is >= p;
  * the draw itself inverts the cumulative distribution: the first token whose cumulative probability
    reaches a uniform number u is an exact sample from softmax(logits); unlike
    ``tf.random.categorical`` it compiles with XLA, and it needs one random number per stream and step
    (the Gumbel-max trick needs one per token and two logarithms of each). u comes
    from a stateless generator keyed on (seed, step), so a seed reproduces a sample exactly.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from rnn_tf.config import check_temperatures
from rnn_tf.errors import UserError
from rnn_tf.models.language_model import LanguageModel
from rnn_tf.vocab import PAD_ID, UNK_ID, Vocabulary

DEFAULT_TEMPERATURES = (0.2, 0.5, 1.0, 1.2)


@dataclass(frozen=True)
class Sample:
    temperature: float
    text: str


def filter_logits(logits: tf.Tensor, top_k: tf.Tensor, top_p: tf.Tensor) -> tf.Tensor:
    """Set every logit outside the top-k / top-p set to -inf (k = 0 and p = 1 switch them off)."""
    sorted_logits = tf.sort(logits, axis=-1, direction="DESCENDING")
    vocab = tf.shape(logits)[-1]
    k = tf.where(top_k > 0, tf.minimum(top_k, vocab), vocab)
    kth = tf.gather(sorted_logits, tf.reshape(k - 1, [1]), axis=1)
    probs = tf.nn.softmax(sorted_logits, axis=-1)
    # A token is kept when the probability mass *before* it is still below p (the first always is).
    before = tf.cumsum(probs, axis=-1, exclusive=True)
    n_kept = tf.reduce_sum(tf.cast(before < top_p, tf.int32), axis=-1, keepdims=True)
    pth = tf.gather(sorted_logits, tf.maximum(n_kept, 1) - 1, batch_dims=1)
    threshold = tf.maximum(kth, pth)
    return tf.where(logits < threshold, tf.constant(-np.inf, logits.dtype), logits)


def draw(logits: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """One token per row, an exact sample from softmax(logits), by inverting the cumulative
    distribution: one uniform number per row (not one per token, as the Gumbel-max trick needs),
    so the cost barely grows with the vocabulary. u lies in (0, 1], so a token of probability 0
    (banned, or outside top-k / top-p) is never the first whose cumulative mass reaches u."""
    weights = tf.exp(logits - tf.reduce_max(logits, axis=-1, keepdims=True))
    cumulative = tf.cumsum(weights, axis=-1)
    u = 1.0 - tf.random.stateless_uniform([tf.shape(logits)[0], 1], seed=seed)
    return tf.reduce_sum(tf.cast(cumulative < u * cumulative[:, -1:], tf.int32), axis=-1)


class Sampler:
    """Draws text from a language model's step view. Build one per model and reuse it: the compiled
    loop is cached per (streams, prime length, sample length) and reads the model's current weights."""

    def __init__(self, model: LanguageModel, vocab: Vocabulary, jit_compile: bool = True):
        self.model = model
        self.vocab = vocab
        self._loop = tf.function(self._generate_ids, jit_compile=jit_compile, reduce_retracing=False)

    def _generate_ids(self, prime, length, temperatures, top_k, top_p, seed, filtered):
        step = self.model.step
        batch = tf.shape(prime)[0]
        states = [tf.zeros((batch, size)) for size in self.model.state_sizes]
        # Warm up the state on all prime tokens but the last; the last is the first input below.
        for i in tf.range(tf.shape(prime)[1] - 1):
            outputs = step([prime[:, i], *states], training=False)
            states = list(outputs[1:])
        token = prime[:, -1]
        tokens = tf.TensorArray(tf.int32, size=length)
        vocab_size = self.model.step.output_shape[0][-1]
        # Never draw padding or unknown: their logits are forced to -inf.
        banned = tf.one_hot([PAD_ID, UNK_ID], vocab_size, on_value=True, off_value=False)
        banned = tf.reduce_any(banned, axis=0)[None, :]
        for i in tf.range(length):
            outputs = step([token, *states], training=False)
            logits, states = outputs[0], list(outputs[1:])
            logits = tf.where(banned, tf.constant(-np.inf, logits.dtype), logits)
            logits = logits / temperatures[:, None]
            if filtered:  # a Python flag, so the loop without top-k / top-p has no sort and no branch
                logits = filter_logits(logits, top_k, top_p)
            token = draw(logits, tf.stack([seed, tf.cast(i, tf.int64)]))
            tokens = tokens.write(i, token)
        return tf.transpose(tokens.stack())

    def generate(
        self,
        prime: str,
        length: int = 300,
        temperatures: tuple[float, ...] | list[float] = (1.0,),
        num_samples: int = 1,
        top_k: int = 0,
        top_p: float = 1.0,
        seed: int | None = None,
    ) -> list[Sample]:
        """``num_samples`` samples at each temperature, all drawn in one batch, prime excluded."""
        temperatures = [float(t) for t in temperatures]
        check_sampling_options(temperatures, length, num_samples, top_k, top_p)
        if not prime:
            raise UserError("the prime is empty: give --prime some text to start from")
        prime_ids = self.vocab.encode(prime, warn=True, what="prime")
        streams = [t for t in temperatures for _ in range(num_samples)]
        seed = secrets.randbits(62) if seed is None else int(seed)
        ids = self._loop(
            tf.constant(np.tile(prime_ids, (len(streams), 1))),
            int(length),
            tf.constant(streams, tf.float32),
            tf.constant(top_k, tf.int32),
            tf.constant(top_p, tf.float32),
            tf.constant(seed, tf.int64),
            top_k > 0 or top_p < 1.0,
        ).numpy()
        return [Sample(t, self.vocab.decode(row)) for t, row in zip(streams, ids)]


def check_sampling_options(temperatures, length, num_samples, top_k, top_p) -> None:
    check_temperatures(temperatures)
    if length < 1:
        raise UserError(f"length {length} is too short: use --length 1 or more")
    if num_samples < 1:
        raise UserError(f"{num_samples} samples is too few: use --num-samples 1 or more")
    if top_k < 0:
        raise UserError(f"top-k {top_k} is negative: use 0 (off) or a positive number")
    if not 0.0 < top_p <= 1.0:
        raise UserError(f"top-p {top_p} is out of range: use a number in (0, 1]")
