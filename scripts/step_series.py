"""Training-step time chunk after chunk: shows the half-speed stretches (README, "Speed on a CPU").

    python scripts/step_series.py [--implementation fast|keras] [--no-jit] [--autotune] [--chunks 15]
    ../torchenv/bin/python scripts/step_series.py --torch      (PyTorch's nn.LSTM, same shapes)
    python scripts/step_series.py --eval-batches 64 256 512    (a validation pass over sotu's held-out size instead)

The text generator's default model (embedding 64, LSTM 256, 100 steps, batch 64, vocabulary 104,
random ids) trains in chunks of 10 steps; one line of milliseconds per step, one figure per chunk.
On this machine XLA-compiled steps ran for seconds at a time at exactly twice their time while tf.data's
autotuner was on (``--autotune`` switches it back on; every pipeline of the package has it off).
"""

from __future__ import annotations

import argparse
import time


def torch_series(chunks: int) -> list[float]:
    import numpy as np

    from bench_rnn import torch_trainer  # the bench's PyTorch side, same model and optimizer

    step, _ = torch_trainer("lstm", 64, np.random.default_rng(0).integers(2, 104, 2_000_000))
    return [sum(step() for _ in range(10)) / 10 for _ in range(chunks)]


def keras_series(chunks: int, implementation: str, jit: bool, autotune: bool) -> list[float]:
    import numpy as np

    from rnn_tf.datasets import language_model_dataset
    from rnn_tf.tasks.textgen import TextgenConfig
    from rnn_tf.textgen import build_model

    ids = np.random.default_rng(0).integers(2, 104, 2_000_000).astype("int32")
    cfg = TextgenConfig(units=256, embedding_dim=64, seq_len=100, batch_size=64, rnn_implementation=implementation)
    model = build_model(cfg, 104).training
    if not jit:
        model.compile(optimizer=model.optimizer, loss=model.loss, jit_compile=False)
    data = language_model_dataset(ids, 100, 64, seed=0)
    if autotune:
        from bench_rnn import autotuned

        data = autotuned(data)
    model.fit(data, steps_per_epoch=5, verbose=0)
    times = []
    for _ in range(chunks):
        start = time.perf_counter()
        model.fit(data, steps_per_epoch=10, verbose=0)
        times.append((time.perf_counter() - start) / 10)
    return times


def evaluation_times(batches: list[int]) -> None:
    """Seconds for one pass of ``evaluate`` over 510,207 ids (sotu's held-out addresses) per batch size:
    the first call (which compiles) and the second."""
    import numpy as np

    from rnn_tf.datasets import language_model_dataset
    from rnn_tf.tasks.textgen import TextgenConfig
    from rnn_tf.textgen import build_model

    ids = np.random.default_rng(0).integers(2, 104, 510_207).astype("int32")
    model = build_model(TextgenConfig(units=256, embedding_dim=64, seq_len=100, batch_size=64), 104).training
    for batch in batches:
        data = language_model_dataset(ids, 100, batch, shuffle=False, repeat=False)
        times = []
        for _ in range(2):
            start = time.perf_counter()
            model.evaluate(data, verbose=0)
            times.append(time.perf_counter() - start)
        print(f"batch {batch}: first pass {times[0]:.2f} s, second {times[1]:.2f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--implementation", default="fast", choices=["fast", "keras"])
    parser.add_argument("--no-jit", action="store_true", help="no whole-step compile (the fast loops stay compiled)")
    parser.add_argument("--autotune", action="store_true", help="tf.data's autotuner on (as by default)")
    parser.add_argument("--torch", action="store_true", help="PyTorch's nn.LSTM instead (run with a Python that has it)")
    parser.add_argument("--chunks", type=int, default=15)
    parser.add_argument("--eval-batches", type=int, nargs="+", help="time validation passes at these batch sizes")
    args = parser.parse_args()
    if args.eval_batches:
        return evaluation_times(args.eval_batches)
    times = (torch_series(args.chunks) if args.torch
             else keras_series(args.chunks, args.implementation, not args.no_jit, args.autotune))
    print("ms per step, chunk by chunk:", " ".join(f"{t * 1e3:.0f}" for t in times))


if __name__ == "__main__":
    main()
