"""Text classification: labelled data -> vocabulary -> padded ids -> classifier -> run folder -> report.

``train_classifier`` trains one run on a seeded, stratified train / validation / test split, or with
``folds`` one run per fold (``fold-1/`` ... in the run folder) and the mean and spread of their test
scores. After training, the best epoch (by validation loss) is scored on the test split: accuracy,
macro-F1, per-class figures (``metrics.json``) and a confusion matrix (``confusion.png``).
Runs resume like text generation runs; the split is saved (``split.json``), so evaluation later
scores exactly the same test examples.
"""

from __future__ import annotations

import math
import os
import sys

import keras
import numpy as np

from rnn_tf.labelled import Example, LabelledData, load_labelled, stratified_folds, stratified_split
from rnn_tf.datasets import classification_dataset, pad_sequences
from rnn_tf.errors import UserError
from rnn_tf.metrics import classification_report, format_report, png_bytes, save_confusion_png
from rnn_tf.models.classifier import build_classifier
from rnn_tf.fitting import (
    Adam, TrainResult, begin_run, check_model_fits, fit_run, load_weights, open_for_reading, open_run,
)
from rnn_tf import budget
from rnn_tf.locks import locked_run
from rnn_tf.pretrained import check_sources, describe, initialise
from rnn_tf.runs import RunDir
from rnn_tf.tasks.classify import TASK, ClassifyConfig
from rnn_tf.vocab import Vocabulary


def texts_of(examples: list[Example], cfg: ClassifyConfig) -> list[str]:
    return [ex.text.lower() if cfg.lowercase else ex.text for ex in examples]


def encode(vocab: Vocabulary, examples: list[Example], cfg: ClassifyConfig) -> np.ndarray:
    return pad_sequences([vocab.encode(t) for t in texts_of(examples, cfg)], cfg.max_length)


def label_ids(examples: list[Example], labels: list[str], source: str) -> np.ndarray:
    index = {label: i for i, label in enumerate(labels)}
    unknown = sorted({ex.label for ex in examples} - set(index))
    if unknown:
        raise UserError(f"{source} has labels the run never saw in training ({', '.join(map(repr, unknown[:5]))}); "
                        f"its labels are {', '.join(labels)}")
    return np.array([index[ex.label] for ex in examples], dtype=np.int32)


def make_splits(data: LabelledData, cfg: ClassifyConfig) -> list[dict]:
    """One split ({"train", "val", "test"} index lists) per run: one, or one per fold. Indices refer
    to ``data.examples``; ``"test_source": "test"`` means the data's own test part, taken whole."""
    labels = [ex.label for ex in data.examples]
    if cfg.folds:
        if data.test is not None:
            raise UserError("this data has its own test split: drop --folds, or point --data at its train part")
        if min(labels.count(l) for l in set(labels)) < cfg.folds:
            raise UserError(f"a class has fewer examples than --folds {cfg.folds}: use fewer folds")
        folds = stratified_folds(labels, cfg.folds, cfg.seed)
        splits = []
        for k, test in enumerate(folds):
            rest = sorted(set(range(len(labels))) - set(test))
            val, train = stratified_split([labels[i] for i in rest], (cfg.val_fraction,), cfg.seed + k)
            splits.append({"train": [rest[i] for i in train], "val": [rest[i] for i in val], "test": test})
        return splits
    if data.test is not None:
        val, train = stratified_split(labels, (cfg.val_fraction,), cfg.seed)
        return [{"train": train, "val": val, "test": list(range(len(data.test))), "test_source": "test"}]
    test, val, train = stratified_split(labels, (cfg.test_fraction, cfg.val_fraction), cfg.seed)
    if not train or not val or not test:
        raise UserError(f"'{cfg.data}' has too few examples ({len(labels)}) for a train/validation/test split")
    return [{"train": train, "val": val, "test": test}]


def split_examples(data: LabelledData, split: dict) -> tuple[list[Example], list[Example], list[Example]]:
    pick = lambda idx, pool: [pool[i] for i in idx]  # noqa: E731
    test_pool = data.test if split.get("test_source") == "test" else data.examples
    if max(split["train"] + split["val"], default=-1) >= len(data.examples) or \
            max(split["test"], default=-1) >= len(test_pool):
        raise UserError("the data has changed since this run was trained (split.json no longer fits it): "
                        "evaluate with --data, or train a new run")
    return pick(split["train"], data.examples), pick(split["val"], data.examples), pick(split["test"], test_pool)


def make_classifier(cfg: ClassifyConfig, vocab_size: int) -> keras.Model:
    """The factory call for a config: the same model for training, evaluation and prediction."""
    return build_classifier(
        vocab_size, len(cfg.labels), cfg.model, cfg.cell, cfg.units, cfg.layers, cfg.bidirectional,
        cfg.pooling, cfg.embedding_dim, cfg.dropout, cfg.filters, tuple(cfg.kernel_sizes), cfg.bow_head,
        cfg.bow_weighting, cfg.rnn_implementation,
    )


def build_model(cfg: ClassifyConfig, vocab_size: int, x_train: np.ndarray | None = None) -> keras.Model:
    """``make_classifier`` compiled for training: Adam with global-norm clipping. A bag-of-words model
    learns its document frequencies from ``x_train`` (the encoded training texts)."""
    model = make_classifier(cfg, vocab_size)
    if cfg.freeze_embeddings:
        model.get_layer("embedding").trainable = False
    if cfg.model == "bow" and x_train is not None:
        model.get_layer("bag_of_words").adapt(x_train)
    model.compile(
        optimizer=Adam(learning_rate=cfg.learning_rate, global_clipnorm=cfg.clipnorm or None),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


@locked_run
def train(run_dir: str, settings: dict | None = None, *, resume: bool = False, overwrite: bool = False,
          verbose: int = 1, stream=None) -> TrainResult:
    """Train (or resume) a classifier run; with ``folds``, one run per fold below ``run_dir``. The
    result's ``report`` holds the test metrics (for k folds: ``{"folds": [...], "accuracy_mean": ...}``)."""
    stream = stream or sys.stdout
    run = RunDir(run_dir)
    if resume and run.load_config(ClassifyConfig).folds:
        # each fold keeps its own epoch count, checked fold by fold below
        cfg, state, done = run.load_config(ClassifyConfig).resumed_with(settings), {}, 0
    else:
        cfg, state, done = open_run(run, ClassifyConfig, settings, resume, overwrite)
    data = load_labelled(cfg.data, cfg.text_column, cfg.label_column)
    if resume:
        run.write_json(run.config, cfg.to_dict())  # the new --epochs
        splits = _resumed_folds(run, data, cfg) if cfg.folds else [run.read_split()]
    else:
        cfg.labels = sorted({ex.label for ex in data.examples})
        check_sources(cfg, settings or {})  # pretrained vectors or language model: found and fitting
        splits = make_splits(data, cfg)
        # before anything is written; the vocabulary is at most --max-tokens
        check_model_fits(cfg, cfg.max_tokens or 0, len(cfg.labels), bidirectional=cfg.bidirectional)
        run.prepare_new(overwrite)
        run.write_json(run.config, cfg.to_dict())
    if not cfg.folds:
        return _train_one(run, cfg, data, splits[0], state, done, resume, verbose, stream)

    reports = []
    deadline = budget.now() + cfg.max_time if cfg.max_time else None  # --max-time: for all the folds together
    for k, split in enumerate(splits, start=1):
        fold_run = run.fold(k)
        fold_cfg = ClassifyConfig.from_dict({**cfg.to_dict(), "folds": None, "fold": k})
        fold_state = fold_run.read_state() if resume and fold_run.exists() else {}
        fold_done = int(fold_state.get("epoch", 0))
        if fold_done >= cfg.epochs and os.path.isfile(fold_run.metrics):
            reports.append(fold_run.read_json(fold_run.metrics))
            continue
        if deadline is not None:
            fold_cfg.max_time = deadline - budget.now()
            if fold_cfg.max_time <= 0:
                return TrainResult(run_dir, cfg, 0, None, None, False, [], cut=True)
        print(f"--- fold {k} of {cfg.folds}", file=stream, flush=True)
        fold_resume = fold_done > 0 or bool(fold_state.get("partial"))  # a budget may cut a fold's first epoch
        if not fold_resume:
            fold_run.prepare_new(overwrite=True)  # an unfinished first epoch leaves nothing to keep
        fold_run.write_json(fold_run.config, fold_cfg.to_dict())
        result = _train_one(fold_run, fold_cfg, data, split, fold_state, fold_done, fold_resume, verbose, stream)
        if result.stopped_on_nan:  # the same policy as any run: stop here, keep what was saved
            result.run_dir, result.config, result.diverged_where = run_dir, cfg, f"fold {k}"
            return result
        if result.cut:  # --max-time: this fold goes on with --resume, and the folds after it
            result.run_dir, result.config = run_dir, cfg
            return result
        reports.append(result.report)
    summary = fold_summary(reports)
    run.write_json(run.folds, summary)
    print(f"{cfg.folds}-fold cross-validation: accuracy {summary['accuracy_mean']:.4f} ± "
          f"{summary['accuracy_std']:.4f}, macro-F1 {summary['macro_f1_mean']:.4f} ± {summary['macro_f1_std']:.4f}",
          file=stream, flush=True)
    return TrainResult(run_dir, cfg, cfg.epochs, None, None, False, [], summary)


train_classifier = train  # the name the Python API has always had


def _resumed_folds(run: RunDir, data: LabelledData, cfg: ClassifyConfig) -> list[dict]:
    """The folds of a resumed cross-validation: drawn again from the seed (folds not started yet have
    no split.json), each checked against the split its fold saved."""
    splits = make_splits(data, cfg)
    for k, split in enumerate(splits, start=1):
        if os.path.isfile(run.fold(k).split) and run.read_split(run.fold(k).split) != split:
            raise UserError(f"fold {k}'s examples differ from those it was trained on: {cfg.data} has changed "
                            "since; restore it, or start the run again with --overwrite")
    return splits


def fold_summary(reports: list[dict]) -> dict:
    acc = np.array([r["accuracy"] for r in reports])
    f1 = np.array([r["macro_f1"] for r in reports])
    return {"folds": reports, "accuracy_mean": float(acc.mean()), "accuracy_std": float(acc.std(ddof=1)),
            "macro_f1_mean": float(f1.mean()), "macro_f1_std": float(f1.std(ddof=1))}


def encode_split(cfg: ClassifyConfig, train: list[Example], val: list[Example], vocab: Vocabulary | None = None):
    """(vocabulary, (x, y) of training, (x, y) of validation); the vocabulary is built from the training
    texts unless one is given."""
    if vocab is None:
        vocab = Vocabulary.build(texts_of(train, cfg), cfg.level, cfg.max_tokens)
    return (vocab, (encode(vocab, train, cfg), label_ids(train, cfg.labels, "the training data")),
            (encode(vocab, val, cfg), label_ids(val, cfg.labels, "the validation data")))


def _train_one(run: RunDir, cfg: ClassifyConfig, data: LabelledData, split: dict, state: dict,
               done: int, resume: bool, verbose: int, stream) -> TrainResult:
    train_part, val, test = split_examples(data, split)
    vocab, (x_train, y_train), (x_val, y_val) = encode_split(cfg, train_part, val,
                                                             run.load_vocab() if resume else None)
    keras.utils.set_random_seed(cfg.seed)
    model = build_model(cfg, len(vocab), x_train)

    def save_files():
        vocab.save(run.vocab)
        run.write_json(run.split, split)

    if resume:
        begin_run(run, cfg, model, done, resume=True, overwrite=False, stream=stream)
    else:  # the folder was prepared by train(): only this run's own files are written here
        save_files()
        pretrained = initialise(model, vocab, cfg, x_train, cfg.seed)
        if pretrained:
            run.write_json(run.pretrained, pretrained)
            print(describe(pretrained), file=stream, flush=True)
    steps = math.ceil(len(x_train) / cfg.batch_size)
    start_step = int(model.optimizer.iterations.numpy())
    train_ds = classification_dataset(x_train, y_train, cfg.batch_size, seed=cfg.seed, start_step=start_step)
    val_ds = classification_dataset(x_val, y_val, cfg.batch_size, train=False)
    print(f"training {model.name} on {cfg.data}: {len(train_part)} training, {len(val)} validation, {len(test)} "
          f"test examples, {len(cfg.labels)} classes, vocabulary {len(vocab)}, epochs {done + 1}..{cfg.epochs}, "
          f"run folder '{run.path}'", file=stream, flush=True)
    def confusion(epoch):  # --tensorboard: the validation split's confusion matrix, every epoch
        report = classification_report(y_val, model.predict(val_ds.map(lambda x, y: x), verbose=0).argmax(axis=1),
                                       cfg.labels)
        return {"validation_confusion": png_bytes(save_confusion_png, report["confusion"], cfg.labels,
                                                  f"validation, epoch {epoch}: accuracy {report['accuracy']:.3f}")}

    result = fit_run(run, cfg, model, state, done, train_ds, steps=steps, validation_data=val_ds,
                     outputs=len(cfg.labels), verbose=verbose, stream=stream, images=confusion)
    if not (result.stopped_on_nan or result.cut):  # a cut run is scored when it ends
        result.report = score(model, vocab, cfg, test, f"the test split of {cfg.data}")
        write_report(run, result.report, cfg.labels, stream)
    return result


def score(model: keras.Model, vocab: Vocabulary, cfg: ClassifyConfig, examples: list[Example], source: str) -> dict:
    y = label_ids(examples, cfg.labels, source)
    probs = predict_probabilities(model, vocab, cfg, examples)
    report = classification_report(y, probs.argmax(axis=1), cfg.labels)
    report["source"] = source
    return report


def predict_probabilities(model, vocab, cfg, examples: list[Example], batch_size: int = 128) -> np.ndarray:
    x = encode(vocab, examples, cfg)
    ds = classification_dataset(x, np.zeros(len(x), np.int32), batch_size, train=False).map(lambda a, b: a)
    return model.predict(ds, verbose=0)


def write_report(run: RunDir, report: dict, labels: list[str], stream=None) -> None:
    run.write_json(run.metrics, report)
    save_confusion_png(run.confusion, report["confusion"], labels,
                       f"{report['source']}: accuracy {report['accuracy']:.3f}, macro-F1 {report['macro_f1']:.3f}")
    print(format_report(report), file=stream or sys.stdout, flush=True)


def load_classifier_run(run_dir: str, weights: str = "best") -> tuple[ClassifyConfig, Vocabulary, keras.Model]:
    run = RunDir(run_dir)
    folds = run.load_config(ClassifyConfig).folds
    if folds:
        raise UserError(f"'{run_dir}' is a {folds}-fold run: give one fold's folder, e.g. {run_dir}/fold-1")
    cfg, path = open_for_reading(run, ClassifyConfig, weights)
    vocab = run.load_vocab()
    model = make_classifier(cfg, len(vocab))
    load_weights(model, path)
    return cfg, vocab, model


def serving_module(run_dir: str, weights: str = "best", xla: bool = True):  # noqa: ARG001 (no XLA loops)
    """What ``rnn-tf export`` saves: ``serving.ClassifierServing``."""
    from rnn_tf.serving import ClassifierServing

    cfg, vocab, model = load_classifier_run(run_dir, weights)
    return ClassifierServing(model, vocab, cfg)


def evaluate_classifier(run_dir: str, weights: str = "best", data: str | None = None) -> dict:
    """Scores on the run's own test split, or on ``data`` (its test part if it has one, else all of it).
    For a k-fold run without ``data``: the saved cross-validation summary."""
    run = RunDir(run_dir)
    cfg = run.load_config(ClassifyConfig)
    if cfg.folds and data is None:
        return run.read_json(run.folds)
    cfg, vocab, model = load_classifier_run(run_dir, weights)
    if data is None:
        loaded = load_labelled(cfg.data, cfg.text_column, cfg.label_column)
        _, _, examples = split_examples(loaded, run.read_split())
        source = f"the test split of {cfg.data}"
    else:
        loaded = load_labelled(data, cfg.text_column, cfg.label_column)
        examples = loaded.test if loaded.test is not None else loaded.examples
        source = data
    report = score(model, vocab, cfg, examples, source)
    report["source"] = source
    return report


def predict(run_dir: str, texts: list[str], weights: str = "best") -> list[dict]:
    """For each text: the predicted label, its probability, and every class's probability."""
    texts = [t for t in texts if t.strip()]
    if not texts:
        raise UserError("no text to classify: give texts as arguments, with --file, or on standard input")
    cfg, vocab, model = load_classifier_run(run_dir, weights)
    probs = predict_probabilities(model, vocab, cfg, [Example(t, "") for t in texts])
    return [{"text": t, "label": cfg.labels[int(p.argmax())], "probability": float(p.max()),
             "probabilities": {label: float(q) for label, q in zip(cfg.labels, p)}}
            for t, p in zip(texts, probs)]


def prepare_search(cfg: ClassifyConfig):
    """What every trial of a search shares: the split and encoded texts, prepared once, and the
    compiled factory. Trials are scored on the validation split; the test split is never touched."""
    from rnn_tf.search.data import SearchData, fingerprint

    if cfg.folds:
        raise UserError("--folds is not used by a search (trials are scored on one validation split): drop it")
    if cfg.embeddings or cfg.init_from:
        raise UserError("the search starts every trial from random weights: drop --embeddings / --init-from")
    data = load_labelled(cfg.data, cfg.text_column, cfg.label_column)
    cfg.labels = sorted({ex.label for ex in data.examples})
    train_part, val, _ = split_examples(data, make_splits(data, cfg)[0])
    vocab, (x_train, y_train), (x_val, y_val) = encode_split(cfg, train_part, val)
    steps = math.ceil(len(x_train) / cfg.batch_size)
    return SearchData(
        cfg, lambda c: build_model(c, len(vocab), x_train),
        lambda: dict(x=classification_dataset(x_train, y_train, cfg.batch_size, seed=cfg.seed), steps_per_epoch=steps,
                     validation_data=classification_dataset(x_val, y_val, cfg.batch_size, train=False)),
        TASK.reported_metrics(),
        f"{len(train_part)} training and {len(val)} validation examples of {cfg.data}, {len(cfg.labels)} classes",
        fingerprint(x_train, y_train, x_val, y_val, len(vocab)))
