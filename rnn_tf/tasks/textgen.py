"""The text-generation task: its config, flags, commands and search space. The work itself (data,
training, sampling, evaluation) is in ``rnn_tf.textgen``, which the handlers reach through
``TASK.module()`` when a command runs (so ``--help`` never imports TensorFlow, and the workflow module
may import this one without a cycle)."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field

from rnn_tf.config import RunConfig, check_temperatures
from rnn_tf.errors import UserError
from rnn_tf.flags import add_run_arguments, add_shared_settings
from rnn_tf.names import CELLS, LEVELS
from rnn_tf.tasks.base import Task
from rnn_tf.tasks.spaces import RECURRENT_SPACE


@dataclass
class TextgenConfig(RunConfig):
    """Defaults follow the classic char-rnn recipe (Karpathy 2015): RMSprop, learning rate 2e-3,
    gradients clipped to a global norm of 5, 100-character windows."""

    # data
    corpus: str = "sotu"
    level: str = "char"  # char | word
    max_vocab: int | None = None  # keep only the most frequent tokens (None: all)
    val_fraction: float = 0.05  # the last 5% of the documents are held out
    # model (the arguments of models.language_model.build_language_model)
    cell: str = "lstm"
    units: int = 256
    embedding_dim: int = 64
    dropout: float = 0.0
    # training
    seq_len: int = 100
    batch_size: int = 64
    epochs: int = 10
    steps_per_epoch: int | None = None  # None: one pass over the training windows
    val_steps: int | None = None  # None: every validation window
    learning_rate: float = 2e-3  # RMSprop
    lr_decay: float = 1.0  # multiply the learning rate by this after every epoch
    # truncated backpropagation through time: one contiguous track of the text per batch row, the
    # recurrent states carried from each window to the next of its track (not resumable: a new run)
    stateful: bool = False
    # samples printed after every epoch
    prime: str | None = None  # None: the start of the first training document
    sample_length: int = 200
    temperatures: list[float] = field(default_factory=lambda: [0.2, 0.5, 1.0, 1.2])
    task: str = "textgen"

    TASK = "textgen"
    RESUMABLE = ("epochs", "patience", "rnn_implementation", "sample_length", "temperatures")

    def validate(self) -> "TextgenConfig":
        self.check_positive("seq_len", "sample_length", optional=("steps_per_epoch", "val_steps", "max_vocab"))
        super().validate()
        if not 0.0 < self.lr_decay <= 1.0:
            raise UserError(f"--lr-decay {self.lr_decay} is out of range: use a number in (0, 1]")
        check_temperatures(self.temperatures)
        return self


D = TextgenConfig()  # the defaults shown in --help


def add_settings(p) -> None:
    """Data, model and training flags (shared by 'textgen train' and 'tune textgen')."""
    p.add_argument("--corpus", help=f"sotu, nltk:NAME, a .txt file, a folder or a glob (default: {D.corpus})")
    p.add_argument("--level", choices=LEVELS, help=f"tokens are characters or words (default: {D.level})")
    p.add_argument("--max-vocab", type=int, help="keep only the N most frequent tokens (default: all)")
    add_shared_settings(p, D, cells=CELLS, dropout_help="dropout between layers", batch_help="windows per batch",
                        optimizer="RMSprop")
    p.add_argument("--seq-len", type=int, help=f"tokens per training window (default: {D.seq_len})")
    p.add_argument("--steps-per-epoch", type=int, help="batches per epoch (default: one pass over the corpus)")
    p.add_argument("--val-steps", type=int, help="validation batches per epoch (default: all held-out text)")
    p.add_argument("--lr-decay", type=float, help=f"learning-rate factor per epoch (default: {D.lr_decay})")
    p.add_argument("--stateful", action=argparse.BooleanOptionalAction,
                   help="truncated backpropagation through time: cut the training text into one contiguous track "
                        "per batch row and carry each row's recurrent state from one window to the next; the "
                        "data order is then fixed, and --seed sets the weights, dropout and samples (default: "
                        "independent windows in random order, each from a zero state)")
    p.add_argument("--val-fraction", type=float, help=f"share of documents held out (default: {D.val_fraction})")
    p.add_argument("--prime", help="text the epoch samples start from (default: the corpus's first line)")
    p.add_argument("--sample-length", type=int, help=f"tokens per epoch sample (default: {D.sample_length})")
    p.add_argument("--temperature", dest="temperatures", type=float, nargs="+",
                   help="temperatures of the epoch samples (default: 0.2 0.5 1.0 1.2)")


# --- textgen generate --------------------------------------------------------------------------
def add_generate(sub) -> None:
    p = sub.add_parser("generate", help="sample text from a trained run",
                       description="Sample text from a run folder with a compiled one-step loop.")
    add_run_arguments(p, "textgen train")
    p.add_argument("--prime", help="text to start from (default: the run's prime)")
    p.add_argument("--length", type=int, default=500,
                   help="tokens to generate per sample (default: 500). One sample (one temperature, one "
                        "--num-samples, no --json) is printed as it is drawn, in the same memory for any length; "
                        "several samples, or --json, are printed when all are drawn")
    p.add_argument("--temperature", dest="temperatures", type=float, nargs="+", default=[1.0],
                   help="one or more temperatures, each sampled --num-samples times (default: 1.0)")
    p.add_argument("--top-k", type=int, default=0, help="sample from the K most likely tokens; 0 = off")
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass; 1.0 = off")
    p.add_argument("--num-samples", type=int, default=1, help="samples per temperature (default: 1)")
    p.add_argument("--seed", type=int, help="makes the samples reproducible")
    p.add_argument("--json", action="store_true", help="print one JSON object with the samples")
    p.set_defaults(handler=run_generate)


def run_generate(args) -> int:
    import os
    import sys

    from rnn_tf.sampling import Sampler, check_sampling_options

    check_sampling_options(args.temperatures, args.length, args.num_samples, args.top_k, args.top_p)
    cfg, vocab, lm = TASK.module().load_textgen_run(args.run_dir, args.weights)
    prime = cfg.prime if args.prime is None else args.prime
    sampler = Sampler(lm, vocab)
    options = (prime, args.length, args.temperatures, args.num_samples, args.top_k, args.top_p, args.seed)
    if len(args.temperatures) * args.num_samples == 1 and not args.json:  # one sample: printed as it is drawn
        pieces = sampler.stream(*options)
        try:
            print(f"--- temperature {args.temperatures[0]:g}\n{prime}", end="", flush=True)
            for (piece,) in pieces:
                print(piece, end="", flush=True)
            print("\n")
        except KeyboardInterrupt:  # Ctrl-C: the text printed so far stays; end its line
            print(flush=True)
            raise
        except BrokenPipeError:  # "| head": the reader has all it wants; nothing more to write
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    samples = sampler.generate(*options)  # several samples, or --json: printed once all are drawn
    if args.json:
        print(json.dumps({"prime": prime, "samples": [
            {"temperature": s.temperature, "text": s.text} for s in samples]}, ensure_ascii=False))
        return 0
    for s in samples:
        print(f"--- temperature {s.temperature:g}\n{prime}{s.text}\n")
    return 0


# --- textgen evaluate --------------------------------------------------------------------------
def add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="held-out loss, bits per character and perplexity",
                       description="Evaluate a run on its held-out documents, or on another corpus.")
    add_run_arguments(p, "textgen train")
    p.add_argument("--corpus", help="evaluate on this corpus instead of the run's held-out documents")
    p.add_argument("--json", action="store_true", help="print one JSON object (loss, bpc, perplexity, characters)")
    p.set_defaults(handler=run_evaluate)


def run_evaluate(args) -> int:
    r = TASK.module().evaluate_textgen(args.run_dir, args.weights, args.corpus)
    if args.json:
        print(json.dumps(r))
    else:
        print(f"{r['source']}: {r['tokens']:,} {r['level']}s predicted\n"
              f"loss {r['loss']:.4f} nats/{r['level']}, {r['bpc']:.4f} bits/{r['level']}, "
              f"perplexity {r['perplexity']:.3f}")
    return 0


def done_hint(result) -> str:
    best = "" if result.best_epoch is None else f"; best epoch {result.best_epoch} (val_loss {result.best_val_loss:.4f})"
    return (f"done: {result.epochs_done} epochs in {result.run_dir}{best}\n"
            f"sample with: rnn-tf textgen generate --run-dir {result.run_dir}")


TASK = Task(
    name="textgen",
    help="character- or word-level text generation",
    description="Text generation: train, generate, evaluate.",
    config=TextgenConfig,
    add_settings=add_settings,
    workflow="rnn_tf.textgen",
    commands=(add_generate, add_evaluate),
    metrics=(),
    search_space={**RECURRENT_SPACE, "layers": {"type": "int", "min": 1, "max": 3}},
    searchable=("cell", "units", "layers", "embedding_dim", "dropout", "learning_rate", "clipnorm", "lr_decay"),
    done_hint=done_hint,
    train_help="train (or resume) a text generator",
    train_description="Train a language model on a corpus; every epoch prints samples and saves weights to the "
                      "run folder. Flags left out take the defaults shown, or with --resume the run's saved values.",
    seeded="weights, data order and samples",
)
