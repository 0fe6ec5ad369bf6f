"""``rnn-tf runs check RUN``: is a run folder intact, which epochs are complete, and what would the
next resume clean up? Reads only; exit 0 when the last committed epoch and every file it depends on
are as their commit recorded, 2 otherwise (with the reason)."""

from __future__ import annotations

import glob
import os

from rnn_tf.errors import UserError
from rnn_tf.integrity import changes, relative, sha256_file
from rnn_tf.runs import RunDir


def check_run(run_dir: str) -> dict:
    """{"epoch", "complete": [epochs], "damaged": [epochs], "problems": [...], "cleanup": [...]}."""
    from rnn_tf.tasks import get_task

    run = RunDir(run_dir)
    data = run.read_config()
    task = get_task(data.get("task", "") if isinstance(data, dict) else "")
    cfg = run.load_config(task.config)
    state = run.read_state()
    files = state.get("files") if isinstance(state.get("files"), dict) else {}
    epoch = state["epoch"]
    complete, damaged = [], []
    for k in range(1, epoch + 1):
        path = run.checkpoint(k)
        recorded = files.get(relative(run, path))
        ok = os.path.isfile(path) and (recorded is None or sha256_file(path) == recorded)
        (complete if ok else damaged).append(k)
    problems = changes(run, cfg.RESUMABLE, state=state)
    if epoch and epoch in damaged:
        problems.append(f"the last committed epoch's weights ({relative(run, run.checkpoint(epoch))}) are "
                        "missing or changed")
    cleanup = [relative(run, p) for pattern in ("*.partial*.weights.h5", "*.tmp")
               for p in glob.glob(os.path.join(glob.escape(run.path), "**", pattern), recursive=True)]
    cleanup += [relative(run, p) for p in sorted(glob.glob(os.path.join(glob.escape(run.checkpoints), "epoch-*.weights.h5")))
                if _epoch_of(p) is not None and _epoch_of(p) > epoch]
    extra_rows = [r for r in run.read_history() if r.get("epoch", "").isdigit() and int(r["epoch"]) > epoch]
    if extra_rows:
        cleanup.append(f"history.csv: {len(extra_rows)} row(s) after epoch {epoch}")
    return {"run": run_dir, "task": task.name, "epoch": epoch, "complete": complete, "damaged": damaged,
            "fingerprinted": bool(files), "problems": problems, "cleanup": cleanup}


def _epoch_of(path: str) -> int | None:
    name = os.path.basename(path)[len("epoch-"):-len(".weights.h5")]
    return int(name) if name.isdigit() else None


def add_runs_commands(sub) -> None:
    p = sub.add_parser("check", help="check a run folder: complete epochs, damaged files, what a resume cleans up",
                       description="Check a run folder against the fingerprints its last commit recorded. "
                                   "Exit 0 when it is intact, 2 when a file it needs is missing or changed.")
    p.add_argument("run_dir", metavar="RUN", help="a run folder")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=run_check, light=True)  # hashes files: no TensorFlow


def run_check(args) -> int:
    import json

    report = check_run(args.run_dir)
    if args.json:
        print(json.dumps(report))
    else:
        epochs = report["complete"]
        print(f"{report['run']}: a {report['task']} run, {report['epoch']} committed epoch(s); complete: "
              f"{_ranges(epochs) or 'none'}" + (f"; damaged: {_ranges(report['damaged'])}" if report["damaged"] else "")
              + ("" if report["fingerprinted"] else " (written before fingerprints: files not checked)"))
        for item in report["cleanup"]:
            print(f"a resume would clean up: {item}")
    if report["problems"]:
        raise UserError(f"{args.run_dir}: {'; '.join(report['problems'])}")
    return 0


def _ranges(numbers: list[int]) -> str:
    parts, start = [], None
    for i, n in enumerate(numbers):
        if start is None:
            start = n
        if i + 1 == len(numbers) or numbers[i + 1] != n + 1:
            parts.append(str(start) if start == n else f"{start}-{n}")
            start = None
    return ", ".join(parts)
