"""Text generation: corpus -> vocabulary -> datasets -> language model -> the training lifecycle ->
run folder; and a run's held-out loss in nats, bits per character and perplexity.

``train`` starts a new run or resumes one (``fitting`` holds the lifecycle every task shares); after
every epoch ``SampleText`` prints samples at several temperatures. ``evaluate_textgen`` predicts every
held-out token after the first exactly once (the last partial window is padded and its padding
weighted 0), so its figures are exact averages over the text; each window starts from a zero state,
as in training without ``--stateful``.

``--stateful`` (truncated backpropagation through time): the training text is cut into one contiguous
track per batch row (``datasets.track_dataset``), and the training view carries each row's recurrent
states from one batch to the next (``models.language_model.CarriedStateModel``), reset where a track
starts over. The carried states are variables of the model, saved in every checkpoint, so ``--resume``
continues exactly. Validation and evaluation still read independent windows from a zero state (the
same measure for both modes) and leave the carried states untouched.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from rnn_tf.callbacks import SampleText, bits, language_model_columns, perplexity
from rnn_tf.corpora import join_documents, load_corpus, split_documents
from rnn_tf.datasets import evaluation_dataset, language_model_dataset, lm_windows, track_dataset, track_shape
from rnn_tf.errors import UserError
from rnn_tf.fitting import (
    RMSprop, TrainResult, begin_run, check_model_fits, fit_run, load_weights, open_for_reading, open_run,
)
from rnn_tf.locks import locked_run
from rnn_tf.models.fast_rnn import whole_step_jit
from rnn_tf.models.language_model import LanguageModel, build_language_model
from rnn_tf.runs import RunDir
from rnn_tf.sampling import Sampler
from rnn_tf.tasks.textgen import TASK, TextgenConfig
from rnn_tf.vocab import Vocabulary


@dataclass
class TextgenData:
    vocab: Vocabulary
    train_ids: np.ndarray
    val_ids: np.ndarray | None
    default_prime: str


def prepare_textgen_data(cfg: TextgenConfig, vocab: Vocabulary | None = None) -> TextgenData:
    """Load and split the corpus, build the vocabulary from the training documents only (unless one
    is given), and encode both splits as int32 ids. Checks that both splits fill at least one window."""
    train_docs, val_docs = split_documents(load_corpus(cfg.corpus), cfg.val_fraction)
    train_text = join_documents(train_docs)
    if vocab is None:
        vocab = Vocabulary.build(train_text, cfg.level, cfg.max_vocab)
    elif vocab.level != cfg.level:
        raise UserError(f"vocab.json is {vocab.level}-level but config.json says {cfg.level}: the run is damaged")
    train_ids = vocab.encode(train_text)
    lm_windows(train_ids, cfg.seq_len)  # raises a clear error when the corpus is too short
    if cfg.stateful:
        track_shape(len(train_ids), cfg.seq_len, cfg.batch_size)  # every track fills a window
    val_ids = None
    if val_docs:
        val_ids = vocab.encode(join_documents(val_docs))
        if (len(val_ids) - 1) // cfg.seq_len < 1:
            raise UserError(
                f"the held-out documents have {len(val_ids)} tokens, fewer than one window of "
                f"{cfg.seq_len + 1}: use a longer corpus, a smaller --seq-len or a larger validation share"
            )
    first = train_docs[0].text.lstrip()
    prime = first[: first.find("\n")] if 0 < first.find("\n") <= 80 else first[:40]
    return TextgenData(vocab, train_ids, val_ids, prime)


def make_language_model(cfg: TextgenConfig, vocab_size: int) -> LanguageModel:
    """The factory call for a config: the same model for training, sampling and evaluation."""
    return build_language_model(vocab_size, cfg.cell, cfg.units, cfg.layers, cfg.embedding_dim, cfg.dropout,
                                cfg.rnn_implementation, cfg.batch_size if cfg.stateful else None)


def build_model(cfg: TextgenConfig, vocab_size: int, steps_per_epoch: int | None = None) -> LanguageModel:
    """The factory call plus the optimizer and loss: RMSprop with global-norm gradient clipping."""
    lm = make_language_model(cfg, vocab_size)
    learning_rate = cfg.learning_rate
    if cfg.lr_decay != 1.0 and steps_per_epoch:
        # A function of the optimizer's step counter, which is saved with the weights: a resumed run
        # continues the same schedule.
        learning_rate = keras.optimizers.schedules.ExponentialDecay(
            cfg.learning_rate, decay_steps=steps_per_epoch, decay_rate=cfg.lr_decay, staircase=True
        )
    lm.training.compile(
        # rho 0.99 (PyTorch's default; Keras's is 0.9): a steadier step size, 3.20 against 3.26 bits/char
        # after 600 steps on sotu (scripts/init_ablation.py)
        optimizer=RMSprop(learning_rate=learning_rate, rho=0.99, global_clipnorm=cfg.clipnorm or None),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=whole_step_jit(lm.training),  # fixed-shape windows: one compile for the whole run
    )
    return lm


def steps_for(cfg: TextgenConfig, n_train_ids: int) -> int:
    """Batches per epoch: ``--steps-per-epoch``, or one pass over the training windows."""
    if cfg.steps_per_epoch:
        return cfg.steps_per_epoch
    if cfg.stateful:  # one pass: every track's windows once
        return track_shape(n_train_ids, cfg.seq_len, cfg.batch_size)[1]
    n_windows = (n_train_ids - 1) // cfg.seq_len
    if n_windows < cfg.batch_size:
        raise UserError(
            f"the training text fills {n_windows} windows, fewer than one batch of {cfg.batch_size}: "
            "use a smaller --batch-size or --seq-len, or a longer corpus"
        )
    return n_windows // cfg.batch_size


@locked_run
def train(run_dir: str, settings: dict | None = None, *, resume: bool = False, overwrite: bool = False,
          verbose: int = 1, stream=None) -> TrainResult:
    """Train a new run in ``run_dir`` (``settings`` are TextgenConfig fields), or ``resume`` one.

    Every input is checked before anything in ``run_dir`` is written or removed.
    """
    stream = stream or sys.stdout
    run = RunDir(run_dir)
    cfg, state, done = open_run(run, TextgenConfig, settings, resume, overwrite)
    if resume:
        data = prepare_textgen_data(cfg, run.load_vocab())
    else:
        data = prepare_textgen_data(cfg)
        if cfg.prime is None:
            cfg.prime = data.default_prime

    steps = steps_for(cfg, len(data.train_ids))
    # Seeds Python, NumPy and TensorFlow: weight initialisation (and dropout) follow from cfg.seed.
    check_model_fits(cfg, len(data.vocab), len(data.vocab), optimizer_slots=1)  # RMSprop: one slot
    keras.utils.set_random_seed(cfg.seed)
    lm = build_model(cfg, len(data.vocab), steps)
    begin_run(run, cfg, lm.training, done, resume, overwrite, lambda: data.vocab.save(run.vocab), stream)

    # Batch k depends only on (seed, k): resuming at the saved optimizer step replays the same stream.
    start_step = int(lm.training.optimizer.iterations.numpy())
    train_ds = training_stream(cfg, data.train_ids, start_step)
    val_ds = None
    if data.val_ids is not None:
        val_ds = language_model_dataset(data.val_ids, cfg.seq_len, cfg.batch_size, shuffle=False, repeat=False)
    print(
        f"training {cfg.layers}x{cfg.units} {cfg.cell} on {cfg.corpus}: {len(data.train_ids):,} training and "
        f"{0 if data.val_ids is None else len(data.val_ids):,} held-out {cfg.level}s, vocabulary "
        f"{len(data.vocab)}, {steps} steps per epoch{_tracks(cfg, len(data.train_ids))}, "
        f"epochs {done + 1}..{cfg.epochs}, "
        f"run folder '{run_dir}'",
        file=stream, flush=True,
    )
    samples = SampleText(Sampler(lm, data.vocab), run, cfg.prime, cfg.sample_length, cfg.temperatures, cfg.seed,
                         stream=stream)
    return fit_run(run, cfg, lm.training, state, done, train_ds, steps=steps, validation_data=val_ds,
                   validation_steps=cfg.val_steps, callbacks=[samples], columns=language_model_columns, outputs=len(data.vocab),
                   verbose=verbose, stream=stream, load_best=False)


def training_stream(cfg: TextgenConfig, train_ids: np.ndarray, start_step: int = 0) -> tf.data.Dataset:
    """Batch k of training, a function of (seed, k): shuffled windows, or with ``--stateful`` each
    row's track in order."""
    if cfg.stateful:
        return track_dataset(train_ids, cfg.seq_len, cfg.batch_size, start_step=start_step)
    return language_model_dataset(train_ids, cfg.seq_len, cfg.batch_size, seed=cfg.seed, start_step=start_step)


def _tracks(cfg: TextgenConfig, n_train_ids: int) -> str:
    if not cfg.stateful:
        return ""
    windows = track_shape(n_train_ids, cfg.seq_len, cfg.batch_size)[1]
    return f", states carried along {cfg.batch_size} tracks of {windows} windows"


train_textgen = train  # the name the Python API has always had


def load_textgen_run(run_dir: str, weights: str = "best") -> tuple[TextgenConfig, Vocabulary, LanguageModel]:
    """Everything needed to sample from or evaluate a run, from the run folder alone."""
    run = RunDir(run_dir)
    cfg, path = open_for_reading(run, TextgenConfig, weights)
    vocab = run.load_vocab()
    lm = make_language_model(cfg, len(vocab))
    load_weights(lm.training, path)
    return cfg, vocab, lm


# --- evaluation ------------------------------------------------------------------------------------
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


# --- the search ------------------------------------------------------------------------------------
def prepare_search(cfg: TextgenConfig):
    """What every trial of a search shares: the data, prepared once, and the compiled factory."""
    from rnn_tf.search.data import SearchData, fingerprint

    data = prepare_textgen_data(cfg)
    steps = steps_for(cfg, len(data.train_ids))

    def fit_kwargs():
        val_ds = None if data.val_ids is None else language_model_dataset(
            data.val_ids, cfg.seq_len, cfg.batch_size, shuffle=False, repeat=False)
        return dict(x=training_stream(cfg, data.train_ids), steps_per_epoch=steps, validation_data=val_ds,
                    validation_steps=cfg.val_steps)

    reports = TASK.reported_metrics()
    return SearchData(
        cfg, lambda c: build_model(c, len(data.vocab), steps).training, fit_kwargs,
        reports if data.val_ids is not None else tuple(r for r in reports if not r.startswith("val_")),
        f"{len(data.train_ids):,} training {cfg.level}s of {cfg.corpus}, {steps} steps per epoch",
        fingerprint(data.train_ids, data.val_ids, len(data.vocab)))
