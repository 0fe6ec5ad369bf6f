"""The ``rnn-tf`` command: a small root parser built from the task registry.

    rnn-tf TASK train ...        every registered task: its flags (``task.add_settings``) + where the run lives
    rnn-tf TASK COMMAND ...      the task's other commands (``task.commands``: parser + handler pairs)
    rnn-tf tune TASK | train-best   the search (``search.command``)
    rnn-tf runs check RUN        a run folder's integrity (``runcheck``)
    rnn-tf lab COMMAND           the training-dynamics lab (``lab.command``)

Handlers only translate flags into calls of library functions and print results. A ``UserError`` from
anywhere becomes one line on stderr and exit code 2 (as argparse does for bad flags); a run whose loss
stopped being finite exits with code 1 after saying which epoch it kept.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import warnings

from rnn_tf import __version__
from rnn_tf.errors import UserError
from rnn_tf.names import STRATEGIES
from rnn_tf.flags import add_start_arguments, default_folder, settings_from
from rnn_tf.tasks import TASKS, Task

def add_train(sub, task: Task) -> None:
    """``rnn-tf TASK train``: the same command for every task."""
    p = sub.add_parser("train", help=task.train_help, description=task.train_description)
    task.add_settings(p)
    p.add_argument("--strategy", choices=STRATEGIES,
                   help="tf.distribute: mirrored = every local GPU; multi-worker = one process per machine, the "
                        "cluster from TF_CONFIG (see the README); --batch-size is the global batch (default: none)")
    add_start_arguments(p, folder="run-dir", what="run", default=f"runs/{task.name}-DATE-TIME",
                        seeded=task.seeded)
    p.set_defaults(handler=run_train, train_task=task)


def run_train(args) -> int:
    task: Task = args.train_task
    run_dir = default_folder(args, "run_dir", task.name)
    result = task.train(run_dir, settings_from(args, task.config), resume=args.resume, overwrite=args.overwrite,
                        verbose=0 if args.quiet else 1)
    if result.stopped_on_nan:
        where = f" in {result.diverged_where}" if result.diverged_where else ""
        if result.epochs_done:
            hint = (f"epoch {result.epochs_done}{where} is the last one saved; start a new run with a lower "
                    "--learning-rate or --clipnorm")
        else:
            hint = f"no epoch{where} was saved: start again with --overwrite and a lower --learning-rate"
        print(f"error: training diverged (the loss is not finite); {hint}", file=sys.stderr)
        return 1
    if result.cut:  # --max-time: what is saved is complete; the run goes on with --resume
        print(f"stopped by --max-time with {result.epochs_done} whole epoch(s) saved: continue with "
              f"rnn-tf {task.name} train --run-dir {result.run_dir} --resume")
        return 0
    print(task.done_hint(result))
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line (and exit code 2), like every other user error."""

    def error(self, message):
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from rnn_tf.export import add_export_command
    from rnn_tf.lab.command import add_lab_commands
    from rnn_tf.runcheck import add_runs_commands
    from rnn_tf.search.command import add_tune_commands

    parser = _Parser(prog="rnn-tf", description="Train, resume and use recurrent networks on text.")
    parser.add_argument("--version", action="version", version=f"rnn-tf {__version__}")
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's start-up messages (by default the ones that only say there is no "
                             "GPU or which CPU instructions it uses are hidden; warnings and errors always show)")
    groups = parser.add_subparsers(dest="task_name", required=True, metavar="TASK")
    for task in TASKS.values():
        group = groups.add_parser(task.name, help=task.help, description=task.description)
        commands = group.add_subparsers(dest="command", required=True, metavar="COMMAND")
        add_train(commands, task)
        for add in task.commands:
            add(commands)
    runs = groups.add_parser("runs", help="check run folders", description="Run folders: check.")
    add_runs_commands(runs.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    lab = groups.add_parser("lab", help="the training-dynamics lab: gradients through time, long-range "
                            "problems, clipping", description="Small experiments that show how recurrent "
                            "networks learn and fail to.")
    add_lab_commands(lab.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    add_export_command(groups)
    tune = groups.add_parser("tune", help="hyperparameter search with keras-tuner",
                             description="Hyperparameter search: tune TASK, then train-best.")
    add_tune_commands(tune.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM (what batch schedulers and Kubernetes send before they kill), raised in the main thread
    and handled like Ctrl-C: whatever runs stops, and everything committed stays."""


def _terminate(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not getattr(args, "light", False):  # every command but the light ones runs TensorFlow
        from rnn_tf.quiet import start_tensorflow

        start_tensorflow(args.verbose)
    warnings.showwarning = _show_warning
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main_thread else None
    try:
        return args.handler(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk, a read-only or vanished folder, a permission
        where = f" ('{exc.filename}')" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}; completed epochs are saved: fix that, then --resume",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (Terminated)
        signal_name = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        trains = hasattr(args, "train_task") or hasattr(args, "tune_task")
        print(signal_name + ("; completed epochs are saved: continue with --resume" if trains else ""),
              file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    if issubclass(category, UserWarning) and "rnn_tf" in filename:
        print(f"warning: {message}", file=sys.stderr)
    else:
        warnings._showwarnmsg_impl(warnings.WarningMessage(message, category, filename, lineno, file, line))
