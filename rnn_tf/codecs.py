"""Text handling inside TensorFlow graphs, for ``rnn-tf export`` (``serving.py``): a vocabulary as a
lookup table, tokenizing and detokenizing as regular expressions (RE2 spellings of
``vocab.tokenize_words`` and ``vocab.detokenize_words``), and a subword vocabulary's SentencePiece model
run by TensorFlow Text. Each codec turns strings into ragged ids and ids back into strings exactly as
``Vocabulary`` does in Python.
"""

from __future__ import annotations

import tensorflow as tf

from rnn_tf.errors import UserError
from rnn_tf.vocab import PAD_ID, UNK_ID, Vocabulary

# Python's \w (str patterns) is Unicode letters, digits and "_"; its \s also covers Unicode spaces.
_W = r"[\p{L}\p{N}_]"
_SPACE = r"\s\v\x{1c}-\x{1f}\x{85}\p{Z}"
_TOKEN = rf"({_W}+(?:'{_W}+)*|[^\p{{L}}\p{{N}}_{_SPACE}]|\n)"  # vocab._WORD_RE
_NO_SPACE_BEFORE = r" ([.,;:!?%)\]}'\n])"  # vocab._NO_SPACE_BEFORE
_NO_SPACE_AFTER = r"([(\[{$\n]) "  # vocab._NO_SPACE_AFTER
_MARK = "\x00"  # wraps every token before the split: never part of a token

def _word_tokens(texts: tf.Tensor) -> tf.RaggedTensor:
    """(B,) strings -> (B, None) words, punctuation marks and line breaks, as ``vocab.tokenize_words``."""
    pieces = tf.strings.split(tf.strings.regex_replace(texts, _TOKEN, _MARK + r"\1" + _MARK), _MARK)
    spaces = tf.strings.regex_full_match(pieces, f"[{_SPACE}]*")  # what lay between tokens
    return tf.ragged.boolean_mask(pieces, tf.equal(pieces, "\n") | ~spaces)


def _join_words(tokens: tf.RaggedTensor) -> tf.Tensor:
    """(B, None) words -> (B,) strings, as ``vocab.detokenize_words``."""
    text = tf.strings.reduce_join(tokens, axis=-1, separator=" ")
    return tf.strings.regex_replace(tf.strings.regex_replace(text, _NO_SPACE_BEFORE, r"\1"), _NO_SPACE_AFTER, r"\1")


def codec_for(vocab: Vocabulary, lowercase: bool = False, name: str = "codec", sentences: bool = False):
    """The graph's text handling for ``vocab``: a ``TokenCodec``, or a ``PieceCodec`` for a subword one."""
    if vocab.level == "subword":
        return PieceCodec(vocab, lowercase, name, sentences)
    return TokenCodec(vocab, lowercase, name)


class TokenCodec(tf.Module):
    """A character or word vocabulary in the graph: strings -> ragged token ids -> strings."""

    def __init__(self, vocab: Vocabulary, lowercase: bool = False, name: str = "codec"):
        super().__init__(name=name)
        self.level, self.lowercase = vocab.level, lowercase
        initializer = tf.lookup.KeyValueTensorInitializer(
            tf.constant(vocab.itos[2:], tf.string), tf.range(2, len(vocab), dtype=tf.int32))
        self.table = tf.lookup.StaticHashTable(initializer, UNK_ID)
        shown = list(vocab.itos)
        shown[PAD_ID] = ""  # as Vocabulary.decode: padding is dropped, an unknown character shows as U+FFFD
        if vocab.level == "char":
            shown[UNK_ID] = "\ufffd"
        self.shown = tf.constant(shown)

    def tokens(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """(B,) strings -> (B, None) token strings, as ``Vocabulary.tokenize``."""
        if self.lowercase:
            texts = tf.strings.lower(texts, encoding="utf-8")
        if self.level == "char":
            return tf.strings.unicode_split(texts, "UTF-8")
        return _word_tokens(texts)

    def encode(self, tokens: tf.RaggedTensor) -> tf.RaggedTensor:
        return tf.ragged.map_flat_values(self.table.lookup, tokens)

    def ids(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """(B,) strings -> (B, None) ids, as ``Vocabulary.encode``."""
        return self.encode(self.tokens(texts))

    def decode(self, ids: tf.RaggedTensor) -> tf.Tensor:
        """(B, None) ids -> (B,) strings, as ``Vocabulary.decode``."""
        ids = tf.ragged.boolean_mask(ids, tf.not_equal(ids, PAD_ID))
        tokens = tf.ragged.map_flat_values(tf.gather, self.shown, ids)
        if self.level == "char":
            return tf.strings.reduce_join(tokens, axis=-1)
        return _join_words(tokens)


def _sentencepiece(model: bytes):
    """TensorFlow Text's tokenizer for ``model``, its model resource named after the model's hash. Left
    unnamed (TF Text 2.21's default), every SentencePiece model loaded from SavedModels into one process
    shares the first one's resource: a translator's target would decode with its source's pieces, and a
    server holding two exports would mix them up."""
    import hashlib

    from tensorflow_text.python.ops import sentencepiece_tokenizer as spt

    shared = "rnn_tf_sentencepiece_" + hashlib.sha256(model).hexdigest()[:24]

    class NamedModel(spt._SentencepieceModelResource):
        def _create_resource(self):
            with tf.name_scope("SentenceTokenizerInitializer"):
                return spt.gen_sentencepiece_tokenizer.sentencepiece_op(model=self._model, shared_name=shared)

    tokenizer = spt.SentencepieceTokenizer(model=model, out_type=tf.int32)
    tokenizer._model_resource = NamedModel(model, None)
    return tokenizer


class PieceCodec(tf.Module):
    """A subword vocabulary in the graph: its SentencePiece model run by TensorFlow Text's
    ``SentencepieceTokenizer`` (the same pieces as the ``sentencepiece`` library; our ids are theirs
    plus one). A SavedModel holding one needs ``import tensorflow_text`` before it is loaded (its ops
    live there). ``sentences`` (a translator's): text is split into words first and written back with
    ``_join_words``, as ``translate.token_ids`` and ``translate.output_text`` do."""

    def __init__(self, vocab: Vocabulary, lowercase: bool = False, name: str = "codec", sentences: bool = False):
        try:
            import tensorflow_text  # its ops: SentencePiece inside the graph
        except ImportError:
            raise UserError("exporting a --level subword run needs TensorFlow Text (SentencePiece inside the graph): "
                            "pip install tensorflow-text, then export again") from None
        del tensorflow_text
        super().__init__(name=name)
        self.lowercase, self.sentences = lowercase, sentences
        self.tokenizer = _sentencepiece(vocab.model)

    def ids(self, texts: tf.Tensor) -> tf.RaggedTensor:
        if self.lowercase:
            texts = tf.strings.lower(texts, encoding="utf-8")
        if self.sentences:
            words = _word_tokens(texts)
            texts = tf.strings.reduce_join(tf.ragged.boolean_mask(words, tf.not_equal(words, "\n")), axis=-1,
                                           separator=" ")
        return self.tokenizer.tokenize(texts) + 1

    def decode(self, ids: tf.RaggedTensor) -> tf.Tensor:
        ids = tf.ragged.boolean_mask(ids, tf.not_equal(ids, PAD_ID))
        text = self.tokenizer.detokenize(ids - 1)
        return _join_words(_word_tokens(text)) if self.sentences else text
