"""Text generation's data: the corpus (documents, or with ``--lines`` lines; with ``--condition-on``
each with its label) -> vocabulary -> token ids -> the ``tf.data`` streams of training, validation and
evaluation. ``rnn_tf.textgen`` trains and scores with them.

Stream mode: one text of the documents joined by blank lines, read in windows (``datasets``); a
conditioned run also keeps the label id of every token, and a window carries the label of its first
token. Line mode: every item a row ``start, item, end`` (the line break is both tokens), the held-out
items a seeded share of every label's items (``items.split_items``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from rnn_tf.corpora import join_documents, load_corpus, split_documents
from rnn_tf.datasets import (
    evaluation_dataset, item_dataset, item_rows, language_model_dataset, track_dataset, track_shape, window_count,
)
from rnn_tf.errors import UserError
from rnn_tf.items import as_documents, load_items, split_items
from rnn_tf.tasks.textgen import TextgenConfig
from rnn_tf.corpus_stream import corpus_sources
from rnn_tf.token_ids import encoded_corpus
from rnn_tf.vocab import UNK_ID, Vocabulary


@dataclass
class TextgenData:
    vocab: Vocabulary
    train_ids: np.ndarray | None  # one stream of ids (None in line mode)
    val_ids: np.ndarray | None
    default_prime: str
    # conditioned stream: the label id of every token of train_ids / val_ids
    train_labels: np.ndarray | None = None
    val_labels: np.ndarray | None = None
    # line mode: item_rows of the training and held-out items, and each row's label id
    train_rows: np.ndarray | None = None
    val_rows: np.ndarray | None = None
    train_row_labels: np.ndarray | None = None
    val_row_labels: np.ndarray | None = None
    train_texts: frozenset[str] = frozenset()  # line mode: the training items, for --novel
    cut: int = 0  # line mode: items cut to --seq-len tokens
    val_characters: int | None = None  # the held-out text's characters, where its text is not kept (token_ids)
    cache_folder: str | None = None  # the token-id cache's folder of this corpus (token_ids), where it has one

    @property
    def n_train(self) -> int:
        """Training tokens (line mode: training items)."""
        return len(self.train_rows) if self.train_rows is not None else len(self.train_ids)


def label_ids_of(items, cfg: TextgenConfig) -> np.ndarray | None:
    """The label id of every item (None unconditioned); a label the run does not know is an error."""
    if cfg.condition_on is None:
        return None
    index = {label: i for i, label in enumerate(cfg.labels)}
    unknown = sorted({i.label for i in items} - set(index))
    if unknown:
        raise UserError(f"the corpus has labels the run was not trained with ({', '.join(unknown[:5])}): "
                        "it changed since; start a new run")
    return np.array([index[i.label] for i in items], np.int32)


def prepare_textgen_data(cfg: TextgenConfig, vocab: Vocabulary | None = None, progress=None) -> TextgenData:
    """Load and split the corpus, build the vocabulary from the training documents only (unless one
    is given), and encode both splits as int32 ids. Checks that both splits fill at least one window.
    A new conditioned run's ``cfg.labels`` is set here (sorted), a resumed run's is checked.

    Stream mode without labels goes through the token-id cache (``token_ids``): the corpus is encoded
    once, in pieces, and its ids memory-mapped; ``progress``: a stream for the encoding's progress line."""
    if vocab is not None and vocab.level != cfg.level:  # a resumed run's vocabulary, checked once for every mode
        raise UserError(f"vocab.json is {vocab.level}-level but config.json says {cfg.level}: the run is damaged")
    if cfg.lines:
        return _prepare_lines(cfg, vocab)
    if cfg.condition_on is None:
        sources = corpus_sources(cfg.corpus, cfg.encoding, cfg.errors)
        return _check_windows(cfg, _prepare_cached(cfg, sources, vocab, progress))
    items = load_items(cfg.corpus, False, cfg.condition_on, cfg.text_column, cfg.label_column,
                       cfg.encoding, cfg.errors)
    if vocab is None:
        cfg.labels = sorted({i.label for i in items})
    labels = label_ids_of(items, cfg)
    train_docs, val_docs = split_documents(as_documents(items), cfg.val_fraction)
    doc_labels = [labels[: len(train_docs)], labels[len(train_docs):]]
    train_text = join_documents(train_docs)
    if vocab is None:
        vocab = Vocabulary.build(train_text, cfg.level, cfg.max_vocab)
    train_ids, train_labels = _encode_documents(vocab, train_docs, doc_labels[0])
    val_ids = val_labels = None
    if val_docs:
        val_ids, val_labels = _encode_documents(vocab, val_docs, doc_labels[1])
    return _check_windows(cfg, TextgenData(vocab, train_ids, val_ids, default_prime(train_docs[0].text),
                                           train_labels, val_labels))


def default_prime(first_document: str) -> str:
    """The epoch samples' prime: the first document's first line (up to 80 characters), or its first 40."""
    first = first_document.lstrip()
    return first[: first.find("\n")] if 0 < first.find("\n") <= 80 else first[:40]


def _check_windows(cfg: TextgenConfig, data: TextgenData) -> TextgenData:
    """Both splits fill at least one window (and with --stateful, every track): a clear error if not."""
    window_count(len(data.train_ids), cfg.seq_len)
    if cfg.stateful:
        track_shape(len(data.train_ids), cfg.seq_len, cfg.batch_size)  # every track fills a window
    if data.val_ids is not None and (len(data.val_ids) - 1) // cfg.seq_len < 1:
        raise UserError(
            f"the held-out documents have {len(data.val_ids)} tokens, fewer than one window of "
            f"{cfg.seq_len + 1}: use a longer corpus, a smaller --seq-len or a larger validation share"
        )
    return data


def _prepare_cached(cfg: TextgenConfig, sources, vocab: Vocabulary | None, progress) -> TextgenData:
    encoded = encoded_corpus(cfg, sources, vocab, progress)
    return TextgenData(encoded.vocab, encoded.train_ids, encoded.val_ids, encoded.default_prime,
                       val_characters=encoded.val_characters, cache_folder=encoded.folder)


def _encode_documents(vocab: Vocabulary, docs, labels, warn: bool = False,
                      what: str = "text") -> tuple[np.ndarray, np.ndarray | None]:
    """The ids of ``join_documents(docs)`` (``warn``: say how much of it the vocabulary lacks); with
    ``labels`` (one id per document) also the label id of every token: a document's tokens, and the
    blank line before the next one, carry its label (no token spans a line break, so the joined text's
    tokens are each document's followed by the separator's)."""
    ids = vocab.encode(join_documents(docs), warn=warn, what=what)
    if labels is None:
        return ids, None
    separator = len(vocab.tokenize("\n\n"))
    texts = [d.text.strip("\n") for d in docs]
    sizes = [(len(t) if vocab.level == "char" else len(vocab.tokenize(t))) + separator for t in texts]
    sizes[-1] -= separator
    token_labels = np.repeat(np.asarray(labels, np.int32), sizes)
    if len(token_labels) != len(ids):
        raise AssertionError(f"{len(token_labels)} labels for {len(ids)} tokens")
    return ids, token_labels


def _prepare_lines(cfg: TextgenConfig, vocab: Vocabulary | None) -> TextgenData:
    """Line mode: items held out whole (a seeded share of every label's), rows of start token, item,
    end token, the line break being both tokens."""
    items = load_items(cfg.corpus, True, cfg.condition_on, cfg.text_column, cfg.label_column,
                       cfg.encoding, cfg.errors)
    if cfg.condition_on is not None and vocab is None:
        cfg.labels = sorted({i.label for i in items})
    train_items, val_items = split_items(items, cfg.val_fraction, cfg.seed or 0)
    if vocab is None:
        vocab = Vocabulary.build("\n".join(["", *(i.text for i in train_items)]), cfg.level, cfg.max_vocab)
    boundary = vocab.stoi.get("\n")
    if boundary is None:
        raise UserError("the vocabulary has no line break, line mode's start and end token: start a new run")
    train_rows, cut = item_rows([vocab.encode(i.text) for i in train_items], boundary, cfg.seq_len)
    val_rows = val_labels = None
    if val_items:
        val_rows, _ = item_rows([vocab.encode(i.text) for i in val_items], boundary, cfg.seq_len)
        val_labels = label_ids_of(val_items, cfg)
    if len(train_rows) < cfg.batch_size:
        raise UserError(f"{len(train_rows)} training lines are fewer than one batch of {cfg.batch_size}: use a "
                        "smaller --batch-size or more lines")
    return TextgenData(vocab, None, None, "", train_rows=train_rows, val_rows=val_rows,
                       train_row_labels=label_ids_of(train_items, cfg), val_row_labels=val_labels,
                       train_texts=frozenset(i.text for i in train_items), cut=cut)


def training_stream(cfg: TextgenConfig, data: TextgenData, start_step: int = 0) -> tf.data.Dataset:
    """Batch k of training, a function of (seed, k): shuffled windows (with their labels when
    conditioned), whole items in line mode, or with ``--stateful`` each row's track in order."""
    if cfg.lines:
        return item_dataset(data.train_rows, cfg.batch_size, labels=data.train_row_labels, seed=cfg.seed,
                            start_step=start_step)
    if cfg.stateful:
        return track_dataset(data.train_ids, cfg.seq_len, cfg.batch_size, start_step=start_step)
    return language_model_dataset(data.train_ids, cfg.seq_len, cfg.batch_size, seed=cfg.seed, start_step=start_step,
                                  labels=data.train_labels)


def validation_stream(cfg: TextgenConfig, data: TextgenData) -> tf.data.Dataset | None:
    """The held-out windows (line mode: items) once, in order; None when nothing is held out."""
    if cfg.lines:
        return None if data.val_rows is None else item_dataset(data.val_rows, cfg.batch_size, train=False,
                                                                labels=data.val_row_labels)
    if data.val_ids is None:
        return None
    return language_model_dataset(data.val_ids, cfg.seq_len, cfg.batch_size, shuffle=False, repeat=False,
                                  labels=data.val_labels)


def training_items(cfg: TextgenConfig) -> frozenset[str]:
    """Line mode: the text of every training item of a run (what ``generate --novel`` compares with)."""
    items = load_items(cfg.corpus, True, cfg.condition_on, cfg.text_column, cfg.label_column,
                       cfg.encoding, cfg.errors)
    return frozenset(i.text for i in split_items(items, cfg.val_fraction, cfg.seed or 0)[0])


def stream_evaluation(cfg: TextgenConfig, vocab: Vocabulary, corpus: str | None, batch_size: int):
    if cfg.condition_on:
        items = load_items(corpus or cfg.corpus, False, cfg.condition_on, cfg.text_column, cfg.label_column,
                       cfg.encoding, cfg.errors)
        docs, labels = as_documents(items), label_ids_of(items, cfg)
        if corpus is None:
            train_docs, docs = split_documents(docs, cfg.val_fraction)
            labels = labels[len(train_docs):]
    elif corpus is None:  # the run's held-out part, from the token-id cache
        data = prepare_textgen_data(cfg, vocab)
        if data.val_ids is None:
            raise UserError("this run held out no documents (validation fraction 0): pass --corpus to evaluate on")
        source = f"held-out documents of {cfg.corpus}"
        unknown = int(np.count_nonzero(np.asarray(data.val_ids) == UNK_ID))
        if unknown:
            warnings.warn(f"{source}: {unknown} {vocab.level}(s) not in the vocabulary map to <unk>", stacklevel=2)
        return evaluation_dataset(data.val_ids, cfg.seq_len, batch_size), source, data.val_characters
    else:
        docs, labels = load_corpus(corpus, cfg.encoding, cfg.errors), None
    if not docs:
        raise UserError("this run held out no documents (validation fraction 0): pass --corpus to evaluate on")
    source = corpus or f"held-out documents of {cfg.corpus}"
    text = join_documents(docs)
    ids, token_labels = _encode_documents(vocab, docs, labels, warn=True, what=source)
    return evaluation_dataset(ids, cfg.seq_len, batch_size, token_labels), source, len(text)


def line_evaluation(cfg: TextgenConfig, vocab: Vocabulary, corpus: str | None, batch_size: int):
    items = load_items(corpus or cfg.corpus, True, cfg.condition_on, cfg.text_column, cfg.label_column,
                       cfg.encoding, cfg.errors)
    if corpus is None:
        items = split_items(items, cfg.val_fraction, cfg.seed or 0)[1]
        if not items:
            raise UserError("this run held out no lines (validation fraction 0): pass --corpus to evaluate on")
    source = corpus or f"held-out lines of {cfg.corpus}"
    rows, _ = item_rows([vocab.encode(i.text) for i in items], vocab.stoi["\n"], cfg.seq_len)
    dataset = item_dataset(rows, batch_size, labels=label_ids_of(items, cfg), train=False)
    return dataset, source, sum(len(i.text) + 1 for i in items)


def describe(cfg: TextgenConfig, data: TextgenData, steps: int) -> str:
    """What ``textgen train`` says it trains on: sizes, vocabulary, labels, steps (and tracks)."""
    if cfg.lines:
        held = 0 if data.val_rows is None else len(data.val_rows)
        sizes = f"{len(data.train_rows):,} training and {held:,} held-out lines"
    else:
        held = 0 if data.val_ids is None else len(data.val_ids)
        sizes = f"{len(data.train_ids):,} training and {held:,} held-out {cfg.level}s"
    labels = ""
    if cfg.condition_on:
        shown = ", ".join(cfg.labels[:6]) + (", ..." if len(cfg.labels) > 6 else "")
        labels = f", conditioned on {cfg.condition_on} ({len(cfg.labels)} labels: {shown})"
    tracks = ""
    if cfg.stateful:
        windows = track_shape(len(data.train_ids), cfg.seq_len, cfg.batch_size)[1]
        tracks = f", states carried along {cfg.batch_size} tracks of {windows} windows"
    return f"{sizes}, vocabulary {len(data.vocab)}{labels}, {steps} steps per epoch{tracks}"
