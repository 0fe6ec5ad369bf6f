"""Classification metrics in plain NumPy: accuracy, per-class precision/recall/F1, macro-F1, the
confusion matrix, and the matrix drawn as a PNG; and translation's attention weights drawn as a PNG."""

from __future__ import annotations

import numpy as np


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """``m[i, j]``: examples of true class i predicted as class j."""
    m = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(m, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return m


def classification_report(y_true, y_pred, labels: list[str]) -> dict:
    """``accuracy``, ``macro_f1``, ``per_class`` {label: precision, recall, f1, support}, ``confusion``."""
    m = confusion_matrix(y_true, y_pred, len(labels))
    tp = np.diag(m).astype(float)
    predicted, actual = m.sum(axis=0), m.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp), where=(precision + recall) > 0)
    return {
        "accuracy": float(tp.sum() / max(m.sum(), 1)),
        "macro_f1": float(f1.mean()),
        "examples": int(m.sum()),
        "per_class": {
            label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for label, p, r, f, s in zip(labels, precision, recall, f1, actual)
        },
        "confusion": m.tolist(),
    }


def format_report(report: dict) -> str:
    width = max(8, *(len(label) for label in report["per_class"]))
    lines = [f"{'class':<{width}}  precision  recall     f1  support"]
    for label, r in report["per_class"].items():
        lines.append(f"{label:<{width}}  {r['precision']:9.3f}  {r['recall']:6.3f}  {r['f1']:5.3f}  {r['support']:7d}")
    lines.append(f"accuracy {report['accuracy']:.4f}, macro-F1 {report['macro_f1']:.4f} "
                 f"on {report['examples']} examples")
    return "\n".join(lines)


def png_bytes(save, *args, **kwargs) -> bytes:
    """What ``save(path, *args, ...)`` (``save_confusion_png``, ``save_attention_png``) would write, in memory."""
    import io

    buffer = io.BytesIO()
    save(buffer, *args, **kwargs)
    return buffer.getvalue()


def save_confusion_png(path, confusion, labels: list[str], title: str = "") -> None:
    from matplotlib.figure import Figure  # not pyplot: no global backend switch, no open figures

    m = np.asarray(confusion)
    size = 2.5 + 0.5 * len(labels)
    fig = Figure(figsize=(size, size))
    ax = fig.subplots()
    ax.imshow(m, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, str(m[i, j]), ha="center", va="center",
                    color="white" if m[i, j] > m.max() / 2 else "black")
    import textwrap

    ax.set_title("\n".join(textwrap.wrap(title or "confusion matrix", 36)), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def save_attention_png(path, source: list[str], output: list[str], weights: np.ndarray, end: str = "<end>") -> None:
    """Heat map: one row per output token (and <end>), one column per source token."""
    from matplotlib.figure import Figure  # not pyplot: no global backend switch, no open figures

    rows = output + [end]
    weights = np.asarray(weights)[: len(rows), : len(source)]
    fig = Figure(figsize=(2.2 + 0.55 * len(source), 1.2 + 0.45 * len(rows)))
    ax = fig.subplots()
    image = ax.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, label="attention weight", shrink=0.8)
    ax.set_xticks(range(len(source)), source, rotation=45, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
