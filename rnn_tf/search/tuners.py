"""keras-tuner's tuners, each with ``SearchTuner`` mixed in: one line per finished trial, and
optionally each trial's build + fit in a trial process (``search.worker``).

Imports ``worker`` and ``hypermodel`` (never the other way round); ``run`` imports this module.
"""

from __future__ import annotations

import os
import time

import keras
import keras_tuner as kt

from rnn_tf.search.hypermodel import continue_trial
from rnn_tf.search.worker import TrialProcess


class SearchTuner:
    """Mixed into each keras-tuner tuner. Prints one line per finished trial (keras-tuner's own
    display is left quiet) and, given a ``job``, runs each trial's build + fit in a child process
    (``search.worker``) replaced every ``trials_per_process`` trials, so that the search's
    memory stays flat however many trials run."""

    def attach(self, *, objective: str, stream, job: dict | None, trials_per_process: int, verbose: int,
               tensorboard: str | None = None) -> None:
        self.report_objective, self.stream, self.job = objective, stream, job
        self.tensorboard = tensorboard  # a folder: each finished trial's hyperparameters and score, for HParams
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
        if self.tensorboard and score is not None:
            log_hparams(self.tensorboard, trial, self.report_objective, score)

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


def make_tuner(name: str, hypermodel, objective: str, max_trials: int | None, executions_per_trial: int,
               max_epochs: int, seed: int, project_dir: str, overwrite: bool):
    """keras-tuner's tuner ``name`` (one of ``names.TUNERS``, checked by the caller) over ``hypermodel``,
    its files in ``project_dir``; the objective is minimised if it is a loss, else maximised."""
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


def log_hparams(folder: str, trial, objective: str, score: float) -> None:
    """One trial as one session of TensorBoard's HParams dashboard: its hyperparameters and its score."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hparams

    values = {k: v for k, v in trial.hyperparameters.values.items() if not k.startswith("tuner/")}
    with tf.summary.create_file_writer(os.path.join(folder, f"trial-{trial.trial_id}")).as_default() as writer:
        hparams.hparams(values, trial_id=f"trial-{trial.trial_id}")
        tf.summary.scalar(objective, float(score), step=1)
        writer.flush()


def _fmt(value) -> str:
    """A value for a trial line or the results table: floats to 4 significant digits, None as -."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
