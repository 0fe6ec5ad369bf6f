"""Rerun the tagging results table of the README: each row is an `rnn-tf tag train` command, run as
written, then its run folder's metrics.json.

    NLTK_DATA=../shared/data/nltk_data python scripts/tag_results.py [--rows NAME ...] [--out runs/tag-results]

Prints one markdown row per run: token accuracy, accuracy on words unseen in training, span F1 (for
IOB chunk tags), training time, and the command.
"""

import argparse
import json
import os
import shlex
import subprocess
import time

EPOCHS = "30 --patience 4"
ROWS = {
    "treebank-most-frequent": "--data nltk:treebank --model most-frequent",
    "treebank-perceptron": "--data nltk:treebank --model perceptron",
    "treebank-simple-rnn": f"--data nltk:treebank --cell simple_rnn --unidirectional --epochs {EPOCHS}",
    "treebank-lstm": f"--data nltk:treebank --unidirectional --epochs {EPOCHS}",
    "treebank-gru": f"--data nltk:treebank --cell gru --unidirectional --epochs {EPOCHS}",
    "treebank-bilstm": f"--data nltk:treebank --epochs {EPOCHS}",
    "treebank-bilstm-chars": f"--data nltk:treebank --char-features --epochs {EPOCHS}",
    "treebank-bilstm-chars-dropout": f"--data nltk:treebank --char-features --dropout 0.5 --epochs {EPOCHS}",
    "treebank-bilstm-chars-lowercase": (f"--data nltk:treebank --char-features --dropout 0.5 --lowercase "
                                        f"--epochs {EPOCHS}"),
    "treebank-bilstm-chars-wide": (f"--data nltk:treebank --char-features --dropout 0.5 --units 256 "
                                   f"--learning-rate 0.002 --epochs {EPOCHS}"),
    "conll2000-most-frequent": "--data nltk:conll2000 --model most-frequent",
    "conll2000-perceptron": "--data nltk:conll2000 --model perceptron",
    "conll2000-simple-rnn": f"--data nltk:conll2000 --feature-columns 1 --cell simple_rnn --unidirectional --epochs {EPOCHS}",
    "conll2000-lstm": f"--data nltk:conll2000 --feature-columns 1 --unidirectional --epochs {EPOCHS}",
    "conll2000-gru": f"--data nltk:conll2000 --feature-columns 1 --cell gru --unidirectional --epochs {EPOCHS}",
    "conll2000-bilstm-pos": f"--data nltk:conll2000 --feature-columns 1 --epochs {EPOCHS}",
    "conll2000-bilstm-pos-chars": f"--data nltk:conll2000 --feature-columns 1 --char-features --epochs {EPOCHS}",
    "conll2000-bilstm-pos-chars-dropout": (f"--data nltk:conll2000 --feature-columns 1 --char-features --dropout 0.5 "
                                           f"--epochs {EPOCHS}"),
    "conll2000-bilstm-pos-chars-wide": (f"--data nltk:conll2000 --feature-columns 1 --char-features --dropout 0.5 "
                                        f"--units 256 --learning-rate 0.002 --lowercase --epochs {EPOCHS}"),
    "conll2000-bilstm-pos-chars-wide-normal": (f"--data nltk:conll2000 --feature-columns 1 --char-features "
                                               f"--dropout 0.5 --units 256 --learning-rate 0.002 --lowercase "
                                               f"--embedding-init normal --epochs {EPOCHS}"),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="+", choices=list(ROWS), default=list(ROWS))
    parser.add_argument("--out", default="runs/tag-results", help="parent folder of the run folders")
    args = parser.parse_args()
    for name in args.rows:
        run_dir = os.path.join(args.out, name)
        command = f"rnn-tf tag train {ROWS[name]} --seed 1 --run-dir {run_dir} --overwrite --quiet"
        started = time.perf_counter()
        subprocess.run(shlex.split(command), check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - started
        with open(os.path.join(run_dir, "metrics.json"), encoding="utf-8") as f:
            m = json.load(f)
        span = "-" if m.get("span_f1") is None else f"{100 * m['span_f1']:.2f}"
        unseen = "-" if m.get("unseen_accuracy") is None else f"{100 * m['unseen_accuracy']:.2f}"
        print(f"| {name} | {100 * m['accuracy']:.2f} | {unseen} ({m['unseen_tokens']:,} tokens) | {span} | "
              f"{seconds:.0f} s | `{command}` |", flush=True)


if __name__ == "__main__":
    main()
