"""Flag groups that several commands share, so each is written once (argparse only: no TensorFlow).

Settings flags default to ``None``: a flag left out takes the config's default for a new run, or the
run's saved value with ``--resume``. ``settings_from(args, config_cls)`` picks the config's fields out
of the parsed flags.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from rnn_tf.errors import UserError
from rnn_tf.names import IMPLEMENTATIONS


def add_shared_settings(p, defaults, *, cells, unit_help: str = "units per recurrent layer",
                        dropout_help: str = "dropout", batch_help: str = "examples per batch",
                        optimizer: str = "Adam") -> None:
    """The model and training flags every recurrent task has; ``defaults`` is the task's config."""
    d = defaults
    p.add_argument("--cell", choices=cells, help=f"recurrent cell (default: {d.cell})")
    p.add_argument("--units", type=int, help=f"{unit_help} (default: {d.units})")
    p.add_argument("--layers", type=int, help=f"recurrent layers (default: {d.layers})")
    p.add_argument("--embedding-dim", type=int, help=f"embedding size (default: {d.embedding_dim})")
    p.add_argument("--dropout", type=float, help=f"{dropout_help} (default: {d.dropout})")
    p.add_argument("--rnn-implementation", choices=IMPLEMENTATIONS,
                   help="fast: LSTM/GRU with the fast CPU loop (cuDNN on a GPU); keras: Keras's own layers. "
                        "The same model and weights either way (default: fast)")
    p.add_argument("--batch-size", type=int, help=f"{batch_help} (default: {d.batch_size})")
    p.add_argument("--epochs", type=int, help=f"train until this epoch (default: {d.epochs})")
    p.add_argument("--learning-rate", type=float, help=f"{optimizer} learning rate (default: {d.learning_rate})")
    p.add_argument("--clipnorm", type=float, help=f"clip the global gradient norm; 0 = off (default: {d.clipnorm})")
    p.add_argument("--patience", type=int, help="stop after N epochs without a lower val_loss; 0 = never (default: 0)")
    p.add_argument("--max-time", type=_duration, metavar="DURATION",
                   help="stop training when this much time has passed (600, 90s, 10m, 2h, 1h30m), at the end of "
                        "the step where it runs out: the epoch so far is saved, and --resume continues exactly "
                        "from there (default: no limit)")
    p.add_argument("--tensorboard", action=argparse.BooleanOptionalAction,
                   help="log every epoch's loss, metrics, learning rate and gradient norms (and the text "
                        "generator's samples) to RUN/tensorboard, for 'tensorboard --logdir RUN'; a resumed run "
                        "appends (default: off)")


def _duration(text: str) -> float:
    from rnn_tf.budget import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_start_arguments(p, *, folder: str, what: str, default: str, seeded: str) -> None:
    """Where a run (or a search) lives and how it starts: the folder flag, --resume, --overwrite,
    --seed, --quiet. Shared by every train command and every search."""
    p.add_argument(f"--{folder}", help=f"{what} folder (default: {default})")
    p.add_argument("--resume", action="store_true", help=f"continue the {what} in --{folder}")
    p.add_argument("--overwrite", action="store_true", help=f"replace the {what} in --{folder}")
    p.add_argument("--seed", type=int, help=f"seed for {seeded} (default: random, saved)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def add_run_arguments(p, trained_by: str) -> None:
    """The flags of every command that reads a run folder."""
    p.add_argument("--run-dir", required=True, help=f"run folder written by '{trained_by}'")
    p.add_argument("--weights", default="best", help="best, last or a .weights.h5 path (default: best)")


def settings_from(args, config_cls) -> dict:
    """The config fields among the parsed flags (``None``: not given)."""
    return {k: v for k, v in vars(args).items() if k in config_cls.__dataclass_fields__ and k != "task"}


def default_folder(args, attribute: str, prefix: str) -> str:
    """``args.<attribute>``, or a new dated folder under runs/ (not with --resume: that needs one)."""
    if getattr(args, attribute) is None:
        if args.resume:
            flag = "--" + attribute.replace("_", "-")
            raise UserError(f"--resume needs {flag}: the folder to continue")
        setattr(args, attribute, os.path.join("runs", time.strftime(f"{prefix}-%Y%m%d-%H%M%S")))
    return getattr(args, attribute)


def read_texts(args) -> list[str]:
    """The texts of a predict command: its arguments, then one per line of ``--file``, or (with
    neither) one per line of standard input."""
    texts = list(args.texts)
    if args.file:
        try:
            with open(args.file, encoding="utf-8") as f:
                texts += f.read().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"cannot read --file '{args.file}': {exc}") from None
    elif not texts and not sys.stdin.isatty():
        texts = sys.stdin.read().splitlines()
    return texts
