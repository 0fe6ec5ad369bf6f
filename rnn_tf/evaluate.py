"""Held-out loss of a text generator, in nats, bits per character and perplexity.

Every token after the first is predicted exactly once (the last partial window is padded and its
padding weighted 0), so the figures are exact averages over the text, not over a sample of windows.
Each window starts from a zero state, as in training.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from rnn_tf.callbacks import bits, perplexity
from rnn_tf.corpora import join_documents, load_corpus, split_documents
from rnn_tf.datasets import evaluation_dataset
from rnn_tf.errors import UserError
from rnn_tf.train import load_textgen_run


def evaluate_textgen(run_dir: str, weights: str = "best", corpus: str | None = None,
                     batch_size: int = 64) -> dict:
    """Loss on the run's held-out documents, or on every document of ``corpus`` when given."""
    cfg, vocab, lm = load_textgen_run(run_dir, weights)
    if corpus is None:
        _, docs = split_documents(load_corpus(cfg.corpus), cfg.val_fraction)
        if not docs:
            raise UserError("this run held out no documents (validation fraction 0): pass --corpus to evaluate on")
        source = f"held-out documents of {cfg.corpus}"
    else:
        docs = load_corpus(corpus)
        source = corpus
    ids = vocab.encode(join_documents(docs), warn=True, what=source)
    total, count = _summed_loss(lm.training, evaluation_dataset(ids, cfg.seq_len, batch_size))
    loss = total / count
    return {
        "loss": loss,
        "bpc": bits(loss),
        "perplexity": perplexity(loss),
        "characters": int(count) if vocab.level == "char" else len(join_documents(docs)),
        "tokens": int(count),
        "level": vocab.level,
        "source": source,
    }


def _summed_loss(model: keras.Model, dataset: tf.data.Dataset) -> tuple[float, float]:
    @tf.function
    def batch_sums(x, y, w):
        logits = model(x, training=False)
        losses = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
        return tf.reduce_sum(losses * w), tf.reduce_sum(w)

    total = count = 0.0
    for x, y, w in dataset:
        s, n = batch_sums(x, y, w)
        total += float(s)
        count += float(n)
    if not count or not math.isfinite(total):
        raise UserError("evaluation produced no finite loss: the text is empty or the weights are broken")
    return total, count
