"""The sequence-tagging task (aligned many-to-many: one tag per token): part-of-speech tagging,
chunking, named entities. Its config, flags, commands and search space; the work itself (data,
vocabularies, training, baselines, scores) is in ``rnn_tf.tagging``, reached through ``TASK.module()``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from rnn_tf.config import RunConfig, check_choice
from rnn_tf.errors import UserError
from rnn_tf.flags import add_run_arguments, add_shared_settings, read_texts
from rnn_tf.names import CELLS, EMBEDDING_INITS, TAGGER_MODELS
from rnn_tf.tasks.base import Task
from rnn_tf.tasks.spaces import RECURRENT_SPACE


@dataclass
class TagConfig(RunConfig):
    # data
    data: str | None = None  # nltk:treebank, nltk:conll2000, a CoNLL column file, or a folder with train.txt
    token_column: int = 0
    tag_column: int = -1  # the last column
    feature_columns: list[int] = field(default_factory=list)  # e.g. [1]: the POS column, for chunking
    lowercase: bool = False  # words are looked up as written (capitals carry information for tagging)
    max_tokens: int | None = 50000  # word vocabulary size (most frequent)
    test_fraction: float = 0.1  # unused when the data has its own test split
    val_fraction: float = 0.1
    # model (the arguments of models.tagger.build_tagger)
    model: str = "rnn"  # rnn | perceptron | most-frequent
    bidirectional: bool = True
    units: int = 128
    embedding_dim: int = 100
    embedding_init: str = "uniform"  # Keras's U(-0.05, 0.05), or "normal": N(0, 1)
    dropout: float = 0.3
    char_features: bool = False  # a convolution over each word's characters (Ma & Hovy 2016)
    char_dim: int = 25
    char_filters: int = 30
    feature_dim: int = 16
    # training
    batch_size: int = 32
    epochs: int = 10
    learning_rate: float = 1e-3  # Adam
    tags: list[str] | None = None  # the tag of each class id, set from the training data
    task: str = "tag"

    TASK = "tag"

    def validate(self) -> "TagConfig":
        if not self.data:
            raise UserError("no data given: pass --data with nltk:treebank, nltk:conll2000, a CoNLL column "
                            "file or a folder with train.txt")
        self.check_positive("char_dim", "char_filters", "feature_dim", optional=("max_tokens",))
        super().validate()
        check_choice("model", self.model, TAGGER_MODELS)
        check_choice("embedding_init", self.embedding_init, EMBEDDING_INITS)
        self.check_held_out_shares()
        return self


G = TagConfig()  # the defaults shown in --help


def add_settings(p) -> None:
    """Data, model and training flags (shared by 'tag train' and 'tune tag')."""
    p.add_argument("--data", help="nltk:treebank, nltk:conll2000, a CoNLL-style column file, or a folder with "
                                  "train.txt (and test.txt)")
    p.add_argument("--token-column", type=int, help="column of the tokens, from 0 (default: 0)")
    p.add_argument("--tag-column", type=int, help="column of the tags; -1 = the last (default: -1)")
    p.add_argument("--feature-columns", type=int, nargs="+", metavar="N",
                   help="columns fed to the model beside the word, e.g. 1 (the POS tags, for chunking)")
    p.add_argument("--lowercase", action="store_true", default=None, help="look words up in lower case")
    p.add_argument("--max-tokens", type=int, help=f"word vocabulary size (default: {G.max_tokens})")
    p.add_argument("--model", choices=TAGGER_MODELS,
                   help=f"rnn, or a baseline: NLTK's averaged perceptron, the most frequent tag (default: {G.model})")
    p.add_argument("--unidirectional", dest="bidirectional", action="store_false", default=None,
                   help="read left to right only (default: bidirectional)")
    p.add_argument("--embedding-init", choices=EMBEDDING_INITS,
                   help="how word, character and feature embeddings start: uniform, Keras's U(-0.05, 0.05), "
                        f"or normal, N(0, 1) (default: {G.embedding_init})")
    p.add_argument("--char-features", action="store_true", default=None,
                   help="add a convolution over each word's characters (helps words unseen in training)")
    add_shared_settings(p, G, cells=CELLS, unit_help="units per recurrent layer and direction",
                        batch_help="sentences per batch")
    p.add_argument("--test-fraction", type=float, help=f"test share (default: {G.test_fraction})")
    p.add_argument("--val-fraction", type=float, help=f"validation share (default: {G.val_fraction})")


# --- tag evaluate ----------------------------------------------------------------------------------
def add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="token accuracy, unseen-word accuracy, per-tag and span F1",
                       description="Score a tagger on its own test split, or on other tagged data.")
    add_run_arguments(p, "tag train")
    p.add_argument("--data", help="score on this data instead (its test part if it has one)")
    p.add_argument("--confusion", help="also save the per-tag confusion matrix as this PNG")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (accuracy, unseen_accuracy, per_tag, span_f1)")
    p.set_defaults(handler=run_evaluate)


def run_evaluate(args) -> int:
    from rnn_tf.metrics import save_confusion_png

    report = TASK.module().evaluate_tagger(args.run_dir, args.weights, args.data)
    if args.confusion:
        save_confusion_png(args.confusion, report["confusion"], list(report["per_tag"]), report["source"])
    if args.json:
        print(json.dumps({k: v for k, v in report.items() if k != "confusion"}))
    else:
        print(TASK.module().format_tag_report(report))
    return 0


# --- tag predict -----------------------------------------------------------------------------------
def add_predict(sub) -> None:
    p = sub.add_parser("predict", help="tag sentences",
                       description="Tag sentences given as arguments, one per line of --file, or one per line on "
                                   "standard input. Prints token/TAG pairs, or one JSON object per sentence.")
    add_run_arguments(p, "tag train")
    p.add_argument("texts", nargs="*", metavar="SENTENCE", help="sentences to tag")
    p.add_argument("--file", help="a UTF-8 file with one sentence per line")
    p.add_argument("--json", action="store_true", help="one JSON object per sentence (tokens, tags)")
    p.set_defaults(handler=run_predict)


def run_predict(args) -> int:
    texts = read_texts(args)
    for r in TASK.module().tag_texts(args.run_dir, texts, args.weights):
        print(json.dumps(r, ensure_ascii=False) if args.json
              else " ".join(f"{t}/{g}" for t, g in zip(r["tokens"], r["tags"])))
    return 0


def done_hint(result) -> str:
    return f"done: {result.run_dir}; tag with: rnn-tf tag predict --run-dir {result.run_dir} \"SENTENCE\""


TASK = Task(
    name="tag",
    help="sequence tagging: part of speech, chunks, named entities",
    description="Sequence tagging (one tag per token): train, evaluate, predict.",
    config=TagConfig,
    add_settings=add_settings,
    workflow="rnn_tf.tagging",
    commands=(add_evaluate, add_predict),
    metrics=("masked_accuracy",),
    # --char-features changes the data each trial is fed, so it is a flag of the search, not searched
    search_space={**RECURRENT_SPACE, "units": {"type": "int", "min": 32, "max": 256, "step": 32},
                  "embedding_dim": {"type": "choice", "values": [50, 100, 200]}},
    searchable=("cell", "bidirectional", "layers", "units", "embedding_dim", "dropout", "learning_rate",
                "clipnorm"),
    done_hint=done_hint,
    train_help="train (or resume) a sequence tagger",
    train_description="Train a tagger (a bidirectional RNN, or a baseline) on tagged sentences; the best epoch "
                      "is scored on a held-out test split (token accuracy, unseen-word accuracy, per-tag and "
                      "span F1).",
)
