#!/usr/bin/env bash
# 10-fold cross-validation rows (the protocol the literature reports on MR and SUBJ): every row of a
# corpus uses the same seeded stratified folds (--folds 10 --seed 1; each fold keeps 10% of its
# training part for choosing the best epoch), so rows differ only in the model. Pretrained rows need
# runs/movie-w2v.txt from `python scripts/movie_vectors.py` (unlabelled MR, SUBJ and movie_reviews text);
# the -lm row a word-level language model on the same text: `rnn-tf textgen train --corpus runs/movie-text
# --level word --max-vocab 20000 --embedding-dim 100 --units 256 --epochs 3 --steps-per-epoch 300 --val-steps 10
# --seed 1 --run-dir runs/movie-lm` (its cell, units and embedding size are the classifier's).
#   bash scripts/classify_cv.sh [ROW ...]     # all rows, or only the named ones
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="
mr10-bow               --data nltk:sentence_polarity --model bow --learning-rate 0.01 --epochs 10
mr10-bilstm-mean       --data nltk:sentence_polarity --cell lstm --bidirectional --pooling mean --epochs 5
mr10-bilstm-mean-w2v   --data nltk:sentence_polarity --cell lstm --bidirectional --pooling mean --epochs 5 --embeddings runs/movie-w2v.txt
mr10-bilstm-att-w2v    --data nltk:sentence_polarity --cell lstm --bidirectional --pooling attention --dropout 0.5 --epochs 5 --embeddings runs/movie-w2v.txt
mr10-lstm-mean         --data nltk:sentence_polarity --cell lstm --units 256 --embedding-dim 100 --pooling mean --epochs 5
mr10-lstm-mean-lm      --data nltk:sentence_polarity --cell lstm --units 256 --embedding-dim 100 --pooling mean --epochs 5 --init-from runs/movie-lm
subj10-bow             --data nltk:subjectivity --model bow --learning-rate 0.01 --epochs 10
subj10-bilstm-mean     --data nltk:subjectivity --cell lstm --bidirectional --pooling mean --epochs 5
subj10-bilstm-mean-w2v --data nltk:subjectivity --cell lstm --bidirectional --pooling mean --epochs 5 --embeddings runs/movie-w2v.txt
"
echo "| row | accuracy % (mean ± sd of 10 folds) | macro-F1 % | training time | command |"
echo "|---|---|---|---|---|"
while read -r name args; do
  [ -z "$name" ] && continue
  if [ $# -gt 0 ] && [[ " $* " != *" $name "* ]]; then continue; fi
  start=$(date +%s)
  rnn-tf classify train $args --folds 10 --run-dir "runs/cv/$name" --seed 1 --quiet --overwrite > "runs/cv-$name.log" 2>&1
  seconds=$(( $(date +%s) - start ))
  python - "$name" "$seconds" "$args" <<'PY'
import json, sys
name, seconds, args = sys.argv[1:]
r = json.load(open(f"runs/cv/{name}/folds.json"))
print(f"| {name} | {100 * r['accuracy_mean']:.1f} ± {100 * r['accuracy_std']:.1f} | "
      f"{100 * r['macro_f1_mean']:.1f} ± {100 * r['macro_f1_std']:.1f} | {seconds} s | "
      f"`rnn-tf classify train {args} --folds 10 --seed 1` |")
PY
done <<< "$ROWS"
