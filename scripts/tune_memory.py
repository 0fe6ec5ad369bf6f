"""Memory and time across the trials of a search, for each way of running the trials.

Runs a random search of N tiny classifier trials (the data is written to a temporary folder) three
ways, each in a fresh process, one after another in this run:
  - every trial in the search process (--trials-per-process 0; keras-tuner clears the Keras
    session before each trial's model, but TensorFlow keeps each fit's traced graphs);
  - a fresh trial process per trial (--trials-per-process 1, rnn-tf's default);
  - a trial process replaced every 5 trials (--trials-per-process 5).
After each trial it reads the proportional set size (PSS) of the search process and of the trial
process: the memory the search holds is their sum. (PSS, not RSS: both processes map TensorFlow's
libraries, about 650 MiB of shared pages, which RSS would count twice.)

    python scripts/tune_memory.py [--trials 20]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def one_search(trials: int, trials_per_process: int, folder: str) -> list[dict]:
    """One reading per trial: the search process's memory, the trial process's peak, seconds."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
    from conftest import write_csv
    from rnn_tf.search.run import run_search
    from rnn_tf.search.tuners import SearchTuner
    from rnn_tf.search.worker import pss_mib

    readings = []
    end = SearchTuner.on_trial_end
    last = [time.perf_counter()]

    def end_and_measure(self, trial):
        end(self, trial)
        now = time.perf_counter()
        readings.append({"search": pss_mib(), "trial_process": self.trial_pss_mib.get(trial.trial_id, 0.0),
                         "peak_rss": self._peak_mib.get(trial.trial_id, 0.0), "seconds": now - last[0]})
        last[0] = now

    SearchTuner.on_trial_end = end_and_measure
    data = write_csv(os.path.join(folder, "reviews.csv"))
    run_search("classify", dict(data=str(data), epochs=1, batch_size=8, max_length=12, embedding_dim=4, layers=1,
                                seed=1),
               space_entries={"units": {"type": "int", "min": 4, "max": 32}, "cell": ["gru", "lstm", "simple_rnn"],
                              "bidirectional": {"type": "bool"}, "pooling": ["last", "mean", "attention"]},
               max_trials=trials, project_dir=os.path.join(folder, "project"), trials_per_process=trials_per_process,
               stream=open(os.devnull, "w"))
    return readings


def slope(ys: list[float]) -> float:
    n = len(ys)
    mx, my = (n - 1) / 2, sum(ys) / n
    return sum((x - mx) * (y - my) for x, y in enumerate(ys)) / sum((x - mx) ** 2 for x in range(n))


MODES = {0: "in the search process (0)", 1: "fresh process per trial (1, default)", 5: "process every 5 trials (5)"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        with tempfile.TemporaryDirectory() as folder:
            print(json.dumps(one_search(args.trials, args.child, folder)))
        return
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    n = args.trials
    print(f"memory (PSS, MiB: search process + trial process) after tiny classifier trials 1, 5 and {n}; "
          "each mode in a fresh process, one after another:")
    print(f"| trials run (--trials-per-process) | after trial 1 | after trial 5 | after trial {n} | "
          f"growth 5 -> {n} | slope | seconds per trial |")
    print("|---|---|---|---|---|---|---|")
    for mode, label in MODES.items():
        out = subprocess.run([sys.executable, __file__, "--trials", str(n), "--child", str(mode)], env=env,
                             capture_output=True, text=True, check=True).stdout
        readings = json.loads(out.strip().splitlines()[-1])
        total = [r["search"] + r["trial_process"] for r in readings]
        fifth = min(4, len(total) - 1)
        seconds = sum(r["seconds"] for r in readings[1:]) / max(1, len(readings) - 1)  # trial 1 includes start-up
        print(f"| {label} | {total[0]:.0f} | {total[fifth]:.0f} | {total[-1]:.0f} | {total[-1] - total[fifth]:+.0f} MiB | "
              f"{slope(total):+.1f} MiB/trial | {seconds:.1f} s |", flush=True)
        print(f"  (search process alone: {readings[0]['search']:.0f} -> {readings[-1]['search']:.0f} MiB; "
              f"trial process {min(r['trial_process'] for r in readings):.0f}..."
              f"{max(r['trial_process'] for r in readings):.0f} MiB, its peak RSS up to "
              f"{max(r['peak_rss'] for r in readings):.0f} MiB)", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
