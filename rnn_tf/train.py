"""Train a text generator: corpus -> vocabulary -> datasets -> model -> fit with callbacks -> run folder.

``train_textgen`` starts a new run or resumes one. Resuming restores the weights, the optimizer state
(its step counter, RMSprop's moving averages, and so the learning-rate schedule), the epoch counter,
the vocabulary and the config, and appends to the same history, so a run stopped after epoch 3 and
resumed to epoch 5 reads exactly like a run trained to epoch 5.
"""

from __future__ import annotations

import secrets
import sys
import warnings
from dataclasses import dataclass

import keras
import numpy as np

from rnn_tf.callbacks import RunCheckpoint, SampleText, language_model_columns, out_of_patience, rng_variables
from rnn_tf.config import TextgenConfig
from rnn_tf.corpora import join_documents, load_corpus, split_documents
from rnn_tf.datasets import language_model_dataset, lm_windows
from rnn_tf.errors import UserError
from rnn_tf.models.fast_rnn import whole_step_jit
from rnn_tf.models.language_model import LanguageModel, build_language_model
from rnn_tf.runs import RunDir
from rnn_tf.sampling import Sampler
from rnn_tf.vocab import Vocabulary


@dataclass
class TextgenData:
    vocab: Vocabulary
    train_ids: np.ndarray
    val_ids: np.ndarray | None
    default_prime: str


@dataclass
class TrainResult:
    run_dir: str
    config: TextgenConfig
    epochs_done: int
    best_epoch: int | None
    best_val_loss: float | None
    stopped_on_nan: bool
    history: list[dict]


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


class DenseGradients:
    """Optimizer mixin: the embedding's sparse gradient is made dense before the update.

    Keras's sparse path fails with an index error instead of producing NaN once a diverging
    run's gradients stop being finite, which would keep ``TerminateOnNaN`` from stopping it cleanly.
    A dense gradient of a (vocabulary x embedding) matrix is cheap at these sizes.
    """

    def apply(self, grads, trainable_variables=None):
        import tensorflow as tf

        grads = [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in grads]
        return super().apply(grads, trainable_variables)


class RMSprop(DenseGradients, keras.optimizers.RMSprop):
    pass


class Adam(DenseGradients, keras.optimizers.Adam):
    pass


def build_model(cfg: TextgenConfig, vocab_size: int, steps_per_epoch: int | None = None) -> LanguageModel:
    """The factory call plus the optimizer and loss: RMSprop with global-norm gradient clipping."""
    lm = build_language_model(
        vocab_size, cfg.cell, cfg.units, cfg.layers, cfg.embedding_dim, cfg.dropout, cfg.rnn_implementation
    )
    learning_rate = cfg.learning_rate
    if cfg.lr_decay != 1.0 and steps_per_epoch:
        # A function of the optimizer's step counter, which is saved with the weights: a resumed run
        # continues the same schedule.
        learning_rate = keras.optimizers.schedules.ExponentialDecay(
            cfg.learning_rate, decay_steps=steps_per_epoch, decay_rate=cfg.lr_decay, staircase=True
        )
    optimizer = RMSprop(
        learning_rate=learning_rate, global_clipnorm=cfg.clipnorm or None
    )
    lm.training.compile(
        optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=whole_step_jit(lm.training),  # fixed-shape windows: one compile for the whole run
    )
    return lm


def steps_for(cfg: TextgenConfig, n_train_ids: int) -> int:
    if cfg.steps_per_epoch:
        return cfg.steps_per_epoch
    n_windows = (n_train_ids - 1) // cfg.seq_len
    if n_windows < cfg.batch_size:
        raise UserError(
            f"the training text fills {n_windows} windows, fewer than one batch of {cfg.batch_size}: "
            "use a smaller --batch-size or --seq-len, or a longer corpus"
        )
    return n_windows // cfg.batch_size


def train_textgen(
    run_dir: str,
    settings: dict | None = None,
    *,
    resume: bool = False,
    overwrite: bool = False,
    verbose: int = 1,
    stream=None,
) -> TrainResult:
    """Train a new run in ``run_dir`` (``settings`` are TextgenConfig fields), or ``resume`` one.

    Every input is checked before anything in ``run_dir`` is written or removed.
    """
    stream = stream or sys.stdout
    run = RunDir(run_dir)
    cfg, state, initial_epoch = open_run(run, TextgenConfig, settings, resume, overwrite)
    if resume:
        data = prepare_textgen_data(cfg, Vocabulary.load(run.vocab))
    else:
        data = prepare_textgen_data(cfg)
        if cfg.prime is None:
            cfg.prime = data.default_prime

    steps = steps_for(cfg, len(data.train_ids))
    # Seeds Python, NumPy and TensorFlow: weight initialisation (and dropout) follow from cfg.seed.
    keras.utils.set_random_seed(cfg.seed)
    lm = build_model(cfg, len(data.vocab), steps)

    if resume:
        restore_checkpoint(run, lm.training, initial_epoch, stream)
        run.write_json(run.config, cfg.to_dict())  # the new --epochs (and sample settings)
    else:
        run.prepare_new(overwrite)
        run.write_json(run.config, cfg.to_dict())
        data.vocab.save(run.vocab)

    # Batch k depends only on (seed, k): resuming at the saved optimizer step replays the same stream.
    start_step = int(lm.training.optimizer.iterations.numpy())
    train_ds = language_model_dataset(
        data.train_ids, cfg.seq_len, cfg.batch_size, seed=cfg.seed, start_step=start_step
    )
    val_ds = None
    if data.val_ids is not None:
        val_ds = language_model_dataset(
            data.val_ids, cfg.seq_len, cfg.batch_size, shuffle=False, repeat=False
        )
    checkpoint = RunCheckpoint(run, state.get("best_val_loss"), state.get("best_epoch"), stream=stream,
                               columns=language_model_columns, patience=cfg.patience)
    sampler = Sampler(lm, data.vocab)
    callbacks = [
        keras.callbacks.TerminateOnNaN(),
        SampleText(sampler, run, cfg.prime, cfg.sample_length, cfg.temperatures, cfg.seed, stream=stream),
        checkpoint,
    ]
    print(
        f"training {cfg.layers}x{cfg.units} {cfg.cell} on {cfg.corpus}: {len(data.train_ids):,} training and "
        f"{0 if data.val_ids is None else len(data.val_ids):,} held-out {cfg.level}s, vocabulary "
        f"{len(data.vocab)}, {steps} steps per epoch, epochs {initial_epoch + 1}..{cfg.epochs}, "
        f"run folder '{run_dir}'",
        file=stream, flush=True,
    )
    lm.training.fit(
        train_ds,
        epochs=cfg.epochs,
        initial_epoch=initial_epoch,
        steps_per_epoch=steps,
        validation_data=val_ds,
        validation_steps=cfg.val_steps,
        callbacks=callbacks,
        verbose=verbose,
        shuffle=False,  # the dataset does its own, resumable shuffling
    )
    final = run.read_state()
    return TrainResult(
        run_dir, cfg, int(final["epoch"]), final.get("best_epoch"), final.get("best_val_loss"),
        checkpoint.stopped_on_nan, run.read_history(),
    )


def open_run(run: RunDir, config_cls, settings: dict | None, resume: bool, overwrite: bool):
    """Check that a run may start (or resume) in ``run``; returns (config, state, epochs done).

    New run: the config is ``settings`` over the defaults, with a random seed when none is given.
    Resume: the saved config, where ``settings`` may only change ``config_cls.RESUMABLE``.
    Writes nothing, so a refusal leaves the folder as it was.
    """
    settings = {k: v for k, v in (settings or {}).items() if v is not None}
    if resume and overwrite:
        raise UserError("--resume and --overwrite contradict each other: pass one of them")
    if not resume:
        cfg = config_cls(**settings).validate()
        run.check_new(overwrite)
        if cfg.seed is None:
            cfg.seed = secrets.randbelow(2**31)
        return cfg, {"best_val_loss": None, "best_epoch": None}, 0
    cfg = config_cls.from_dict(run.read_config()).resumed_with(settings)
    state = run.read_state()
    done = int(state["epoch"])
    if done < 1:
        raise UserError(f"run '{run.path}' has no completed epoch to resume: start it again with --overwrite")
    if cfg.epochs <= done:
        raise UserError(
            f"run '{run.path}' has already trained {done} epochs: pass --epochs N with N above {done} "
            "to train further"
        )
    if out_of_patience(cfg.patience, done, state.get("best_epoch")):
        raise UserError(
            f"run '{run.path}' stopped early at epoch {done} ({done - state['best_epoch']} epochs after its best, "
            f"epoch {state['best_epoch']}): resume with a larger --patience, or --patience 0 to train on"
        )
    return cfg, state, done


def restore_checkpoint(run: RunDir, model: keras.Model, epoch: int, stream=None) -> None:
    """Load weights *and optimizer state* of ``epoch`` and drop any history written after it."""
    model.optimizer.build(model.trainable_variables)  # without this the optimizer state is not loaded
    load_weights(model, run.checkpoint(epoch))
    saved_rng = run.read_state().get("rng_states") or []
    generators = rng_variables(model)
    if len(saved_rng) == len(generators):  # dropout's generators continue where they stopped
        for variable, value in zip(generators, saved_rng):
            variable.assign(value)
    run.truncate_history(epoch)
    print(f"resuming '{run.path}' after epoch {epoch} (optimizer step "
          f"{int(model.optimizer.iterations.numpy())})", file=stream or sys.stdout)


def load_weights(model: keras.Model, path: str) -> None:
    """``model.load_weights`` with a clear error when the file does not fit the model.

    Keras only warns when it skips part of a file (skipped layers keep their random initial weights,
    a skipped optimizer its fresh state); a half-loaded model is an error here, like any other
    mismatch, so a resumed run never silently restarts its optimizer.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.load_weights(path)
            skipped = [w for w in caught if str(w.message).startswith("Skipping")]
            if skipped:
                raise ValueError(str(skipped[0].message))
        except (ValueError, KeyError, OSError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(
                f"weights '{path}' do not fit the model described by config.json ({first[:160]}): "
                "use weights saved by this run"
            ) from None
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def load_textgen_run(run_dir: str, weights: str = "best") -> tuple[TextgenConfig, Vocabulary, LanguageModel]:
    """Everything needed to sample from or evaluate a run, from the run folder alone."""
    run = RunDir(run_dir)
    cfg = TextgenConfig.from_dict(run.read_config())
    vocab = Vocabulary.load(run.vocab)
    path = run.weights(weights)
    lm = build_language_model(len(vocab), cfg.cell, cfg.units, cfg.layers, cfg.embedding_dim, cfg.dropout,
                              cfg.rnn_implementation)
    load_weights(lm.training, path)
    return cfg, vocab, lm
