"""Tagged sentences, for sequence tagging (POS tagging, chunking, NER): a data spec -> sentences in
which every token has a tag, and optionally feature columns aligned with the tokens (the POS tags,
say, as extra input for chunking).

A data spec is one of
  ``nltk:treebank``   NLTK's Penn Treebank sample, 3,914 sentences; columns 0 word, 1 POS tag
  ``nltk:conll2000``  CoNLL-2000 chunking, 8,936 train and 2,012 test sentences (its own test split);
                      columns 0 word, 1 POS tag, 2 IOB chunk tag (B-NP, I-NP, O, ...)
  a column file       CoNLL style (CoNLL-2003 NER, ...): UTF-8, one token per line, its columns split
                      by spaces or tabs, a blank line between sentences; ``-DOCSTART-`` lines are skipped
  a folder            holding ``train.txt`` and optionally ``test.txt``, both column files

Columns are chosen the same way for every source: ``token_column``, ``tag_column`` and
``feature_columns`` count from 0, and negative numbers count from the end as Python indexing does, so
the defaults (token 0, tag -1) read the word and the last column: the POS tag in the treebank, the chunk
tag in CoNLL-2000, the NER tag in CoNLL-2003.

NLTK corpora are found through NLTK's own data path (``NLTK_DATA`` or ``nltk.download``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from rnn_tf.errors import UserError

_FORMS = "a CoNLL-style column file, a folder with train.txt (and test.txt), nltk:treebank or nltk:conll2000"

# The tagged NLTK corpora this loads, and what their columns hold (for messages).
_NLTK_COLUMNS = {"treebank": "0 word, 1 POS tag", "conll2000": "0 word, 1 POS tag, 2 IOB chunk tag"}


@dataclass(frozen=True)
class TaggedSentence:
    tokens: tuple[str, ...]
    tags: tuple[str, ...]
    features: tuple[tuple[str, ...], ...] = ()  # one tuple per feature column, each aligned with tokens


@dataclass
class TaggedData:
    """Tagged sentences; ``test`` is set when the source has its own test split (CoNLL-2000's test.txt)."""

    sentences: list[TaggedSentence]
    test: list[TaggedSentence] | None = None
    source: str = ""  # a short description for messages, e.g. "nltk:conll2000 (train.txt / test.txt)"


def load_tagged(spec: str, token_column: int = 0, tag_column: int = -1,
                feature_columns: tuple[int, ...] = ()) -> TaggedData:
    """Tagged sentences from a data spec (see the module docstring), in the source's order.

    ``nltk:treebank`` keeps the treebank's ``-NONE-`` trace tokens (``*-1``, ``0``, ``*T*-2``) as NLTK
    gives them: they are part of the annotation, and dropping them would change the published counts.
    A row with too few columns for the ones asked for, rows of different widths in one file, an empty
    file and a missing NLTK corpus are errors."""
    if not spec or not str(spec).strip():
        raise UserError(f"no data given: pass --data with {_FORMS}")
    spec = str(spec)
    wanted = (_column_number(token_column, "--token-column"), _column_number(tag_column, "--tag-column"),
              tuple(_column_number(c, "--feature-columns") for c in feature_columns))
    if spec.startswith("nltk:"):
        return _nltk_tagged(spec[len("nltk:"):], wanted)
    if os.path.isdir(spec):
        train, test = os.path.join(spec, "train.txt"), os.path.join(spec, "test.txt")
        if not os.path.isfile(train):
            raise UserError(f"folder '{spec}' has no train.txt: put the training sentences in {train} "
                            "(and optionally the test sentences in test.txt)")
        sentences, width = _column_file(train, wanted)
        if not os.path.isfile(test):
            return TaggedData(sentences, None, f"{spec} (train.txt)")
        test_sentences, test_width = _column_file(test, wanted)
        if test_width != width:
            raise UserError(f"'{test}' has {test_width} columns but '{train}' has {width}: "
                            "give both files the same columns")
        return TaggedData(sentences, test_sentences, f"{spec} (train.txt / test.txt)")
    if os.path.isfile(spec):
        return TaggedData(_column_file(spec, wanted)[0], None, spec)
    raise UserError(f"data '{spec}' not found: give {_FORMS}")


def _column_number(value, flag: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"{flag} {value!r} is not a column number: give a whole number (0 is the first "
                        "column, -1 the last)")
    return value


def _resolve(width: int, wanted, where: str) -> tuple[int, int, tuple[int, ...]]:
    """The column numbers in ``wanted`` made non-negative for rows ``width`` columns wide; an error
    naming ``where`` (a file and line, or a corpus) if the rows are too narrow for one of them."""
    token, tag, features = wanted
    for flag, column in [("--token-column", token), ("--tag-column", tag)] + [("--feature-columns", f)
                                                                          for f in features]:
        needs = column + 1 if column >= 0 else -column
        if width < needs:
            raise UserError(f"{where} has {width} column{'s' if width != 1 else ''}; {flag} {column} "
                            f"needs at least {needs}")
    token, tag = token % width, tag % width
    features = tuple(f % width for f in features)
    if token == tag:
        raise UserError(f"--token-column and --tag-column both pick column {token} of {where}: "
                        "give them different columns")
    if tag in features:
        raise UserError(f"--feature-columns includes the tag column ({tag}) of {where}: "
                        "a feature cannot be the answer")
    return token, tag, features


def _sentence(rows: list, columns: tuple[int, int, tuple[int, ...]]) -> TaggedSentence:
    token, tag, features = columns
    return TaggedSentence(tuple(r[token] for r in rows), tuple(r[tag] for r in rows),
                          tuple(tuple(r[f] for r in rows) for f in features))


def _column_file(path: str, wanted) -> tuple[list[TaggedSentence], int]:
    """The sentences of a CoNLL-style file, and its number of columns (every row must have as many)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise UserError(f"cannot read '{path}': {exc.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark would otherwise stick to the first token
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise UserError(f"'{path}' is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}, "
                        f"line {line}): convert it to UTF-8") from None
    if not text.strip():
        raise UserError(f"'{path}' is empty: it needs one token per line, with its tag in a column, "
                        "and a blank line between sentences")
    sentences: list[TaggedSentence] = []
    rows: list[list[str]] = []
    width = first = columns = None
    # Split on "\n" only: str.splitlines would also split on characters that can occur inside tokens.
    for number, line in enumerate(text.split("\n"), start=1):
        fields = line.split()
        if fields and fields[0].startswith("-DOCSTART-"):
            fields = []  # a document break, read as a sentence break
        if not fields:
            if rows:
                sentences.append(_sentence(rows, columns))
                rows = []
            continue
        if width is None:
            width, first = len(fields), number
            columns = _resolve(width, wanted, f"'{path}' line {number}")
        elif len(fields) != width:
            _resolve(len(fields), wanted, f"'{path}' line {number}")  # too few for a wanted column?
            raise UserError(f"'{path}' line {number} has {len(fields)} columns but line {first} has "
                            f"{width}: give every token line the same columns")
        rows.append(fields)
    if rows:
        sentences.append(_sentence(rows, columns))
    if not sentences:
        raise UserError(f"'{path}' holds no sentences (only blank or -DOCSTART- lines): it needs one token "
                        "per line and a blank line between sentences")
    return sentences, width


def _nltk_tagged(name: str, wanted) -> TaggedData:
    if name not in _NLTK_COLUMNS:
        raise UserError(f"'nltk:{name}' is not a tagged corpus this reads: use nltk:treebank or nltk:conll2000")
    import nltk.corpus

    reader = getattr(nltk.corpus, name)
    try:  # NLTK's lazy loader looks the corpus up on first use; list() reads it while we can catch that
        if name == "treebank":
            parts = [list(reader.tagged_sents())]
        else:
            parts = [list(reader.iob_sents("train.txt")), list(reader.iob_sents("test.txt"))]
    except LookupError:
        raise UserError(
            f"NLTK corpus '{name}' is not installed: run python -c \"import nltk; nltk.download('{name}')\" "
            "(or set NLTK_DATA to the folder that holds corpora/)"
        ) from None
    width = len(_NLTK_COLUMNS[name].split(","))
    columns = _resolve(width, wanted, f"nltk:{name} (columns {_NLTK_COLUMNS[name]})")
    sentences, *test = [[_sentence(s, columns) for s in part if s] for part in parts]
    if name == "treebank":
        return TaggedData(sentences, None, "nltk:treebank")
    return TaggedData(sentences, test[0], "nltk:conll2000 (train.txt / test.txt)")
