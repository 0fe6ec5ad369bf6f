"""A search from start to finish: check the command against the project folder, prepare the data
once, run the tuner, save and print the results; and ``train_best``, which turns the best trial into
an ordinary run folder.

A project folder holds keras-tuner's files (``oracle.json``, ``trial_*/``) and ours:
``search.json`` (task, settings, search space, tuner, objective: what a resumed search must match)
and ``best_hyperparameters.json``. A search stopped half way continues with ``resume=True``: the
interrupted trial runs again and finished ones are kept. Distributed search uses keras-tuner's own
chief/worker protocol (``KERASTUNER_TUNER_ID``, ``KERASTUNER_ORACLE_IP``, ``KERASTUNER_ORACLE_PORT``).

Everything that differs between tasks comes from the task registry (``rnn_tf.tasks``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import shutil
import sys
from dataclasses import dataclass

from rnn_tf.errors import UserError
from rnn_tf.locks import LOCK_FILE, FolderLock
from rnn_tf.names import TUNERS
from rnn_tf.runs import write_atomic
from rnn_tf.search.hypermodel import TaskHyperModel
from rnn_tf.search.space import build_space, load_space_file
from rnn_tf.search.tuners import _fmt, make_tuner
from rnn_tf.tasks import get_task


# --- the project folder ----------------------------------------------------------------------------
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
    """What ``run_search`` returns (a worker of a distributed search has no rows or best values)."""
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
    used = os.path.isdir(project_dir) and bool(_contents(project_dir))
    if role not in (None, "chief"):
        return None  # a worker joins the chief's project
    if resume:
        if not os.path.isfile(path):
            raise UserError(f"--resume: '{project_dir}' holds no search (no search.json): start one without --resume")
        try:
            with open(path, encoding="utf-8") as f:
                saved = json.load(f)
        except (ValueError, OSError) as exc:  # JSONDecodeError, UnicodeDecodeError are ValueErrors
            raise UserError(f"'{path}' is damaged ({str(exc)[:80]}): restore it, or start the search again "
                            "with --overwrite") from None
        if not isinstance(saved, dict) or not isinstance(saved.get("settings"), dict):
            raise UserError(f"'{path}' is damaged (not a saved search): restore it, or start the search "
                            "again with --overwrite")
        return saved
    if used:
        if not overwrite:
            raise UserError(f"project folder '{project_dir}' already holds a search: pass --resume to continue it, "
                            "--overwrite to start again, or choose another --project-dir")
        if not os.path.isfile(path):
            raise UserError(f"project folder '{project_dir}' holds files that are not an rnn_tf search; "
                            "refusing to overwrite it: choose another --project-dir")
    return None


# --- the search ---------------------------------------------------------------------------------
def _contents(folder: str) -> list[str]:
    return [name for name in os.listdir(folder) if name != LOCK_FILE]


def run_search(task: str, settings: dict | None = None, *, project_dir: str, **options) -> SearchResult:
    """Search ``task``'s hyperparameters (see ``_search``). The search process (on one machine, or the
    chief of a distributed search) holds the project folder's lock for the whole search; workers
    join the chief's folder without it."""
    role = distributed_role()
    if role not in (None, "chief"):
        return _search(task, settings, project_dir=project_dir, role=role, **options)
    with FolderLock(project_dir, "search"):
        return _search(task, settings, project_dir=project_dir, role=role, **options)


def _search(task: str, settings: dict | None = None, *, role: str | None, space_file: str | None = None,
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
    spec = get_task(task)  # refuses an unknown task
    if tuner not in TUNERS:
        raise UserError(f"unknown --tuner '{tuner}': use one of {', '.join(TUNERS)}")
    if objective not in spec.reported_metrics():
        raise UserError(f"--objective '{objective}' is not reported by {task} training: use one of "
                        f"{', '.join(spec.reported_metrics())}")
    if max_trials is not None and max_trials < 1:
        raise UserError(f"--max-trials {max_trials} is too small: use 1 or more")
    if executions_per_trial < 1:
        raise UserError(f"--executions-per-trial {executions_per_trial} is too small: use 1 or more")
    if trials_per_process < 0:
        raise UserError(f"--trials-per-process {trials_per_process} is negative: use 1 or more (0: run the "
                        "trials in the search process)")
    saved = check_project(project_dir, resume, overwrite, role)
    settings = {k: v for k, v in (settings or {}).items() if v is not None and k not in ("task", "labels")}
    given = tuple(settings)
    if saved is not None:  # the saved settings fill in what this command leaves out (the seed above all)
        settings = {**saved["settings"], **settings}
    fixed = tuple(n for n in spec.searchable if n in given or (saved and n in saved["fixed"]))
    base = spec.config(**settings).validate()
    if base.seed is None:
        base.seed = secrets.randbelow(2**31)

    entries = dict(space_entries or {})
    where = "search space"
    if space_file:
        entries.update(load_space_file(space_file))
        where = f"--search-space '{space_file}'"
    space = build_space(spec, base, entries, fixed, where)
    search = Search(task, {k: v for k, v in base.to_dict().items() if k != "labels"}, space, tuner, objective,
                    executions_per_trial, max_trials, sorted(fixed))
    if saved is not None:
        difference = search.difference(saved, given)
        if difference:
            raise UserError(f"--resume: the search in '{project_dir}' is not this one: {difference}; "
                            "run it with its own settings, or start a new search in another --project-dir")
    data = spec.prepare_search(base)
    if objective not in data.reports:
        raise UserError(f"--objective '{objective}' is not reported here (no validation data): use one of "
                        f"{', '.join(data.reports)}")

    if role in (None, "chief"):
        if overwrite:  # everything but the lock this process holds
            for name in _contents(project_dir):
                path = os.path.join(project_dir, name)
                shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.remove(path)
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
                     verbose=verbose, tensorboard=os.path.join(project_dir, "tensorboard") if base.tensorboard else None)
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
    """One row per trial the oracle knows, best first; trials without a score last."""
    direction = 1 if "loss" in objective else -1
    rows = []
    for trial_id, trial in oracle.trials.items():
        values = {k: v for k, v in trial.hyperparameters.values.items() if not k.startswith("tuner/")}
        rows.append({"trial": trial_id, "status": trial.status, "score": trial.score, "values": values,
                     "epochs": trial.hyperparameters.values.get("tuner/epochs")})
    return sorted(rows, key=lambda r: (r["score"] is None, direction * (r["score"] or 0), r["trial"]))


def format_table(rows: list[dict], space: dict, objective: str) -> str:
    """The table printed at the end of a search: a column per searched setting, '-' where inactive."""
    names = list(space)
    header = ["trial", "status", objective] + names
    lines = [header] + [[r["trial"], r["status"].lower(), _fmt(r["score"])] + [_fmt(r["values"].get(n, "-")) for n in names]
                        for r in rows]
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    text = ["  ".join(str(v).ljust(w) for v, w in zip(line, widths)).rstrip() for line in lines]
    return "\n".join([f"{len(rows)} trials, best first:"] + text)


# --- the best configuration as an ordinary run ------------------------------------------------------
def best_settings(project_dir: str) -> tuple[str, dict]:
    """(task, settings) of a finished search's best trial: its fixed settings plus its values."""
    paths = [os.path.join(project_dir, f) for f in ("search.json", "best_hyperparameters.json")]
    for path in paths:
        if not os.path.isfile(path):
            raise UserError(f"'{project_dir}' has no {os.path.basename(path)}: give the --project-dir of a "
                            "search that has finished at least one trial")
    search, best = (_read_json(p) for p in paths)
    return search["task"], {**search["settings"], **best["values"]}


def _read_json(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def train_best(project_dir: str, run_dir: str, *, epochs: int | None = None, overwrite: bool = False,
               verbose: int = 0, stream=None):
    """Train the best configuration of a search into ``run_dir``, an ordinary run folder."""
    task, settings = best_settings(project_dir)
    if epochs is not None:
        settings["epochs"] = epochs
    return get_task(task).train(run_dir, settings, overwrite=overwrite, verbose=verbose, stream=stream)
