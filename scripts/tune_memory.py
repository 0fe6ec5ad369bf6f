"""Memory across the trials of a search: resident memory after each of N tiny trials.

Runs a random search of N tiny classifier trials (the data is written to a temporary folder), once
as rnn-tf runs it (keras-tuner clears the Keras session before building each trial's model) and,
for comparison, once with the clearing switched off. Each search runs in a fresh process.

    python scripts/tune_memory.py [--trials 20]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def one_search(trials: int, clear: bool, folder: str) -> list[float]:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
    import keras

    from conftest import write_csv
    from rnn_tf.tune import TaskHyperModel, run_search

    if not clear:
        keras.backend.clear_session = lambda *a, **k: None  # what a search without clearing would do
    readings = []
    fit = TaskHyperModel.fit

    def fit_and_measure(self, hp, model, *args, **kwargs):
        history = fit(self, hp, model, *args, **kwargs)
        readings.append(rss_mib())
        return history

    TaskHyperModel.fit = fit_and_measure
    data = write_csv(os.path.join(folder, "reviews.csv"))
    run_search("classify", dict(data=str(data), epochs=1, batch_size=8, max_length=12, embedding_dim=4, layers=1,
                                seed=1),
               space_entries={"units": {"type": "int", "min": 4, "max": 32}, "cell": ["gru", "lstm", "simple_rnn"],
                              "bidirectional": {"type": "bool"}, "pooling": ["last", "mean", "attention"]},
               max_trials=trials, project_dir=os.path.join(folder, "project"), stream=open(os.devnull, "w"))
    return readings


def summary(readings: list[float]) -> dict:
    n = len(readings)
    xs = range(n)
    mx, my = (n - 1) / 2, sum(readings) / n
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, readings)) / sum((x - mx) ** 2 for x in xs)
    return {"trials": n, "after_trial_1": readings[0], "after_trial_5": readings[min(4, n - 1)],
            "after_last": readings[-1], "growth_from_5_to_last": readings[-1] - readings[min(4, n - 1)],
            "slope_mib_per_trial": slope}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--child", choices=("clear", "no-clear"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        with tempfile.TemporaryDirectory() as folder:
            print(json.dumps(one_search(args.trials, args.child == "clear", folder)))
        return
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    print(f"resident memory (MiB) after each of {args.trials} tiny classifier trials, two fresh processes:")
    print("| Keras session between trials | after trial 1 | after trial 5 | after the last | growth 5 -> last | slope |")
    print("|---|---|---|---|---|---|")
    for mode in ("clear", "no-clear"):
        out = subprocess.run([sys.executable, __file__, "--trials", str(args.trials), "--child", mode], env=env,
                             capture_output=True, text=True, check=True).stdout
        s = summary(json.loads(out.strip().splitlines()[-1]))
        label = "cleared (rnn-tf)" if mode == "clear" else "kept (clearing switched off)"
        print(f"| {label} | {s['after_trial_1']:.0f} | {s['after_trial_5']:.0f} | {s['after_last']:.0f} | "
              f"{s['growth_from_5_to_last']:+.0f} MiB | {s['slope_mib_per_trial']:+.1f} MiB/trial |")


if __name__ == "__main__":
    main()
