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
from rnn_tf.datasets import (
    evaluation_dataset, item_dataset, item_rows, language_model_dataset, lm_windows, track_dataset, track_shape,
)
from rnn_tf.errors import UserError
from rnn_tf.items import as_documents, load_items, split_items
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
    train_ids: np.ndarray | None  # one stream of ids (None in line mode)
    val_ids: np.ndarray | None
    default_prime: str
    # conditioned stream: the label id of every token of train_ids / val_ids
    train_labels: np.ndarray | None = None
    val_labels: np.ndarray | None = None
    # line mode: item_rows of the training and held-out items, and each row's label id
    train_rows: np.ndarray | None = None
    val_rows: np.ndarray | None = None
    train_row_labels: np.ndarray | None = None
    val_row_labels: np.ndarray | None = None
    train_texts: frozenset[str] = frozenset()  # line mode: the training items, for --novel
    cut: int = 0  # line mode: items cut to --seq-len tokens

    @property
    def n_train(self) -> int:
        """Training tokens (line mode: training items)."""
        return len(self.train_rows) if self.train_rows is not None else len(self.train_ids)


def label_ids_of(items, cfg: TextgenConfig) -> np.ndarray | None:
    """The label id of every item (None unconditioned); a label the run does not know is an error."""
    if cfg.condition_on is None:
        return None
    index = {label: i for i, label in enumerate(cfg.labels)}
    unknown = sorted({i.label for i in items} - set(index))
    if unknown:
        raise UserError(f"the corpus has labels the run was not trained with ({', '.join(unknown[:5])}): "
                        "it changed since; start a new run")
    return np.array([index[i.label] for i in items], np.int32)


def prepare_textgen_data(cfg: TextgenConfig, vocab: Vocabulary | None = None) -> TextgenData:
    """Load and split the corpus, build the vocabulary from the training documents only (unless one
    is given), and encode both splits as int32 ids. Checks that both splits fill at least one window.
    A new conditioned run's ``cfg.labels`` is set here (sorted), a resumed run's is checked."""
    if cfg.lines:
        return _prepare_lines(cfg, vocab)
    if cfg.condition_on is None:
        train_docs, val_docs = split_documents(load_corpus(cfg.corpus), cfg.val_fraction)
        doc_labels = None
    else:
        items = load_items(cfg.corpus, False, cfg.condition_on, cfg.text_column, cfg.label_column)
        if vocab is None:
            cfg.labels = sorted({i.label for i in items})
        labels = label_ids_of(items, cfg)
        train_docs, val_docs = split_documents(as_documents(items), cfg.val_fraction)
        doc_labels = [labels[: len(train_docs)], labels[len(train_docs):]]
    train_text = join_documents(train_docs)
    if vocab is None:
        vocab = Vocabulary.build(train_text, cfg.level, cfg.max_vocab)
    elif vocab.level != cfg.level:
        raise UserError(f"vocab.json is {vocab.level}-level but config.json says {cfg.level}: the run is damaged")
    train_ids, train_labels = _encode_documents(vocab, train_docs, None if doc_labels is None else doc_labels[0])
    lm_windows(train_ids, cfg.seq_len)  # raises a clear error when the corpus is too short
    if cfg.stateful:
        track_shape(len(train_ids), cfg.seq_len, cfg.batch_size)  # every track fills a window
    val_ids = val_labels = None
    if val_docs:
        val_ids, val_labels = _encode_documents(vocab, val_docs, None if doc_labels is None else doc_labels[1])
        if (len(val_ids) - 1) // cfg.seq_len < 1:
            raise UserError(
                f"the held-out documents have {len(val_ids)} tokens, fewer than one window of "
                f"{cfg.seq_len + 1}: use a longer corpus, a smaller --seq-len or a larger validation share"
            )
    first = train_docs[0].text.lstrip()
    prime = first[: first.find("\n")] if 0 < first.find("\n") <= 80 else first[:40]
    return TextgenData(vocab, train_ids, val_ids, prime, train_labels, val_labels)


def _encode_documents(vocab: Vocabulary, docs, labels) -> tuple[np.ndarray, np.ndarray | None]:
    """The ids of ``join_documents(docs)``; with ``labels`` (one id per document) also the label id of
    every token: a document's tokens, and the blank line before the next one, carry its label."""
    if labels is None:
        return vocab.encode(join_documents(docs)), None
    separator = vocab.encode("\n\n")
    parts, part_labels = [], []
    for n, (doc, label) in enumerate(zip(docs, labels)):
        ids = vocab.encode(doc.text.strip("\n"))
        if n < len(docs) - 1:
            ids = np.concatenate([ids, separator])
        parts.append(ids)
        part_labels.append(np.full(len(ids), label, np.int32))
    return np.concatenate(parts).astype(np.int32), np.concatenate(part_labels)


def _prepare_lines(cfg: TextgenConfig, vocab: Vocabulary | None) -> TextgenData:
    """Line mode: items held out whole (a seeded share of every label's), rows of start token, item,
    end token, the line break being both tokens."""
    items = load_items(cfg.corpus, True, cfg.condition_on, cfg.text_column, cfg.label_column)
    if cfg.condition_on is not None and vocab is None:
        cfg.labels = sorted({i.label for i in items})
    train_items, val_items = split_items(items, cfg.val_fraction, cfg.seed or 0)
    if vocab is None:
        vocab = Vocabulary.build("\n".join(["", *(i.text for i in train_items)]), cfg.level, cfg.max_vocab)
    elif vocab.level != cfg.level:
        raise UserError(f"vocab.json is {vocab.level}-level but config.json says {cfg.level}: the run is damaged")
    boundary = vocab.stoi.get("\n")
    if boundary is None:
        raise UserError("the vocabulary has no line break, line mode's start and end token: start a new run")
    train_rows, cut = item_rows([vocab.encode(i.text) for i in train_items], boundary, cfg.seq_len)
    val_rows = val_labels = None
    if val_items:
        val_rows, _ = item_rows([vocab.encode(i.text) for i in val_items], boundary, cfg.seq_len)
        val_labels = label_ids_of(val_items, cfg)
    if len(train_rows) < cfg.batch_size:
        raise UserError(f"{len(train_rows)} training lines are fewer than one batch of {cfg.batch_size}: use a "
                        "smaller --batch-size or more lines")
    return TextgenData(vocab, None, None, "", train_rows=train_rows, val_rows=val_rows,
                       train_row_labels=label_ids_of(train_items, cfg), val_row_labels=val_labels,
                       train_texts=frozenset(i.text for i in train_items), cut=cut)


def make_language_model(cfg: TextgenConfig, vocab_size: int) -> LanguageModel:
    """The factory call for a config: the same model for training, sampling and evaluation."""
    return build_language_model(vocab_size, cfg.cell, cfg.units, cfg.layers, cfg.embedding_dim, cfg.dropout,
                                cfg.rnn_implementation, cfg.batch_size if cfg.stateful else None,
                                num_labels=len(cfg.labels) if cfg.condition_on else 0,
                                condition_mode=cfg.condition_mode)


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
        # line mode weights padding 0: the mean over the real tokens, not over the padded batch
        loss=keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction="mean_with_sample_weight" if cfg.lines else "sum_over_batch_size"),
        jit_compile=whole_step_jit(lm.training),  # fixed-shape batches: one compile for the whole run
    )
    return lm


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
        data = prepare_textgen_data(cfg, run.load_vocab())
    else:
        data = prepare_textgen_data(cfg)
        if cfg.prime is None:
            cfg.prime = data.default_prime

    steps = steps_for(cfg, data.n_train)
    # Seeds Python, NumPy and TensorFlow: weight initialisation (and dropout) follow from cfg.seed.
    check_model_fits(cfg, len(data.vocab), len(data.vocab), optimizer_slots=1)  # RMSprop: one slot
    keras.utils.set_random_seed(cfg.seed)
    lm = build_model(cfg, len(data.vocab), steps)
    begin_run(run, cfg, lm.training, done, resume, overwrite, lambda: data.vocab.save(run.vocab), stream)

    # Batch k depends only on (seed, k): resuming at the saved optimizer step replays the same stream.
    start_step = int(lm.training.optimizer.iterations.numpy())
    train_ds = training_stream(cfg, data, start_step)
    val_ds = validation_stream(cfg, data)
    print(f"training {cfg.layers}x{cfg.units} {cfg.cell} on {cfg.corpus}: {_sizes(cfg, data)}, vocabulary "
          f"{len(data.vocab)}{_labels(cfg)}, {steps} steps per epoch{_tracks(cfg, data)}, epochs {done + 1}..{cfg.epochs}, "
          f"run folder '{run_dir}'", file=stream, flush=True)
    if data.cut:
        print(f"{data.cut:,} training lines are longer than --seq-len {cfg.seq_len} and were cut to their first "
              f"{cfg.seq_len} {cfg.level}s (a longer --seq-len keeps them whole)", file=stream, flush=True)
    samples = SampleText(Sampler(lm, data.vocab), run, cfg.prime, cfg.sample_length, cfg.temperatures, cfg.seed,
                         stream=stream, conditions=cfg.conditions, items=ITEMS_PER_EPOCH if cfg.lines else 0)
    return fit_run(run, cfg, lm.training, state, done, train_ds, steps=steps, validation_data=val_ds,
                   validation_steps=cfg.val_steps, callbacks=[samples], columns=language_model_columns, outputs=len(data.vocab),
                   verbose=verbose, stream=stream, load_best=False)


ITEMS_PER_EPOCH = 6  # line mode: items printed per temperature (and label) after every epoch


def training_stream(cfg: TextgenConfig, data: TextgenData, start_step: int = 0) -> tf.data.Dataset:
    """Batch k of training, a function of (seed, k): shuffled windows (with their labels when
    conditioned), whole items in line mode, or with ``--stateful`` each row's track in order."""
    if cfg.lines:
        return item_dataset(data.train_rows, cfg.batch_size, labels=data.train_row_labels, seed=cfg.seed,
                            start_step=start_step)
    if cfg.stateful:
        return track_dataset(data.train_ids, cfg.seq_len, cfg.batch_size, start_step=start_step)
    return language_model_dataset(data.train_ids, cfg.seq_len, cfg.batch_size, seed=cfg.seed, start_step=start_step,
                                  labels=data.train_labels)


def validation_stream(cfg: TextgenConfig, data: TextgenData) -> tf.data.Dataset | None:
    """The held-out windows (line mode: items) once, in order; None when nothing is held out."""
    if cfg.lines:
        return None if data.val_rows is None else item_dataset(data.val_rows, cfg.batch_size, train=False,
                                                                labels=data.val_row_labels)
    if data.val_ids is None:
        return None
    return language_model_dataset(data.val_ids, cfg.seq_len, cfg.batch_size, shuffle=False, repeat=False,
                                  labels=data.val_labels)


def _sizes(cfg: TextgenConfig, data: TextgenData) -> str:
    if cfg.lines:
        held = 0 if data.val_rows is None else len(data.val_rows)
        return f"{len(data.train_rows):,} training and {held:,} held-out lines"
    held = 0 if data.val_ids is None else len(data.val_ids)
    return f"{len(data.train_ids):,} training and {held:,} held-out {cfg.level}s"


def _labels(cfg: TextgenConfig) -> str:
    if not cfg.condition_on:
        return ""
    shown = ", ".join(cfg.labels[:6]) + (", ..." if len(cfg.labels) > 6 else "")
    return f", conditioned on {cfg.condition_on} ({len(cfg.labels)} labels: {shown})"


def _tracks(cfg: TextgenConfig, data: TextgenData) -> str:
    if not cfg.stateful:
        return ""
    windows = track_shape(len(data.train_ids), cfg.seq_len, cfg.batch_size)[1]
    return f", states carried along {cfg.batch_size} tracks of {windows} windows"


train_textgen = train  # the name the Python API has always had


def training_items(cfg: TextgenConfig) -> frozenset[str]:
    """Line mode: the text of every training item of a run (what ``generate --novel`` compares with)."""
    items = load_items(cfg.corpus, True, cfg.condition_on, cfg.text_column, cfg.label_column)
    return frozenset(i.text for i in split_items(items, cfg.val_fraction, cfg.seed or 0)[0])


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
    """Loss on the run's held-out documents (line mode: held-out lines), or on every document (line)
    of ``corpus`` when given. A conditioned run also reports each label's figures (``per_label``),
    each text scored under its own label."""
    cfg, vocab, lm = load_textgen_run(run_dir, weights)
    if cfg.lines:
        dataset, source, characters = _line_evaluation(cfg, vocab, corpus, batch_size)
    else:
        dataset, source, characters = _stream_evaluation(cfg, vocab, corpus, batch_size)
    total, count, groups = _summed_loss(lm.training, dataset)
    result = _figures(total, count, vocab.level)
    result.update(characters=characters if vocab.level != "char" else int(count), source=source)
    if cfg.condition_on:
        result["per_label"] = {cfg.labels[g]: _figures(t, n, vocab.level) for g, (t, n) in sorted(groups.items())}
    return result


def _figures(total: float, count: float, level: str) -> dict:
    loss = total / count
    return {"loss": loss, "bpc": bits(loss), "perplexity": perplexity(loss), "tokens": int(count), "level": level}


def _stream_evaluation(cfg: TextgenConfig, vocab: Vocabulary, corpus: str | None, batch_size: int):
    if cfg.condition_on:
        items = load_items(corpus or cfg.corpus, False, cfg.condition_on, cfg.text_column, cfg.label_column)
        docs, labels = as_documents(items), label_ids_of(items, cfg)
        if corpus is None:
            train_docs, docs = split_documents(docs, cfg.val_fraction)
            labels = labels[len(train_docs):]
    else:
        docs, labels = load_corpus(corpus or cfg.corpus), None
        if corpus is None:
            docs = split_documents(docs, cfg.val_fraction)[1]
    if not docs:
        raise UserError("this run held out no documents (validation fraction 0): pass --corpus to evaluate on")
    source = corpus or f"held-out documents of {cfg.corpus}"
    text = join_documents(docs)
    ids, token_labels = _encode_documents(vocab, docs, labels)
    vocab.encode(text, warn=True, what=source)  # says how much of the text is unknown to the vocabulary
    return evaluation_dataset(ids, cfg.seq_len, batch_size, token_labels), source, len(text)


def _line_evaluation(cfg: TextgenConfig, vocab: Vocabulary, corpus: str | None, batch_size: int):
    items = load_items(corpus or cfg.corpus, True, cfg.condition_on, cfg.text_column, cfg.label_column)
    if corpus is None:
        items = split_items(items, cfg.val_fraction, cfg.seed or 0)[1]
        if not items:
            raise UserError("this run held out no lines (validation fraction 0): pass --corpus to evaluate on")
    source = corpus or f"held-out lines of {cfg.corpus}"
    rows, _ = item_rows([vocab.encode(i.text) for i in items], vocab.stoi["\n"], cfg.seq_len)
    dataset = item_dataset(rows, batch_size, labels=label_ids_of(items, cfg), train=False)
    return dataset, source, sum(len(i.text) + 1 for i in items)


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
                 seed: int | None = None, weights: str = "best") -> dict:
    """How well a run's samples carry their labels, judged by a classifier trained with ``rnn-tf
    classify train`` on the real data: ``num_samples`` samples per label (a conditioned run: drawn for
    that label; an unconditioned run: as many drawn without one) are classified, and each label's
    share is reported beside the classifier's own recall and the label's share (the prior) on the
    classifier's test split: conditioned samples should be classified as their label about as often as
    real texts of it are; unconditioned samples should land near the prior. Line mode also reports the
    novelty rate (samples that are not training lines). Items are whole items; otherwise samples are
    ``sample_length`` tokens from the run's prime."""
    from rnn_tf.classify import evaluate_classifier, load_classifier_run, predict_probabilities
    from rnn_tf.labelled import Example
    from rnn_tf.sampling import check_sampling_options

    check_sampling_options([temperature], 1, num_samples, 0, 1.0)
    cfg, vocab, lm = load_textgen_run(run_dir, weights)
    ccfg, cvocab, classifier = load_classifier_run(classifier_dir)
    if cfg.condition_on:
        missing = [label for label in cfg.labels if label not in ccfg.labels]
        if missing:
            raise UserError(f"the classifier in '{classifier_dir}' does not know the label {missing[0]!r} of this run "
                            f"(it knows {', '.join(ccfg.labels)}): train it on the same labels")
    test = evaluate_classifier(classifier_dir)["per_class"]
    total = sum(r["support"] for r in test.values()) or 1
    sampler = Sampler(lm, vocab)
    conditions = cfg.conditions if cfg.condition_on else None
    n = num_samples if conditions else num_samples * len(ccfg.labels)
    if cfg.lines:
        samples = sampler.items("", cfg.seq_len, [temperature], n, seed=seed, conditions=conditions)
    else:
        samples = sampler.generate(cfg.prime, cfg.sample_length, [temperature], n, seed=seed, conditions=conditions)
    tf.get_logger().setLevel("ERROR")  # the classifier's batches are trimmed to their texts: retracing is expected
    predicted = predict_probabilities(classifier, cvocab, ccfg,
                                      [Example(s.text or " ", "") for s in samples]).argmax(axis=1)
    result = {"classifier": classifier_dir, "temperature": temperature, "samples": len(samples),
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
