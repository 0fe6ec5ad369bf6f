#!/usr/bin/env bash
# The README's translation results: English -> French on a Tatoeba pairs file, no attention vs
# Bahdanau vs Luong, each scored on its test split greedily and with beam search.
#   bash scripts/translate_results.sh PAIRS_FILE [ROW ...]
# e.g. bash scripts/translate_results.sh ../shared/data/translation/fra-eng.txt tut-none tut-bahdanau
# A row whose settings start with "--from ROW" copies that row's run folder and resumes it with the
# rest of the settings (e.g. more --epochs), so ROW must have been run first.
set -euo pipefail
cd "$(dirname "$0")/.."
PAIRS=$1; shift
ROWS="
tut-none           --prefix-filter --max-words 10 --attention none --epochs 30
tut-bahdanau       --prefix-filter --max-words 10 --attention bahdanau --epochs 30
tut-luong-general  --prefix-filter --max-words 10 --attention luong-general --epochs 30
tut45-none         --prefix-filter --max-words 10 --attention none --epochs 45
tut45-bahdanau     --prefix-filter --max-words 10 --attention bahdanau --epochs 45
tut45-luong-general --prefix-filter --max-words 10 --attention luong-general --epochs 45
tut45-luong-dot    --prefix-filter --max-words 10 --attention luong-dot --epochs 45
big-none           --max-words 10 --attention none --epochs 3
big-bahdanau       --max-words 10 --attention bahdanau --epochs 3
big-luong-general  --max-words 10 --attention luong-general --epochs 3
big8-none          --from big-none --epochs 8
big8-bahdanau      --from big-bahdanau --epochs 8
big8-luong-general --from big-luong-general --epochs 8
"
echo "| row | decoding | BLEU | chrF | test sentences | training time | command |"
echo "|---|---|---|---|---|---|---|"
while read -r name args; do
  [ -z "$name" ] && continue
  if [ $# -gt 0 ] && [[ " $* " != *" $name "* ]]; then continue; fi
  if [[ $args == --from* ]]; then
    read -r _ base more <<< "$args"
    if [ ! -f "runs/results/$base/state.json" ]; then
      echo "row $name resumes row $base: run that row first" >&2; exit 2
    fi
    rm -rf "runs/results/$name" && cp -r "runs/results/$base" "runs/results/$name"
    rnn-tf translate train --run-dir "runs/results/$name" --resume $more --quiet > "runs/results-$name.log" 2>&1
  else
    rnn-tf translate train --pairs "$PAIRS" $args --run-dir "runs/results/$name" --seed 1 --quiet --overwrite \
      > "runs/results-$name.log" 2>&1
  fi
  for beam in 1 5; do
    rnn-tf translate evaluate --run-dir "runs/results/$name" --beam-size "$beam" --json > "runs/results/$name/eval-beam$beam.json"
    python - "$name" "$beam" "$args" <<'PY'
import json, sys
name, beam, args = sys.argv[1:]
r = json.load(open(f"runs/results/{name}/eval-beam{beam}.json"))
m = json.load(open(f"runs/results/{name}/metrics.json"))
how = "greedy" if beam == "1" else f"beam {beam}"
if args.startswith("--from"):
    _, base, more = args.split(maxsplit=2)
    command = f"row {base}, then `rnn-tf translate train --run-dir RUN --resume {more}`"
else:
    command = f"`rnn-tf translate train --pairs PAIRS {args} --seed 1`"
print(f"| {name} | {how} | {r['bleu']:.1f} | {r['chrf']:.1f} | {r['sentences']} | {m['training_seconds']:.0f} s | "
      f"{command} |")
PY
  done
done <<< "$ROWS"
