"""The search-space language: which values a search tries for each setting.

A space maps a setting name to an entry. The long forms, as a JSON or YAML ``--search-space`` file
may write them::

    units:   {type: int, min: 32, max: 256, step: 32}      # also: sampling linear | log
    dropout: {type: float, min: 0.0, max: 0.5, step: 0.1}  # also: sampling linear | log | reverse_log
    cell:    {type: choice, values: [lstm, gru]}           # short form: [lstm, gru]
    bidirectional: {type: bool}
    layers:  {type: fixed, value: 2}                       # short form: 2
    filters: {type: int, min: 2, max: 8, when: {model: cnn}}   # only searched while model is cnn

A task's default space (``Task.search_space``) is changed by a file (an entry replaces the default
one; null drops it) and by flags (a setting given as a flag is fixed, not searched). ``build_space``
checks every value a space allows against the task's config, so a bad entry fails, named, before
any trial runs.

Pure Python: no TensorFlow, Keras or keras-tuner here. ``define`` turns a space into calls on the
``hp`` object keras-tuner hands it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from rnn_tf.errors import UserError
from rnn_tf.tasks import get_task

if TYPE_CHECKING:
    from rnn_tf.config import RunConfig
    from rnn_tf.tasks.base import Task

# The keys each entry type takes (besides "type" and "when").
_KEYS = {"choice": {"values", "default"}, "int": {"min", "max", "step", "sampling", "default"},
         "float": {"min", "max", "step", "sampling", "default"}, "bool": {"default"}, "fixed": {"value"}}


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


def build_space(task: str | Task, base: RunConfig, file_entries: dict | None = None,
                fixed: tuple[str, ...] = (), where: str = "search space") -> dict:
    """The task's default space, changed by ``file_entries`` (an entry replaces the default one; null
    drops it), minus the settings in ``fixed`` (given as flags). Every value is checked against the
    task's config, so a bad entry fails here, named, before any trial runs. ``task``: a registered
    task or its name."""
    task = get_task(task) if isinstance(task, str) else task
    space = {name: normalize_entry(name, entry, "default space") for name, entry in task.search_space.items()}
    for name, entry in (file_entries or {}).items():
        if name not in task.searchable:
            raise UserError(f"{where}: entry '{name}' is not a setting {task.name} can search; use one of "
                            f"{', '.join(task.searchable)}")
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
                raise UserError(f"{where}: entry '{name}' allows {value!r}, which the {task.name} config refuses "
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


def define(hp, space: dict) -> dict:
    """Register every entry of ``space`` with ``hp`` (a ``keras_tuner.HyperParameters``) and return the
    values of the active ones. Only ``hp``'s methods are called, so this module needs no keras-tuner."""
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
