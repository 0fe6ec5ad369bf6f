"""Run configurations: every setting of a run, saved as ``config.json`` in its run folder.

A config holds the model factory's arguments, so ``config.json`` + the vocabulary + a weights file is
all it takes to rebuild a model. ``RunConfig`` holds what every task shares (the recurrent model, the
optimizer, the epochs, the seed) and the checks; each task's config (``tasks/NAME.py``) adds its own
fields and may change the shared defaults. Every setting is checked here, once, in ``validate``: the
model factories below it trust their arguments.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass

from rnn_tf import names
from rnn_tf.errors import UserError


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_choice(name: str, value, choices, label: str | None = None) -> None:
    if value not in choices:
        raise UserError(f"unknown {label or flag(name)} '{value}': use one of {', '.join(map(str, choices))}")


def check_temperatures(temperatures) -> None:
    """Sampling temperatures: at least one, each above 0 (the one check, for configs and commands)."""
    if not temperatures:
        raise UserError("no temperature given: pass --temperature with one or more values above 0")
    for t in temperatures:
        if not (t > 0 and math.isfinite(t)):
            raise UserError(f"temperature {t} is not above 0: use e.g. --temperature 0.5 1.0")


def _has_type(value, hint) -> bool:
    """``isinstance`` for the annotations configs use: int, float (an int will do), str, bool,
    ``X | None`` and ``list[X]``. A bool is not an int here, though Python says it is."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return any(_has_type(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_has_type(v, item) for v in value)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _type_name(hint) -> str:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return " or ".join(_type_name(h) for h in typing.get_args(hint))
    if hint is type(None):
        return "null"
    if typing.get_origin(hint) is list:
        item = typing.get_args(hint)[0]
        return "a list of " + {int: "integers", float: "numbers", str: "strings"}.get(item, str(item))
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(hint, str(hint))


@dataclass
class RunConfig:
    """What every task's config shares: the shared fields, JSON round trip, checks, and the rules of
    ``--resume``. A task's config subclasses it (a dataclass too) and sets ``TASK``."""

    # model (the arguments every recurrent factory takes)
    cell: str = "lstm"
    units: int = 256
    layers: int = 1
    embedding_dim: int = 64
    dropout: float = 0.0
    rnn_implementation: str = "fast"  # fast | keras: the same model and weights, computed two ways
    level: str = "word"  # char | word: what a token is
    # training
    batch_size: int = 64
    epochs: int = 10
    learning_rate: float = 1e-3
    clipnorm: float = 5.0  # clip the global gradient norm; 0 switches clipping off
    patience: int = 0  # stop after this many epochs without a lower val_loss (0: never stop early)
    tensorboard: bool = False  # log every epoch's figures (and samples) under RUN/tensorboard
    max_time: float | None = None  # seconds of training before stopping (mid-epoch if need be); None: no limit
    strategy: str | None = None  # tf.distribute: none | mirrored | multi-worker (distribute.py); None: none
    seed: int | None = None  # None: drawn at random and saved here
    task: str = ""

    TASK = ""
    CELLS = names.CELLS  # the cells this task's factory accepts
    # what --resume may change (the implementation computes the same model, so it may change too)
    RESUMABLE: typing.ClassVar[tuple[str, ...]] = ("epochs", "patience", "rnn_implementation", "tensorboard",
                                                   "max_time", "strategy")
    PER_COMMAND: typing.ClassVar[tuple[str, ...]] = ("max_time", "strategy")  # not carried over by --resume

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict):
        """A config from its JSON form, every value of the type its field declares (a config.json
        edited by hand or damaged fails here, named, not later in arithmetic)."""
        if not isinstance(data, dict):
            raise UserError(f"config is a JSON {type(data).__name__}, not an object of settings")
        names_ = {f.name for f in dataclasses.fields(cls)}
        if data.get("task", cls.TASK) != cls.TASK:
            raise UserError(f"this run folder holds a '{data['task']}' run, not a {cls.TASK} run")
        unknown = sorted(set(data) - names_)
        if unknown:
            raise UserError(f"config has unknown settings {unknown}: it was written by another tool or version")
        hints = typing.get_type_hints(cls)
        for name, value in data.items():
            if not _has_type(value, hints[name]):
                raise UserError(f"setting '{name}' is {value!r}, not {_type_name(hints[name])}")
        return cls(**data)

    def validate(self):
        """Check every setting; returns self. Subclasses check their own fields, then call this."""
        self.check_positive("units", "layers", "embedding_dim", "batch_size", "epochs")
        check_choice("cell", self.cell, self.CELLS, "cell")
        check_choice("rnn_implementation", self.rnn_implementation, names.IMPLEMENTATIONS)
        check_choice("level", self.level, names.LEVELS)
        if not 0.0 <= self.dropout < 1.0:
            raise UserError(f"--dropout {self.dropout} is out of range: use a number in [0, 1)")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise UserError(f"--learning-rate {self.learning_rate} is not above 0")
        if not (self.clipnorm >= 0 and math.isfinite(self.clipnorm)):
            raise UserError(f"--clipnorm {self.clipnorm} is negative: use 0 (off) or a positive norm")
        if self.max_time is not None and not (self.max_time > 0 and math.isfinite(self.max_time)):
            raise UserError(f"--max-time {self.max_time} is not a positive duration: write e.g. 10m")
        if self.strategy is not None:
            check_choice("strategy", self.strategy, names.STRATEGIES)
        if self.patience < 0:
            raise UserError(f"--patience {self.patience} is negative: use 0 (never stop early) or more epochs")
        return self

    def check_positive(self, *names_: str, optional: tuple[str, ...] = ()) -> None:
        """Each of ``names_`` must be >= 1; each of ``optional`` too, unless it is None."""
        for name in names_ + optional:
            value = getattr(self, name)
            if value is None and name in optional:
                continue
            if value is None or value < 1:
                raise UserError(f"{flag(name)} {value} is too small: use 1 or more")

    def check_held_out_shares(self) -> None:
        """``test_fraction`` and ``val_fraction`` each in (0, 0.5)."""
        for name in ("test_fraction", "val_fraction"):
            if not 0.0 < getattr(self, name) < 0.5:
                raise UserError(f"{flag(name)} {getattr(self, name)} is out of range: use (0, 0.5)")

    def resumed_with(self, overrides: dict):
        """This (saved) config with ``overrides`` from a ``--resume`` command line; changing a setting
        outside ``RESUMABLE`` is an error, since it would silently change the run being continued.
        ``PER_COMMAND`` settings (the time budget) hold for one command: left out, they are off."""
        data = self.to_dict()
        for key in self.PER_COMMAND:
            data[key] = None
        for key, value in overrides.items():
            if key not in data:
                raise UserError(f"unknown setting '{key}'")
            if value != data[key] and key not in self.RESUMABLE:
                raise UserError(
                    f"{flag(key)} {value} differs from the run's saved {data[key]}: --resume continues a run "
                    f"as it was (only {', '.join(flag(k) for k in self.RESUMABLE)} may "
                    "change); drop the flag or start a new run"
                )
            data[key] = value
        return type(self).from_dict(data).validate()
