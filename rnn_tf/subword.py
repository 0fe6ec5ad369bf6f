"""Subword vocabularies (``--level subword``): a SentencePiece unigram model (Kudo 2018) trained on the
training text, kept inside ``vocab.json`` (base64), so the run folder carries what rebuilds it.

The model is set up for language modelling rather than for sentences: no normalisation (the text comes
back byte for byte), whitespace kept as it is (``▁`` marks a space, runs of spaces stay), no dummy
space at the start, the line break a piece of its own, and byte fallback: a character the model never
saw is spelled with its UTF-8 bytes, so nothing maps to ``<unk>`` and generated text never shows it.
SentencePiece's ids shift by one in ours: its ``<unk>`` (0) is our ``UNK_ID`` (1), our 0 is padding.
"""

from __future__ import annotations

import base64
import functools
import io

from rnn_tf.errors import UserError

DEFAULT_SIZE = 4000  # pieces, when --vocab-size is not given
SAMPLE_CHARS = 50_000_000  # the model is trained on the first this many characters of the training text


def training_lines(pieces, limit: int = SAMPLE_CHARS) -> list[str]:
    """The non-empty lines of the first ``limit`` characters of the text the pieces make."""
    lines, taken, carry = [], 0, ""
    for piece in pieces:
        piece = carry + piece[: max(limit - taken, 0)]
        taken += len(piece) - len(carry)
        *whole, carry = piece.split("\n")
        lines += [line for line in whole if line]
        if taken >= limit:
            break
    if carry:
        lines.append(carry)
    return lines


def train_model(lines: list[str], size: int | None, symbols: tuple[str, ...] = ("\n",), sentences: bool = False) -> bytes:
    """A SentencePiece model (its serialized proto) of at most ``size`` pieces. ``symbols`` are pieces of
    their own, right after ``<unk>`` (a language model's line break; a translator's ``<start>`` and
    ``<end>``). ``sentences``: the lines are single sentences of space-separated tokens (translation
    pairs), so a space is added before the first word, as before every other, and runs of spaces
    collapse; otherwise the text comes back byte for byte."""
    import sentencepiece as spm

    if not lines:
        raise UserError("the training text is empty: a subword vocabulary needs text to learn from")
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(lines), model_writer=model, vocab_size=size or DEFAULT_SIZE,
            model_type="unigram", hard_vocab_limit=False, byte_fallback=True, character_coverage=1.0,
            normalization_rule_name="identity", remove_extra_whitespaces=sentences, add_dummy_prefix=sentences,
            user_defined_symbols=list(symbols), split_digits=True, unk_id=0, bos_id=-1, eos_id=-1, pad_id=-1,
            max_sentence_length=1 << 16, num_threads=2, minloglevel=2)
    except RuntimeError as exc:
        reason = str(exc).split("] ")[-1].split(". Increase")[0]
        raise UserError(f"--vocab-size {size or DEFAULT_SIZE} does not fit this text ({reason}): a subword vocabulary "
                        "holds the 256 byte pieces and the text's characters besides its longer pieces; choose "
                        "another --vocab-size") from None
    return model.getvalue()


@functools.lru_cache(maxsize=8)
def processor(model: bytes):
    import sentencepiece as spm

    return spm.SentencePieceProcessor(model_proto=model)


def pieces_of(model: bytes) -> list[str]:
    """Every piece but ``<unk>``, in SentencePiece's id order (our ids are theirs plus one)."""
    sp = processor(model)
    return [sp.id_to_piece(i) for i in range(1, sp.get_piece_size())]


def encode(model: bytes, text: str) -> list[int]:
    return [i + 1 for i in processor(model).encode(text)]


def tokenize(model: bytes, text: str) -> list[str]:
    return processor(model).encode(text, out_type=str)


def decode(model: bytes, ids) -> str:
    return processor(model).decode([int(i) - 1 for i in ids])


def to_text(model: bytes) -> str:
    return base64.b64encode(model).decode("ascii")


def from_text(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"))
