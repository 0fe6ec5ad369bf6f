"""``--max-time``: train for a time budget, stop mid-epoch if need be, and resume exactly from there.

    parse_duration   "90s", "10m", "2h", "1h30m" or plain seconds -> seconds
    TimeBudget       a callback that stops training at the end of the step where the budget runs out
    PartialEpoch     a callback that finishes a cut epoch: the resumed steps add to the cut part's sums

When the budget runs out inside an epoch, ``RunCheckpoint`` commits a *partial* epoch instead of a
whole one: the weights and optimizer state in ``checkpoints/partial.weights.h5`` and, in ``state.json``
under ``partial``, the epoch, how many of its steps ran, the sums its metrics and gradient norms had
reached, its seconds and dropout's generators. History, samples and the best weights stay those of the
last whole epoch. ``--resume`` restores the partial checkpoint and runs the rest of that epoch (the
training stream continues at the optimizer's step, so the batches are those an uninterrupted run would
have drawn), adding the saved sums to the epoch's metrics, so the epoch's history row reads as if it
had never stopped; then training goes on as before.
"""

from __future__ import annotations

import re
import time

import keras

PARTIAL_CHECKPOINT = "partial.weights.h5"  # in checkpoints/
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """Seconds in ``text``: "600", "90s", "10m", "2h", "1h30m", "1.5h"; a ValueError that says how
    to write one otherwise (argparse turns it into the usual one-line flag error)."""
    text = str(text).strip().lower()
    try:
        seconds = float(text)
    except ValueError:
        compact = text.replace(" ", "")
        if not re.fullmatch(r"(\d+(\.\d+)?[smhd])+", compact):
            raise ValueError(f"{text!r} is not a duration: write e.g. 600, 90s, 10m, 2h or 1h30m") from None
        seconds = sum(float(n) * _UNITS[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)([smhd])", compact))
    if not seconds > 0:
        raise ValueError(f"{text!r} is not a positive duration: write e.g. 10m")
    return seconds


def format_duration(seconds: float) -> str:
    minutes, s = divmod(round(seconds), 60)
    hours, m = divmod(minutes, 60)
    return f"{hours}h{m:02d}m{s:02d}s" if hours else f"{m}m{s:02d}s" if m else f"{s}s"


class TimeBudget(keras.callbacks.Callback):
    """Stops training at the end of the step where ``seconds`` (from the start of training) run out,
    and counts the steps of the current epoch, so ``RunCheckpoint`` can tell a cut epoch from a whole one."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.expired = False
        self.steps_in_epoch = 0
        self.metric_sums = None  # the metrics' running sums when it ran out (validation reuses the objects)

    def on_epoch_begin(self, epoch, logs=None):
        self.steps_in_epoch = 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps_in_epoch += 1
        if _any_worker(time.monotonic() >= self.deadline):
            self.expired = True
            self.model.stop_training = True
            self.metric_sums = [keras.ops.convert_to_numpy(v).tolist() for v in self.model.metrics_variables]


def now() -> float:
    """The clock budgets are measured with (one place, so tests can move it)."""
    return time.monotonic()


def _any_worker(flag: bool) -> bool:
    """``flag`` on any worker of a multi-worker cluster (``--strategy multi-worker``), so that every worker
    stops after the same step; elsewhere ``flag`` itself. One all-reduce of a number per step."""
    import tensorflow as tf

    strategy = tf.distribute.get_strategy()
    if getattr(strategy.extended, "_num_workers", 1) <= 1:
        return flag
    votes = strategy.run(lambda: tf.constant(1.0 if flag else 0.0))
    return bool(strategy.reduce("SUM", votes, axis=None).numpy() > 0)


class PartialEpoch(keras.callbacks.Callback):
    """The resumed part of a cut epoch: after its first step, add the cut part's metric sums and
    gradient-norm sums (running sums and counts, all of them) to the fresh ones. Placed before the
    ``TimeBudget``, so a budget that runs out at that step already sees the whole sums. (The cut
    part's seconds are ``RunCheckpoint.seconds_before``.)"""

    def __init__(self, partial: dict):
        super().__init__()
        self.partial = partial
        self._pending = True

    def on_train_batch_end(self, batch, logs=None):
        if not self._pending:
            return
        self._pending = False
        saved = self.partial.get("metrics") or []
        variables = list(self.model.metrics_variables)
        if len(saved) == len(variables):
            for variable, value in zip(variables, saved):
                variable.assign(variable + keras.ops.cast(value, variable.dtype))
        norms = getattr(self.model.optimizer, "_norms", None)
        previous = self.partial.get("norms")
        if norms is not None and previous:
            now = keras.ops.convert_to_numpy(norms)
            norms.assign([now[0], now[1] + previous[1], now[2] + previous[2], max(now[3], previous[3])])


def partial_record(model: keras.Model, budget: TimeBudget, epoch: int, steps_done: int, seconds: float,
                   rng: list) -> dict:
    """What ``state.json`` keeps of a cut epoch (see the module docstring); ``rng``: dropout's generator
    states (``callbacks.rng_states``)."""
    norms = getattr(model.optimizer, "_norms", None)
    return {
        "epoch": epoch,
        "steps_done": steps_done,
        "step": int(model.optimizer.iterations.numpy()),
        "seconds": seconds,
        "metrics": budget.metric_sums,
        "norms": None if norms is None else keras.ops.convert_to_numpy(norms).tolist(),
        "rng_states": rng,
    }
