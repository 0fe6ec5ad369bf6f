"""The thin hyperparameter layer between keras-tuner and a task's model factory.

``TaskHyperModel.build`` only reads the trial's ``hp`` values and calls the compiled factory that
training uses, so the best values retrain into an ordinary run folder. The search process (trials
in this process) and the trial processes (``search.worker``) build every trial's model here.
"""

from __future__ import annotations

import json

import keras
import keras_tuner as kt

from rnn_tf.search.data import SearchData
from rnn_tf.search.space import define, with_value


class TaskHyperModel(kt.HyperModel):
    """The thin hyperparameter layer: read the trial's values, call the task's factory."""

    def __init__(self, data: SearchData, space: dict):
        super().__init__(name=data.base.TASK)
        self.data, self.space = data, space

    def build(self, hp):
        cfg = with_value(self.data.base, define(hp, self.space))
        keras.utils.set_random_seed(cfg.seed)  # every trial starts from the same random state
        return self.data.build(cfg)


def continue_trial(model: keras.Model, build_config: str, checkpoint: str) -> None:
    """Hyperband's next round: load an earlier trial's best epoch, weights and optimizer state (the
    optimizer must be built first, or Keras skips its saved variables and Adam starts over)."""
    from rnn_tf.fitting import load_weights

    with open(build_config, encoding="utf-8") as f:
        model.build_from_config(json.load(f))
    model.optimizer.build(model.trainable_variables)
    load_weights(model, checkpoint)
