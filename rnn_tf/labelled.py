"""Labelled examples, for classification: a data spec -> texts with labels, and seeded, stratified
splits of them.

A data spec is one of
  a ``.csv`` / ``.tsv`` file        a text column and a label column (``--text-column``, ``--label-column``)
  a folder with a folder per class  every file below a class's folder is one example (aclImdb's
                                    ``train/`` and ``test/`` are its own split)
  ``nltk:NAME``                     movie_reviews, sentence_polarity, subjectivity, names
  ``keras:imdb``                    Keras's IMDB reviews, decoded back to words
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass

from rnn_tf.corpora import load_nltk_documents, read_text_file
from rnn_tf.errors import UserError


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
        data = LabelledData(read_table(spec, text_column, label_column))
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


def read_table(path: str, text_column: str, label_column: str | None) -> list[Example]:
    """The rows of a CSV/TSV file as examples; ``label_column`` None reads the texts alone (label "")."""
    import csv

    delimiter = "\t" if path.lower().endswith((".tsv", ".tab")) else ","
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f, delimiter=delimiter)
            columns = reader.fieldnames or []
            for column, flag in ((text_column, "--text-column"), (label_column, "--label-column")):
                if column is not None and column not in columns:
                    raise UserError(f"'{path}' has no column '{column}' (columns: {', '.join(columns)}): "
                                    f"name the right one with {flag}")
            rows = []
            for line, row in enumerate(reader, start=2):
                label = "" if label_column is None else row.get(label_column)
                if row.get(text_column) is None or label is None:
                    raise UserError(f"'{path}' line {line} has too few fields: check the delimiter and quoting")
                rows.append(Example(row[text_column], label.strip()))
            return rows
    except UnicodeDecodeError as exc:
        raise UserError(f"'{path}' is not UTF-8 text (byte {exc.start}): convert it to UTF-8") from None


def _class_folders(folder: str) -> list[Example]:
    classes = sorted(d for d in os.listdir(folder)
                     if os.path.isdir(os.path.join(folder, d)) and d != "unsup")  # aclImdb's unlabelled part
    examples = []
    for label in classes:
        for path in sorted(glob.glob(os.path.join(folder, label, "*.txt"))):
            examples.append(Example(read_text_file(path).text, label))
    if not examples:
        raise UserError(f"'{folder}' has no class folders with .txt files (expected {folder}/<class>/*.txt)")
    return examples


def _nltk_labelled(name: str) -> list[Example]:
    docs_by_file = {d.name: d.text for d in load_nltk_documents(name)}
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
