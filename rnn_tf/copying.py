"""How much of a sample is copied from the training text (``textgen evaluate --copy-check``).

Two figures, for the run's samples and, beside them, for real held-out text of the same length (so a
user can tell learning from memorising: held-out text shares common phrases with the training text
too):

  * the share of the text's n-grams (10 characters, or 4 words) that occur somewhere in the training
    text;
  * the longest span found verbatim in the training text, and that span.

Every n-gram of the training ids is hashed (a polynomial hash mod 2^64, vectorised through prefix sums
with the base's modular inverse, so the hashes of every window of any length L cost one pass) and the
hashes sorted once per length; a text's n-grams are looked up by binary search. The longest copied span
is a binary search on L, since a text that contains a copied span of length L contains one of every
shorter length.
"""

from __future__ import annotations

import numpy as np

from rnn_tf.vocab import Vocabulary

BASE = np.uint64(1_000_003)  # odd, so it has an inverse modulo 2**64
NGRAM = {"char": 10, "word": 4}


def _inverse(a: int) -> int:
    return pow(int(a), -1, 2**64)


class Windows:
    """The hashes of every window of a sequence of ids, for any window length."""

    def __init__(self, ids: np.ndarray):
        x = np.asarray(ids, np.uint64) + np.uint64(1)  # no id hashes like "nothing"
        n = len(x)
        with np.errstate(over="ignore"):
            powers = np.cumprod(np.full(n + 1, BASE, np.uint64))  # BASE^1 .. BASE^(n+1)
            self.powers = np.concatenate([[np.uint64(1)], powers[:-1]])  # BASE^0 .. BASE^n
            inverse = np.cumprod(np.full(n, np.uint64(_inverse(BASE)), np.uint64))
            inverse = np.concatenate([[np.uint64(1)], inverse[:-1]])  # BASE^-j
            self.prefix = np.concatenate([[np.uint64(0)], np.cumsum(x * inverse, dtype=np.uint64)])
        self.n = n

    def hashes(self, length: int) -> np.ndarray:
        """hash(i) = sum_j x[i+j] BASE^(length-1-j) for every start i (empty when too short)."""
        if length > self.n or length < 1:
            return np.zeros(0, np.uint64)
        starts = np.arange(self.n - length + 1)
        with np.errstate(over="ignore"):
            return (self.prefix[starts + length] - self.prefix[starts]) * self.powers[starts + length - 1]


class TrainingText:
    """The training ids, with each window length's sorted hashes built once."""

    def __init__(self, ids: np.ndarray):
        self.windows = Windows(ids)
        self._sorted: dict[int, np.ndarray] = {}

    def seen(self, hashes: np.ndarray, length: int) -> np.ndarray:
        table = self._sorted.get(length)
        if table is None:
            table = self._sorted[length] = np.sort(self.windows.hashes(length))  # (np.unique: 80x slower here)
        if not table.size or not hashes.size:
            return np.zeros(hashes.shape, bool)
        pos = np.minimum(np.searchsorted(table, hashes), table.size - 1)
        return table[pos] == hashes


def copy_figures(training: TrainingText, texts: list[np.ndarray], n: int) -> dict:
    """{"seen_share": share of the texts' n-grams seen in training, "longest": length of the longest span
    found verbatim, "longest_at": (text index, start)}."""
    windows = [Windows(t) for t in texts]
    grams = [w.hashes(n) for w in windows]
    total = sum(g.size for g in grams)
    seen = sum(int(training.seen(g, n).sum()) for g in grams)
    lo, hi, at = 0, max((len(t) for t in texts), default=0), None
    while lo < hi:  # the longest L for which some text has a window seen in training
        mid = (lo + hi + 1) // 2
        found = None
        for k, w in enumerate(windows):
            hits = np.flatnonzero(training.seen(w.hashes(mid), mid))
            if hits.size:
                found = (k, int(hits[0]))
                break
        if found:
            lo, at = mid, found
        else:
            hi = mid - 1
    return {"seen_share": seen / total if total else 0.0, "ngrams": total, "longest": lo, "longest_at": at}


def copy_report(vocab: Vocabulary, train_ids: np.ndarray, samples: list[str], held_out: list[np.ndarray]) -> dict:
    """The figures for the ``samples`` (texts) and for the ``held_out`` id sequences beside them."""
    n = NGRAM[vocab.level]
    training = TrainingText(train_ids)
    sample_ids = [vocab.encode(s) for s in samples]
    report = {"ngram": n, "unit": f"{vocab.level}s"}
    for key, texts in (("samples", sample_ids), ("held_out", held_out)):
        figures = copy_figures(training, texts, n)
        k, start = figures.pop("longest_at") or (None, None)
        span = vocab.decode(texts[k][start:start + figures["longest"]]) if k is not None else ""
        report[key] = {**figures, "texts": len(texts), "longest_span": span}
    return report


def format_copy_report(r: dict) -> str:
    lines = [f"{r['samples']['texts']} samples at temperature {r['temperature']:g} against the training text "
             f"({r['ngram']}-{r['unit'][:-1]} n-grams)"]
    for key, name in (("samples", "samples"), ("held_out", "held-out text")):
        v = r[key]
        lines.append(f"{name:<14} n-grams seen in training {v['seen_share']:6.1%}   longest copied span "
                     f"{v['longest']} {r['unit']}: {v['longest_span']!r}")
    return "\n".join(lines)
