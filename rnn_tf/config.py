"""Run configurations: every setting of a run, saved as ``config.json`` in its run folder.

A config holds the model factory's arguments, so ``config.json`` + ``vocab.json`` + a weights file is
all it takes to rebuild a model. Defaults follow the classic char-rnn recipe (Karpathy 2015): RMSprop,
learning rate 2e-3, gradients clipped to a global norm of 5, 100-character windows.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from rnn_tf.errors import UserError


SPLITS = ("train", "val", "test")  # the held-out splits of a run, as split.json names them
IMPLEMENTATIONS = ("fast", "keras")  # how LSTM/GRU layers run (models.fast_rnn); the same model either way


class RunConfig:
    """What every task's config shares: JSON round trip, checks, and the rules of ``--resume``."""

    TASK = ""
    # what --resume may change (the implementation computes the same model, so it may change too)
    RESUMABLE: tuple[str, ...] = ("epochs", "patience", "rnn_implementation")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict):
        names = {f.name for f in dataclasses.fields(cls)}
        if data.get("task", cls.TASK) != cls.TASK:
            raise UserError(f"this run folder holds a '{data['task']}' run, not a {cls.TASK} run")
        unknown = sorted(set(data) - names)
        if unknown:
            raise UserError(f"config has unknown settings {unknown}: it was written by another tool or version")
        return cls(**data)

    def validate(self):
        return self

    def check_positive(self, *names: str, optional: tuple[str, ...] = ()) -> None:
        """Each of ``names`` must be >= 1; each of ``optional`` too, unless it is None."""
        for name in names + optional:
            value = getattr(self, name)
            if value is None and name in optional:
                continue
            if value is None or value < 1:
                raise UserError(f"--{name.replace('_', '-')} {value} is too small: use 1 or more")

    def check_held_out_shares(self) -> None:
        """``test_fraction`` and ``val_fraction`` each in (0, 0.5)."""
        for name in ("test_fraction", "val_fraction"):
            if not 0.0 < getattr(self, name) < 0.5:
                raise UserError(f"--{name.replace('_', '-')} {getattr(self, name)} is out of range: use (0, 0.5)")

    def check_model_and_optimizer(self) -> None:
        """The settings every recurrent task shares: cell, implementation, level, dropout, learning rate,
        clipping, patience."""
        from rnn_tf.models.cells import cell_spec, check_implementation
        from rnn_tf.vocab import LEVELS

        cell_spec(self.cell)
        check_implementation(self.rnn_implementation)
        if self.level not in LEVELS:
            raise UserError(f"unknown --level '{self.level}': use one of {', '.join(LEVELS)}")
        if not 0.0 <= self.dropout < 1.0:
            raise UserError(f"--dropout {self.dropout} is out of range: use a number in [0, 1)")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise UserError(f"--learning-rate {self.learning_rate} is not above 0")
        if not (self.clipnorm >= 0 and math.isfinite(self.clipnorm)):
            raise UserError(f"--clipnorm {self.clipnorm} is negative: use 0 (off) or a positive norm")
        if self.patience < 0:
            raise UserError(f"--patience {self.patience} is negative: use 0 (never stop early) or more epochs")

    def resumed_with(self, overrides: dict):
        """This (saved) config with ``overrides`` from a ``--resume`` command line; changing a setting
        outside ``RESUMABLE`` is an error, since it would silently change the run being continued."""
        data = self.to_dict()
        for key, value in overrides.items():
            if key not in data:
                raise UserError(f"unknown setting '{key}'")
            if value != data[key] and key not in self.RESUMABLE:
                flag = "--" + key.replace("_", "-")
                raise UserError(
                    f"{flag} {value} differs from the run's saved {data[key]}: --resume continues a run "
                    f"as it was (only {', '.join('--' + k.replace('_', '-') for k in self.RESUMABLE)} may "
                    "change); drop the flag or start a new run"
                )
            data[key] = value
        return type(self).from_dict(data).validate()


@dataclass
class TextgenConfig(RunConfig):
    # data
    corpus: str = "sotu"
    level: str = "char"  # char | word
    max_vocab: int | None = None  # keep only the most frequent tokens (None: all)
    val_fraction: float = 0.05  # the last 5% of the documents are held out
    # model (the arguments of models.language_model.build_language_model)
    cell: str = "lstm"
    units: int = 256
    layers: int = 1
    embedding_dim: int = 64
    dropout: float = 0.0
    rnn_implementation: str = "fast"  # fast | keras: the same model and weights, computed two ways
    # training
    seq_len: int = 100
    batch_size: int = 64
    epochs: int = 10
    steps_per_epoch: int | None = None  # None: one pass over the training windows
    val_steps: int | None = None  # None: every validation window
    learning_rate: float = 2e-3
    clipnorm: float = 5.0  # clip the global gradient norm; 0 switches clipping off
    lr_decay: float = 1.0  # multiply the learning rate by this after every epoch
    patience: int = 0  # stop after this many epochs without a lower val_loss (0: never stop early)
    seed: int | None = None  # None: drawn at random and saved here
    # samples printed after every epoch
    prime: str | None = None  # None: the start of the first training document
    sample_length: int = 200
    temperatures: list[float] = field(default_factory=lambda: [0.2, 0.5, 1.0, 1.2])
    task: str = "textgen"

    TASK = "textgen"
    RESUMABLE = ("epochs", "patience", "rnn_implementation", "sample_length", "temperatures")

    def validate(self) -> "TextgenConfig":
        self.check_positive("units", "layers", "embedding_dim", "seq_len", "batch_size", "epochs",
                            "sample_length", optional=("steps_per_epoch", "val_steps", "max_vocab"))
        self.check_model_and_optimizer()
        if not 0.0 < self.lr_decay <= 1.0:
            raise UserError(f"--lr-decay {self.lr_decay} is out of range: use a number in (0, 1]")
        if any(not (t > 0 and math.isfinite(t)) for t in self.temperatures):
            raise UserError(f"temperatures {self.temperatures} must all be above 0")
        return self


@dataclass
class ClassifyConfig(RunConfig):
    # data
    data: str | None = None  # CSV/TSV file, folder per class, nltk:NAME or keras:imdb
    text_column: str = "text"
    label_column: str = "label"
    level: str = "word"  # word | char
    lowercase: bool = True
    max_tokens: int | None = 20000  # vocabulary size (most frequent tokens)
    max_length: int = 400  # tokens kept per text (the start); longer texts are cut
    test_fraction: float = 0.1  # stratified, seeded; unused when the data has its own test split
    val_fraction: float = 0.1  # of the rest, for choosing the best epoch
    folds: int | None = None  # k-fold cross-validation instead of one test split
    fold: int | None = None  # set in the run folder of one fold
    # model (the arguments of models.classifier.build_classifier)
    model: str = "rnn"  # rnn | cnn | bow
    cell: str = "lstm"
    bidirectional: bool = False
    layers: int = 1
    units: int = 64
    embedding_dim: int = 64
    pooling: str = "last"  # last | mean | max | attention
    dropout: float = 0.3
    filters: int = 100  # cnn: filters per width
    kernel_sizes: list[int] = field(default_factory=lambda: [3, 4, 5])
    bow_head: str = "logistic"  # logistic | mlp
    bow_weighting: str = "tfidf"  # tfidf | count | binary
    rnn_implementation: str = "fast"  # fast | keras: the same model and weights, computed two ways
    # training
    batch_size: int = 32
    epochs: int = 5
    learning_rate: float = 1e-3  # Adam
    clipnorm: float = 5.0
    patience: int = 0  # stop after this many epochs without a lower val_loss (0: never stop early)
    seed: int | None = None
    labels: list[str] | None = None  # the label of each class id, set from the training data
    task: str = "classify"

    TASK = "classify"
    RESUMABLE = ("epochs", "patience", "rnn_implementation")

    def validate(self) -> "ClassifyConfig":
        from rnn_tf.models.classifier import BOW_HEADS, MODELS
        from rnn_tf.models.layers import POOLINGS

        if not self.data:
            raise UserError("no data given: pass --data with a CSV/TSV file, a folder per class or nltk:NAME")
        self.check_positive("layers", "units", "embedding_dim", "max_length", "batch_size", "epochs",
                            "filters", optional=("max_tokens", "folds"))
        self.check_model_and_optimizer()
        for name, value, choices in (("model", self.model, MODELS), ("pooling", self.pooling, POOLINGS),
                                     ("bow-head", self.bow_head, BOW_HEADS),
                                     ("bow-weighting", self.bow_weighting, ("tfidf", "count", "binary"))):
            if value not in choices:
                raise UserError(f"unknown --{name} '{value}': use one of {', '.join(choices)}")
        if self.folds is not None and self.folds < 2:
            raise UserError(f"--folds {self.folds} is too few: use 2 or more (or leave it out)")
        self.check_held_out_shares()
        if not self.kernel_sizes or min(self.kernel_sizes) < 1:
            raise UserError(f"--kernel-sizes {self.kernel_sizes} must be one or more widths of 1 or more")
        return self


@dataclass
class TranslateConfig(RunConfig):
    # data
    pairs: str | None = None  # english<TAB>translation file (Tatoeba / Anki format)
    reverse: bool = False  # translate into English instead
    max_words: int | None = 10  # both sides at most this many tokens (None: no limit)
    prefix_filter: bool = False  # only English sentences starting "i am", "he is", ... (the tutorial's subset)
    max_vocab: int | None = None  # per side (None: every token of the training pairs)
    test_fraction: float = 0.1
    val_fraction: float = 0.1
    # model (the arguments of models.seq2seq.build_seq2seq)
    cell: str = "gru"
    attention: str = "bahdanau"  # bahdanau | luong-dot | luong-general | none
    bidirectional: bool = False
    layers: int = 1
    units: int = 256
    embedding_dim: int = 128
    dropout: float = 0.1
    rnn_implementation: str = "fast"  # fast | keras: the same model and weights, computed two ways
    # training
    batch_size: int = 64
    epochs: int = 10
    learning_rate: float = 1e-3  # Adam
    clipnorm: float = 5.0
    patience: int = 0  # stop after this many epochs without a lower val_loss (0: never stop early)
    seed: int | None = None
    level: str = "word"
    task: str = "translate"

    TASK = "translate"
    RESUMABLE = ("epochs", "patience", "rnn_implementation")

    def validate(self) -> "TranslateConfig":
        from rnn_tf.models.layers import ATTENTIONS
        from rnn_tf.models.seq2seq import SEQ2SEQ_CELLS

        if not self.pairs:
            raise UserError("no sentence pairs given: pass --pairs with an english<TAB>translation file")
        if self.cell not in SEQ2SEQ_CELLS:
            raise UserError(f"unknown --cell '{self.cell}' for translation: use one of {', '.join(SEQ2SEQ_CELLS)}")
        if self.attention not in ATTENTIONS:
            raise UserError(f"unknown --attention '{self.attention}': use one of {', '.join(ATTENTIONS)}")
        self.check_positive("layers", "units", "embedding_dim", "batch_size", "epochs",
                            optional=("max_words", "max_vocab"))
        self.check_model_and_optimizer()
        self.check_held_out_shares()
        return self
