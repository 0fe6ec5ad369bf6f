"""How much of a sample is copied from the training text (``textgen evaluate --copy-check``, and a
line under every epoch's samples).

Two figures, for the run's samples and, beside them, for real held-out text of the same length (so a
user can tell learning from memorising: held-out text shares common phrases with the training text
too):

  * the share of the text's n-grams (10 characters, 4 words or 3 subword pieces: about a dozen
    characters) that occur somewhere in the training text;
  * the longest span found verbatim in the training text, and that span.

``NgramIndex`` holds every n-gram of the training ids once: its hash (a polynomial hash mod 2^64)
and where it starts, sorted by hash. It is built in one pass over the ids, in pieces, into buckets
by the hash's top bits (each bucket sorted on its own: memory stays small whatever the corpus), and
kept beside the corpus's token-id cache (``token_ids``), memory-mapped, so later runs and commands
reuse it. A text's n-grams are looked up by binary search. The longest copied span grows from the
places where the text's n-grams occur in the training ids, comparing ids both ways until they differ:
it is exact unless every n-gram of a span occurs more than ``MAX_PLACES`` times in training (then a
shorter span is reported, and the share of seen n-grams, counted in full, shows the copying anyway).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile

import numpy as np

from rnn_tf.vocab import Vocabulary

BASE = np.uint64(1_000_003)
NGRAM = {"char": 10, "word": 4, "subword": 3}  # tokens per n-gram, by vocabulary level
PIECE = 1 << 22  # n-grams hashed at a time while building an index
BUCKET_ROWS = 1 << 24  # n-grams per bucket, about: each is sorted in memory on its own
MAX_PLACES = 256  # occurrences of one n-gram followed when growing spans (the rest are counted only)
NOTES_MAX_TOKENS = 20_000_000  # epoch summaries show copy figures for training texts up to this many tokens
FORMAT = 1


def ngram_hashes(ids, n: int) -> np.ndarray:
    """The hash of every window of ``n`` ids (Horner's rule): len(ids) - n + 1 of them."""
    x = np.asarray(ids).astype(np.uint64) + np.uint64(1)  # no id hashes like "nothing"
    count = len(x) - n + 1
    if count < 1:
        return np.zeros(0, np.uint64)
    h = np.zeros(count, np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):
            h = h * BASE + x[j:j + count]
    return h


class NgramIndex:
    """Every n-gram of ``ids``: hashes sorted in buckets, with where each n-gram starts.

    ``folder``: where the index is kept (built there once, under a temporary name renamed when
    complete); None: built in memory."""

    def __init__(self, ids, n: int, folder: str | None = None, stream=None):
        self.ids, self.n = ids, n
        self.rows = max(len(ids) - n + 1, 0)
        self.bits = 0  # in memory: one bucket; on disk: as many as BUCKET_ROWS asks, recorded in index.json
        if folder is None:
            hashes = ngram_hashes(ids, n)
            order = np.argsort(hashes, kind="stable")
            self.buckets = [(hashes[order], order)]
            return
        if not self._complete(folder):
            self.bits = max(int(np.ceil(np.log2(max(self.rows, 1) / BUCKET_ROWS))), 0)
            if stream is not None:
                print(f"indexing the {self.rows:,} {n}-grams of the training text once (kept in {folder})",
                      file=stream, flush=True)
            self._build(folder)
        with open(os.path.join(folder, "index.json")) as f:
            self.bits = json.load(f)["bits"]
        self.buckets = [(np.load(os.path.join(folder, f"hashes-{b}.npy"), mmap_mode="r"),
                         np.load(os.path.join(folder, f"starts-{b}.npy"), mmap_mode="r")) for b in range(1 << self.bits)]

    def _complete(self, folder: str) -> bool:
        try:
            with open(os.path.join(folder, "index.json")) as f:
                meta = json.load(f)
        except (OSError, ValueError):
            return False
        return meta.get("format") == FORMAT and meta.get("n") == self.n and meta.get("rows") == self.rows

    def _build(self, folder: str) -> None:
        parent = os.path.dirname(folder) or "."
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".ngrams-", dir=parent)
        try:
            buckets = 1 << self.bits
            start_type = np.uint32 if self.rows < 2**32 else np.uint64
            raw = [(open(os.path.join(tmp, f"h{b}"), "wb"), open(os.path.join(tmp, f"s{b}"), "wb"))
                   for b in range(buckets)]
            for first in range(0, self.rows, PIECE):
                hashes = ngram_hashes(self.ids[first:first + PIECE + self.n - 1], self.n)
                starts = np.arange(first, first + len(hashes), dtype=start_type)
                which = self._bucket(hashes)
                for b in range(buckets):
                    chosen = which == b if buckets > 1 else slice(None)
                    raw[b][0].write(hashes[chosen].tobytes())
                    raw[b][1].write(starts[chosen].tobytes())
            for b, (h_file, s_file) in enumerate(raw):
                h_file.close()
                s_file.close()
                hashes = np.fromfile(h_file.name, np.uint64)
                starts = np.fromfile(s_file.name, start_type)
                order = np.argsort(hashes, kind="stable")
                np.save(os.path.join(tmp, f"hashes-{b}.npy"), hashes[order])
                np.save(os.path.join(tmp, f"starts-{b}.npy"), starts[order])
                os.remove(h_file.name)
                os.remove(s_file.name)
            with open(os.path.join(tmp, "index.json"), "w") as f:
                json.dump({"format": FORMAT, "n": self.n, "rows": self.rows, "bits": self.bits}, f)
            shutil.rmtree(folder, ignore_errors=True)
            try:
                os.replace(tmp, folder)
            except OSError:  # another process finished the same index first: use theirs
                if not self._complete(folder):
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _bucket(self, hashes: np.ndarray) -> np.ndarray:
        if self.bits == 0:
            return np.zeros(len(hashes), np.int64)
        return (hashes >> np.uint64(64 - self.bits)).astype(np.int64)

    def places(self, hashes: np.ndarray):
        """(how often each hash occurs in the training ids, and (query index, training start) pairs for
        up to ``MAX_PLACES`` occurrences of each)."""
        counts = np.zeros(len(hashes), np.int64)
        queries, starts = [], []
        which = self._bucket(hashes)
        for b, (table, table_starts) in enumerate(self.buckets):
            mine = np.flatnonzero(which == b)
            if not mine.size or not len(table):
                continue
            lo = np.searchsorted(table, hashes[mine], "left")
            hi = np.searchsorted(table, hashes[mine], "right")
            counts[mine] = hi - lo
            taken = np.minimum(hi - lo, MAX_PLACES)
            q = np.repeat(mine, taken)
            offsets = np.arange(taken.sum()) - np.repeat(np.cumsum(taken) - taken, taken)
            queries.append(q)
            starts.append(np.asarray(table_starts[np.repeat(lo, taken) + offsets], np.int64))
        if not queries:
            return counts, np.zeros(0, np.int64), np.zeros(0, np.int64)
        return counts, np.concatenate(queries), np.concatenate(starts)


def _matching(text: np.ndarray, train, a: np.ndarray, b: np.ndarray, step: int) -> np.ndarray:
    """For every pair, how many ids agree from text[a] and train[b] on, going ``step`` (+1 or -1)."""
    length = np.zeros(len(a), np.int64)
    active = np.arange(len(a))
    chunk = 16
    while active.size:
        offsets = np.arange(chunk) * step
        pa = a[active, None] + length[active, None] * step + offsets
        pb = b[active, None] + length[active, None] * step + offsets
        valid = (pa >= 0) & (pa < len(text)) & (pb >= 0) & (pb < len(train))
        equal = valid & (text[np.clip(pa, 0, len(text) - 1)] == np.asarray(train[np.clip(pb, 0, len(train) - 1)]))
        run = np.where(equal.all(axis=1), chunk, np.argmin(equal, axis=1))
        length[active] += run
        active = active[run == chunk]
        chunk = min(2 * chunk, 4096)
    return length


def text_figures(index: NgramIndex, text) -> dict:
    """{"seen": n-grams of ``text`` seen in training, "ngrams": how many it has, "longest": the longest
    span of it found verbatim in the training ids, "longest_start": where that span starts in it}."""
    text = np.asarray(text, np.int64)
    hashes = ngram_hashes(text, index.n)
    counts, q, starts = index.places(hashes)
    longest, at = 0, 0
    if q.size:
        forward = _matching(text, index.ids, q, starts, +1)
        real = forward >= index.n  # a hash that matched by chance has no n equal ids
        q, starts, forward = q[real], starts[real], forward[real]
        if q.size:
            backward = _matching(text, index.ids, q - 1, starts - 1, -1)
            total = forward + backward
            best = int(np.argmax(total))
            longest, at = int(total[best]), int(q[best] - backward[best])
    return {"seen": int((counts > 0).sum()), "ngrams": len(hashes), "longest": longest, "longest_start": at}


def copy_figures(index: NgramIndex, texts: list) -> dict:
    """{"seen_share": share of the texts' n-grams seen in training, "ngrams", "longest": length of the
    longest span found verbatim, "longest_at": (text index, start) or None}."""
    per_text = [text_figures(index, t) for t in texts]
    total = sum(f["ngrams"] for f in per_text)
    seen = sum(f["seen"] for f in per_text)
    longest, at = 0, None
    for k, f in enumerate(per_text):
        if f["longest"] > longest:
            longest, at = f["longest"], (k, f["longest_start"])
    return {"seen_share": seen / total if total else 0.0, "ngrams": total, "longest": longest, "longest_at": at}


def training_index(vocab: Vocabulary, train_ids, cache_folder: str | None = None, stream=None) -> NgramIndex:
    """The n-gram index of a run's training ids: kept in ``cache_folder`` (the corpus's token-id
    cache) where there is one (``stream``: where to say so when it is built), else built in memory."""
    n = NGRAM[vocab.level]
    folder = None if cache_folder is None else os.path.join(cache_folder, f"ngrams-{n}")
    return NgramIndex(train_ids, n, folder, stream)


def copy_report(vocab: Vocabulary, index: NgramIndex, samples: list[str], held_out: list[np.ndarray]) -> dict:
    """The figures for the ``samples`` (texts) and for the ``held_out`` id sequences beside them."""
    sample_ids = [vocab.encode(s) for s in samples]
    report = {"ngram": index.n, "unit": f"{vocab.level}s" if vocab.level != "subword" else "subword pieces"}
    for key, texts in (("samples", sample_ids), ("held_out", held_out)):
        figures = copy_figures(index, texts)
        k, start = figures.pop("longest_at") or (None, None)
        span = vocab.decode(texts[k][start:start + figures["longest"]]) if k is not None else ""
        report[key] = {**figures, "texts": len(texts), "longest_span": span}
    return report


def sample_note(vocab: Vocabulary, index: NgramIndex, text: str) -> str:
    """One sample's figures, as the epoch summaries show them."""
    f = text_figures(index, vocab.encode(text))
    share = f["seen"] / f["ngrams"] if f["ngrams"] else 0.0
    unit = {"char": "char", "word": "word", "subword": "piece"}[vocab.level]
    return f"{share:.0%} of {index.n}-{unit} n-grams seen in training, longest copied span {f['longest']} {unit}s"


class SampleNotes:
    """``sample_note`` for the epoch summaries: text -> its copy figures, the index built on first use;
    None for a training text of more than ``NOTES_MAX_TOKENS`` tokens (its index would hold up the
    first epoch's end and fill the disk unasked: ``textgen evaluate --copy-check`` builds it)."""

    def __init__(self, vocab: Vocabulary, train_ids, cache_folder: str | None = None):
        self.vocab, self.train_ids, self.cache_folder = vocab, train_ids, cache_folder
        self.index = None

    def __call__(self, text: str) -> str | None:
        if len(self.train_ids) > NOTES_MAX_TOKENS:
            return None
        if self.index is None:
            self.index = training_index(self.vocab, self.train_ids, self.cache_folder)
        return sample_note(self.vocab, self.index, text)


def format_copy_report(r: dict) -> str:
    unit = r["unit"][:-1] if r["unit"].endswith("s") else r["unit"]
    lines = [f"{r['samples']['texts']} samples at temperature {r['temperature']:g} against the training text "
             f"({r['ngram']}-{unit} n-grams)"]
    for key, name in (("samples", "samples"), ("held_out", "held-out text")):
        v = r[key]
        lines.append(f"{name:<14} n-grams seen in training {v['seen_share']:6.1%}   longest copied span "
                     f"{v['longest']} {r['unit']}: {v['longest_span']!r}")
    return "\n".join(lines)
