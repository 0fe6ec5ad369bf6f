"""Benchmark: translation decoding throughput of a trained run, beside a naive reference.

    python scripts/bench_translate.py RUN_DIR [--sentences 2048] [--single-sentences 256] [--naive-sentences 64] [--json]

RUN_DIR is a `translate train` run (e.g. runs/results/big8-bahdanau from scripts/translate_results.sh);
its test split's first sentences are translated. Measured in one run on one machine, so the ratios
hold even where absolute times drift:
  naive    one sentence at a time, one eager call of the step model per output word, a Python loop
           (the PyTorch tutorial's way);
  greedy   rnn_tf's compiled loop (tf.while_loop in a tf.function), one sentence per call, then
           batches of 128 sentences (as `translate evaluate` runs it);
  beam 5   the compiled beam search, batches of 128.
Every greedy variant must write exactly the same translations; the script checks that.
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from rnn_tf.decoding import END_ID, START_ID, Decoder  # noqa: E402
from rnn_tf.translate import evaluation_pairs, load_translator_run, max_output_length, token_ids  # noqa: E402
from rnn_tf.translate import translate_pairs  # noqa: E402
from rnn_tf.vocab import PAD_ID, UNK_ID  # noqa: E402

BATCH = 128


def naive_greedy(model, source_ids, max_length):
    """One sentence: encode, then call the step model eagerly once per output word."""
    source = tf.constant([source_ids], tf.int32)
    memory, *states = model.encoder(source, training=False)
    mask, word, out = tf.not_equal(source, PAD_ID), START_ID, []
    for _ in range(max_length):
        logits, *rest = model.step([tf.constant([word]), *states, tf.identity(memory), mask], training=False)
        states = rest[:-1]
        logits = np.array(logits)[0]
        logits[[PAD_ID, UNK_ID]] = -1e9
        word = int(np.argmax(logits))
        if word == END_ID:
            break
        out.append(word)
    return out


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--sentences", type=int, default=2048, help="sentences for the batched decoders")
    parser.add_argument("--single-sentences", type=int, default=256, help="sentences for one-at-a-time compiled")
    parser.add_argument("--naive-sentences", type=int, default=64, help="sentences for the naive loop")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    cfg, src_vocab, tgt_vocab, model = load_translator_run(args.run_dir)
    pairs = evaluation_pairs(args.run_dir, cfg)[: args.sentences]
    decoder = Decoder(model)

    def compiled(some_pairs, batch, beam_size=1):  # exactly what `translate evaluate` runs
        return translate_pairs(model, src_vocab, tgt_vocab, cfg, some_pairs, beam_size, batch_size=batch,
                               decoder=decoder)[0]

    compiled(pairs[:BATCH], BATCH)  # trace both loops once, outside the timings
    compiled(pairs[:BATCH], BATCH, beam_size=5)

    few = [token_ids(src_vocab, s) for s, _ in pairs[: args.naive_sentences]]
    naive_greedy(model, few[0], max_output_length(cfg, len(few[0])))  # eager calls warm up too
    naive, naive_s = timed(lambda: [tgt_vocab.decode(naive_greedy(model, s, max_output_length(cfg, len(s))))
                                    for s in few])
    single, single_s = timed(lambda: compiled(pairs[: args.single_sentences], 1))
    batched, batched_s = timed(lambda: compiled(pairs, BATCH))
    _, beam_s = timed(lambda: compiled(pairs, BATCH, beam_size=5))
    if naive != batched[: len(naive)] or single != batched[: len(single)]:
        raise SystemExit("the greedy decoders disagree: a bug, not a benchmark result")

    rate = {"naive": len(few) / naive_s, "greedy_1": len(single) / single_s,
            "greedy_batched": len(pairs) / batched_s, "beam5_batched": len(pairs) / beam_s}
    report = {"run": args.run_dir, "model": f"{cfg.cell} {cfg.units}, attention {cfg.attention}",
              **{f"{k}_sentences_per_s": round(v, 1) for k, v in rate.items()},
              "greedy_1_speedup": round(rate["greedy_1"] / rate["naive"], 1),
              "greedy_batched_speedup": round(rate["greedy_batched"] / rate["naive"], 1),
              "beam5_batched_speedup": round(rate["beam5_batched"] / rate["naive"], 1)}
    if args.json:
        print(json.dumps(report))
        return
    print(f"{report['model']}, {os.cpu_count()} CPU cores; test sentences of {args.run_dir}")
    print(f"naive eager loop, 1 sentence   {rate['naive']:9.1f} sentences/s  ({len(few)} sentences)")
    print(f"compiled greedy, 1 sentence    {rate['greedy_1']:9.1f} sentences/s  -> {report['greedy_1_speedup']}x")
    print(f"compiled greedy, batch {BATCH}     {rate['greedy_batched']:9.1f} sentences/s  "
          f"-> {report['greedy_batched_speedup']}x")
    print(f"compiled beam 5, batch {BATCH}     {rate['beam5_batched']:9.1f} sentences/s  "
          f"-> {report['beam5_batched_speedup']}x")
    print("identical greedy translations from all three greedy decoders")


if __name__ == "__main__":
    main()
