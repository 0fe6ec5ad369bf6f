"""The ``rnn-tf tune`` commands: ``tune TASK`` for every registered task, and ``tune train-best``.

argparse only at import time: the handlers import ``search.run`` (and so TensorFlow) when they run,
so that ``rnn-tf --help`` stays quick. A task's flags are its own ``add_settings``, the same as
``rnn-tf TASK train``; a model flag given here is fixed, not searched.
"""

from __future__ import annotations

import os

from rnn_tf.errors import UserError
from rnn_tf.flags import add_start_arguments, default_folder, settings_from
from rnn_tf.names import TUNERS
from rnn_tf.tasks import TASKS, get_task


def add_tune_commands(sub) -> None:
    """One parser per registered task, then ``train-best``, under the ``tune`` group's subparsers."""
    for task in TASKS.values():
        add_tune_task(sub, task)
    add_tune_train_best(sub)


# --- tune TASK ---------------------------------------------------------------------------------------
def add_tune_task(sub, task) -> None:
    p = sub.add_parser(task.name, help=f"search {task.name} hyperparameters",
                       description=f"Search {task.name} hyperparameters with keras-tuner. Data and training flags "
                                   f"are those of '{task.name} train'; a model flag given here (e.g. --cell) is "
                                   "fixed, not searched. --epochs is each trial's epochs (Hyperband: the most).")
    task.add_settings(p)
    # No argparse choices: run_search names the tuners in its own one-line error.
    p.add_argument("--tuner", default="random",
                   help=f"{', '.join(TUNERS[:-1])} or {TUNERS[-1]} (default: random)")
    p.add_argument("--max-trials", type=int, default=10, help="trials to run in all (default: 10)")
    p.add_argument("--executions-per-trial", type=int, default=1,
                   help="train each configuration N times and average (default: 1)")
    p.add_argument("--objective", default="val_loss",
                   help="metric to optimise: val_loss, val_accuracy, ... (default: val_loss)")
    p.add_argument("--search-space", metavar="FILE", help="JSON or YAML file that changes the default space")
    p.add_argument("--train-best", metavar="RUN_DIR", help="afterwards, train the best configuration into RUN_DIR")
    p.add_argument("--trials-per-process", type=int, default=1, metavar="N",
                   help="trials run in a child process replaced after N trials, which gives its memory back "
                        "(default: 1, a fresh process per trial; each start costs seconds). 0: run them in "
                        "this process, where memory grows with every trial")
    add_start_arguments(p, folder="project-dir", what="search", default=f"runs/tune-{task.name}-DATE-TIME",
                        seeded="the split, the trials' weights and the tuner")
    p.set_defaults(handler=run_tune, tune_task=task.name)


def run_tune(args) -> int:
    from rnn_tf.search.run import run_search, train_best

    default_folder(args, "project_dir", f"tune-{args.tune_task}")
    if args.train_best:
        from rnn_tf.runs import RunDir

        RunDir(args.train_best).check_new()  # refuse before the search, not after it
    settings = settings_from(args, get_task(args.tune_task).config)
    if settings.get("max_time") and not args.train_best:
        raise UserError("--max-time applies to a training run, and the search's trials are not runs: add "
                        "--train-best RUN to apply it to the run trained with the best hyperparameters, "
                        "or drop --max-time")
    result = run_search(args.tune_task, settings, space_file=args.search_space, tuner=args.tuner,
                        max_trials=args.max_trials, executions_per_trial=args.executions_per_trial,
                        objective=args.objective, project_dir=args.project_dir, resume=args.resume,
                        overwrite=args.overwrite, trials_per_process=args.trials_per_process,
                        verbose=0 if args.quiet else 1)
    if result.best_values is None:
        return 0
    print(f"best hyperparameters saved in {os.path.join(args.project_dir, 'best_hyperparameters.json')}")
    if args.train_best:
        train_best(args.project_dir, args.train_best, verbose=0 if args.quiet else 1)
        print(f"best configuration trained into {args.train_best}")
    else:
        print(f"train it with: rnn-tf tune train-best --project-dir {args.project_dir} --run-dir RUN_DIR")
    return 0


# --- tune train-best ---------------------------------------------------------------------------------
def add_tune_train_best(sub) -> None:
    p = sub.add_parser("train-best", help="train a search's best configuration into a run folder",
                       description="Train the best trial's configuration of a search into an ordinary run "
                                   "folder (for generate / predict / translate).")
    p.add_argument("--project-dir", required=True, help="search folder written by 'rnn-tf tune TASK'")
    p.add_argument("--run-dir", required=True, help="new run folder")
    p.add_argument("--epochs", type=int, help="train this many epochs (default: the search's)")
    p.add_argument("--overwrite", action="store_true", help="replace the run in --run-dir")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(handler=run_tune_train_best)


def run_tune_train_best(args) -> int:
    from rnn_tf.search.run import train_best

    train_best(args.project_dir, args.run_dir, epochs=args.epochs, overwrite=args.overwrite,
               verbose=0 if args.quiet else 1)
    print(f"done: {args.run_dir}")
    return 0
