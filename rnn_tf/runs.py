"""The run folder: everything needed to rebuild a model, continue training it, or sample from it.

    config.json                  the task and every setting (the factory's arguments among them)
    vocab.json                   the vocabulary
    checkpoints/epoch-NNN.weights.h5   weights + optimizer state after every epoch
    best.weights.h5              the epoch with the lowest validation loss so far
    state.json                   the last completed epoch and the best one (written last: the commit point)
    history.csv                  one row per epoch
    samples.txt                  text sampled (or sentences translated) after every epoch
  and, for the tasks that have them:
    split.json                   the seeded train / validation / test split (indices into the data)
    source_vocab.json, target_vocab.json   translation's two vocabularies (instead of vocab.json)
    metrics.json                 the best epoch's test scores
    confusion.png                classification: the test split's confusion matrix
    folds.json, fold-K/          k-fold cross-validation: the summary, and one run folder per fold

Files are written to a temporary name and renamed into place, so a crash never leaves half a file
behind; ``state.json`` is written after the epoch's weights and history, so on ``--resume`` everything
it names is complete.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from dataclasses import dataclass

from rnn_tf.errors import UserError


@dataclass(frozen=True)
class RunDir:
    path: str

    @property
    def config(self) -> str:
        return os.path.join(self.path, "config.json")

    @property
    def vocab(self) -> str:
        return os.path.join(self.path, "vocab.json")

    @property
    def state(self) -> str:
        return os.path.join(self.path, "state.json")

    @property
    def history(self) -> str:
        return os.path.join(self.path, "history.csv")

    @property
    def samples(self) -> str:
        return os.path.join(self.path, "samples.txt")

    @property
    def split(self) -> str:
        return os.path.join(self.path, "split.json")

    @property
    def source_vocab(self) -> str:
        return os.path.join(self.path, "source_vocab.json")

    @property
    def target_vocab(self) -> str:
        return os.path.join(self.path, "target_vocab.json")

    @property
    def metrics(self) -> str:
        return os.path.join(self.path, "metrics.json")

    @property
    def confusion(self) -> str:
        return os.path.join(self.path, "confusion.png")

    @property
    def folds(self) -> str:
        return os.path.join(self.path, "folds.json")

    def fold(self, k: int) -> "RunDir":
        """The run folder of fold ``k`` (from 1) of a cross-validated run."""
        return RunDir(os.path.join(self.path, f"fold-{k}"))

    @property
    def best_weights(self) -> str:
        return os.path.join(self.path, "best.weights.h5")

    @property
    def checkpoints(self) -> str:
        return os.path.join(self.path, "checkpoints")

    def checkpoint(self, epoch: int) -> str:
        return os.path.join(self.checkpoints, f"epoch-{epoch:03d}.weights.h5")

    # -- creating ---------------------------------------------------------------------------------
    def exists(self) -> bool:
        return os.path.isfile(self.config)

    def check_new(self, overwrite: bool = False) -> None:
        """May a new run start here? Refuses a non-empty folder unless ``overwrite`` is set, and even
        then refuses a folder that is not an rnn_tf run (no ``config.json``). Deletes nothing."""
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise UserError(f"run folder '{self.path}' is a file: choose another --run-dir")
        if os.path.isdir(self.path) and os.listdir(self.path):
            if not overwrite:
                raise UserError(
                    f"run folder '{self.path}' is not empty: pass --resume to continue it, "
                    "--overwrite to replace it, or choose another --run-dir"
                )
            if not self.exists():
                raise UserError(
                    f"run folder '{self.path}' holds files that are not an rnn_tf run; "
                    "refusing to overwrite it: choose another --run-dir"
                )

    def prepare_new(self, overwrite: bool = False) -> None:
        """``check_new``, then clear an old run (with ``overwrite``) and create the folders.
        Call it only after every input has been checked: it is the first step that deletes."""
        self.check_new(overwrite)
        if os.path.isdir(self.path) and os.listdir(self.path):
            shutil.rmtree(self.path)
        os.makedirs(self.checkpoints, exist_ok=True)

    def require(self) -> None:
        if not self.exists():
            raise UserError(
                f"'{self.path}' is not a run folder (no config.json): give the --run-dir of a training run"
            )

    # -- json -------------------------------------------------------------------------------------
    def write_json(self, path: str, data: dict) -> None:
        write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")

    def read_json(self, path: str) -> dict:
        try:
            with open(path, encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            raise UserError(f"run folder '{self.path}' has no {os.path.basename(path)}: it is incomplete") from None
        except json.JSONDecodeError as exc:
            raise UserError(f"'{path}' is not valid JSON (line {exc.lineno}): restore or remove it") from None

    def read_config(self) -> dict:
        self.require()
        return self.read_json(self.config)

    def read_state(self) -> dict:
        """``{"epoch": last completed epoch, "best_epoch": ..., "best_val_loss": ...}`` (epoch 0 if none)."""
        if not os.path.isfile(self.state):
            return {"epoch": 0, "best_epoch": None, "best_val_loss": None}
        return self.read_json(self.state)

    # -- weights ----------------------------------------------------------------------------------
    def weights(self, which: str = "best") -> str:
        """The weights file for ``best``, ``last`` or a path; ``best`` falls back to ``last`` when the
        run had no validation data."""
        if which not in ("best", "last"):
            if not os.path.isfile(which):
                raise UserError(f"weights file '{which}' not found: use best, last or a .weights.h5 path")
            return which
        if which == "best" and os.path.isfile(self.best_weights):
            return self.best_weights
        epoch = self.read_state()["epoch"]
        if not epoch or not os.path.isfile(self.checkpoint(epoch)):
            raise UserError(f"run folder '{self.path}' has no saved weights yet: train at least one epoch")
        return self.checkpoint(epoch)

    # -- history ----------------------------------------------------------------------------------
    def read_history(self) -> list[dict]:
        if not os.path.isfile(self.history):
            return []
        with open(self.history, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))

    def truncate_history(self, epoch: int) -> None:
        """Keep the rows of epochs 1..``epoch`` (an epoch interrupted after its row was written but
        before its checkpoint was committed is dropped, so a resumed history has no duplicate)."""
        rows = [r for r in self.read_history() if int(r["epoch"]) <= epoch]
        if not rows:
            if os.path.exists(self.history):
                os.remove(self.history)
            return
        fields = list(rows[0].keys())
        write_atomic(self.history, _csv_text(fields, rows))

    def append_history(self, row: dict) -> None:
        new = not os.path.isfile(self.history)
        with open(self.history, "a", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(row.keys()))
            if new:
                writer.writeheader()
            writer.writerow(row)


def write_atomic(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def _csv_text(fields: list[str], rows: list[dict]) -> str:
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()
