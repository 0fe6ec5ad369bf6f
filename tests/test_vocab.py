import json

import numpy as np
import pytest

from rnn_tf.errors import UserError
from rnn_tf.vocab import PAD_ID, UNK, UNK_ID, Vocabulary, tokenize_words


def test_char_vocabulary_round_trips_text_and_json(tmp_path):
    text = "Fellow-Citizens: 1790, ½ café\n"
    vocab = Vocabulary.build(text)
    assert vocab.itos[:2] == ["<pad>", UNK]
    ids = vocab.encode(text)
    assert ids.dtype == np.int32 and ids.min() >= 2
    assert vocab.decode(ids) == text
    path = tmp_path / "vocab.json"
    vocab.save(str(path))
    assert json.loads(path.read_text(encoding="utf-8"))["tokens"][2:] == sorted(set(text))
    assert Vocabulary.load(str(path)) == vocab


def test_unknown_characters_map_to_unk_with_a_warning():
    vocab = Vocabulary.build("abc")
    with pytest.warns(UserWarning, match="2 char"):
        ids = vocab.encode("abXcY", warn=True, what="prime")
    assert ids.tolist() == [vocab.stoi["a"], vocab.stoi["b"], UNK_ID, vocab.stoi["c"], UNK_ID]
    assert vocab.decode(ids) == "ab\ufffdc\ufffd"


def test_max_size_keeps_the_most_frequent_characters():
    vocab = Vocabulary.build("aaaabbbc", max_size=2)
    assert set(vocab.itos[2:]) == {"a", "b"}
    assert vocab.encode("c").tolist() == [UNK_ID]


def test_padding_is_dropped_when_decoding():
    vocab = Vocabulary.build("ab")
    assert vocab.decode([PAD_ID, vocab.stoi["a"], PAD_ID]) == "a"


def test_word_vocabulary_tokenizes_words_punctuation_and_newlines():
    text = "The Union's strength, I say, is great.\nWe act."
    assert tokenize_words(text)[:4] == ["The", "Union's", "strength", ","]
    vocab = Vocabulary.build(text, level="word")
    ids = vocab.encode(text)
    assert vocab.decode(ids) == text
    assert vocab.encode("The moon")[-1] == UNK_ID


def test_unknown_level_is_a_user_error():
    with pytest.raises(UserError, match="level"):
        Vocabulary.build("abc", level="byte")
