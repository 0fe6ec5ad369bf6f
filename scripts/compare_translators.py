"""Is one translation run really better than another on the same test split?

Decodes the test split of two runs trained on the same pairs with the same split (e.g. a word-level
and a subword run: ``--seed``, ``--max-words`` and the pairs file alike), scores both against the
same references (the sentences as written) and compares them with sacrebleu's paired bootstrap
resampling (1,000 resamples of the sentences, seed 12345): BLEU and chrF with their 95% confidence
intervals, and the p-value of the difference (above 0.05: within the noise of the split).

    python scripts/compare_translators.py RUN_A RUN_B [--weights-a W] [--weights-b W] [--beam-size 5]
"""

from __future__ import annotations

import argparse
import sys


def compare(runs: list[tuple[str, str]], beam_size: int, length_penalty: float, samples: int) -> list[str]:
    from sacrebleu.metrics import BLEU, CHRF
    from sacrebleu.significance import PairedTest

    from rnn_tf.errors import UserError
    from rnn_tf.translate import evaluation_pairs, load_translator_run, translate_pairs

    systems, references, tests = [], None, None
    for run_dir, weights in runs:
        cfg, src_vocab, tgt_vocab, model = load_translator_run(run_dir, weights)
        pairs = evaluation_pairs(run_dir, cfg)
        if tests is not None and pairs != tests:
            raise UserError(f"'{run_dir}' has another test split: train both runs on the same pairs, filters and seed")
        hypotheses, references = translate_pairs(model, src_vocab, tgt_vocab, cfg, pairs, beam_size, length_penalty)
        systems.append((f"{run_dir} ({cfg.level})", hypotheses))
        tests = pairs
    test = PairedTest(systems, {"BLEU": BLEU(), "chrF": CHRF()}, [references], test_type="bs", n_samples=samples)
    _, scores = test()
    metrics = [m for m in scores if m != "System"]  # sacrebleu names chrF "chrF2" (its beta)
    decoding = "greedy" if beam_size == 1 else f"beam {beam_size}"
    lines = [f"{len(tests)} test sentences, {decoding}", "| run | BLEU (95% CI) | p | chrF (95% CI) | p |",
             "|---|---|---|---|---|"]
    for i, name in enumerate(scores["System"]):
        cells = []
        for metric in metrics:
            r = scores[metric][i]
            cells += [f"{r.score:.2f} ({r.mean - r.ci:.2f}-{r.mean + r.ci:.2f})",
                      "" if r.p_value is None else f"{r.p_value:.4f}"]
        lines.append(f"| {name.removeprefix('Baseline: ')} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_a")
    parser.add_argument("run_b")
    parser.add_argument("--weights-a", default="best")
    parser.add_argument("--weights-b", default="best")
    parser.add_argument("--beam-size", type=int, default=1)
    parser.add_argument("--length-penalty", type=float, default=0.6)
    parser.add_argument("--samples", type=int, default=1000, help="bootstrap resamples")
    args = parser.parse_args()
    from rnn_tf.errors import UserError

    try:
        lines = compare([(args.run_a, args.weights_a), (args.run_b, args.weights_b)], args.beam_size,
                        args.length_penalty, args.samples)
    except UserError as exc:
        sys.exit(f"error: {exc}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
