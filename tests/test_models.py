import numpy as np
import pytest
import tensorflow as tf

from helpers import run_model_checks
from rnn_tf.names import CELLS as CELL_NAMES
from rnn_tf.models.cells import CELLS
from rnn_tf.models.language_model import build_language_model

VOCAB = 12


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_each_cell_builds_trains_a_step_and_round_trips(cell, tmp_path):
    lm = build_language_model(VOCAB, cell, units=6, layers=2, embedding_dim=4, dropout=0.1)
    rng = np.random.default_rng(0)
    x = rng.integers(2, VOCAB, (4, 9)).astype("int32")
    y = rng.integers(2, VOCAB, (4, 9)).astype("int32")
    import keras

    run_model_checks(lm.training, x, y, (4, 9, VOCAB),
                     keras.losses.SparseCategoricalCrossentropy(from_logits=True), tmp_path)


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_the_step_model_shares_weights_and_matches_the_training_model(cell):
    lm = build_language_model(VOCAB, cell, units=5, layers=2, embedding_dim=3)
    assert {id(v) for v in lm.step.weights} == {id(v) for v in lm.training.weights}
    ids = np.random.default_rng(1).integers(0, VOCAB, (3, 7)).astype("int32")
    full = lm.training(ids).numpy()
    states, steps = lm.zero_states(3), []
    for t in range(ids.shape[1]):
        logits, *states = lm.step([tf.constant(ids[:, t]), *states])
        steps.append(logits.numpy())
    np.testing.assert_allclose(np.stack(steps, axis=1), full, rtol=1e-5, atol=1e-6)


def test_lstm_carries_two_states_per_layer_and_gru_one():
    assert build_language_model(VOCAB, "lstm", 5, 3).state_sizes == [5] * 6
    assert build_language_model(VOCAB, "gru", 5, 3).state_sizes == [5] * 3


def test_irnn_starts_with_identity_recurrence_and_relu():
    lm = build_language_model(VOCAB, "irnn", units=4)
    rnn = lm.training.get_layer("rnn_1")
    np.testing.assert_array_equal(rnn.cell.recurrent_kernel.numpy(), np.eye(4))
    assert rnn.cell.activation.__name__ == "relu"


def test_lstm_and_gru_keep_cudnn_compatible_settings():
    for cell in ("lstm", "gru"):
        layer = build_language_model(VOCAB, cell, 4).training.get_layer("rnn_1")
        assert layer.cell.recurrent_dropout == 0 and not layer.unroll
        assert layer.cell.activation.__name__ == "tanh"
        assert layer.cell.recurrent_activation.__name__ == "sigmoid"
    assert build_language_model(VOCAB, "gru", 4).training.get_layer("rnn_1").cell.reset_after


def test_the_cell_names_match_the_registry():
    assert set(CELL_NAMES) == set(CELLS)


def test_bad_factory_arguments_are_value_errors():
    """Factories are a library's API: plain ValueErrors (the configs turn bad flags into UserErrors)."""
    with pytest.raises(ValueError, match="unknown cell"):
        build_language_model(VOCAB, "transformer")
    with pytest.raises(ValueError, match="layers"):
        build_language_model(VOCAB, "lstm", layers=0)
    with pytest.raises(ValueError, match="dropout"):
        build_language_model(VOCAB, "lstm", dropout=1.5)
