"""Where a compiled training step of the text generator spends its time, by XLA operation.

    python scripts/profile_step.py [--cell lstm] [--batch 64] [--steps 5]

Trains the default model (embedding 64, 256 units, 100 steps, vocabulary 100, random ids) for a few
warm-up steps, then traces ``--steps`` steps with TensorFlow's profiler and XLA's per-operation trace
events (``--xla_cpu_enable_xprof_traceme``), and prints milliseconds per step for each group: the
recurrent loops' matrix products (one per time step), the other matrix products (over all B x T rows:
the input projection, the output layer, the weight gradients), and the elementwise work (XLA's fused
kernels: the gates, the loss, the optimizer). The sums count what each of the two worker threads
ran, so they add up to about the step's time when the work is serial. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import collections
import glob
import os
import sys
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cell", default="lstm", choices=["lstm", "gru"])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--top", type=int, default=12, help="operations listed one by one")
    args = parser.parse_args()
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_enable_xprof_traceme=true").strip()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np
    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    from rnn_tf.datasets import language_model_dataset
    from rnn_tf.tasks.textgen import TextgenConfig
    from rnn_tf.textgen import build_model

    ids = np.random.default_rng(0).integers(2, 100, 2_000_000).astype("int32")
    cfg = TextgenConfig(cell=args.cell, units=256, embedding_dim=64, seq_len=100, batch_size=args.batch)
    keras.utils.set_random_seed(0)
    model = build_model(cfg, 100).training
    data = language_model_dataset(ids, 100, args.batch, seed=0)
    model.fit(data, steps_per_epoch=3, verbose=0)  # trace, compile, warm up
    start = time.perf_counter()
    model.fit(data, steps_per_epoch=10, verbose=0)
    step_ms = (time.perf_counter() - start) / 10 * 1e3
    folder = tempfile.mkdtemp(prefix="rnn_tf_profile_")
    tf.profiler.experimental.start(folder)
    model.fit(data, steps_per_epoch=args.steps, verbose=0)
    tf.profiler.experimental.stop()

    space = xplane_pb2.XSpace()
    with open(glob.glob(os.path.join(folder, "**", "*.xplane.pb"), recursive=True)[0], "rb") as f:
        space.ParseFromString(f.read())
    plane = next(p for p in space.planes if p.name == "/host:CPU")
    names = {k: v.name for k, v in plane.event_metadata.items()}
    skip = ("ThunkExecutor", "SlinkyThreadPool", "end: ")
    per_op, calls = collections.Counter(), collections.Counter()
    for line in plane.lines:
        if "Eigen" not in line.name:  # XLA's worker threads
            continue
        for event in line.events:
            name = names[event.metadata_id]
            if not name.startswith(skip):
                per_op[name] += event.duration_ps / 1e9 / args.steps
                calls[name] += 1 / args.steps
    loop = {n for n in per_op if n.startswith("MatMul") and calls[n] >= 50}  # one product per time step
    groups = {"recurrent products (in the loops)": sum(per_op[n] for n in loop),
              "other matrix products": sum(v for n, v in per_op.items() if n.startswith("MatMul") and n not in loop),
              "elementwise and the rest": sum(v for n, v in per_op.items() if not n.startswith("MatMul"))}
    print(f"{args.cell}, batch {args.batch}: {step_ms:.1f} ms per step untraced "
          f"({args.batch * 100 / step_ms * 1e3:,.0f} predicted chars/s); traced operations, ms per step:")
    for name, ms in groups.items():
        print(f"  {name:<36} {ms:7.1f}")
    print(f"  {'all':<36} {sum(groups.values()):7.1f}")
    print("largest operations (ms per step, calls per step):")
    for name, ms in per_op.most_common(args.top):
        print(f"  {name:<40} {ms:7.2f} {calls[name]:6.0f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
