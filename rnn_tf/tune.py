"""Hyperparameter search with keras-tuner, over the same model factories as training.

    flags + defaults -> base config      data prepared once (vocabulary, tf.data datasets)
    search space     -> hp.Choice / hp.Int / hp.Float ...   (defaults below, a JSON/YAML file, flags)
    trial            -> base config with the trial's values -> the task's own compiled factory -> fit

The hyperparameter layer (``TaskHyperModel.build``) only reads ``hp`` values and calls the factory
that ``train`` uses, so the best values retrain into an ordinary run folder (``train_best``).

A project folder holds keras-tuner's files (``oracle.json``, ``trial_*/``) and ours:
``search.json`` (task, settings, search space, tuner, objective: what a resumed search must match)
and ``best_hyperparameters.json``. A search stopped half way continues with ``resume=True``: the
interrupted trial runs again and finished ones are kept. Distributed search uses keras-tuner's own
chief/worker protocol (``KERASTUNER_TUNER_ID``, ``KERASTUNER_ORACLE_IP``, ``KERASTUNER_ORACLE_PORT``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import secrets
import shutil
import sys
import time
from dataclasses import dataclass
from typing import Callable

import keras
import keras_tuner as kt
import numpy as np

from rnn_tf.config import ClassifyConfig, RunConfig, TextgenConfig, TranslateConfig
from rnn_tf.errors import UserError
from rnn_tf.runs import write_atomic

TUNERS = ("random", "hyperband", "bayesian")
CONFIGS = {"textgen": TextgenConfig, "classify": ClassifyConfig, "translate": TranslateConfig}

# What each task may search: the arguments of its model factory and optimizer.
SEARCHABLE = {
    "textgen": ("cell", "units", "layers", "embedding_dim", "dropout", "learning_rate", "clipnorm", "lr_decay"),
    "classify": ("model", "cell", "bidirectional", "layers", "units", "embedding_dim", "pooling", "dropout",
                 "filters", "bow_head", "bow_weighting", "learning_rate", "clipnorm"),
    "translate": ("cell", "attention", "bidirectional", "layers", "units", "embedding_dim", "dropout",
                  "learning_rate", "clipnorm"),
}

_RECURRENT = {
    "cell": {"type": "choice", "values": ["simple_rnn", "lstm", "gru"]},
    "units": {"type": "int", "min": 64, "max": 512, "step": 64},
    "layers": {"type": "int", "min": 1, "max": 2},
    "embedding_dim": {"type": "choice", "values": [32, 64, 128]},
    "dropout": {"type": "float", "min": 0.0, "max": 0.5, "step": 0.1},
    "learning_rate": {"type": "float", "min": 1e-4, "max": 1e-2, "sampling": "log"},
    "clipnorm": {"type": "choice", "values": [0.0, 1.0, 5.0]},
}
DEFAULT_SPACES = {
    "textgen": {**_RECURRENT, "layers": {"type": "int", "min": 1, "max": 3}},
    "classify": {**_RECURRENT, "units": {"type": "int", "min": 32, "max": 256, "step": 32},
                 "pooling": {"type": "choice", "values": ["last", "mean", "max", "attention"]},
                 "bidirectional": {"type": "bool"}},
    "translate": {**_RECURRENT, "embedding_dim": {"type": "choice", "values": [64, 128, 256]},
                  "attention": {"type": "choice", "values": ["bahdanau", "luong-dot", "luong-general", "none"]},
                  "bidirectional": {"type": "bool"}},
}
_KEYS = {"choice": {"values", "default"}, "int": {"min", "max", "step", "sampling", "default"},
         "float": {"min", "max", "step", "sampling", "default"}, "bool": {"default"}, "fixed": {"value"}}


# --- the search space ------------------------------------------------------------------------------
def load_space_file(path: str) -> dict:
    """A search-space file: a JSON or YAML mapping of setting name -> entry."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read --search-space '{path}': {exc}") from None
    try:
        if path.endswith((".yaml", ".yml")):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # json.JSONDecodeError, yaml.YAMLError
        first = str(exc).strip().splitlines()[0]
        raise UserError(f"--search-space '{path}' is not valid {'YAML' if path.endswith(('.yaml', '.yml')) else 'JSON'}"
                        f" ({first}): fix the file") from None
    if not isinstance(data, dict):
        raise UserError(f"--search-space '{path}' must be a mapping of setting name to entry, not {type(data).__name__}")
    return data


def normalize_entry(name: str, entry, where: str) -> dict:
    """One entry in its long form. Short forms: a list is a choice, a scalar is a fixed value."""
    def bad(why: str):
        return UserError(f"{where}: entry '{name}' {why}")

    if isinstance(entry, list):
        entry = {"type": "choice", "values": entry}
    elif not isinstance(entry, dict):
        entry = {"type": "fixed", "value": entry}
    entry = dict(entry)
    when = entry.pop("when", None)
    kind = entry.get("type")
    if kind not in _KEYS:
        raise bad(f"has type {kind!r}: use one of {', '.join(_KEYS)} (or a list of choices, or a single value)")
    extra = set(entry) - _KEYS[kind] - {"type"}
    if extra:
        raise bad(f"has unknown keys {sorted(extra)}: a {kind} entry takes {', '.join(sorted(_KEYS[kind]))}")
    if kind == "choice":
        values = entry.get("values")
        if not isinstance(values, list) or not values:
            raise bad("needs 'values': a non-empty list")
        if not all(isinstance(v, (int, float, str, bool)) for v in values):
            raise bad("has values that are not numbers, strings or booleans")
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values) and \
                any(isinstance(v, float) for v in values):
            entry["values"] = [float(v) for v in values]  # keras-tuner wants one type
        elif len({type(v) for v in values}) > 1:
            raise bad(f"mixes value types {values}: use one type")
    elif kind in ("int", "float"):
        number = (int,) if kind == "int" else (int, float)
        for key in ("min", "max"):
            if not isinstance(entry.get(key), number) or isinstance(entry.get(key), bool):
                raise bad(f"needs '{key}': {'an integer' if kind == 'int' else 'a number'}")
        if entry["min"] > entry["max"]:
            raise bad(f"has min {entry['min']} above max {entry['max']}")
        step = entry.get("step")
        if step is not None and (not isinstance(step, number) or step <= 0):
            raise bad(f"has step {step!r}: use a positive {'integer' if kind == 'int' else 'number'}")
        sampling = entry.get("sampling", "linear")
        allowed = ("linear", "log") + (("reverse_log",) if kind == "float" else ())
        if sampling not in allowed:
            raise bad(f"has sampling {sampling!r}: use one of {', '.join(allowed)}")
        if sampling != "linear" and entry["min"] <= 0:
            raise bad(f"has {sampling} sampling from {entry['min']}: log sampling needs min above 0")
    elif kind == "fixed" and not isinstance(entry.get("value"), (int, float, str, bool)):
        raise bad("needs 'value': a number, string or boolean")
    if when is not None:
        if not isinstance(when, dict) or not when:
            raise bad("has 'when' that is not a mapping of setting name to value(s)")
        entry["when"] = {k: v if isinstance(v, list) else [v] for k, v in when.items()}
    return entry


def possible_values(entry: dict) -> list:
    """The values an entry can take, as far as they can be listed (ranges: their two ends)."""
    kind = entry["type"]
    if kind == "choice":
        return list(entry["values"])
    if kind == "bool":
        return [False, True]
    if kind == "fixed":
        return [entry["value"]]
    return [entry["min"], entry["max"]]


def build_space(task: str, base: RunConfig, file_entries: dict | None = None, fixed: tuple[str, ...] = (),
                where: str = "search space") -> dict:
    """The task's default space, changed by ``file_entries`` (an entry replaces the default one; null
    drops it), minus the settings in ``fixed`` (given as flags). Every value is checked against the
    task's config, so a bad entry fails here, named, before any trial runs."""
    space = {name: normalize_entry(name, entry, "default space") for name, entry in DEFAULT_SPACES[task].items()}
    for name, entry in (file_entries or {}).items():
        if name not in SEARCHABLE[task]:
            raise UserError(f"{where}: entry '{name}' is not a setting {task} can search; use one of "
                            f"{', '.join(SEARCHABLE[task])}")
        if entry is None:
            space.pop(name, None)
        else:
            space[name] = normalize_entry(name, entry, where)
    for name in fixed:
        space.pop(name, None)
    for name, entry in space.items():
        for value in possible_values(entry):
            try:
                with_value(base, {name: value})
            except UserError as exc:
                raise UserError(f"{where}: entry '{name}' allows {value!r}, which the {task} config refuses "
                                f"({exc})") from None
        for parent, values in entry.get("when", {}).items():
            if parent not in space:
                raise UserError(f"{where}: entry '{name}' depends on '{parent}', which is not searched: "
                                f"add '{parent}' to the space or drop the condition")
            if space[parent]["type"] in ("int", "float"):
                raise UserError(f"{where}: entry '{name}' depends on '{parent}', a range: conditions need a "
                                "choice, bool or fixed setting")
            missing = [v for v in values if v not in possible_values(space[parent])]
            if missing:
                raise UserError(f"{where}: entry '{name}' depends on '{parent}' being {missing}, which "
                                f"'{parent}' never is (it takes {possible_values(space[parent])})")
    return _ordered(space, where)


def _ordered(space: dict, where: str) -> dict:
    """Parents before the entries that depend on them (keras-tuner needs a parent defined first)."""
    ordered: dict = {}
    pending = dict(space)
    while pending:
        ready = [n for n, e in pending.items() if all(p in ordered for p in e.get("when", {}))]
        if not ready:
            raise UserError(f"{where}: entries {sorted(pending)} depend on each other in a circle")
        for name in ready:
            ordered[name] = pending.pop(name)
    return ordered


def with_value(base: RunConfig, values: dict) -> RunConfig:
    """``base`` with ``values`` put in, checked."""
    return type(base).from_dict({**base.to_dict(), **values}).validate()


def define(hp: kt.HyperParameters, space: dict) -> dict:
    """Register every entry of ``space`` with ``hp`` and return the values of the active ones."""
    values = {}
    for name, entry in space.items():
        value = _define_one(hp, name, entry, list(entry.get("when", {}).items()))
        if value is not None:
            values[name] = value
    return values


def _define_one(hp, name: str, entry: dict, conditions: list):
    if conditions:
        parent, parent_values = conditions[0]
        with hp.conditional_scope(parent, parent_values):
            return _define_one(hp, name, entry, conditions[1:])
    kind = entry["type"]
    if kind == "choice":
        return hp.Choice(name, entry["values"], default=entry.get("default"))
    if kind == "bool":
        return hp.Boolean(name, default=entry.get("default", False))
    if kind == "fixed":
        return hp.Fixed(name, entry["value"])
    make = hp.Int if kind == "int" else hp.Float
    return make(name, entry["min"], entry["max"], step=entry.get("step"), sampling=entry.get("sampling", "linear"),
                default=entry.get("default"))


# --- what a task brings to a search -------------------------------------------------------------
@dataclass
class SearchData:
    """What every trial of a search shares, prepared once."""
    base: RunConfig  # flags + defaults: the settings every trial starts from
    build: Callable[[RunConfig], keras.Model]  # the task's compiled factory for one trial's config
    fit_kwargs: Callable[[], dict]  # data and steps for model.fit (tf.data made only where a trial runs)
    reports: tuple[str, ...]  # the metrics fit reports: the possible objectives
    description: str
    fingerprint: str  # of the prepared examples: a trial process checks it sees the same data


def fingerprint(*parts) -> str:
    """A short hash of prepared data (arrays of ids, lists of texts)."""
    digest = hashlib.sha1()
    for part in parts:
        if part is None:
            digest.update(b"none")
        elif isinstance(part, np.ndarray):
            digest.update(str((part.dtype, part.shape)).encode())
            digest.update(np.ascontiguousarray(part).tobytes())
        else:
            digest.update(repr(part).encode())
    return digest.hexdigest()[:16]


def reported_metrics(task: str) -> tuple[str, ...]:
    metric = {"textgen": (), "classify": ("accuracy",), "translate": ("masked_accuracy",)}[task]
    names = ("loss",) + metric
    return names + tuple("val_" + n for n in names)


def prepare_textgen(cfg: TextgenConfig) -> SearchData:
    from rnn_tf.datasets import language_model_dataset
    from rnn_tf.train import build_model, prepare_textgen_data, steps_for

    data = prepare_textgen_data(cfg)
    steps = steps_for(cfg, len(data.train_ids))

    def fit_kwargs():
        val_ds = None if data.val_ids is None else language_model_dataset(
            data.val_ids, cfg.seq_len, cfg.batch_size, shuffle=False, repeat=False)
        return dict(x=language_model_dataset(data.train_ids, cfg.seq_len, cfg.batch_size, seed=cfg.seed),
                    steps_per_epoch=steps, validation_data=val_ds, validation_steps=cfg.val_steps)

    return SearchData(
        cfg, lambda c: build_model(c, len(data.vocab), steps).training, fit_kwargs,
        ("loss",) if data.val_ids is None else ("loss", "val_loss"),
        f"{len(data.train_ids):,} training {cfg.level}s of {cfg.corpus}, {steps} steps per epoch",
        fingerprint(data.train_ids, data.val_ids, len(data.vocab)))


def prepare_classify(cfg: ClassifyConfig) -> SearchData:
    from rnn_tf.classify import build_model, encode_split, make_splits, split_examples
    from rnn_tf.corpora import load_labelled
    from rnn_tf.datasets import classification_dataset

    if cfg.folds:
        raise UserError("--folds is not used by a search (trials are scored on one validation split): drop it")
    data = load_labelled(cfg.data, cfg.text_column, cfg.label_column)
    cfg.labels = sorted({ex.label for ex in data.examples})
    train, val, _ = split_examples(data, make_splits(data, cfg)[0])
    vocab, (x_train, y_train), (x_val, y_val) = encode_split(cfg, train, val)
    steps = math.ceil(len(x_train) / cfg.batch_size)
    return SearchData(
        cfg, lambda c: build_model(c, len(vocab), x_train),
        lambda: dict(x=classification_dataset(x_train, y_train, cfg.batch_size, seed=cfg.seed), steps_per_epoch=steps,
                     validation_data=classification_dataset(x_val, y_val, cfg.batch_size, train=False)),
        reported_metrics("classify"),
        f"{len(train)} training and {len(val)} validation examples of {cfg.data}, {len(cfg.labels)} classes",
        fingerprint(x_train, y_train, x_val, y_val, len(vocab)))


def prepare_translate(cfg: TranslateConfig) -> SearchData:
    from rnn_tf.translate import build_model, encode_pairs, pair_dataset, prepare_translation

    data = prepare_translation(cfg)
    src, tgt = data.source_vocab, data.target_vocab
    return SearchData(
        cfg, lambda c: build_model(c, src, tgt).training,
        lambda: dict(x=pair_dataset(*encode_pairs(data.train, src, tgt), cfg.batch_size, train=True, seed=cfg.seed),
                     steps_per_epoch=math.ceil(len(data.train) / cfg.batch_size),
                     validation_data=pair_dataset(*encode_pairs(data.val, src, tgt), cfg.batch_size, train=False)),
        reported_metrics("translate"),
        f"{len(data.train)} training and {len(data.val)} validation pairs of {cfg.pairs}",
        fingerprint(data.train, data.val, len(src), len(tgt)))


PREPARE = {"textgen": prepare_textgen, "classify": prepare_classify, "translate": prepare_translate}


class TaskHyperModel(kt.HyperModel):
    """The thin hyperparameter layer: read the trial's values, call the task's factory."""

    def __init__(self, data: SearchData, space: dict):
        super().__init__(name=data.base.TASK)
        self.data, self.space = data, space

    def build(self, hp):
        cfg = with_value(self.data.base, define(hp, self.space))
        keras.utils.set_random_seed(cfg.seed)  # every trial starts from the same random state
        return self.data.build(cfg)


# --- the search ---------------------------------------------------------------------------------
@dataclass
class Search:
    """A search's identity, saved as ``search.json``: a resumed search must match it."""
    task: str
    settings: dict  # the base config: data, training, and the model settings given as flags
    space: dict
    tuner: str
    objective: str
    executions_per_trial: int
    max_trials: int | None  # the one thing a resumed search may change (to search further)
    fixed: list[str]  # model settings given as flags, kept out of the space

    def difference(self, saved: dict, given: tuple[str, ...]) -> str | None:
        """The first way this search differs from a saved one, or None. Settings this command
        left out are taken from the saved search, so only ``given`` ones are compared."""
        for key in ("task", "tuner", "objective", "executions_per_trial", "space"):
            if saved.get(key) != getattr(self, key):
                return f"its {key.replace('_', ' ')} {saved.get(key)!r} differs from this command's {getattr(self, key)!r}"
        for key in given:
            if saved["settings"].get(key) != self.settings.get(key):
                return f"its {key} {saved['settings'].get(key)!r} differs from this command's {self.settings.get(key)!r}"
        return None


@dataclass
class SearchResult:
    project_dir: str
    best_values: dict | None
    best_score: float | None
    rows: list[dict]  # one per trial, best first
    trials_run_here: list[str]


def distributed_role() -> str | None:
    """'chief', a worker's tuner id, or None for a search on one machine."""
    from keras_tuner.src.distribute import utils as dist_utils

    try:
        if not dist_utils.has_chief_oracle():
            return None
    except RuntimeError as exc:  # KERASTUNER_ORACLE_IP without a port or a tuner id
        raise UserError(f"distributed search: {exc}") from None
    return "chief" if dist_utils.is_chief_oracle() else os.environ["KERASTUNER_TUNER_ID"]


def check_project(project_dir: str, resume: bool, overwrite: bool, role: str | None) -> dict | None:
    """The saved search.json of a project being resumed (None for a new one); refuses to touch a
    project that would be silently continued or replaced. Deletes nothing."""
    if resume and overwrite:
        raise UserError("--resume and --overwrite contradict each other: pass one of them")
    path = os.path.join(project_dir, "search.json")
    if os.path.exists(project_dir) and not os.path.isdir(project_dir):
        raise UserError(f"--project-dir '{project_dir}' is a file: choose another folder")
    used = os.path.isdir(project_dir) and bool(os.listdir(project_dir))
    if role not in (None, "chief"):
        return None  # a worker joins the chief's project
    if resume:
        if not os.path.isfile(path):
            raise UserError(f"--resume: '{project_dir}' holds no search (no search.json): start one without --resume")
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    if used:
        if not overwrite:
            raise UserError(f"project folder '{project_dir}' already holds a search: pass --resume to continue it, "
                            "--overwrite to start again, or choose another --project-dir")
        if not os.path.isfile(path):
            raise UserError(f"project folder '{project_dir}' holds files that are not an rnn_tf search; "
                            "refusing to overwrite it: choose another --project-dir")
    return None


# --- the tuners: keras-tuner's own, plus a line per trial and a process per trial -----------------
class SearchTuner:
    """Mixed into each keras-tuner tuner. Prints one line per finished trial (keras-tuner's own
    display is left quiet) and, given a ``job``, runs each trial's build + fit in a child process
    (``rnn_tf.trial_process``) replaced every ``trials_per_process`` trials, so that the search's
    memory stays flat however many trials run."""

    def attach(self, *, objective: str, stream, job: dict | None, trials_per_process: int, verbose: int) -> None:
        from rnn_tf.trial_process import TrialProcess

        self.report_objective, self.stream, self.job = objective, stream, job
        self.trial_process = TrialProcess(trials_per_process, verbose) if job else None
        self.trials_run_here: list[str] = []
        self._started: dict[str, float] = {}
        self._peak_mib: dict[str, float] = {}
        self.trial_pss_mib: dict[str, float] = {}  # the trial process's PSS when the trial ended

    def on_trial_begin(self, trial):
        self._started[trial.trial_id] = time.perf_counter()
        super().on_trial_begin(trial)

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        self.trials_run_here.append(trial.trial_id)
        score = self.oracle.get_trial(trial.trial_id).score
        values = ", ".join(f"{k}={_fmt(v)}" for k, v in trial.hyperparameters.values.items() if not k.startswith("tuner/"))
        peak = self._peak_mib.get(trial.trial_id)
        print(f"trial {trial.trial_id}: {self.report_objective} {_fmt(score)} in "
              f"{time.perf_counter() - self._started[trial.trial_id]:.1f} s"
              + (f", trial process peak {peak:.0f} MiB" if peak else "") + f" ({values})",
              file=self.stream, flush=True)

    def _build_and_fit_model(self, trial, *args, **kwargs):
        if self.trial_process is None:  # in this process, as keras-tuner does it
            return super()._build_and_fit_model(trial, *args, **kwargs)
        from keras_tuner.src.engine.tuner_utils import SaveBestEpoch

        save_best = next(cb for cb in kwargs["callbacks"] if isinstance(cb, SaveBestEpoch))
        hp, trial_id = trial.hyperparameters, trial.trial_id
        earlier = hp.values.get("tuner/trial_id")  # Hyperband continues an earlier trial's model
        job = dict(self.job, hyperparameters=hp.get_config(),
                   fit={k: v for k, v in kwargs.items() if k != "callbacks"},
                   objective=[self.oracle.objective.name, self.oracle.objective.direction],
                   checkpoint=save_best.filepath, best_value=save_best.best_value,
                   build_config=self._get_build_config_fname(trial_id),
                   load=earlier and {"checkpoint": self._get_checkpoint_fname(earlier),
                                     "build_config": self._get_build_config_fname(earlier)})
        result = self.trial_process.run(job, self.get_trial_dir(trial_id))
        save_best.best_value = result["best_value"]
        self._peak_mib[trial_id] = max(result["peak_rss_mib"], self._peak_mib.get(trial_id, 0.0))
        self.trial_pss_mib[trial_id] = result["pss_mib"]
        history = keras.callbacks.History()
        history.history = result["history"]
        return history


class RandomSearch(SearchTuner, kt.RandomSearch):
    pass


class BayesianOptimization(SearchTuner, kt.BayesianOptimization):
    pass


class Hyperband(SearchTuner, kt.Hyperband):
    def _build_hypermodel(self, hp):
        model = kt.Tuner._build_hypermodel(self, hp)  # keras-tuner's Hyperband would load weights only
        earlier = hp.values.get("tuner/trial_id")
        if earlier:
            continue_trial(model, self._get_build_config_fname(earlier), self._get_checkpoint_fname(earlier))
        return model


def continue_trial(model: keras.Model, build_config: str, checkpoint: str) -> None:
    """Hyperband's next round: load an earlier trial's best epoch, weights and optimizer state (the
    optimizer must be built first, or Keras skips its saved variables and Adam starts over)."""
    from rnn_tf.train import load_weights

    with open(build_config, encoding="utf-8") as f:
        model.build_from_config(json.load(f))
    model.optimizer.build(model.trainable_variables)
    load_weights(model, checkpoint)


def make_tuner(name: str, hypermodel, objective: str, max_trials: int | None, executions_per_trial: int,
               max_epochs: int, seed: int, project_dir: str, overwrite: bool):
    direction = "min" if "loss" in objective else "max"
    project_dir = os.path.abspath(project_dir)
    common = dict(hypermodel=hypermodel, objective=kt.Objective(objective, direction), seed=seed,
                  executions_per_trial=executions_per_trial, directory=os.path.dirname(project_dir),
                  project_name=os.path.basename(project_dir), overwrite=overwrite)
    if name == "random":
        return RandomSearch(max_trials=max_trials, **common)
    if name == "bayesian":
        return BayesianOptimization(max_trials=max_trials, **common)
    tuner = Hyperband(max_epochs=max_epochs, factor=3, **common)
    # Hyperband plans its own brackets from max_epochs; max_trials caps how many of them run.
    if max_trials:
        tuner.oracle.max_trials = max_trials
    return tuner


def run_search(task: str, settings: dict | None = None, *, space_file: str | None = None,
               space_entries: dict | None = None, tuner: str = "random", max_trials: int | None = 10,
               executions_per_trial: int = 1, objective: str = "val_loss", project_dir: str,
               resume: bool = False, overwrite: bool = False, trials_per_process: int = 1, verbose: int = 0,
               stream=None) -> SearchResult:
    """Search ``task``'s hyperparameters. ``settings`` are the task's config fields (data, training,
    and model settings to keep fixed); ``space_file`` / ``space_entries`` change the default space.
    ``trials_per_process``: trials run in a child process that is replaced after this many (1: a
    fresh process per trial, memory flat; each new process costs seconds to start TensorFlow and
    load the data); 0 runs them in this process, where memory grows with every trial."""
    stream = stream or sys.stdout
    if task not in CONFIGS:
        raise UserError(f"unknown task '{task}': use one of {', '.join(CONFIGS)}")
    if tuner not in TUNERS:
        raise UserError(f"unknown --tuner '{tuner}': use one of {', '.join(TUNERS)}")
    if objective not in reported_metrics(task):
        raise UserError(f"--objective '{objective}' is not reported by {task} training: use one of "
                        f"{', '.join(reported_metrics(task))}")
    if max_trials is not None and max_trials < 1:
        raise UserError(f"--max-trials {max_trials} is too small: use 1 or more")
    if executions_per_trial < 1:
        raise UserError(f"--executions-per-trial {executions_per_trial} is too small: use 1 or more")
    if trials_per_process < 0:
        raise UserError(f"--trials-per-process {trials_per_process} is negative: use 1 or more (0: run the "
                        "trials in the search process)")
    role = distributed_role()
    saved = check_project(project_dir, resume, overwrite, role)
    settings = {k: v for k, v in (settings or {}).items() if v is not None and k not in ("task", "labels")}
    given = tuple(settings)
    if saved is not None:  # the saved settings fill in what this command leaves out (the seed above all)
        settings = {**saved["settings"], **settings}
    fixed = tuple(n for n in SEARCHABLE[task] if n in given or (saved and n in saved["fixed"]))
    base = CONFIGS[task](**settings).validate()
    if base.seed is None:
        base.seed = secrets.randbelow(2**31)

    entries = dict(space_entries or {})
    where = "search space"
    if space_file:
        entries.update(load_space_file(space_file))
        where = f"--search-space '{space_file}'"
    space = build_space(task, base, entries, fixed, where)
    search = Search(task, {k: v for k, v in base.to_dict().items() if k != "labels"}, space, tuner, objective,
                    executions_per_trial, max_trials, sorted(fixed))
    if saved is not None:
        difference = search.difference(saved, given)
        if difference:
            raise UserError(f"--resume: the search in '{project_dir}' is not this one: {difference}; "
                            "run it with its own settings, or start a new search in another --project-dir")
    data = PREPARE[task](base)
    if objective not in data.reports:
        raise UserError(f"--objective '{objective}' is not reported here (no validation data): use one of "
                        f"{', '.join(data.reports)}")

    if role in (None, "chief"):
        if overwrite and os.path.isdir(project_dir):
            shutil.rmtree(project_dir)
        os.makedirs(project_dir, exist_ok=True)
        write_atomic(os.path.join(project_dir, "search.json"),
                     json.dumps(dataclasses.asdict(search), indent=2) + "\n")
    model_builder = TaskHyperModel(data, space)
    tuner_obj = make_tuner(tuner, model_builder, objective, max_trials, executions_per_trial, base.epochs, base.seed,
                           project_dir, overwrite=False)
    # A trial process needs only what a resumed search would: the settings (seed included), the space.
    job = ({"task": task, "settings": search.settings, "space": space, "fingerprint": data.fingerprint}
           if trials_per_process else None)
    tuner_obj.attach(objective=objective, stream=stream, job=job, trials_per_process=trials_per_process,
                     verbose=verbose)
    ran = tuner_obj.trials_run_here
    where_run = {None: "", "chief": " as the chief (workers run the trials)"}.get(role, f" as worker {role}")
    print(f"{'resuming' if saved else 'starting'} a {tuner} search of {task}{where_run}: {data.description}; "
          f"up to {max_trials or 'all'} trials of {base.epochs} epochs; objective {objective}; "
          f"searching {', '.join(space)}; project '{project_dir}'"
          + ("; trials run in this process" if not trials_per_process else
             "; a fresh process for each trial" if trials_per_process == 1 else
             f"; a fresh process every {trials_per_process} trials"), file=stream, flush=True)
    try:
        # With trial processes each process makes its own datasets; none are made here.
        fit_data = {} if trials_per_process else data.fit_kwargs()
        tuner_obj.search(**fit_data, epochs=base.epochs, verbose=verbose, shuffle=False)
    except RuntimeError as exc:
        if "consecutive failures" not in str(exc):
            raise
        why = [line for line in str(exc).splitlines() if line.strip()][-1]
        raise UserError(f"the search stopped: {tuner_obj.oracle.max_consecutive_failed_trials} trials in a row "
                        f"failed, the last with: {why.strip()[:200]}; fix that, then --resume") from None
    finally:
        if tuner_obj.trial_process:
            tuner_obj.trial_process.close(kill=sys.exc_info()[0] is not None)
    if role not in (None, "chief"):
        print(f"worker {role} done: ran trials {', '.join(ran) or 'none'}", file=stream, flush=True)
        return SearchResult(project_dir, None, None, [], ran)
    rows = trial_rows(tuner_obj.oracle, objective)
    best = next((r for r in rows if r["status"] == "COMPLETED" and r["score"] is not None), None)
    if best is not None:
        write_atomic(os.path.join(project_dir, "best_hyperparameters.json"), json.dumps(
            {"task": task, "objective": objective, "score": best["score"], "trial": best["trial"],
             "values": best["values"]}, indent=2) + "\n")
    print(format_table(rows, space, objective), file=stream, flush=True)
    return SearchResult(project_dir, best and best["values"], best and best["score"], rows, ran)


def trial_rows(oracle, objective: str) -> list[dict]:
    direction = 1 if "loss" in objective else -1
    rows = []
    for trial_id, trial in oracle.trials.items():
        values = {k: v for k, v in trial.hyperparameters.values.items() if not k.startswith("tuner/")}
        rows.append({"trial": trial_id, "status": trial.status, "score": trial.score, "values": values,
                     "epochs": trial.hyperparameters.values.get("tuner/epochs")})
    return sorted(rows, key=lambda r: (r["score"] is None, direction * (r["score"] or 0), r["trial"]))


def format_table(rows: list[dict], space: dict, objective: str) -> str:
    names = list(space)
    header = ["trial", "status", objective] + names
    lines = [header] + [[r["trial"], r["status"].lower(), _fmt(r["score"])] + [_fmt(r["values"].get(n, "-")) for n in names]
                        for r in rows]
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    text = ["  ".join(str(v).ljust(w) for v, w in zip(line, widths)).rstrip() for line in lines]
    return "\n".join([f"{len(rows)} trials, best first:"] + text)


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


# --- the best configuration as an ordinary run ------------------------------------------------------
def best_settings(project_dir: str) -> tuple[str, dict]:
    """(task, settings) of a finished search's best trial: its fixed settings plus its values."""
    paths = [os.path.join(project_dir, f) for f in ("search.json", "best_hyperparameters.json")]
    for path in paths:
        if not os.path.isfile(path):
            raise UserError(f"'{project_dir}' has no {os.path.basename(path)}: give the --project-dir of a "
                            "search that has finished at least one trial")
    search, best = (json.load(open(p, encoding="utf-8")) for p in paths)
    return search["task"], {**search["settings"], **best["values"]}


def train_best(project_dir: str, run_dir: str, *, epochs: int | None = None, overwrite: bool = False,
               verbose: int = 0, stream=None):
    """Train the best configuration of a search into ``run_dir``, an ordinary run folder."""
    task, settings = best_settings(project_dir)
    if epochs is not None:
        settings["epochs"] = epochs
    if task == "textgen":
        from rnn_tf.train import train_textgen as train
    elif task == "classify":
        from rnn_tf.classify import train_classifier as train
    else:
        from rnn_tf.translate import train_translator as train
    return train(run_dir, settings, overwrite=overwrite, verbose=verbose, stream=stream)
