"""The text-classification task (many-to-one): its config, flags, commands and search space. The work
itself (data, splits, training, scoring) is in ``rnn_tf.classify``, reached through ``TASK.module()``
when a command runs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from rnn_tf.config import RunConfig, check_choice
from rnn_tf.errors import UserError
from rnn_tf.flags import add_run_arguments, add_shared_settings, read_texts
from rnn_tf.names import BOW_HEADS, BOW_WEIGHTINGS, CELLS, CLASSIFIER_MODELS, LEVELS, POOLINGS
from rnn_tf.tasks.base import Task
from rnn_tf.tasks.spaces import RECURRENT_SPACE


@dataclass
class ClassifyConfig(RunConfig):
    # data
    data: str | None = None  # CSV/TSV file, folder per class, nltk:NAME or keras:imdb
    text_column: str = "text"
    label_column: str = "label"
    level: str = "word"  # word | char | subword (SentencePiece pieces of the training texts, rnn_tf.subword)
    lowercase: bool = True
    max_tokens: int | None = 20000  # vocabulary size (most frequent tokens)
    max_length: int = 400  # tokens kept per text (the start); longer texts are cut
    test_fraction: float = 0.1  # stratified, seeded; unused when the data has its own test split
    val_fraction: float = 0.1  # of the rest, for choosing the best epoch
    folds: int | None = None  # k-fold cross-validation instead of one test split
    fold: int | None = None  # set in the run folder of one fold
    # model (the arguments of models.classifier.build_classifier)
    model: str = "rnn"  # rnn | cnn | bow
    bidirectional: bool = False
    units: int = 64
    pooling: str = "last"  # last | mean | max | attention
    dropout: float = 0.3
    filters: int = 100  # cnn: filters per width
    kernel_sizes: list[int] = field(default_factory=lambda: [3, 4, 5])
    bow_head: str = "logistic"  # logistic | mlp
    bow_weighting: str = "tfidf"  # tfidf | count | binary
    embeddings: str | None = None  # word vectors to start the embedding layer from (rnn_tf.pretrained)
    freeze_embeddings: bool = False  # keep the pretrained embeddings as they are
    init_from: str | None = None  # a word-level language model run: embedding and recurrent layers start from it
    # training
    batch_size: int = 32
    epochs: int = 5
    learning_rate: float = 1e-3  # Adam
    labels: list[str] | None = None  # the label of each class id, set from the training data
    task: str = "classify"

    TASK = "classify"

    def validate(self) -> "ClassifyConfig":
        if not self.data:
            raise UserError("no data given: pass --data with a CSV/TSV file, a folder per class or nltk:NAME")
        self.check_positive("max_length", "filters", optional=("max_tokens", "folds"))
        super().validate()
        check_choice("model", self.model, CLASSIFIER_MODELS)
        check_choice("pooling", self.pooling, POOLINGS)
        check_choice("bow_head", self.bow_head, BOW_HEADS)
        check_choice("bow_weighting", self.bow_weighting, BOW_WEIGHTINGS)
        if self.folds is not None and self.folds < 2:
            raise UserError(f"--folds {self.folds} is too few: use 2 or more (or leave it out)")
        self.check_held_out_shares()
        self.check_pretrained()
        if not self.kernel_sizes or min(self.kernel_sizes) < 1:
            raise UserError(f"--kernel-sizes {self.kernel_sizes} must be one or more widths of 1 or more")
        return self


    def check_pretrained(self) -> None:
        if self.embeddings and self.init_from:
            raise UserError("--embeddings and --init-from both set the embeddings: pass one of them")
        if (self.embeddings or self.init_from) and self.level != "word":
            raise UserError("pretrained word vectors and language models need --level word")
        if self.embeddings and self.model == "bow":
            raise UserError("a bag-of-words model has no embedding layer: use --embeddings with --model rnn or cnn")
        if self.init_from and (self.model != "rnn" or self.bidirectional):
            raise UserError("--init-from starts a one-directional RNN from a language model: use --model rnn "
                            "without --bidirectional")
        if self.freeze_embeddings and not (self.embeddings or self.init_from):
            raise UserError("--freeze-embeddings keeps pretrained embeddings: add --embeddings FILE or --init-from RUN")


C = ClassifyConfig()  # the defaults shown in --help


def add_settings(p) -> None:
    """Data, model and training flags (shared by 'classify train' and 'tune classify')."""
    p.add_argument("--data", help="a .csv/.tsv file, a folder per class (or aclImdb's train/ test/), "
                                  "nltk:movie_reviews|sentence_polarity|subjectivity|names, or keras:imdb")
    p.add_argument("--text-column", help=f"CSV/TSV text column (default: {C.text_column})")
    p.add_argument("--label-column", help=f"CSV/TSV label column (default: {C.label_column})")
    p.add_argument("--model", choices=CLASSIFIER_MODELS, help=f"model family (default: {C.model})")
    p.add_argument("--bidirectional", action="store_true", default=None, help="read the text both ways")
    p.add_argument("--pooling", choices=POOLINGS, help=f"how the sequence is summarised (default: {C.pooling})")
    p.add_argument("--level", choices=LEVELS, help="tokens are words, characters, or subword pieces learnt from the training texts (--max-tokens "
                   f"of them) (default: {C.level})")
    p.add_argument("--no-lowercase", dest="lowercase", action="store_false", default=None,
                   help="keep case (default: texts are lower-cased)")
    p.add_argument("--max-tokens", type=int, help=f"vocabulary size (default: {C.max_tokens})")
    p.add_argument("--max-length", type=int, help=f"tokens kept per text (default: {C.max_length})")
    add_shared_settings(p, C, cells=CELLS, unit_help="units per layer / MLP hidden units", batch_help="texts per batch")
    p.add_argument("--filters", type=int, help=f"cnn: filters per width (default: {C.filters})")
    p.add_argument("--kernel-sizes", type=int, nargs="+", help="cnn: convolution widths (default: 3 4 5)")
    p.add_argument("--bow-head", choices=BOW_HEADS, help=f"bow: classifier head (default: {C.bow_head})")
    p.add_argument("--bow-weighting", choices=BOW_WEIGHTINGS,
                   help=f"bow: design-matrix entries (default: {C.bow_weighting})")
    p.add_argument("--test-fraction", type=float, help=f"stratified test share (default: {C.test_fraction})")
    p.add_argument("--val-fraction", type=float, help=f"stratified validation share (default: {C.val_fraction})")
    p.add_argument("--folds", type=int, help="k-fold cross-validation instead of one test split")
    p.add_argument("--embeddings", metavar="FILE", help="start the embeddings from word vectors: GloVe text, "
                   "word2vec text or .bin, fastText .vec, gensim .kv (sets --embedding-dim)")
    p.add_argument("--freeze-embeddings", action="store_true", default=None,
                   help="keep the pretrained embeddings fixed (default: fine-tune them)")
    p.add_argument("--init-from", metavar="RUN", help="start the embedding and recurrent layers from a word-level "
                   "language model run (rnn-tf textgen train --level word); its cell, units, layers and "
                   "embedding size are used")


# --- classify evaluate -------------------------------------------------------------------------
def add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="accuracy, macro-F1 and per-class figures",
                       description="Score a classifier on its own test split, or on other labelled data.")
    add_run_arguments(p, "classify train")
    p.add_argument("--data", help="score on this data instead (its test part if it has one)")
    p.add_argument("--confusion", help="also save the confusion matrix as this PNG")
    p.add_argument("--json", action="store_true", help="print one JSON object (accuracy, macro_f1, per_class)")
    p.set_defaults(handler=run_evaluate)


def run_evaluate(args) -> int:
    from rnn_tf.metrics import format_report, save_confusion_png

    report = TASK.module().evaluate_classifier(args.run_dir, args.weights, args.data)
    if "folds" in report:
        if args.json:
            print(json.dumps(report))
        else:
            print(f"{len(report['folds'])}-fold cross-validation: accuracy {report['accuracy_mean']:.4f} ± "
                  f"{report['accuracy_std']:.4f}, macro-F1 {report['macro_f1_mean']:.4f} ± {report['macro_f1_std']:.4f}")
        return 0
    if args.confusion:
        save_confusion_png(args.confusion, report["confusion"], list(report["per_class"]), report["source"])
    print(json.dumps(report) if args.json else f"{report['source']}:\n{format_report(report)}")
    return 0


# --- classify predict --------------------------------------------------------------------------
def add_predict(sub) -> None:
    p = sub.add_parser("predict", help="label new texts",
                       description="Label texts given as arguments, one per line of --file, or one per line "
                                   "on standard input. Prints label, probability and text, tab-separated.")
    add_run_arguments(p, "classify train")
    p.add_argument("texts", nargs="*", metavar="TEXT", help="texts to classify")
    p.add_argument("--file", help="a UTF-8 file with one text per line")
    p.add_argument("--json", action="store_true", help="one JSON object per line, with every class's probability")
    p.set_defaults(handler=run_predict)


def run_predict(args) -> int:
    texts = read_texts(args)
    for r in TASK.module().predict(args.run_dir, texts, args.weights):
        print(json.dumps(r, ensure_ascii=False) if args.json else f"{r['label']}\t{r['probability']:.4f}\t{r['text']}")
    return 0


def done_hint(result) -> str:
    return (f"done: {result.run_dir}; predict with: rnn-tf classify predict --run-dir "
            f"{result.run_dir}{'/fold-1' if result.config.folds else ''} \"TEXT\"")


TASK = Task(
    name="classify",
    help="many-to-one text classification",
    description="Text classification: train, evaluate, predict.",
    config=ClassifyConfig,
    add_settings=add_settings,
    workflow="rnn_tf.classify",
    commands=(add_evaluate, add_predict),
    metrics=("accuracy",),
    search_space={**RECURRENT_SPACE, "units": {"type": "int", "min": 32, "max": 256, "step": 32},
                  "pooling": {"type": "choice", "values": list(POOLINGS)},
                  "bidirectional": {"type": "bool"}},
    searchable=("model", "cell", "bidirectional", "layers", "units", "embedding_dim", "pooling", "dropout",
                "filters", "bow_head", "bow_weighting", "learning_rate", "clipnorm"),
    done_hint=done_hint,
    train_help="train (or resume) a text classifier",
    train_description="Train a many-to-one classifier (RNN, CNN or bag-of-words) on labelled texts; the best "
                      "epoch is scored on a held-out test split.",
)
