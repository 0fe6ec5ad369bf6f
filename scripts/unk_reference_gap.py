"""How much a word-level translator's BLEU was flattered by references that spell unseen words <unk>.

    python scripts/unk_reference_gap.py runs/results/big-bahdanau [--beam-size 5]

Scores the run's test split (greedy, or beam search) twice: against the reference sentences as
written (what ``translate evaluate`` reports), and against the references as the target vocabulary
spells them, a word no training pair had written ``<unk>`` (how ``translate evaluate`` scored before
2026-11-24), where a translator that writes ``<unk>`` is credited with a match.
"""

from __future__ import annotations

import argparse


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir")
    p.add_argument("--beam-size", type=int, default=1)
    p.add_argument("--weights", default="best")
    args = p.parse_args(argv)

    import sacrebleu

    from rnn_tf.translate import evaluation_pairs, load_translator_run, token_ids, translate_pairs

    cfg, src_vocab, tgt_vocab, model = load_translator_run(args.run_dir, args.weights)
    pairs = evaluation_pairs(args.run_dir, cfg)
    hypotheses, references = translate_pairs(model, src_vocab, tgt_vocab, cfg, pairs, beam_size=args.beam_size)
    spelt = [tgt_vocab.decode(token_ids(tgt_vocab, t)) for _, t in pairs]
    unseen = sum(t not in tgt_vocab.stoi for _, ts in pairs for t in ts) if tgt_vocab.level == "word" else 0
    print(f"{len(pairs)} test sentences, {unseen} reference words unseen in training")
    for name, refs in (("references as written", references), ("unseen words as <unk>", spelt)):
        print(f"{name:<24} BLEU {sacrebleu.corpus_bleu(hypotheses, [refs]).score:6.2f}   "
              f"chrF {sacrebleu.corpus_chrf(hypotheses, [refs]).score:6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
