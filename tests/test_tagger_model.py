"""The sequence tagger's model factory: one logit vector per token, padding that changes nothing, the
masked loss, and bad arguments refused."""

import keras
import numpy as np
import pytest

from helpers import run_model_checks
from rnn_tf.models.masked import MaskedAccuracy, masked_loss
from rnn_tf.models.tagger import build_tagger
from rnn_tf.names import CELLS

VOCAB, TAGS, CHARS = 15, 6, 11
TINY = dict(units=4, embedding_dim=3, char_dim=2, char_filters=3, feature_dim=2, dropout=0.0)

# Three sentences of 3, 5 and 2 real tokens, right-padded to 5 steps and 4 characters.
LENGTHS = (3, 5, 2)


def batch(steps: int = 5, max_chars: int = 4, chars: bool = False, features: int = 0, seed: int = 0) -> dict:
    """Inputs for LENGTHS sentences padded to ``steps`` tokens; the real part does not depend on ``steps``."""
    rng = np.random.default_rng(seed)
    n = len(LENGTHS)
    real = np.arange(5)[None, :] < np.array(LENGTHS)[:, None]  # (n, 5)
    words = np.zeros((n, steps), "int32")
    words[:, :5] = np.where(real, rng.integers(1, VOCAB, (n, 5)), 0)
    out = {"words": words}
    if chars:
        word_len = rng.integers(1, 4, (n, 5))  # 1..3 real characters per word, padded to max_chars
        c = np.zeros((n, steps, max_chars), "int32")
        for i, j in zip(*np.nonzero(real)):
            c[i, j, :word_len[i, j]] = rng.integers(1, CHARS, word_len[i, j])
        out["chars"] = c
    for k in range(1, features + 1):
        f = np.zeros((n, steps), "int32")
        f[:, :5] = np.where(real, rng.integers(1, 4, (n, 5)), 0)
        out[f"feature_{k}"] = f
    return out


def tags_for(inputs: dict) -> np.ndarray:
    """Random gold tags on the real tokens, 0 (the padding tag) elsewhere."""
    words = inputs["words"]
    return np.where(words != 0, np.random.default_rng(5).integers(1, TAGS, words.shape), 0).astype("int32")


@pytest.mark.parametrize("chars, features", [(False, 0), (True, 0), (False, 2), (True, 1)])
def test_one_logit_vector_per_token_with_and_without_chars_and_features(chars, features, tmp_path):
    model = build_tagger(VOCAB, TAGS, char_vocab_size=CHARS if chars else 0,
                         feature_vocab_sizes=(4,) * features, **TINY)
    expected = {"words"} | ({"chars"} if chars else set()) | {f"feature_{k}" for k in range(1, features + 1)}
    assert set(model.input) == expected
    assert model.name == "bilstm_tagger"
    x = batch(chars=chars, features=features)
    run_model_checks(model, x, tags_for(x), (3, 5, TAGS), masked_loss, tmp_path)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell", CELLS)
def test_every_cell_both_ways_and_padding_changes_nothing(cell, bidirectional):
    keras.utils.set_random_seed(1)
    model = build_tagger(VOCAB, TAGS, cell, layers=2, bidirectional=bidirectional, char_vocab_size=CHARS,
                         feature_vocab_sizes=(4,), **TINY)
    assert model.name == f"{'bi' if bidirectional else ''}{cell}_tagger"
    short = model(batch(5, 4, chars=True, features=1)).numpy()
    long = model(batch(9, 7, chars=True, features=1)).numpy()  # more padding steps and characters
    assert short.shape == (3, 5, TAGS) and long.shape == (3, 9, TAGS)
    real = batch()["words"] != 0
    np.testing.assert_allclose(long[:, :5][real], short[real], atol=1e-5)


def test_a_sentence_alone_gets_the_tags_it_gets_in_a_padded_batch():
    keras.utils.set_random_seed(2)
    model = build_tagger(VOCAB, TAGS, "gru", char_vocab_size=CHARS, **TINY)
    x = batch(chars=True)
    together = model(x).numpy()
    for i, n in enumerate(LENGTHS):  # each sentence on its own, no padding at all
        alone = model({"words": x["words"][i:i + 1, :n], "chars": x["chars"][i:i + 1, :n]}).numpy()
        np.testing.assert_allclose(alone[0], together[i, :n], atol=1e-5)


def test_an_unseen_word_is_told_apart_by_its_spelling():
    keras.utils.set_random_seed(3)
    model = build_tagger(VOCAB, TAGS, char_vocab_size=CHARS, **TINY)
    words = np.array([[2, 1, 3], [2, 1, 3]], "int32")  # the same <unk> (id 1) in the middle
    chars = np.zeros((2, 3, 4), "int32")
    chars[:, 0, :2], chars[:, 2, :2] = [4, 5], [6, 7]
    chars[0, 1, :3], chars[1, 1, :3] = [1, 2, 3], [8, 9, 10]  # spelled differently
    logits = model({"words": words, "chars": chars}).numpy()
    assert np.abs(logits[0, 1] - logits[1, 1]).max() > 1e-4


def test_the_loss_and_the_accuracy_ignore_padding():
    keras.utils.set_random_seed(4)
    model = build_tagger(VOCAB, TAGS, **TINY)
    x = batch()
    y = tags_for(x)
    logits = model(x).numpy()
    real = y != 0
    ce = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True).numpy()
    assert float(np.mean(masked_loss(y, logits))) == pytest.approx(ce[real].mean(), rel=1e-5)  # Keras takes the mean
    noisy = logits.copy()
    noisy[~real] = np.random.default_rng(0).normal(0, 50, noisy[~real].shape)  # whatever sits on padding
    assert float(np.mean(masked_loss(y, noisy))) == pytest.approx(float(np.mean(masked_loss(y, logits))), rel=1e-6)
    accuracy = MaskedAccuracy()
    accuracy.update_state(y, noisy)
    assert float(accuracy.result()) == pytest.approx((logits.argmax(-1) == y)[real].mean())
    assert keras.saving.get_registered_name(MaskedAccuracy) == "rnn_tf>MaskedAccuracy"


def test_translate_still_exports_the_masked_loss():
    from rnn_tf import translate

    assert translate.masked_loss is masked_loss and translate.MaskedAccuracy is MaskedAccuracy


def test_weights_round_trip_and_load_into_the_other_implementation(tmp_path):
    keras.utils.set_random_seed(6)
    options = dict(char_vocab_size=CHARS, feature_vocab_sizes=(4, 5), **TINY)
    model = build_tagger(VOCAB, TAGS, "lstm", **options)
    x = batch(chars=True, features=2)
    expected = model(x).numpy()
    path = str(tmp_path / "tagger.weights.h5")
    model.save_weights(path)
    for implementation in ("fast", "keras"):
        other = build_tagger(VOCAB, TAGS, "lstm", implementation=implementation, **options)
        other.load_weights(path)
        np.testing.assert_allclose(other(x).numpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("arguments", [
    dict(cell="transformer"),
    dict(implementation="cuda"),
    dict(num_tags=1),
    dict(vocab_size=1),
    dict(units=0),
    dict(layers=0),
    dict(embedding_dim=0),
    dict(dropout=1.0),
    dict(dropout=-0.1),
    dict(char_vocab_size=-1),
    dict(char_vocab_size=1),
    dict(char_vocab_size=CHARS, char_filters=0),
    dict(char_vocab_size=CHARS, char_width=0),
    dict(char_vocab_size=CHARS, char_dim=0),
    dict(feature_vocab_sizes=(4, 1)),
    dict(feature_vocab_sizes=(4,), feature_dim=0),
    dict(embedding_init="glorot"),
])
def test_bad_arguments_are_refused(arguments):
    settings = dict(vocab_size=VOCAB, num_tags=TAGS, **TINY)
    settings.update(arguments)
    with pytest.raises(ValueError):
        build_tagger(**settings)


def test_embeddings_start_as_keras_draws_them_or_as_a_unit_normal():
    """--embedding-init: Keras's U(-0.05, 0.05) by default, N(0, 1) for every embedding with "normal"."""
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    for init, check in (("uniform", lambda w: np.abs(w).max() <= 0.05),
                        ("normal", lambda w: 0.8 < w.std() < 1.2 and np.abs(w).max() > 0.5)):
        model = build_tagger(vocab_size=400, num_tags=TAGS, char_vocab_size=300, feature_vocab_sizes=(300,),
                             embedding_init=init, **TINY)
        for name in ("word_embedding", "char_embedding", "feature_1_embedding"):
            assert check(np.asarray(model.get_layer(name).embeddings)), (init, name)
