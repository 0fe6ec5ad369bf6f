"""The translation task (sequence to sequence with attention): its config, flags, commands and search
space. The work itself (pairs, vocabularies, training, decoding, BLEU) is in ``rnn_tf.translate``,
reached through ``TASK.module()`` when a command runs."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass

from rnn_tf.config import RunConfig, check_choice
from rnn_tf.errors import UserError
from rnn_tf.flags import add_run_arguments, add_shared_settings
from rnn_tf.names import ATTENTIONS, SEQ2SEQ_CELLS, SPLITS, TRANSLATE_LEVELS
from rnn_tf.tasks.base import Task
from rnn_tf.subword import DEFAULT_SIZE as SUBWORD_SIZE
from rnn_tf.tasks.spaces import RECURRENT_SPACE


@dataclass
class TranslateConfig(RunConfig):
    # data
    pairs: str | None = None  # english<TAB>translation file (Tatoeba / Anki format)
    reverse: bool = False  # translate into English instead
    max_words: int | None = 10  # both sides at most this many tokens (None: no limit)
    prefix_filter: bool = False  # only English sentences starting "i am", "he is", ... (the tutorial's subset)
    level: str = "word"  # word | subword (SentencePiece pieces, rnn_tf.subword)
    max_vocab: int | None = None  # per side: words (None: every word of the training pairs), or subword pieces
    test_fraction: float = 0.1
    val_fraction: float = 0.1
    # model (the arguments of models.seq2seq.build_seq2seq)
    cell: str = "gru"
    attention: str = "bahdanau"  # bahdanau | luong-dot | luong-general | none
    bidirectional: bool = False
    embedding_dim: int = 128
    dropout: float = 0.1
    # training: Adam, the shared defaults
    task: str = "translate"

    TASK = "translate"
    CELLS = SEQ2SEQ_CELLS

    def validate(self) -> "TranslateConfig":
        if not self.pairs:
            raise UserError("no sentence pairs given: pass --pairs with an english<TAB>translation file")
        check_choice("attention", self.attention, ATTENTIONS)
        check_choice("level", self.level, TRANSLATE_LEVELS)
        self.check_positive(optional=("max_words", "max_vocab"))
        super().validate()
        self.check_held_out_shares()
        return self


T = TranslateConfig()  # the defaults shown in --help


def add_settings(p) -> None:
    """Data, model and training flags (shared by 'translate train' and 'tune translate')."""
    p.add_argument("--pairs", help="english<TAB>translation file (Tatoeba / Anki format)")
    p.add_argument("--reverse", action="store_true", default=None, help="translate into English instead")
    p.add_argument("--max-words", type=int, help=f"keep pairs of at most N tokens a side (default: {T.max_words})")
    p.add_argument("--prefix-filter", action="store_true", default=None,
                   help="only English sentences starting 'i am', 'he is', ... (the PyTorch tutorial's subset)")
    p.add_argument("--level", choices=TRANSLATE_LEVELS,
                   help=f"tokens are words, or subword pieces learnt from each side's training text (default: {T.level})")
    p.add_argument("--max-vocab", "--vocab-size", type=int,
                   help=f"words per vocabulary (default: all); subword: pieces per side (default: {SUBWORD_SIZE})")
    p.add_argument("--attention", choices=ATTENTIONS, help=f"attention score (default: {T.attention})")
    p.add_argument("--bidirectional", action="store_true", default=None, help="bidirectional encoder")
    add_shared_settings(p, T, cells=SEQ2SEQ_CELLS, unit_help="units per layer",
                        dropout_help="dropout before the output layer", batch_help="pairs per batch")


def add_decoding_arguments(p) -> None:
    p.add_argument("--beam-size", type=int, default=1, help="beam search with K beams; 1 = greedy (default: 1)")
    p.add_argument("--length-penalty", type=float, default=0.6,
                   help="beam search: alpha of ((5 + length) / 6) ** alpha; 0 = off (default: 0.6)")


# --- translate translate -----------------------------------------------------------------------
def add_translate(sub) -> None:
    p = sub.add_parser("translate", help="translate sentences",
                       description="Translate sentences given as arguments, or one per line on standard input.")
    add_run_arguments(p, "translate train")
    p.add_argument("texts", nargs="*", metavar="TEXT", help="sentences to translate")
    add_decoding_arguments(p)
    p.add_argument("--temperature", type=float, default=0.0, help="sample at this temperature; 0 = greedy")
    p.add_argument("--seed", type=int, default=0, help="seed for --temperature sampling")
    p.add_argument("--plot-attention", metavar="PNG", help="save the first sentence's attention as a heat map")
    p.add_argument("--json", action="store_true", help="one JSON object per sentence")
    p.set_defaults(handler=run_translate)


def run_translate(args) -> int:
    from rnn_tf.metrics import save_attention_png

    texts = list(args.texts)
    if not texts and not sys.stdin.isatty():
        texts = [line for line in sys.stdin.read().splitlines() if line.strip()]
    results = TASK.module().translate_texts(args.run_dir, texts, args.beam_size, args.length_penalty, args.temperature,
                              args.seed, args.weights, attention=bool(args.plot_attention))
    if args.plot_attention:
        first = results[0]
        save_attention_png(args.plot_attention, first["source_tokens"], first["tokens"], first["attention"])
    for r in results:
        print(json.dumps({"source": " ".join(r["source"]), "translation": r["translation"]}, ensure_ascii=False)
              if args.json else r["translation"])
    return 0


# --- translate evaluate ------------------------------------------------------------------------
def add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="BLEU and chrF on the held-out test split",
                       description="Score a translator with sacrebleu on its test split or another pairs file.")
    add_run_arguments(p, "translate train")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--pairs", help="score every pair of this file instead (same filters as training)")
    which.add_argument("--split", choices=SPLITS, default="test",
                       help="which of the run's splits to score (default: test; tune decoding on val)")
    add_decoding_arguments(p)
    p.add_argument("--json", action="store_true", help="print one JSON object (bleu, chrf, sentences, split)")
    p.set_defaults(handler=run_evaluate)


def run_evaluate(args) -> int:
    r = TASK.module().evaluate_translator(args.run_dir, args.pairs, args.beam_size, args.length_penalty, args.weights, args.split)
    if args.json:
        print(json.dumps({k: v for k, v in r.items() if k != "examples"}))
    else:
        how = "greedy" if r["beam_size"] == 1 else f"beam {r['beam_size']}, length penalty {r['length_penalty']}"
        print(f"{r['sentences']} sentences ({r['split'] or args.pairs}), {how}: BLEU {r['bleu']:.2f}, "
              f"chrF {r['chrf']:.2f}")
        for e in r["examples"]:
            print(f"  {e['hypothesis']}\n  = {e['reference']}")
    return 0


def done_hint(result) -> str:
    return f"done: {result.run_dir}; translate with: rnn-tf translate translate --run-dir {result.run_dir} \"TEXT\""


TASK = Task(
    name="translate",
    help="sequence-to-sequence translation with attention",
    description="Translation: train, translate, evaluate.",
    config=TranslateConfig,
    add_settings=add_settings,
    workflow="rnn_tf.translate",
    commands=(add_translate, add_evaluate),
    metrics=("masked_accuracy",),
    search_space={**RECURRENT_SPACE, "embedding_dim": {"type": "choice", "values": [64, 128, 256]},
                  "attention": {"type": "choice", "values": list(ATTENTIONS)},
                  "bidirectional": {"type": "bool"}},
    searchable=("cell", "attention", "bidirectional", "layers", "units", "embedding_dim", "dropout",
                "learning_rate", "clipnorm"),
    done_hint=done_hint,
    train_help="train (or resume) an encoder-decoder translator",
    train_description="Train a sequence-to-sequence model with attention on sentence pairs; the best epoch is "
                      "scored (BLEU, chrF) on a held-out test split.",
)
