"""What a task is: one object that the CLI, the search and the trial workers read.

A task brings
  * its config class (every setting of a run; ``config.RunConfig`` holds the shared fields),
  * its flags (data, model and training settings, shared by ``rnn-tf NAME train`` and ``rnn-tf tune NAME``),
  * its other commands (parser + handler pairs: generate, evaluate, predict, ...),
  * its workflow module, named by a string so that ``rnn-tf --help`` never imports TensorFlow; the module
    defines ``train(run_dir, settings, *, resume, overwrite, verbose, stream) -> TrainResult`` and
    ``prepare_search(config) -> search.hypermodel.SearchData`` (and, to be exported,
    ``serving_module(run_dir, weights) -> tf.Module``: see ``serving.py``),
  * the metrics its training reports besides the loss, and its default search space.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable

from rnn_tf.errors import UserError


@dataclass(frozen=True)
class Task:
    name: str
    help: str  # one line in `rnn-tf --help`
    description: str  # `rnn-tf NAME --help`
    config: type  # a config.RunConfig subclass
    add_settings: Callable  # argparse flags for the config's fields
    workflow: str  # module with train() and prepare_search()
    commands: tuple[Callable, ...] = ()  # add_parser functions, besides the `train` every task has
    metrics: tuple[str, ...] = ()  # what fit reports besides the loss (Keras's names)
    search_space: dict = field(default_factory=dict)  # the default space (search.space's language)
    searchable: tuple[str, ...] = ()  # the settings a search may vary
    done_hint: Callable | None = None  # result -> the line printed after training (what to run next)
    train_help: str = ""  # `rnn-tf NAME train`: one line, and its description
    train_description: str = ""
    seeded: str = "the split, weights and data order"  # what --seed decides

    def module(self):
        return importlib.import_module(self.workflow)

    def train(self, run_dir: str, settings: dict | None = None, **options):
        from rnn_tf.distribute import train_with_strategy  # --strategy: the same train, under tf.distribute

        return train_with_strategy(self.module().train, run_dir, settings, options)

    def prepare_search(self, cfg):
        return self.module().prepare_search(cfg)

    def serving(self, run_dir: str, weights: str = "best", xla: bool = True):
        """What ``rnn-tf export`` saves: the workflow module's ``serving_module(run_dir, weights, xla)``."""
        module = self.module()
        if not hasattr(module, "serving_module"):
            raise UserError(f"{self.name} runs cannot be exported yet: use them with 'rnn-tf {self.name}'")
        return module.serving_module(run_dir, weights, xla)

    def reported_metrics(self) -> tuple[str, ...]:
        """The metrics training reports (the possible objectives of a search): loss first."""
        names = ("loss",) + self.metrics
        return names + tuple("val_" + n for n in names)
