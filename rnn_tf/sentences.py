"""A translator's sentences: the two vocabularies (words, or subword pieces per side), a normalised
sentence (``corpora.normalize_sentence``'s tokens) as ids, and output ids as text written the way
references are, so that BLEU and chrF compare like with like whatever the level.
"""

from __future__ import annotations

import collections

import numpy as np

from rnn_tf import subword
from rnn_tf.vocab import UNK_ID, Vocabulary, detokenize_words, tokenize_words

START, END = "<start>", "<end>"  # a target vocabulary's first tokens: decoding.START_ID, END_ID


def build_vocabularies(pairs, max_vocab: int | None, level: str = "word") -> tuple[Vocabulary, Vocabulary]:
    """The source and target vocabularies of the training pairs: their ``max_vocab`` most frequent words,
    or (``subword``) a SentencePiece model of ``max_vocab`` pieces per side. The target's first tokens
    after <pad> and <unk> are <start> and <end> (``decoding.START_ID``, ``END_ID``) either way."""
    if level == "subword":
        size = max_vocab or subword.DEFAULT_SIZE
        source_model = subword.train_model([" ".join(s) for s, _ in pairs], size, (), sentences=True)
        target_model = subword.train_model([" ".join(t) for _, t in pairs], size, (START, END), sentences=True)
        return Vocabulary.subword(source_model), Vocabulary.subword(target_model)
    source, target = collections.Counter(), collections.Counter()
    for s, t in pairs:
        source.update(s)
        target.update(t)
    return (Vocabulary([w for w, _ in source.most_common(max_vocab)], "word"),
            Vocabulary([START, END, *(w for w, _ in target.most_common(max_vocab))], "word"))


def token_ids(vocab: Vocabulary, tokens: list[str]) -> np.ndarray:
    """The ids of a normalised sentence (``corpora.normalize_sentence``'s tokens): a word-level
    vocabulary looks each word up (unknown: ``UNK_ID``); a subword one spells the sentence in pieces."""
    if vocab.level == "subword":
        return vocab.encode(" ".join(tokens))
    return np.array([vocab.stoi.get(t, UNK_ID) for t in tokens], dtype=np.int32)


def sentence_text(tokens: list[str]) -> str:
    """A normalised sentence as text: what translations are compared with (BLEU, chrF)."""
    return detokenize_words(tokens)


def output_text(vocab: Vocabulary, ids) -> str:
    """Output ids as text written the way ``sentence_text`` writes references, whatever the level (a
    word-level translator's unknown word stays ``<unk>``: it matches no reference word)."""
    if vocab.level == "subword":
        return detokenize_words(tokenize_words(vocab.decode(ids)))
    return vocab.decode(ids)


def source_labels(vocab: Vocabulary, tokens: list[str], ids) -> list[str]:
    """What an attention plot labels the source positions with: the words as typed (an unknown one
    too), or the pieces a subword vocabulary read."""
    return list(tokens) if vocab.level == "word" else [vocab.itos[j] for j in ids]
