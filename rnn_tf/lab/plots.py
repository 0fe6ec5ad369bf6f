"""The lab's figures, as PNG files (matplotlib, no display needed)."""

from __future__ import annotations

import math
import os


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str) -> None:
    """To a temporary name of this process, then renamed: never half a picture."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        _pyplot().close(fig)
        if os.path.exists(tmp):
            os.remove(tmp)


def plot_gradients(rows: list[dict], path: str, problem: str, length: int) -> None:
    """||dL/dh_k|| against the distance T - k, log scale: one colour per cell, dashed at
    initialisation, solid after training."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    cells = list(dict.fromkeys(r["cell"] for r in rows))
    for i, cell in enumerate(cells):
        for stage, style in (("init", "--"), ("trained", "-")):
            pts = sorted((r["distance"], r["grad_norm"]) for r in rows
                         if r["cell"] == cell and r["stage"] == stage and r["grad_norm"] > 0)
            if pts:
                ax.plot(*zip(*pts), style, color=f"C{i}", label=f"{cell} ({stage})")
    ax.set_yscale("log")
    ax.set_xlabel("distance T - k (steps back from the loss)")
    ax.set_ylabel("mean ||dL/dh_k||")
    ax.set_title(f"Gradient reaching each hidden state: {problem}, T = {length}")
    ax.legend(fontsize=8, ncol=2)
    ax.grid(True, which="major", alpha=0.3)
    _save(fig, path)


def plot_curves(runs, path: str, title: str, ylabel: str) -> None:
    """Test loss against training step, one line per run, the trivial baseline dotted."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for i, run in enumerate(runs):
        pts = [(s, v) for s, v in zip(run.steps, run.test_loss) if math.isfinite(v)]
        if pts:
            ax.plot(*zip(*pts), color=f"C{i % 10}", label=f"{run.cell}, T = {run.length}")
        ax.axhline(run.baseline, color=f"C{i % 10}", linestyle=":", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel(ylabel)
    ax.set_title(title + " (dotted: the trivial baseline)")
    ax.legend(fontsize=8)
    ax.grid(True, which="major", alpha=0.3)
    _save(fig, path)


def plot_clipping(runs: dict, path: str, title: str) -> None:
    """Two panels over training steps: the global gradient norm before clipping, and the training
    loss, for each clipping setting (a run that diverged ends where its loss stopped being finite)."""
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    for i, (label, run) in enumerate(runs.items()):
        steps = range(1, len(run.train_loss) + 1)
        norms = [n if n is not None and math.isfinite(n) and n > 0 else math.nan for n in run.grad_norm]
        losses = [v if math.isfinite(v) else math.nan for v in run.train_loss]
        top.plot(steps, norms, color=f"C{i}", linewidth=0.8, label=label)
        bottom.plot(steps, losses, color=f"C{i}", linewidth=0.8, label=label)
        if run.diverged:
            bottom.axvline(len(run.train_loss), color=f"C{i}", linestyle=":", linewidth=1)
    top.set_yscale("log")
    bottom.set_yscale("log")
    top.set_ylabel("global gradient norm (before clipping)")
    bottom.set_ylabel("training loss")
    bottom.set_xlabel("training step")
    top.set_title(title)
    top.legend(fontsize=8)
    for ax in (top, bottom):
        ax.grid(True, which="major", alpha=0.3)
    _save(fig, path)
