#!/usr/bin/env bash
# The README's classification results table: each row is one `rnn-tf classify train` command, all
# on the same seeded stratified split (seed 1: 80% train, 10% validation, 10% test); the best epoch by
# validation loss is scored on the test split. Needs NLTK's sentence_polarity and movie_reviews
# (NLTK_DATA, or python -m nltk.downloader sentence_polarity movie_reviews).
#   bash scripts/classify_results.sh [ROW ...]     # all rows, or only the named ones
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="
mr-bow            --data nltk:sentence_polarity --model bow --learning-rate 0.01 --epochs 10
mr-cnn            --data nltk:sentence_polarity --model cnn --epochs 5
mr-simple_rnn     --data nltk:sentence_polarity --cell simple_rnn --epochs 5
mr-lstm           --data nltk:sentence_polarity --cell lstm --epochs 5
mr-gru            --data nltk:sentence_polarity --cell gru --epochs 5
mr-bilstm         --data nltk:sentence_polarity --cell lstm --bidirectional --epochs 5
mrev-bow          --data nltk:movie_reviews --model bow --learning-rate 0.01 --epochs 10
mrev-cnn          --data nltk:movie_reviews --model cnn --epochs 10
mrev-simple_rnn   --data nltk:movie_reviews --cell simple_rnn --epochs 10
mrev-lstm         --data nltk:movie_reviews --cell lstm --epochs 10
mrev-gru          --data nltk:movie_reviews --cell gru --epochs 10
mrev-bilstm       --data nltk:movie_reviews --cell lstm --bidirectional --epochs 10
mrev-bilstm-mean  --data nltk:movie_reviews --cell lstm --bidirectional --pooling mean --epochs 10
mrev-bilstm-att   --data nltk:movie_reviews --cell lstm --bidirectional --pooling attention --epochs 10
"
echo "| row | accuracy | macro-F1 | test examples | training time | command |"
echo "|---|---|---|---|---|---|"
while read -r name args; do
  [ -z "$name" ] && continue
  if [ $# -gt 0 ] && [[ " $* " != *" $name "* ]]; then continue; fi
  start=$(date +%s)
  rnn-tf classify train $args --run-dir "runs/results/$name" --seed 1 --quiet --overwrite > "runs/results-$name.log" 2>&1
  seconds=$(( $(date +%s) - start ))
  python - "$name" "$seconds" "$args" <<'PY'
import json, sys
name, seconds, args = sys.argv[1:]
r = json.load(open(f"runs/results/{name}/metrics.json"))
print(f"| {name} | {100 * r['accuracy']:.1f} | {100 * r['macro_f1']:.1f} | {r['examples']} | {seconds} s | "
      f"`rnn-tf classify train {args} --seed 1` |")
PY
done <<< "$ROWS"
