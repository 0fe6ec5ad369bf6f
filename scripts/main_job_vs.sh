#!/usr/bin/env bash
# The README's main job, timed side by side with an older version of this repo, in turns.
#
#   bash scripts/main_job_vs.sh [REV] [ROUNDS]      (default: df87a51, the version before the fast layers; 2)
#
# Checks REV out into a temporary worktree (its own rnn_tf runs from there: `python -m` puts the
# working directory first), then runs `textgen train --epochs 3 --steps-per-epoch 200 --seed 1` with
# this checkout and with REV, one after the other, ROUNDS times, and prints each wall-clock time and
# the held-out bits per character of each run (`textgen evaluate --json`). Run it on a quiet machine.
set -euo pipefail
rev=${1:-df87a51}
rounds=${2:-2}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'git -C "$here" worktree remove --force "$work/old" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git -C "$here" worktree add --detach "$work/old" "$rev" >/dev/null
for round in $(seq 1 "$rounds"); do
  for version in new old; do
    dir=$here; [ "$version" = old ] && dir=$work/old
    run=$work/run-$version-$round
    start=$(date +%s.%N)
    (cd "$dir" && python -m rnn_tf textgen train --run-dir "$run" --epochs 3 --steps-per-epoch 200 --seed 1 \
       > "$run.log" 2>&1)
    end=$(date +%s.%N)
    bpc=$(cd "$dir" && python -m rnn_tf textgen evaluate --run-dir "$run" --json 2>/dev/null | tail -1 |
          python -c "import json, sys; print(round(json.loads(sys.stdin.read())['bpc'], 4))" || echo "?")
    printf '%s round %s: %.1f s, %s bits/char\n' "$version ($([ "$version" = old ] && echo "$rev" || echo this))" \
      "$round" "$(echo "$end - $start" | bc)" "$bpc"
  done
done
