"""Callbacks that turn ``model.fit`` into a resumable, observable training run.

* ``SampleText``: after every epoch, print text sampled at several temperatures and append it to
  ``samples.txt``.
* ``SampleTranslations``: after every epoch, print a few held-out sentences with the model's current
  (greedy) translations and their references, and append them to ``samples.txt``.
* ``TensorBoardLog``: after every committed epoch, its history row as TensorBoard scalars (and the
  epoch's samples as text) under ``RUN/tensorboard``.
* ``RunCheckpoint``: after every epoch, save weights + optimizer state, the best weights by validation
  loss, a history row (with bits per character and perplexity), then commit the epoch in ``state.json``.
  An epoch whose loss is not finite is not saved, and training stops (the last good epoch stays).
  With ``--patience N``, training also stops after N epochs without a lower validation loss.
"""

from __future__ import annotations

import errno
import math
import os
import shutil
import sys
import time

import keras

from rnn_tf.integrity import committed_files
from rnn_tf.runs import RunDir
from rnn_tf.sampling import Sampler

LN2 = math.log(2.0)


def bits(loss: float | None) -> float | None:
    """Cross-entropy in nats per token -> bits per token (bits per character for a char model)."""
    return None if loss is None else loss / LN2


def perplexity(loss: float | None) -> float | None:
    return None if loss is None else math.exp(min(loss, 700.0))


def language_model_columns(logs: dict) -> dict:
    """History columns of a language model: the loss also in bits per token and as perplexity."""
    loss, val_loss = logs.get("loss"), logs.get("val_loss")
    return {"loss": loss, "bpc": bits(loss), "val_loss": val_loss, "val_bpc": bits(val_loss),
            "val_perplexity": perplexity(val_loss)}


def logged_columns(logs: dict) -> dict:
    """History columns by default: every metric Keras logged, training ones first."""
    keys = [k for k in logs if not k.startswith("val_") and k != "learning_rate"]
    return {k: logs.get(k) for k in keys + [f"val_{k}" for k in keys if f"val_{k}" in logs]}


def publish_samples(text: str, run: RunDir | None, stream) -> None:
    """Print an epoch's samples and append them to the run's ``samples.txt``."""
    print(text, end="", file=stream, flush=True)
    if run is not None:
        with open(run.samples, "a", encoding="utf-8") as f:
            f.write(text)


class SampleText(keras.callbacks.Callback):
    """After every epoch, samples at several temperatures (for every label of a conditioned run, up to
    ``MAX_LABELS_SHOWN``); in line mode (``items`` > 0) that many whole items per temperature."""

    MAX_LABELS_SHOWN = 4

    def __init__(self, sampler: Sampler, run: RunDir | None, prime: str, length: int,
                 temperatures, seed: int, stream=None, conditions: list[tuple[str, int]] | None = None,
                 items: int = 0, notes=None):
        super().__init__()
        self.sampler, self.run, self.prime, self.length = sampler, run, prime, length
        self.temperatures, self.seed = list(temperatures), seed
        self.stream = stream or sys.stdout
        self.conditions = (conditions or [])[: self.MAX_LABELS_SHOWN] or None
        self.items = items
        self.notes = notes  # text -> how much of it is copied from the training text (copying.SampleNotes)

    def on_epoch_end(self, epoch, logs=None):
        if not math.isfinite((logs or {}).get("loss", 0.0)):
            return
        if self.items:
            samples = self.sampler.items(self.prime, self.length, self.temperatures, self.items,
                                         seed=self.seed + epoch, conditions=self.conditions)
            lines = [f"\n----- items after epoch {epoch + 1} -----"]
            for key in dict.fromkeys((s.condition, s.temperature) for s in samples):
                label = "" if key[0] is None else f"{key[0]}, "
                texts = [s.text + ("" if s.ended else " [...]") for s in samples if (s.condition, s.temperature) == key]
                lines.append(f"--- {label}temperature {key[1]:g}: " + " | ".join(texts))
        else:
            samples = self.sampler.generate(self.prime, self.length, self.temperatures, seed=self.seed + epoch,
                                            conditions=self.conditions)
            lines = [f"\n----- samples after epoch {epoch + 1} (prime {self.prime!r}) -----"]
            for s in samples:
                label = "" if s.condition is None else f"{s.condition}, "
                note = self.notes(s.text) if self.notes else None  # the drawn text, not the prime
                note = f" ({note})" if note else ""
                lines.append(f"--- {label}temperature {s.temperature:g}{note}\n{self.prime}{s.text}")
        publish_samples("\n".join(lines) + "\n", self.run, self.stream)


class SampleTranslations(keras.callbacks.Callback):
    """After every epoch, ``translate()`` returns the model's translations of ``sources`` (a fixed few)."""

    def __init__(self, translate, sources: list[str], references: list[str], run: RunDir | None, stream=None):
        super().__init__()
        self.translate, self.sources, self.references, self.run = translate, sources, references, run
        self.stream = stream or sys.stdout

    def on_epoch_end(self, epoch, logs=None):
        if not self.sources or not math.isfinite((logs or {}).get("loss", 0.0)):
            return
        lines = [f"----- translations after epoch {epoch + 1} -----"]
        for source, reference, output in zip(self.sources, self.references, self.translate()):
            lines += [f"  {source}", f"  > {output}", f"  = {reference}"]
        publish_samples("\n".join(lines) + "\n", self.run, self.stream)


class RunCheckpoint(keras.callbacks.Callback):
    """Save and commit every epoch; ``best_val_loss`` carries over when a run is resumed. With
    ``patience`` N > 0, stop after N committed epochs in a row without a lower validation loss."""

    def __init__(self, run: RunDir, best_val_loss: float | None = None, best_epoch: int | None = None,
                 stream=None, columns=logged_columns, patience: int = 0, max_loss: float | None = None,
                 resumable: tuple[str, ...] = (), budget=None):
        super().__init__()
        self.run = run
        self.budget = budget  # budget.TimeBudget with --max-time: an epoch it cuts is committed as partial
        self.epoch_steps = None  # the steps this fit's epochs run (fit_run sets it)
        self.steps_before = 0  # a resumed cut epoch: the steps it ran before
        self.seconds_before = 0.0  # and the seconds
        self.columns = columns
        self.best_val_loss = best_val_loss
        self.best_epoch = best_epoch
        self.patience = patience
        self.max_loss = max_loss  # a training loss above this counts as divergence too
        self.resumable = resumable  # the config settings a resume may change (left out of its fingerprint)
        self.stream = stream or sys.stdout
        self.stopped_on_nan = False
        self._started = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter() - self.seconds_before
        if hasattr(self.model.optimizer, "reset_gradient_norms"):
            self.model.optimizer.reset_gradient_norms()

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        number = epoch + 1  # Keras counts from 0; files and history count from 1
        loss, val_loss = logs.get("loss"), logs.get("val_loss")
        if loss is None or not math.isfinite(loss) or (val_loss is not None and not math.isfinite(val_loss)):
            why = "the loss is not finite"
        elif self.max_loss is not None and loss > self.max_loss:
            why = f"the loss {loss:.4g} is far above an untrained model's (limit {self.max_loss:.4g})"
        else:
            why = None
        if why:
            self.stopped_on_nan = True
            self.model.stop_training = True
            print(f"epoch {number}: {why}; stopping without saving this epoch", file=self.stream, flush=True)
            return
        if self.budget is not None and self.budget.expired and self.budget.steps_in_epoch < (self.epoch_steps or 0):
            self._commit_partial(number)
            return
        save_weights_atomic(self.model, self.run.checkpoint(number))
        improved = val_loss is not None and (self.best_val_loss is None or val_loss < self.best_val_loss)
        if improved:
            save_weights_atomic(self.model, self.run.best_weights)
            self.best_val_loss, self.best_epoch = float(val_loss), number
        columns = self.columns(logs)
        row = {
            "epoch": number,
            "step": int(self.model.optimizer.iterations.numpy()),
            **{k: _fmt(v) for k, v in columns.items()},
            **gradient_norm_columns(self.model.optimizer),
            "learning_rate": _fmt(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))),
            "seconds": f"{time.perf_counter() - self._started:.1f}",
        }
        self.run.append_history(row)
        self.run.write_json(self.run.state, {  # the commit point
            "epoch": number, "step": row["step"],
            "best_epoch": self.best_epoch, "best_val_loss": self.best_val_loss,
            "rng_states": rng_states(self.model),
            "files": committed_files(self.run, self.run.read_state(), number, self.resumable),
        })
        summary = f"epoch {number}: " + ", ".join(
            f"{k} {v:.4f}" for k, v in columns.items() if v is not None
        ) + (" (best so far)" if improved else "")
        print(summary, file=self.stream, flush=True)
        if out_of_patience(self.patience, number, self.best_epoch):
            self.model.stop_training = True
            print(f"no lower val_loss for {self.patience} epochs (best: epoch {self.best_epoch}): stopping early",
                  file=self.stream, flush=True)


    def _commit_partial(self, number: int) -> None:
        """The time budget ran out inside epoch ``number``: save where it stands (see ``budget``)."""
        from rnn_tf.budget import PARTIAL_CHECKPOINT, format_duration, partial_record
        from rnn_tf.integrity import sha256_file

        path = os.path.join(self.run.checkpoints, PARTIAL_CHECKPOINT)
        save_weights_atomic(self.model, path)
        done = self.steps_before + self.budget.steps_in_epoch
        state = self.run.read_state()
        record = partial_record(self.model, self.budget, number, done, time.perf_counter() - self._started,
                                rng_states(self.model))
        state["partial"] = {**record,
                            "sha256": sha256_file(path)}
        self.run.write_json(self.run.state, state)  # the commit point
        total = self.steps_before + self.epoch_steps
        print(f"time budget ({format_duration(self.budget.seconds)}) used up after step {done} of {total} of epoch "
              f"{number}: saved where it stands; continue with --resume", file=self.stream, flush=True)


def gradient_norm_columns(optimizer) -> dict:
    """The epoch's global gradient norm before clipping, mean and largest over its steps (see
    ``fitting.DenseGradients``): where exploding gradients show, and what ``--clipnorm`` acts on."""
    if not hasattr(optimizer, "gradient_norms"):
        return {}
    norms = optimizer.gradient_norms()
    return {"grad_norm": _fmt(norms["mean"]), "grad_norm_max": _fmt(norms["max"])}


def out_of_patience(patience: int, epoch: int, best_epoch: int | None) -> bool:
    """Early stopping's rule: ``patience`` epochs (> 0) have passed since the best one."""
    return bool(patience) and best_epoch is not None and epoch - best_epoch >= patience


def rng_variables(model: keras.Model) -> list:
    """Every random-number generator state in the model (dropout's), in the model's variable order.
    Their paths are numbered by how many generators the process has made, so order, which the
    architecture fixes, identifies them."""
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


def rng_states(model: keras.Model) -> list:
    """``.weights.h5`` does not hold the generators' states; saved beside the epoch, they let a resumed
    run draw the same dropout masks as a run that never stopped."""
    return [keras.ops.convert_to_numpy(v).tolist() for v in rng_variables(model)]


def save_weights_atomic(model: keras.Model, path: str) -> None:
    """``model.save_weights`` to a temporary name of this process, then rename: a crash never leaves
    half a file, and a failed save (a full disk) removes its partial file."""
    tmp = path[: -len(".weights.h5")] + f".partial-{os.getpid()}.weights.h5"
    check_free_space(model, os.path.dirname(path))
    try:
        model.save_weights(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def check_free_space(model: keras.Model, folder: str) -> None:
    """Refuse to start a save that cannot fit: HDF5 writing into a full disk can crash the process
    (a segmentation fault) instead of raising an error."""
    variables = list(model.weights) + list(getattr(model.optimizer, "variables", []) or [])
    needed = sum(math.prod(v.shape) * 4 for v in variables) + (1 << 20)  # float32, plus HDF5's own
    free = shutil.disk_usage(folder or ".").free
    if free < needed:
        raise OSError(errno.ENOSPC, f"No space left on device: saving the weights needs about "
                                    f"{needed / 2**20:.1f} MiB, {free / 2**20:.1f} MiB are free", folder)


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"



class TensorBoardLog(keras.callbacks.Callback):
    """After every committed epoch (it runs after ``RunCheckpoint``): every number of the epoch's
    ``history.csv`` row (loss, bits per token, accuracy, learning rate, the global gradient norm's mean
    and largest, seconds) as a TensorBoard scalar at step = epoch, and the epoch's part of
    ``samples.txt`` as text. What TensorBoard shows is what the run folder holds; a resumed run writes
    to the same folder, so its curves go on where they stopped. ``images(epoch)``, when a task gives
    it, returns {tag: PNG bytes or a number}: images (a classifier's validation confusion matrix, a
    translator's attention map) and figures worth the time only when someone watches (a translator's
    validation BLEU), at that epoch."""

    def __init__(self, run: RunDir, images=None):
        super().__init__()
        self.run = run
        self.images = images
        self._writer = None

    def _summaries(self):
        import tensorflow as tf

        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.run.tensorboard)
        return self._writer

    def on_epoch_end(self, epoch, logs=None):
        import tensorflow as tf

        rows = [r for r in self.run.read_history() if r.get("epoch") == str(epoch + 1)]
        if not rows:  # not committed (diverged): nothing to show
            return
        with self._summaries().as_default(step=epoch + 1):
            for name, value in rows[-1].items():
                try:
                    number = float(value)
                except (TypeError, ValueError):
                    continue
                if name not in ("epoch", "step") and math.isfinite(number):
                    tf.summary.scalar(name, number)
            text = self.run.epoch_samples(epoch + 1)
            if text:
                tf.summary.text("samples", tf.constant("    " + text.replace("\n", "\n    ")))  # markdown: verbatim
            for tag, value in (self.images(epoch + 1) if self.images else {}).items():
                if isinstance(value, bytes):
                    tf.summary.image(tag, tf.io.decode_png(value, channels=3)[None])
                else:
                    tf.summary.scalar(tag, float(value))
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
