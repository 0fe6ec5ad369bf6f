"""Knowledge from unlabelled text for the classifier: pretrained word vectors and language models.

``classify train --embeddings FILE`` starts the embedding layer (of an RNN or a CNN) from word vectors in
the formats people have: GloVe text (no header line), word2vec text or binary and fastText ``.vec``
(a ``count dim`` header line), or a gensim ``KeyedVectors`` file (``.kv``), read with gensim. A word the
file lacks (after trying its lower-case form) starts from small random numbers, as Kim (2014) did.
``--freeze-embeddings`` keeps the vectors as they are.

``classify train --init-from RUN`` starts the embedding and recurrent layers from a word-level language
model trained with ``rnn-tf textgen train --level word`` (Dai & Le 2015; ULMFiT): each word of the
classifier's vocabulary takes the language model's row for it, and the recurrent layers take its weights
whole, so the cell, units, layers and embedding size must be the language model's (they are taken from
it unless given). The classifier's head starts fresh.

Either way, what was found is printed and saved in the run folder (``pretrained.json``): how many of the
vocabulary's words had a vector, and what share of the training tokens they cover.
"""

from __future__ import annotations

import functools
import os

import numpy as np

from rnn_tf.errors import UserError
from rnn_tf.vocab import PAD_ID, UNK_ID, Vocabulary

RANDOM_SCALE = 0.25  # words without a vector: uniform in [-a, a], a chosen so their variance is the vectors'


def check_sources(cfg, given: dict) -> None:
    """Before anything is written: the file or run exists and fits; settings not given (absent or None in
    ``given``, the command's settings) are filled in
    from it (the embedding size of the vectors; a language model's cell, units, layers, embedding size)."""
    if cfg.embeddings:
        vectors = load_vectors(cfg.embeddings)
        dim = int(vectors.vector_size)
        if given.get("embedding_dim") is not None and cfg.embedding_dim != dim:
            raise UserError(f"--embedding-dim {cfg.embedding_dim} differs from the {dim} dimensions of the vectors in "
                            f"'{cfg.embeddings}': drop --embedding-dim")
        cfg.embedding_dim = dim
    if cfg.init_from:
        lm = language_model_config(cfg.init_from)
        for name in ("cell", "units", "layers", "embedding_dim"):
            theirs = getattr(lm, name)
            if given.get(name) is not None and getattr(cfg, name) != theirs:
                raise UserError(f"--{name.replace('_', '-')} {getattr(cfg, name)} differs from the language model's "
                                f"{theirs} in '{cfg.init_from}': drop the flag (it is taken from the model)")
            setattr(cfg, name, theirs)


@functools.lru_cache(maxsize=2)
def load_vectors(path: str):
    """gensim ``KeyedVectors`` of ``path``; read once per process (every fold of a run shares them)."""
    if not os.path.isfile(path):
        raise UserError(f"word vectors '{path}' not found: give a GloVe, word2vec or fastText .vec file")
    try:
        from gensim.models import KeyedVectors
    except ImportError:
        raise UserError("reading word vectors needs gensim: pip install gensim") from None
    try:
        if path.endswith(".kv"):
            return KeyedVectors.load(path)
        binary = path.endswith(".bin")
        header = True
        if not binary:
            with open(path, encoding="utf-8", errors="replace") as f:
                first = f.readline().split()
            header = len(first) == 2 and all(p.isdigit() for p in first)  # word2vec / fastText: "count dim"
        return KeyedVectors.load_word2vec_format(path, binary=binary, no_header=not header)
    except (ValueError, UnicodeDecodeError, EOFError, OSError) as exc:
        first = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
        raise UserError(f"'{path}' is not a word-vector file gensim can read ({first}): give GloVe text, word2vec "
                        "text or binary (.bin), fastText .vec, or gensim KeyedVectors (.kv)") from None


def language_model_config(run_dir: str):
    from rnn_tf.runs import RunDir
    from rnn_tf.tasks.textgen import TextgenConfig

    lm = RunDir(run_dir).load_config(TextgenConfig)
    if lm.level != "word":
        raise UserError(f"'{run_dir}' is a {lm.level}-level language model: --init-from needs one trained with "
                        "rnn-tf textgen train --level word")
    if lm.condition_on:
        raise UserError(f"'{run_dir}' is conditioned on {lm.condition_on}: --init-from needs an unconditioned model")
    return lm


def initialise(model, vocab: Vocabulary, cfg, train_ids: np.ndarray, seed: int) -> dict | None:
    """Set the classifier's pretrained weights (before training a new run); returns what was found."""
    if cfg.embeddings:
        vectors = load_vectors(cfg.embeddings)
        rows = {word: vectors[key] for word, key in _lookups(vocab, vectors.key_to_index).items()}
        source = {"embeddings": os.path.abspath(cfg.embeddings), "frozen": bool(cfg.freeze_embeddings)}
    elif cfg.init_from:
        rows, source = _from_language_model(model, vocab, cfg.init_from)
    else:
        return None
    embedding = model.get_layer("embedding")
    table = _table(vocab, rows, embedding.get_weights()[0].shape[1], seed)
    embedding.set_weights([table])
    known = np.array([i >= 2 and vocab.itos[i] in rows for i in range(len(vocab))])
    tokens = train_ids[train_ids > UNK_ID]
    return {**source, "vocabulary": len(vocab) - 2, "found": int(known.sum()),
            "coverage": float(known.sum() / max(len(vocab) - 2, 1)),
            "token_coverage": float(known[tokens].mean()) if tokens.size else 0.0}


def describe(info: dict) -> str:
    what = f"vectors from {info['embeddings']}" if "embeddings" in info else f"the language model {info['init_from']}"
    return (f"{what}: {info['found']:,} of {info['vocabulary']:,} vocabulary words ({info['coverage']:.1%}), "
            f"{info['token_coverage']:.1%} of the training tokens" + (", frozen" if info.get("frozen") else ""))


def _lookups(vocab: Vocabulary, known) -> dict:
    """{classifier word: the file's word for it}: the word itself, else its lower-case form."""
    found = {}
    for word in vocab.itos[2:]:
        key = word if word in known else word.lower() if word.lower() in known else None
        if key is not None:
            found[word] = key
    return found


def _table(vocab: Vocabulary, rows: dict, dim: int, seed: int) -> np.ndarray:
    """The embedding matrix: the given rows, small random ones for the rest, zeros for padding."""
    given = np.array(list(rows.values()), np.float32).reshape(-1, dim)
    scale = float(given.std() * np.sqrt(3.0)) if given.size else RANDOM_SCALE  # uniform [-a, a] has variance a²/3
    table = np.random.default_rng(seed).uniform(-scale, scale, (len(vocab), dim)).astype(np.float32)
    for i, word in enumerate(vocab.itos):
        if word in rows:
            table[i] = rows[word]
    table[PAD_ID] = 0.0
    return table


def _from_language_model(model, vocab: Vocabulary, run_dir: str):
    """The language model's rows for the classifier's words, and its recurrent layers' weights copied in."""
    from rnn_tf.fitting import load_weights
    from rnn_tf.runs import RunDir
    from rnn_tf.tasks.textgen import TASK

    run = RunDir(run_dir)
    lm_cfg = language_model_config(run_dir)
    lm_vocab = run.load_vocab()
    lm = TASK.module().make_language_model(lm_cfg, len(lm_vocab))  # the text generator's own factory call
    path = run.weights("best")
    load_weights(lm.training, path)
    for i in range(1, lm_cfg.layers + 1):
        model.get_layer(f"rnn_{i}").set_weights(lm.training.get_layer(f"rnn_{i}").get_weights())
    table = lm.training.get_layer("embedding").get_weights()[0]
    rows = {word: table[lm_vocab.stoi[key]] for word, key in _lookups(vocab, lm_vocab.stoi).items()}
    return rows, {"init_from": os.path.abspath(run_dir), "weights": os.path.abspath(path)}
