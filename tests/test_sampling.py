import numpy as np
import pytest
import tensorflow as tf

from rnn_tf.errors import UserError
from rnn_tf.models.language_model import build_language_model
from rnn_tf.sampling import Sampler, filter_logits
from rnn_tf.vocab import Vocabulary

TEXT = "the quick brown fox jumps over the lazy dog.\n"


@pytest.fixture(scope="module")
def sampler():
    vocab = Vocabulary.build(TEXT)
    return Sampler(build_language_model(len(vocab), "gru", units=8, embedding_dim=4), vocab)


def test_a_seed_reproduces_samples_and_another_seed_changes_them(sampler):
    a = sampler.generate("the ", 40, [0.5, 1.0], num_samples=2, seed=11)
    b = sampler.generate("the ", 40, [0.5, 1.0], num_samples=2, seed=11)
    c = sampler.generate("the ", 40, [0.5, 1.0], num_samples=2, seed=12)
    assert a == b and a != c
    assert [s.temperature for s in a] == [0.5, 0.5, 1.0, 1.0]
    assert all(len(s.text) == 40 and set(s.text) <= set(TEXT) for s in a)


def test_top_k_1_is_greedy_decoding(sampler):
    vocab, lm = sampler.vocab, sampler.model
    drawn = sampler.generate("the ", 15, [1.0], top_k=1, seed=1)[0].text
    assert sampler.generate("the ", 15, [1.0], top_k=1, seed=2)[0].text == drawn
    # Greedy by hand, one step at a time, with the full model re-reading the whole text.
    text = "the "
    for _ in range(15):
        logits = lm.training(vocab.encode(text)[None, :]).numpy()[0, -1]
        logits[:2] = -np.inf  # padding and unknown are never drawn
        text += vocab.itos[int(np.argmax(logits))]
    assert text[4:] == drawn


def test_filter_logits_keeps_top_k_and_the_nucleus():
    logits = tf.constant([[1.0, 3.0, 2.0, 0.0]])
    keep = lambda k, p: np.isfinite(filter_logits(logits, tf.constant(k), tf.constant(p)).numpy()[0]).tolist()
    assert keep(0, 1.0) == [True, True, True, True]
    assert keep(2, 1.0) == [False, True, True, False]
    assert keep(0, 0.5) == [False, True, False, False]  # the top token alone has 0.64 of the mass
    assert keep(0, 0.9) == [True, True, True, False]
    assert keep(10, 1.0) == [True, True, True, True]


def test_unknown_prime_characters_warn_and_still_generate(sampler):
    with pytest.warns(UserWarning, match="not in the vocabulary"):
        out = sampler.generate("THE ", 5, seed=0)
    assert len(out[0].text) == 5


@pytest.mark.parametrize("kwargs, match", [
    ({"temperatures": [0.0]}, "not above 0"),
    ({"temperatures": [-1.0]}, "not above 0"),
    ({"length": 0}, "too short"),
    ({"top_p": 0.0}, "top-p"),
    ({"top_k": -1}, "top-k"),
    ({"num_samples": 0}, "too few"),
])
def test_bad_sampling_options_are_user_errors(sampler, kwargs, match):
    with pytest.raises(UserError, match=match):
        sampler.generate("the ", **{"length": 5, **kwargs})


def test_empty_prime_is_a_user_error(sampler):
    with pytest.raises(UserError, match="prime is empty"):
        sampler.generate("", 5)


@pytest.mark.parametrize("units", [8, 40])  # 40: the fast layer's step gathers from its projected table
def test_the_uncompiled_loop_draws_seeded_samples_too(units):
    vocab = Vocabulary.build(TEXT)
    lm = build_language_model(len(vocab), "lstm", units=units, embedding_dim=4)
    eager = Sampler(lm, vocab, jit_compile=False)
    a = eager.generate("the ", 12, [1.0], num_samples=2, seed=5)
    assert a == eager.generate("the ", 12, [1.0], num_samples=2, seed=5)
    assert all(len(s.text) == 12 for s in a)
    # greedy decoding does not depend on the noise: compiled and uncompiled loops agree
    assert eager.generate("the ", 12, [1.0], top_k=1)[0].text == Sampler(lm, vocab).generate("the ", 12, [1.0], top_k=1)[0].text
