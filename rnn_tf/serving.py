"""What ``rnn-tf export`` saves: trained models wrapped with their text handling as TensorFlow graphs.

Each class here is a ``tf.Module`` whose signatures take and give strings, so a SavedModel of it works
with ``tf.saved_model.load`` or TensorFlow Serving and needs neither rnn_tf nor any Python code of ours:
text handling is graph ops (``codecs.py``: lookup tables and regular expressions, or, for a subword
vocabulary, its SentencePiece model run by TensorFlow Text: such a SavedModel needs ``import
tensorflow_text`` before it is loaded, and ``export.json`` says so), and generation and decoding are the
same compiled loops the command line runs (``sampling.Sampler``, ``decoding.Decoder``), so with the same seed
the outputs are the command line's, token for token.

One difference, written into ``export.json``: the exported translator does not apply Unicode NFC
normalisation (core TensorFlow has no op for it); text typed or pasted is almost always NFC already.
"""

from __future__ import annotations

import tensorflow as tf

from rnn_tf.codecs import PieceCodec, TokenCodec, codec_for
from rnn_tf.decoding import END_ID, Decoder
from rnn_tf.errors import UserError
from rnn_tf.sampling import Sampler
from rnn_tf.vocab import PAD_ID, Vocabulary

SEED_DOC = "int64: the same seed draws the same text as `rnn-tf textgen generate --seed`"


def spec(shape, dtype, name):
    return tf.TensorSpec(shape, dtype, name=name)


class TextgenServing(tf.Module):
    """``generate``: (prime, length, temperature, seed[, condition]) -> text, as
    ``rnn-tf textgen generate --prime P --length N --temperature T --seed S [--condition C] --json``
    (a line-mode run: one whole item that starts with the prime, and whether it ended)."""

    CHUNK = 128  # tokens per compiled call; the last call's extra tokens are dropped

    def __init__(self, lm, vocab: Vocabulary, cfg, xla: bool = True):
        super().__init__(name="generator")
        self.training, self.step, self.initial = lm.training, lm.step, lm.initial  # tracked: their variables
        self.codec = codec_for(vocab)
        # Its warm-up and chunk loops become part of the graph: XLA-compiled as the command line runs them,
        # or (xla=False) as plain TensorFlow ops, for servers built without XLA.
        self._sampler = Sampler(lm, vocab, jit_compile=xla)
        self.lines = bool(cfg.lines)
        self.end_id = vocab.stoi.get("\n", -1)
        self.labels = list(cfg.labels) if cfg.condition_on else []
        inputs = [spec([], tf.string, "prime"), spec([], tf.int32, "length"), spec([], tf.float32, "temperature"),
                  spec([], tf.int64, "seed")]
        if self.labels:
            self.label_table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
                tf.constant(self.labels), tf.range(len(self.labels), dtype=tf.int32)), -1)
            self.generate = tf.function(self._generate_for, input_signature=[*inputs, spec([], tf.string, "condition")])
        else:
            self.generate = tf.function(self._generate, input_signature=inputs)

    def signatures(self) -> dict:
        return {"serving_default": self.generate}

    def describe(self) -> dict:
        inputs = {"prime": "string: the text to start from" + (" (the item's start)" if self.lines else ""),
                  "length": "int32: tokens to draw (at most, in line mode)",
                  "temperature": "float32 > 0", "seed": SEED_DOC}
        if self.labels:
            inputs["condition"] = f"string: one of {', '.join(self.labels)}"
        outputs = {"text": "string" + (": the item, prime included" if self.lines else ": the prime excluded")}
        if self.lines:
            outputs["ended"] = "bool: the item reached its end within length"
        return {"serving_default": {"inputs": inputs, "outputs": outputs}}

    def _generate_for(self, prime, length, temperature, seed, condition):
        label = self.label_table.lookup(condition)
        tf.debugging.assert_non_negative(label, message=f"unknown condition: use one of {', '.join(self.labels)}")
        return self._draw(prime, length, temperature, seed, label)

    def _generate(self, prime, length, temperature, seed):
        return self._draw(prime, length, temperature, seed, tf.constant(0))

    def _draw(self, prime, length, temperature, seed, label):
        tf.debugging.assert_positive(length, message="length must be 1 or more")
        tf.debugging.assert_positive(temperature, message="temperature must be above 0")
        start = tf.strings.join(["\n", prime]) if self.lines else prime
        ids = tf.reshape(self.codec.ids(tf.reshape(start, [1])).flat_values, [1, -1])
        tf.debugging.assert_positive(tf.shape(ids)[1], message="the prime is empty: give some text to start from")
        labels = tf.reshape(label, [1])
        token, states = self._sampler.warm_up(ids, labels)
        options = (tf.reshape(temperature, [1]), tf.constant(0), tf.constant(1.0), seed, False)
        chunks = tf.TensorArray(tf.int32, size=0, dynamic_size=True)
        for k in tf.range((length + self.CHUNK - 1) // self.CHUNK):
            chunk, token, states = self._sampler.chunk_loop(token, labels, states, tf.cast(k * self.CHUNK, tf.int64),
                                                       self.CHUNK, *options)
            chunks = chunks.write(k, chunk[0])
            if self.lines:
                if tf.reduce_any(tf.equal(chunk[0], self.end_id)):
                    break
        drawn = tf.reshape(chunks.stack(), [-1])[:length]
        if not self.lines:
            return {"text": self.codec.decode(tf.RaggedTensor.from_tensor(drawn[None, :]))[0]}
        ends = tf.equal(drawn, self.end_id)
        ended = tf.reduce_any(ends)
        kept = tf.where(ended, tf.argmax(tf.cast(ends, tf.int32), output_type=tf.int32), tf.size(drawn))
        text = self.codec.decode(tf.RaggedTensor.from_tensor(drawn[None, :kept]))[0]
        return {"text": tf.strings.join([prime, text]), "ended": ended}


class ClassifierServing(tf.Module):
    """``classify``: texts -> each label's probability and the most probable label, as
    ``rnn-tf classify predict``."""

    def __init__(self, model, vocab: Vocabulary, cfg):
        super().__init__(name="classifier")
        self.model = model
        self.codec = codec_for(vocab, lowercase=cfg.lowercase)
        self.label_names = list(cfg.labels)
        self.labels = tf.constant(self.label_names)
        self.max_length = int(cfg.max_length)
        self.classify = tf.function(self._classify, input_signature=[spec([None], tf.string, "texts")])

    def signatures(self) -> dict:
        return {"serving_default": self.classify}

    def describe(self) -> dict:
        return {"serving_default": {
            "inputs": {"texts": "string (batch): texts to classify"},
            "outputs": {"probabilities": f"float32 (batch, {len(self.label_names)}): one column per label, in the "
                                         f"order {', '.join(self.label_names)}",
                        "label": "string (batch): the most probable label"}}}

    def _classify(self, texts):
        ids = self.codec.ids(texts)[:, : self.max_length].to_tensor(PAD_ID)
        ids = tf.pad(ids, [[0, 0], [0, tf.maximum(1 - tf.shape(ids)[1], 0)]])  # at least one column
        probabilities = self.model(ids, training=False)
        return {"probabilities": probabilities, "label": tf.gather(self.labels, tf.argmax(probabilities, axis=-1))}


class TranslatorServing(tf.Module):
    """``serving_default``: sentences -> greedy translations; ``beam_search``: with a beam size and a
    length penalty; as ``rnn-tf translate translate [--beam-size K --length-penalty A]``."""

    def __init__(self, model, source: Vocabulary, target: Vocabulary, cfg):
        super().__init__(name="translator")
        self.training, self.encoder, self.step = model.training, model.encoder, model.step
        self._decoder = Decoder(model)
        self.source = codec_for(source, lowercase=True, name="source", sentences=True)
        self.target = codec_for(target, name="target", sentences=True)
        self.max_words = int(cfg.max_words or 0)
        self.note = "sentences are not NFC-normalised as the command line does: pass NFC text (almost all text is)"
        sentences = spec([None], tf.string, "sentences")
        self.translate = tf.function(self._translate, input_signature=[sentences])
        self.beam_search = tf.function(self._beam_search, input_signature=[
            sentences, spec([], tf.int32, "beam_size"), spec([], tf.float32, "length_penalty")])

    def signatures(self) -> dict:
        return {"serving_default": self.translate, "beam_search": self.beam_search}

    def describe(self) -> dict:
        sentences = {"sentences": "string (batch): sentences in the source language"}
        out = {"translations": "string (batch)"}
        return {"serving_default": {"inputs": sentences, "outputs": out},
                "beam_search": {"inputs": {**sentences, "beam_size": "int32 >= 1", "length_penalty": "float32 >= 0"},
                                "outputs": out}}

    def _source_ids(self, sentences):
        """As ``corpora.normalize_sentence`` (NFC aside): lower case, plain apostrophes and spaces, tokens."""
        text = tf.strings.regex_replace(sentences, "[\u2018\u2019]", "'")
        text = tf.strings.regex_replace(text, "[\u00a0\u202f]", " ")
        if isinstance(self.source, PieceCodec):
            ids = self.source.ids(text)
        else:
            tokens = self.source.tokens(text)
            ids = self.source.encode(tf.ragged.boolean_mask(tokens, tf.not_equal(tokens, "\n")))
        tf.debugging.assert_positive(tf.reduce_min(ids.row_lengths()),
                                     message="an empty sentence: give each sentence one word or more")
        ids = ids.to_tensor(PAD_ID)
        return ids, tf.maximum(self.max_words, 2 * tf.shape(ids)[1]) + 2  # translate.max_output_length

    def _text(self, ids):
        """``decoding.strip_output`` then the target vocabulary's text."""
        before_end = tf.equal(tf.cumsum(tf.cast(tf.equal(ids, END_ID), tf.int32), axis=1), 0)
        return self.target.decode(tf.ragged.boolean_mask(ids, before_end & tf.not_equal(ids, PAD_ID)))

    def _translate(self, sentences):
        source, max_length = self._source_ids(sentences)
        ids, _ = self._decoder.greedy_loop(source, max_length, tf.constant(0.0), tf.constant(0, tf.int64))
        return {"translations": self._text(ids)}

    def _beam_search(self, sentences, beam_size, length_penalty):
        tf.debugging.assert_positive(beam_size, message="beam_size must be 1 or more")
        tf.debugging.assert_non_negative(length_penalty, message="length_penalty must be 0 or more")
        source, max_length = self._source_ids(sentences)
        return {"translations": self._text(self._decoder.beam_loop(source, beam_size, max_length, length_penalty))}


class TaggerServing(tf.Module):
    """``serving_default``: sentences (tokens split at whitespace) -> a tag per token, as ``rnn-tf tag
    predict``: ``tokens`` and ``tags`` padded with "" to the longest sentence, and ``lengths``."""

    def __init__(self, model, vocabs, cfg, max_chars: int):
        super().__init__(name="tagger")
        if cfg.feature_columns:
            raise UserError(f"this tagger reads feature columns {cfg.feature_columns} beside the words, which plain "
                            "sentences lack: only a tagger over words (and characters) exports")
        self.model = model
        self.words = TokenCodec(vocabs.words, name="words")
        self.chars = None if vocabs.chars is None else TokenCodec(vocabs.chars, name="chars")
        self.lowercase, self.max_chars = bool(cfg.lowercase), int(max_chars)
        self.tag_names = list(vocabs.tags)
        self.tags = tf.constant(["", *self.tag_names])  # tag id 0 is padding
        self.tag = tf.function(self._tag, input_signature=[spec([None], tf.string, "sentences")])

    def signatures(self) -> dict:
        return {"serving_default": self.tag}

    def describe(self) -> dict:
        return {"serving_default": {
            "inputs": {"sentences": "string (batch): sentences, tokens separated by whitespace"},
            "outputs": {"tokens": "string (batch, longest): each sentence's tokens, padded with ''",
                        "tags": f"string (batch, longest): one of {len(self.tag_names)} tags per token, '' after the end",
                        "lengths": "int32 (batch): tokens per sentence"}}}

    def _tag(self, sentences):
        tokens = tf.strings.split(sentences)  # str.split(): runs of whitespace
        words = tf.strings.lower(tokens, encoding="utf-8") if self.lowercase else tokens
        inputs = {"words": self.words.encode(words).to_tensor(PAD_ID)}
        if self.chars is not None:
            chars = self.chars.encode(tf.strings.unicode_split(tokens, "UTF-8"))[:, :, : self.max_chars]
            inputs["chars"] = chars.to_tensor(PAD_ID)
        logits = self.model(inputs, training=False)
        ids = tf.argmax(logits[..., 1:], axis=-1, output_type=tf.int32) + 1  # never the padding tag
        real = tf.sequence_mask(tokens.row_lengths(), tf.shape(ids)[1])
        return {"tokens": tokens.to_tensor(""), "tags": tf.where(real, tf.gather(self.tags, ids), ""),
                "lengths": tf.cast(tokens.row_lengths(), tf.int32)}
