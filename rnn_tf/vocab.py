"""Step 2 of the flow: a vocabulary maps text to integer ids and back.

Id 0 is padding and id 1 is "unknown"; real tokens start at 2. Character level keeps every
character (optionally only the ``max_size`` most frequent); word level splits words, punctuation and
line breaks. Text outside the vocabulary never crashes anything: it maps to the unknown id and the
caller is told how many tokens that was (``encode(..., warn=True)`` issues a warning).
"""

from __future__ import annotations

import collections
import json
import os
import re
import warnings

import numpy as np

from rnn_tf import subword
from rnn_tf.errors import UserError
from rnn_tf.names import LEVELS

PAD = "<pad>"
UNK = "<unk>"
PAD_ID = 0
UNK_ID = 1

_WORD_RE = re.compile(r"\w+(?:'\w+)*|[^\w\s]|\n")
_NO_SPACE_BEFORE = re.compile(r" ([.,;:!?%)\]}'\n])")
_NO_SPACE_AFTER = re.compile(r"([(\[{$\n]) ")


class Vocabulary:
    """An ordered list of tokens; the position of a token is its id."""

    def __init__(self, tokens: list[str], level: str = "char", model: bytes | None = None):
        if level not in LEVELS:
            raise UserError(f"unknown vocabulary level '{level}': use one of {', '.join(LEVELS)}")
        if (level == "subword") != (model is not None):
            raise ValueError("a subword vocabulary, and only one, comes with its SentencePiece model")
        self.model = model  # subword: the SentencePiece model (rnn_tf.subword); tokens are its pieces
        tokens = [t for t in tokens if t not in (PAD, UNK)]
        if len(set(tokens)) != len(tokens):
            raise ValueError("vocabulary tokens must be unique")
        if level == "char" and any(len(t) != 1 for t in tokens):
            raise ValueError("a character vocabulary holds single characters")
        self.level = level
        self.itos: list[str] = [PAD, UNK, *tokens]
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(self.itos)}
        if level == "char":
            # Sorted code points and their ids: encoding a whole corpus is one vectorised lookup.
            codes = np.array([ord(t) for t in tokens], dtype=np.int64)
            order = np.argsort(codes)
            self._codes = codes[order]
            self._code_ids = (order + 2).astype(np.int32)

    @classmethod
    def build(
        cls, texts: list[str] | str, level: str = "char", max_size: int | None = None
    ) -> "Vocabulary":
        """Count tokens in ``texts``; keep the ``max_size`` most frequent (ties by first sight). Subword:
        a SentencePiece model of ``max_size`` pieces learnt from them (``rnn_tf.subword``)."""
        if isinstance(texts, str):
            texts = [texts]
        if level not in LEVELS:
            raise UserError(f"unknown vocabulary level '{level}': use one of {', '.join(LEVELS)}")
        if level == "subword":
            return cls.subword(subword.train_model(subword.training_lines(t + "\n" for t in texts), max_size))
        counts: collections.Counter[str] = collections.Counter()
        for text in texts:
            counts.update(text if level == "char" else tokenize_words(text))
        ranked = [t for t, _ in counts.most_common(max_size)]
        if level == "char":
            ranked.sort()  # a stable, readable order for vocab.json
        return cls(ranked, level)

    @classmethod
    def subword(cls, model: bytes) -> "Vocabulary":
        return cls(subword.pieces_of(model), "subword", model)

    def __len__(self) -> int:
        return len(self.itos)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and (self.level, self.itos, self.model) == (
            other.level, other.itos, other.model)

    def tokenize(self, text: str) -> list[str]:
        if self.level == "subword":
            return subword.tokenize(self.model, text)
        return list(text) if self.level == "char" else tokenize_words(text)

    def encode(self, text: str, warn: bool = False, what: str = "text") -> np.ndarray:
        """Ids (int32) of ``text``; tokens outside the vocabulary become ``UNK_ID``."""
        if self.level == "char":
            codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
            table = np.append(self._codes, -1)  # a sentinel, so every position can be looked up
            pos = np.searchsorted(self._codes, codes)
            known = table[pos] == codes
            ids = np.where(known, np.append(self._code_ids, UNK_ID)[pos], UNK_ID).astype(np.int32)
            n_unknown = int((~known).sum())
            unknown = sorted({text[i] for i in np.flatnonzero(~known)[:1000]}) if warn else []
        elif self.level == "subword":  # byte fallback: nothing is unknown
            ids = np.asarray(subword.encode(self.model, text), np.int32)
            n_unknown, unknown = int((ids == UNK_ID).sum()), []
        else:
            tokens = tokenize_words(text)
            ids = np.fromiter((self.stoi.get(t, UNK_ID) for t in tokens), np.int32, len(tokens))
            n_unknown = int((ids == UNK_ID).sum())
            unknown = sorted({t for t in tokens if t not in self.stoi})[:20] if warn else []
        if warn and n_unknown:
            shown = ", ".join(repr(u) for u in unknown[:10])
            warnings.warn(
                f"{what}: {n_unknown} {self.level}(s) not in the vocabulary ({shown}) map to {UNK}",
                stacklevel=2,
            )
        return ids

    def decode(self, ids) -> str:
        if self.level == "subword":
            return subword.decode(self.model, [i for i in np.asarray(ids).ravel().tolist() if i != PAD_ID])
        tokens = [self.itos[i] for i in np.asarray(ids).ravel().tolist() if i != PAD_ID]
        if self.level == "char":
            return "".join("\ufffd" if t == UNK else t for t in tokens)
        return detokenize_words(tokens)

    def to_dict(self) -> dict:
        if self.level == "subword":
            return {"level": self.level, "tokens": self.itos, "sentencepiece": subword.to_text(self.model)}
        return {"level": self.level, "tokens": self.itos}

    @classmethod
    def from_dict(cls, data: dict) -> "Vocabulary":
        if not isinstance(data, dict) or not isinstance(data.get("tokens"), list):
            raise ValueError("a vocabulary is an object with a list of 'tokens'")
        tokens = data["tokens"]
        if not all(isinstance(t, str) and t for t in tokens):
            raise ValueError("every token must be a non-empty string")
        if tokens[:2] != [PAD, UNK]:
            raise ValueError(f"the tokens must start with {PAD} and {UNK}")
        if PAD in tokens[2:] or UNK in tokens[2:]:
            raise ValueError(f"{PAD} and {UNK} may appear only first")
        if data.get("level") == "subword":
            vocab = cls.subword(subword.from_text(data.get("sentencepiece", "")))
            if vocab.itos != tokens:
                raise ValueError("the tokens are not the pieces of the SentencePiece model stored with them")
            return vocab
        return cls(tokens[2:], data.get("level", "char"))

    def save(self, path: str) -> None:
        tmp = f"{path}.{os.getpid()}.tmp"  # written whole, then renamed: a crash leaves no half file
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, ensure_ascii=False, indent=0)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str) -> "Vocabulary":
        with open(path, encoding="utf-8") as f:
            return cls.from_dict(json.load(f))


def tokenize_words(text: str) -> list[str]:
    """Words (with inner apostrophes), single punctuation marks and line breaks."""
    return _WORD_RE.findall(text)


def detokenize_words(tokens: list[str]) -> str:
    text = " ".join(tokens)
    text = _NO_SPACE_BEFORE.sub(r"\1", text)
    return _NO_SPACE_AFTER.sub(r"\1", text)
