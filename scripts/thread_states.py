"""What a process's threads do, window by window: CPU used, time runnable, and the machine's idle share.

    python scripts/thread_states.py PID [--window 0.7]

Reads /proc (Linux): every ``--window`` seconds one line with the whole machine's user, system, idle
and steal shares, the average number of the process's threads that were runnable (sampled every
5 ms), and the three busiest threads (CPU share / share of samples in which they were runnable).
Run it beside ``scripts/step_series.py`` to see what a slow stretch is made of: threads asleep with
the machine idle (waiting on each other) or runnable and not running (the CPU taken elsewhere).
"""

import argparse
import collections
import os
import time


def machine():
    return [int(x) for x in open("/proc/stat").readline().split()[1:]]


def threads(pid):
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            stat = open(f"/proc/{pid}/task/{tid}/stat").read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        out[tid] = (fields[0], int(fields[11]) + int(fields[12]))  # state, utime + stime in ticks
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pid", type=int)
    parser.add_argument("--window", type=float, default=0.7)
    args = parser.parse_args()
    hz, start = os.sysconf("SC_CLK_TCK"), time.time()
    while os.path.exists(f"/proc/{args.pid}"):
        before_machine, before = machine(), threads(args.pid)
        states, samples = collections.Counter(), 0
        end = time.time() + args.window
        while time.time() < end:
            try:
                now = threads(args.pid)
            except FileNotFoundError:
                return
            for tid, (state, _) in now.items():
                states[tid, state] += 1
            samples += 1
            time.sleep(0.005)
        delta = [b - a for a, b in zip(before_machine, machine())]
        total = sum(delta) or 1
        used = {tid: (ticks - before.get(tid, (None, ticks))[1]) / hz / args.window for tid, (_, ticks) in now.items()}
        busiest = sorted(used, key=used.get, reverse=True)[:3]
        runnable = sum(n for (_, state), n in states.items() if state == "R") / samples
        print(f"{time.time() - start:6.1f} s  user {delta[0] / total:4.0%}  system {delta[2] / total:4.0%}  "
              f"idle {delta[3] / total:4.0%}  steal {delta[7] / total:4.0%}  runnable threads {runnable:4.2f}  "
              + "  ".join(f"{tid}: {used[tid]:.0%} cpu / {states[tid, 'R'] / samples:.0%} runnable" for tid in busiest),
              flush=True)


if __name__ == "__main__":
    main()
