"""``rnn-tf lab``: the training-dynamics lab's commands (parser + handler pairs; TensorFlow is imported
only when a command runs).

    rnn-tf lab gradients   ||dL/dh_k|| against the distance from the loss, at initialisation and trained
    rnn-tf lab task        the adding or copy problem per cell and length, against the trivial baseline
    rnn-tf lab clipping    one model trained with and without gradient clipping
"""

from __future__ import annotations

import json
import math
import os

from rnn_tf.errors import UserError
from rnn_tf.names import CELLS

LAB_CELLS = ("simple_rnn", "irnn", "lstm", "gru")
# nfg_lstm: the 1997 LSTM, whose cell state passes gradients back undiminished; lstm+chrono: Keras's LSTM
# with the chrono initialisation, whose forget gates start open on time scales up to T
GRADIENT_CELLS = (*LAB_CELLS, "nfg_lstm", "lstm+chrono")
# the registered cells, and the gated ones again with the chrono initialisation (experiments.CHRONO_BLOCKS)
CHOICES = (*CELLS, "lstm+chrono", "peephole_lstm+chrono", "cifg_lstm+chrono", "gru+chrono")
PROBLEMS = ("adding", "copy")
# What a cell gets when --learning-rate / --steps are left out, where it differs from the command's
# default. Le et al. (2015) tuned the learning rate per model: here the IRNN stays at the adding problem's
# baseline with Adam at 1e-2 (1,000 steps) and 1e-3 (2,000 steps); at 3e-4 it needs ~6,000 steps to
# solve it at T = 100 (0.05 of the baseline; 0.37 after 2,000, 0.14 after 4,000).
CELL_DEFAULTS = {"irnn": {"learning_rate": 3e-4, "steps": 6000}}


def _shared(p, *, cells, lengths, steps, units, learning_rate, clipnorm, out, batch_size=50,
            optimizer="adam", per_cell=True) -> None:
    """The flags every lab command shares. ``per_cell``: --steps and --learning-rate left out take
    ``CELL_DEFAULTS`` for the cells that have their own."""
    p.set_defaults(default_steps=steps, default_learning_rate=learning_rate, per_cell=per_cell)
    p.add_argument("--cell", dest="cells", nargs="+", choices=CHOICES, default=list(cells), metavar="CELL",
                   help=f"cells to compare: {', '.join(CELLS)}; a gated cell + '+chrono' starts its gates with the "
                        f"chrono initialisation for --length (default: {' '.join(cells)})")
    p.add_argument("--length", dest="lengths", nargs="+", type=int, default=list(lengths),
                   help=f"sequence lengths T (default: {' '.join(map(str, lengths))})")
    p.add_argument("--steps", type=int, help=f"training steps per run (default: {steps}{_own('steps', per_cell)})")
    p.add_argument("--units", type=int, default=units, help=f"recurrent units (default: {units})")
    p.add_argument("--batch-size", type=int, default=batch_size, help=f"sequences per step (default: {batch_size})")
    p.add_argument("--optimizer", choices=("adam", "sgd"), default=optimizer,
                   help=f"adam, or sgd: plain gradient descent (default: {optimizer})")
    p.add_argument("--learning-rate", type=float,
                   help=f"the optimizer's learning rate (default: {learning_rate}{_own('learning_rate', per_cell)})")
    p.add_argument("--clipnorm", type=float, default=clipnorm,
                   help=f"clip the global gradient norm; 0 switches clipping off (default: {clipnorm})")
    p.add_argument("--seed", type=int, default=1, help="weights and data follow from it (default: 1)")
    p.add_argument("--out", default=out, help=f"folder for the CSV and PNG files (default: {out})")
    p.add_argument("--overwrite", action="store_true", help="replace this command's files in --out")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object")


def _own(key: str, per_cell: bool) -> str:
    return "".join(f"; {cell}: {values[key]:g}" for cell, values in CELL_DEFAULTS.items()) if per_cell else ""


def setting(args, cell: str, key: str):
    """--steps / --learning-rate as given, or the cell's own default, or the command's."""
    given = getattr(args, key)
    if given is not None:
        return given
    if args.per_cell and key in CELL_DEFAULTS.get(cell, {}):
        return CELL_DEFAULTS[cell][key]
    return getattr(args, f"default_{key}")


def add_lab_commands(sub) -> None:
    p = sub.add_parser("gradients", help="how far back gradients reach, per cell: a CSV and a log-scale plot",
                       description="For each cell, the norm of the gradient of the loss at the last step with "
                                   "respect to every earlier hidden state, at initialisation and after --steps "
                                   "training steps on the problem.")
    p.add_argument("--problem", choices=PROBLEMS, default="adding", help="the long-range problem (default: adding)")
    _shared(p, cells=GRADIENT_CELLS, lengths=(100,), steps=1000, units=64, learning_rate=1e-2, clipnorm=1.0,
            out="runs/lab/gradients")
    p.set_defaults(handler=run_gradients, files=("gradients.csv", "gradients.png"))

    p = sub.add_parser("task", help="the adding or copy problem per cell and length, against the trivial baseline",
                       description="Train each cell on a synthetic long-range problem for a fixed number of "
                                   "steps; report the test loss against the trivial baseline, with learning curves.")
    p.add_argument("problem", choices=PROBLEMS, help="adding (MSE; baseline: answer 1) or copy (cross-entropy; "
                                                     "baseline: blanks, then a uniform guess)")
    _shared(p, cells=LAB_CELLS, lengths=(100,), steps=1000, units=64, learning_rate=1e-2, clipnorm=1.0,
            out="runs/lab/task")
    p.set_defaults(handler=run_task, files=("results.csv", "curves.png"))

    p = sub.add_parser("clipping", help="the same model with and without gradient clipping",
                       description="Train one cell on the adding problem once per --clip value (0: no "
                                   "clipping), recording the global gradient norm and the loss of every step. "
                                   "Plain gradient descent by default: its step grows with the gradient, so an "
                                   "exploding gradient throws the weights far away (Adam's step hardly depends "
                                   "on the gradient's size).")
    p.add_argument("--clip", type=float, nargs="+", default=[0.0, 1.0],
                   help="clipping norms to compare, 0 for none (default: 0 1)")
    _shared(p, cells=("simple_rnn",), lengths=(30,), steps=1000, units=64, learning_rate=0.2, clipnorm=0.0,
            out="runs/lab/clipping", optimizer="sgd", per_cell=False)
    p.set_defaults(handler=run_clipping, files=("clipping.csv", "clipping.png"))


def _check(args) -> None:
    """Every flag checked before anything is computed or written."""
    for name in ("steps", "units", "batch_size"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} {getattr(args, name)} is too small: use 1 or more")
    if any(t < 2 for t in args.lengths):
        raise UserError(f"--length {min(args.lengths)} is too short: use 2 or more steps")
    if args.learning_rate is not None and not (args.learning_rate > 0 and math.isfinite(args.learning_rate)):
        raise UserError(f"--learning-rate {args.learning_rate:g} is not above 0")
    clips = [args.clipnorm] + list(getattr(args, "clip", []))
    if any(not (c >= 0 and math.isfinite(c)) for c in clips):
        raise UserError("a clipping norm is negative or not a number: use 0 (off) or a positive norm")
    taken = [f for f in args.files if os.path.exists(os.path.join(args.out, f))]
    if taken and not args.overwrite:
        raise UserError(f"'{os.path.join(args.out, taken[0])}' exists: pass --overwrite to replace it, "
                        "or choose another --out")
    os.makedirs(args.out, exist_ok=True)


def _write_csv(path: str, rows: list[dict]) -> None:
    from rnn_tf.runs import csv_text, write_atomic

    write_atomic(path, csv_text(list(rows[0]), rows))


def _model(args, problem, cell, clipnorm, length):
    import keras

    from rnn_tf.lab.experiments import build_model

    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # one model per cell: tf.function's retracing notice is expected here
    keras.utils.set_random_seed(args.seed)  # every cell starts from the same seed
    return build_model(problem, cell, args.units, learning_rate=setting(args, cell, "learning_rate"),
                       clipnorm=clipnorm, optimizer=args.optimizer, length=length, seed=args.seed)


def run_gradients(args) -> int:
    _check(args)
    import numpy as np

    from rnn_tf.lab.experiments import hidden_gradients, train
    from rnn_tf.lab.plots import plot_gradients
    from rnn_tf.lab.problems import get_problem

    problem, length = get_problem(args.problem), args.lengths[0]
    probe = problem.make(args.batch_size, length, np.random.default_rng(args.seed + 20_000))
    rows, summary = [], {}
    for cell in args.cells:
        model = _model(args, problem, cell, args.clipnorm, length)
        norms = {"init": hidden_gradients(model, problem, probe)}
        run = train(model, problem, cell, length, setting(args, cell, "steps"), args.batch_size, args.seed)
        norms["trained"] = hidden_gradients(model, problem, probe)
        for stage, values in norms.items():
            rows += [{"cell": cell, "stage": stage, "distance": length - 1 - k, "grad_norm": float(v)}
                     for k, v in enumerate(values)]
        summary[cell] = {stage: {"at_the_loss": float(v[-1]), "furthest": float(v[0]),
                                 "ratio": float(v[0] / v[-1]) if v[-1] else None} for stage, v in norms.items()}
        summary[cell]["test_loss"], summary[cell]["baseline"] = run.final, run.baseline
    _write_csv(os.path.join(args.out, "gradients.csv"), rows)
    plot_gradients(rows, os.path.join(args.out, "gradients.png"), problem.name, length)
    lines = [f"||dL/dh_k|| on {problem.name}, T = {length}: at the loss (k = T) and {length - 1} steps back (k = 1)",
             f"{'cell':<14} {'stage':<8} {'k = T':>10} {'k = 1':>10} {'ratio':>10}"]
    for cell, stages in summary.items():
        for stage in ("init", "trained"):
            s = stages[stage]
            ratio = s["ratio"] if s["ratio"] is not None else float("nan")
            lines.append(f"{cell:<14} {stage:<8} {s['at_the_loss']:>10.3g} {s['furthest']:>10.3g} {ratio:>10.3g}")
    return _report(args, {"problem": problem.name, "length": length, "cells": summary}, lines)


def run_task(args) -> int:
    _check(args)
    from rnn_tf.lab.experiments import train
    from rnn_tf.lab.plots import plot_curves
    from rnn_tf.lab.problems import get_problem

    problem = get_problem(args.problem)
    runs = []
    for length in args.lengths:
        for cell in args.cells:
            model = _model(args, problem, cell, args.clipnorm, length)
            runs.append(train(model, problem, cell, length, setting(args, cell, "steps"), args.batch_size, args.seed))
    rows = [{"problem": problem.name, "cell": r.cell, "length": r.length, "steps": len(r.train_loss),
             "learning_rate": setting(args, r.cell, "learning_rate"),
             "test_loss": f"{r.final:.6g}", "baseline": f"{r.baseline:.6g}",
             "share_of_baseline": f"{r.final / r.baseline:.4g}", "seconds": f"{r.seconds:.1f}"} for r in runs]
    _write_csv(os.path.join(args.out, "results.csv"), rows)
    plot_curves(runs, os.path.join(args.out, "curves.png"), f"{problem.name} problem", f"test {problem.loss}")
    lines = [f"{problem.name}: test {problem.loss} against the trivial baseline",
             f"{'cell':<14} {'T':>5} {'steps':>6} {'rate':>7} {'test loss':>10} {'baseline':>10} {'share':>8} {'seconds':>8}"]
    lines += [f"{r['cell']:<14} {r['length']:>5} {r['steps']:>6} {r['learning_rate']:>7g} {r['test_loss']:>10} "
              f"{r['baseline']:>10} {r['share_of_baseline']:>8} {r['seconds']:>8}" for r in rows]
    return _report(args, {"problem": problem.name, "runs": rows}, lines)


def run_clipping(args) -> int:
    _check(args)
    from rnn_tf.lab.experiments import train
    from rnn_tf.lab.plots import plot_clipping
    from rnn_tf.lab.problems import get_problem

    problem, cell, length = get_problem("adding"), args.cells[0], args.lengths[0]
    runs = {}
    for clip in args.clip:
        model = _model(args, problem, cell, clip, length)
        runs["no clipping" if not clip else f"clipnorm {clip:g}"] = train(
            model, problem, cell, length, setting(args, cell, "steps"), args.batch_size, args.seed)
    rows = [{"setting": label, "step": step + 1, "loss": f"{loss:.6g}", "grad_norm": f"{norm:.6g}"}
            for label, run in runs.items() for step, (loss, norm) in enumerate(zip(run.train_loss, run.grad_norm))]
    _write_csv(os.path.join(args.out, "clipping.csv"), rows)
    plot_clipping(runs, os.path.join(args.out, "clipping.png"),
                  f"{cell}, adding problem T = {length}, {args.optimizer} with learning rate "
                  f"{setting(args, cell, 'learning_rate'):g}")
    results = {label: {"steps_run": len(run.train_loss), "diverged": run.diverged, "test_loss": run.final,
                       "baseline": run.baseline, "largest_grad_norm": max(run.grad_norm)}
               for label, run in runs.items()}
    lines = [f"{label:<16} largest gradient norm {r['largest_grad_norm']:.3g}; "
             + (f"diverged at step {r['steps_run']}" if r["diverged"] else
                f"test MSE {r['test_loss']:.4g} (baseline {r['baseline']:.4g})") for label, r in results.items()]
    return _report(args, {"cell": cell, "length": length, "runs": results}, lines)


def _report(args, payload: dict, lines: list[str]) -> int:
    """One JSON object with --json; otherwise the table's lines and where the files went."""
    if args.json:
        print(json.dumps(payload))
        return 0
    print("\n".join(lines))
    print(f"wrote {os.path.join(args.out, args.files[0])} and {args.files[1]}")
    return 0
