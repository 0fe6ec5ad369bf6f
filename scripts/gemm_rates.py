"""GEMM rates on this CPU, float32 against bfloat16, XLA-compiled against TensorFlow's own kernel.

    python scripts/gemm_rates.py

The shapes are every product of the fast training step that ``scripts/bench_rnn.py`` counts
(``gemm_shapes``: the text generator's LSTM, 256 units, batch 64, 104 tokens, with the token table):
the recurrent products of each time step (64 rows), those over all B x T rows (6,400) and the V-row
ones. XLA compiles the training step, so its columns are what a bfloat16 option would get there;
TensorFlow's MatMul kernel (oneDNN) is what runs outside XLA.
"""

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import rnn_tf  # noqa: E402,F401  (its TensorFlow settings, as every command has them)
import tensorflow as tf  # noqa: E402
from bench_rnn import gemm_shapes  # noqa: E402  (the bench's list of the step's products)

SHAPES = sorted({(m, k, n) for m, k, n, _ in gemm_shapes("lstm", 64, 104, table=True)})


def rate(m, k, n, dtype, jit):
    a = tf.cast(tf.random.normal((m, k)), dtype)
    b = tf.cast(tf.random.normal((k, n)), dtype)
    product = tf.function(lambda x, y: tf.matmul(x, y), jit_compile=jit)
    product(a, b)
    repeats = max(10, int(2e9 / (2 * m * k * n)))
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            out = product(a, b)
        out.numpy()
        best = min(best, (time.perf_counter() - start) / repeats)
    return 2 * m * k * n / best / 1e9


def main():
    print("GFLOP/s, best of 3            XLA float32  XLA bfloat16  TF float32  TF bfloat16")
    for m, k, n in SHAPES:
        rates = [rate(m, k, n, dtype, jit) for jit in (True, False) for dtype in (tf.float32, tf.bfloat16)]
        print(f"{m:>5} x {k:<4} by {k:>4} x {n:<5}  " + "  ".join(f"{r:11.1f}" for r in rates))


if __name__ == "__main__":
    main()
