"""Callbacks that turn ``model.fit`` into a resumable, observable training run.

* ``SampleText``: after every epoch, print text sampled at several temperatures and append it to
  ``samples.txt``.
* ``RunCheckpoint``: after every epoch, save weights + optimizer state, the best weights by validation
  loss, a history row (with bits per character and perplexity), then commit the epoch in ``state.json``.
  An epoch whose loss is not finite is not saved, and training stops (the last good epoch stays).
"""

from __future__ import annotations

import math
import os
import sys
import time

import keras

from rnn_tf.runs import RunDir
from rnn_tf.sampling import Sampler

LN2 = math.log(2.0)


def bits(loss: float | None) -> float | None:
    """Cross-entropy in nats per token -> bits per token (bits per character for a char model)."""
    return None if loss is None else loss / LN2


def perplexity(loss: float | None) -> float | None:
    return None if loss is None else math.exp(min(loss, 700.0))


class SampleText(keras.callbacks.Callback):
    def __init__(self, sampler: Sampler, run: RunDir | None, prime: str, length: int,
                 temperatures, seed: int, stream=None):
        super().__init__()
        self.sampler, self.run, self.prime, self.length = sampler, run, prime, length
        self.temperatures, self.seed = list(temperatures), seed
        self.stream = stream or sys.stdout

    def on_epoch_end(self, epoch, logs=None):
        if not math.isfinite((logs or {}).get("loss", 0.0)):
            return
        samples = self.sampler.generate(
            self.prime, self.length, self.temperatures, seed=self.seed + epoch
        )
        lines = [f"\n----- samples after epoch {epoch + 1} (prime {self.prime!r}) -----"]
        for s in samples:
            lines.append(f"--- temperature {s.temperature:g}\n{self.prime}{s.text}")
        text = "\n".join(lines) + "\n"
        print(text, file=self.stream, flush=True)
        if self.run is not None:
            with open(self.run.samples, "a", encoding="utf-8") as f:
                f.write(text)


class RunCheckpoint(keras.callbacks.Callback):
    """Save and commit every epoch; ``best_val_loss`` carries over when a run is resumed."""

    def __init__(self, run: RunDir, best_val_loss: float | None = None, best_epoch: int | None = None,
                 stream=None):
        super().__init__()
        self.run = run
        self.best_val_loss = best_val_loss
        self.best_epoch = best_epoch
        self.stream = stream or sys.stdout
        self.stopped_on_nan = False
        self._started = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        number = epoch + 1  # Keras counts from 0; files and history count from 1
        loss, val_loss = logs.get("loss"), logs.get("val_loss")
        if loss is None or not math.isfinite(loss) or (val_loss is not None and not math.isfinite(val_loss)):
            self.stopped_on_nan = True
            self.model.stop_training = True
            print(f"epoch {number}: the loss is not finite; stopping without saving this epoch "
                  f"(lower --learning-rate or --clipnorm, then --resume)", file=self.stream, flush=True)
            return
        save_weights_atomic(self.model, self.run.checkpoint(number))
        improved = val_loss is not None and (self.best_val_loss is None or val_loss < self.best_val_loss)
        if improved:
            save_weights_atomic(self.model, self.run.best_weights)
            self.best_val_loss, self.best_epoch = float(val_loss), number
        row = {
            "epoch": number,
            "step": int(self.model.optimizer.iterations.numpy()),
            "loss": _fmt(loss),
            "bpc": _fmt(bits(loss)),
            "val_loss": _fmt(val_loss),
            "val_bpc": _fmt(bits(val_loss)),
            "val_perplexity": _fmt(perplexity(val_loss)),
            "learning_rate": _fmt(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))),
            "seconds": f"{time.perf_counter() - self._started:.1f}",
        }
        self.run.append_history(row)
        self.run.write_json(self.run.state, {
            "epoch": number, "step": row["step"],
            "best_epoch": self.best_epoch, "best_val_loss": self.best_val_loss,
        })
        summary = f"epoch {number}: loss {loss:.4f} ({bits(loss):.3f} bits/token)"
        if val_loss is not None:
            summary += (f", val_loss {val_loss:.4f} ({bits(val_loss):.3f} bits/token, "
                        f"perplexity {perplexity(val_loss):.2f})" + (", best so far" if improved else ""))
        print(summary, file=self.stream, flush=True)


def save_weights_atomic(model: keras.Model, path: str) -> None:
    """``model.save_weights`` to a temporary name, then rename: a crash never leaves half a file."""
    tmp = path[: -len(".weights.h5")] + ".partial.weights.h5"
    model.save_weights(tmp)
    os.replace(tmp, path)


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"

