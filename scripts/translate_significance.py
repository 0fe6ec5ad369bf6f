"""Is beam search really better (or worse) than greedy decoding for a translation run?

Decodes the run's validation and test splits greedily and with beam search, then compares the two on
each split with sacrebleu's paired bootstrap resampling (1,000 resamples of the sentences, seed
12345): BLEU and chrF with their 95% confidence intervals, and the p-value of the difference (the
chance of a difference at least this large if the two decodings were equally good). A difference
with p above 0.05 is within the noise of the split.

    python scripts/translate_significance.py RUN_DIR [--beam-size 5] [--length-penalty 0.6]
"""

from __future__ import annotations

import argparse
import sys


def compare(run_dir: str, beam_size: int, length_penalty: float, samples: int) -> list[str]:
    from sacrebleu.metrics import BLEU, CHRF
    from sacrebleu.significance import PairedTest

    from rnn_tf.decoding import Decoder
    from rnn_tf.translate import load_translator_run, run_splits, translate_pairs

    cfg, src_vocab, tgt_vocab, model = load_translator_run(run_dir)
    splits, decoder = run_splits(run_dir, cfg), Decoder(model)  # one read, one trace of each loop
    lines = ["| split | decoding | BLEU (95% CI) | p | chrF (95% CI) | p |", "|---|---|---|---|---|---|"]
    for part in ("val", "test"):
        pairs = splits[part]
        greedy, references = translate_pairs(model, src_vocab, tgt_vocab, cfg, pairs, 1, decoder=decoder)
        beam, _ = translate_pairs(model, src_vocab, tgt_vocab, cfg, pairs, beam_size, length_penalty,
                                  decoder=decoder)
        test = PairedTest([("greedy", greedy), (f"beam {beam_size}", beam)], {"BLEU": BLEU(), "chrF": CHRF()},
                          [references], test_type="bs", n_samples=samples)
        _, scores = test()
        metrics = [m for m in scores if m != "System"]  # sacrebleu names chrF "chrF2" (its beta)
        for i, name in enumerate(scores["System"]):
            cells = []
            for metric in metrics:
                r = scores[metric][i]
                cells += [f"{r.score:.1f} ({r.mean:.1f} ± {r.ci:.1f})", "" if r.p_value is None else f"{r.p_value:.3f}"]
            lines.append(f"| {part} ({len(pairs)}) | {name} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--beam-size", type=int, default=5)
    parser.add_argument("--length-penalty", type=float, default=0.6)
    parser.add_argument("--samples", type=int, default=1000, help="bootstrap resamples")
    args = parser.parse_args()
    from rnn_tf.errors import UserError
    from rnn_tf.translate import check_decoding

    try:
        check_decoding(args.beam_size, args.length_penalty)
        print("\n".join(compare(args.run_dir, args.beam_size, args.length_penalty, args.samples)))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
