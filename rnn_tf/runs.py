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
    char_vocab.json, feature_vocab_K.json  tagging's characters and feature columns; baseline.json
    metrics.json                 the best epoch's test scores
    confusion.png                classification: the test split's confusion matrix
    folds.json, fold-K/          k-fold cross-validation: the summary, and one run folder per fold

Files are written to a temporary name and renamed into place, so a crash never leaves half a file
behind; ``state.json`` is written after the epoch's weights and history, so on ``--resume`` everything
it names is complete.
"""

from __future__ import annotations

import csv
import glob
import json
import math
import os
import re
import shutil
from dataclasses import dataclass

from rnn_tf.errors import UserError
from rnn_tf.locks import LOCK_FILE


@dataclass(frozen=True)
class RunDir:
    path: str

    def _file(name: str):  # noqa: N805 - a property factory used in the class body below
        return property(lambda self: os.path.join(self.path, name), doc=f"the run's {name}")

    # every file any task writes (see the module docstring)
    config, vocab, state = _file("config.json"), _file("vocab.json"), _file("state.json")
    history, samples, split = _file("history.csv"), _file("samples.txt"), _file("split.json")
    source_vocab, target_vocab = _file("source_vocab.json"), _file("target_vocab.json")  # translation
    char_vocab, baseline = _file("char_vocab.json"), _file("baseline.json")  # tagging
    metrics, confusion, folds = _file("metrics.json"), _file("confusion.png"), _file("folds.json")
    best_weights, checkpoints = _file("best.weights.h5"), _file("checkpoints")
    tensorboard = _file("tensorboard")  # TensorBoard's event files (--tensorboard)
    pretrained = _file("pretrained.json")  # classify --embeddings / --init-from: what was found
    del _file

    def feature_vocab(self, k: int) -> str:
        """Tagging: the vocabulary of the ``k``-th feature column (from 1)."""
        return os.path.join(self.path, f"feature_vocab_{k}.json")

    def fold(self, k: int) -> "RunDir":
        """The run folder of fold ``k`` (from 1) of a cross-validated run."""
        return RunDir(os.path.join(self.path, f"fold-{k}"))

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
        if os.path.isdir(self.path) and self._contents():
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
        for name in self._contents() if os.path.isdir(self.path) else []:  # the lock file stays
            path = os.path.join(self.path, name)
            shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.remove(path)
        os.makedirs(self.checkpoints, exist_ok=True)

    def _contents(self) -> list[str]:
        """The folder's entries, except the lock file of whoever is writing it."""
        return [name for name in os.listdir(self.path) if name != LOCK_FILE]

    def require(self) -> None:
        if not self.exists():
            raise UserError(
                f"'{self.path}' is not a run folder (no config.json): give the --run-dir of a training run"
            )

    # -- json -------------------------------------------------------------------------------------
    def write_json(self, path: str, data: dict) -> None:
        write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")

    # Every run file is read here, and checked here: a defect is one line naming the file and what to
    # do (a UserError: exit code 2), never a traceback from deep inside training.
    def read_json(self, path: str):
        try:
            with open(path, encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            raise UserError(f"run folder '{self.path}' has no {os.path.relpath(path, self.path)}: it is incomplete; "
                            "restore the file, or start the run again with --overwrite") from None
        except json.JSONDecodeError as exc:
            raise UserError(damaged(path, f"not valid JSON, line {exc.lineno}")) from None
        except UnicodeDecodeError as exc:
            raise UserError(damaged(path, f"not UTF-8 text, byte {exc.start}")) from None
        except OSError as exc:
            raise UserError(f"cannot read '{path}': {exc.strerror}") from None

    def read_config(self) -> dict:
        self.require()
        return self.read_json(self.config)

    def load_config(self, config_cls):
        """The run's config as ``config_cls``, with every setting's type and value checked."""
        data = self.read_config()
        if isinstance(data, dict) and data.get("task", config_cls.TASK) != config_cls.TASK:
            raise UserError(f"'{self.path}' holds a '{data['task']}' run, not a {config_cls.TASK} run")
        try:
            return config_cls.from_dict(data).validate()
        except UserError as exc:
            raise UserError(damaged(self.config, str(exc))) from None

    def load_vocab(self, path: str | None = None):
        """A vocabulary file of the run (``vocab.json`` unless ``path`` names another), checked:
        ``<pad>`` and ``<unk>`` first, unique tokens, single characters in a character vocabulary."""
        from rnn_tf.vocab import Vocabulary

        path = path or self.vocab
        data = self.read_json(path)
        try:
            return Vocabulary.from_dict(data)
        except (ValueError, KeyError, TypeError, UserError) as exc:
            raise UserError(damaged(path, str(exc).strip("'\""))) from None

    def read_split(self, path: str | None = None) -> dict:
        """``split.json``: lists of example indices for train, val and test."""
        path = path or self.split
        split = self.read_json(path)
        for part in ("train", "val", "test"):
            ids = split.get(part) if isinstance(split, dict) else None
            if not isinstance(ids, list) or not all(_is_count(i) for i in ids):
                raise UserError(damaged(path, f"'{part}' is not a list of example numbers"))
        return split

    def read_state(self) -> dict:
        """``{"epoch": last completed epoch, "best_epoch": ..., "best_val_loss": ...}`` (epoch 0 if none)."""
        if not os.path.isfile(self.state):
            return {"epoch": 0, "best_epoch": None, "best_val_loss": None}
        state = self.read_json(self.state)
        problem = _state_problem(state)
        if problem:
            raise UserError(damaged(self.state, problem))
        return state

    # -- weights ----------------------------------------------------------------------------------
    def weights(self, which: str = "best") -> str:
        """The weights file for ``best``, ``last`` or a path. ``best`` is the committed best epoch's
        checkpoint (``best.weights.h5`` holds the same weights, but an epoch interrupted before its
        commit may have replaced it); it falls back to ``last`` when the run had no validation data."""
        if which not in ("best", "last"):
            if not os.path.isfile(which):
                raise UserError(f"weights file '{which}' not found: use best, last or a .weights.h5 path")
            return which
        state = self.read_state()
        if which == "best" and state.get("best_epoch") and os.path.isfile(self.checkpoint(state["best_epoch"])):
            return self.checkpoint(state["best_epoch"])
        if which == "best" and os.path.isfile(self.best_weights):
            return self.best_weights
        epoch = state["epoch"]
        if not epoch or not os.path.isfile(self.checkpoint(epoch)):
            raise UserError(f"run folder '{self.path}' has no saved weights yet: train at least one epoch")
        return self.checkpoint(epoch)

    # -- history ----------------------------------------------------------------------------------
    def read_history(self) -> list[dict]:
        if not os.path.isfile(self.history):
            return []
        try:
            with open(self.history, newline="", encoding="utf-8") as f:
                reader = csv.DictReader(f)
                rows = list(reader)
        except (UnicodeDecodeError, csv.Error) as exc:
            raise UserError(damaged(self.history, str(exc)[:80])) from None
        if reader.fieldnames and "epoch" not in reader.fieldnames:
            raise UserError(damaged(self.history, "no 'epoch' column"))
        if not all(str(r.get("epoch", "")).isdigit() for r in rows):
            raise UserError(damaged(self.history, "a row without an epoch number"))
        return rows

    def truncate_history(self, epoch: int) -> None:
        """Keep the rows of epochs 1..``epoch`` (an epoch interrupted after its row was written but
        before its checkpoint was committed is dropped, so a resumed history has no duplicate)."""
        history = self.read_history()
        rows = [r for r in history if int(r["epoch"]) <= epoch]
        if [int(r["epoch"]) for r in rows] != list(range(1, epoch + 1)):
            raise UserError(damaged(self.history, f"its rows do not match the {epoch} committed epoch(s)"))
        if len(rows) == len(history):
            return  # nothing to drop: the file is left as it is
        if not rows:
            if os.path.exists(self.history):
                os.remove(self.history)
            return
        fields = list(rows[0].keys())
        write_atomic(self.history, csv_text(fields, rows))

    def truncate_samples(self, epoch: int) -> None:
        """Keep the samples of epochs 1..``epoch``: an epoch sampled but killed before its commit leaves
        its block behind, and the resumed run writes that epoch's samples again."""
        if not os.path.isfile(self.samples):
            return
        with open(self.samples, encoding="utf-8") as f:
            text = f.read()
        for match in _SAMPLE_HEADER.finditer(text):
            if int(match.group(1)) > epoch:
                cut = match.start()
                if cut and text[cut - 1] == "\n" and (cut == 1 or text[cut - 2] == "\n"):
                    cut -= 1  # the block's own leading blank line (text generation's blocks have one)
                write_atomic(self.samples, text[:cut])
                return

    def epoch_samples(self, epoch: int) -> str:
        """The block of ``samples.txt`` that epoch ``epoch`` wrote ("" if none)."""
        if not os.path.isfile(self.samples):
            return ""
        with open(self.samples, encoding="utf-8") as f:
            text = f.read()
        headers = list(_SAMPLE_HEADER.finditer(text))
        for k, match in enumerate(headers):
            if int(match.group(1)) == epoch:
                end = headers[k + 1].start() if k + 1 < len(headers) else len(text)
                return text[match.start():end].strip("\n")
        return ""

    def remove_partials(self) -> list[str]:
        """Delete what an interrupted writer left behind (``*.partial-PID.weights.h5``, ``*.PID.tmp``);
        only a writer holding the run's lock may call it. Returns the paths removed."""
        removed = []
        for pattern in ("*.partial*.weights.h5", "*.tmp"):
            for path in glob.glob(os.path.join(glob.escape(self.path), "**", pattern), recursive=True):
                os.remove(path)
                removed.append(path)
        return removed

    def append_history(self, row: dict) -> None:
        new = not os.path.isfile(self.history)
        if not new:
            with open(self.history, newline="", encoding="utf-8") as f:
                header = next(csv.reader(f), [])
            if header != list(row):  # a run from an older version gains columns: rewrite it with all of them
                fields = header + [k for k in row if k not in header]
                write_atomic(self.history, csv_text(fields, [*self.read_history(), row]))
                return
        with open(self.history, "a", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(row.keys()), lineterminator="\n")
            if new:
                writer.writeheader()
            writer.writerow(row)


_SAMPLE_HEADER = re.compile(r"^-{5} (?:samples|items|translations|tags) after epoch (\d+)\b", re.M)


def damaged(path: str, why: str) -> str:
    return f"'{path}' is damaged ({why}): restore it from a copy, or start the run again with --overwrite"


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _state_problem(state) -> str | None:
    """What is wrong with a parsed ``state.json``, or None."""
    if not isinstance(state, dict):
        return f"a JSON {type(state).__name__}, not an object"
    epoch, best, loss = state.get("epoch"), state.get("best_epoch"), state.get("best_val_loss")
    if not _is_count(epoch):
        return f"'epoch' is {epoch!r}, not a number of epochs"
    if best is not None and not (_is_count(best) and 1 <= best <= epoch):
        return f"'best_epoch' is {best!r}, not an epoch from 1 to {epoch}"
    if loss is not None and not (isinstance(loss, (int, float)) and not isinstance(loss, bool) and math.isfinite(loss)):
        return f"'best_val_loss' is {loss!r}, not a finite number"
    if (best is None) != (loss is None):
        return "'best_epoch' and 'best_val_loss' must both be set or both be null"
    if "step" in state and not _is_count(state["step"]):
        return f"'step' is {state['step']!r}, not a number of steps"
    if not isinstance(state.get("rng_states", []), list):
        return "'rng_states' is not a list"
    return None


def copy_atomic(source: str, path: str) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    shutil.copyfile(source, tmp)
    os.replace(tmp, path)


def write_atomic(path: str, text: str) -> None:
    """Write ``text`` to a temporary name of this process, then rename it into place: a crash never
    leaves half a file, and two processes never write the same temporary file."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def csv_text(fields: list[str], rows: list[dict]) -> str:
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()
