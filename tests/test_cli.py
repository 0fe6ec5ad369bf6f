"""The command line, run in-process: every command, its JSON output, and exit code 2 for user errors."""

import json
import os

import pytest

from conftest import write_corpus
from helpers import exit_code
from rnn_tf.cli import main

TINY_FLAGS = ["--units", "8", "--embedding-dim", "4", "--seq-len", "16", "--batch-size", "4",
              "--steps-per-epoch", "3", "--sample-length", "10", "--seed", "3", "--quiet"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("cli")
    corpus = write_corpus(base / "corpus")
    run_dir = base / "run"
    assert main(["textgen", "train", "--corpus", str(corpus), "--epochs", "1", "--run-dir", str(run_dir),
                 *TINY_FLAGS]) == 0
    return run_dir, corpus


def test_train_then_resume(run, capsys):
    run_dir, _ = run
    assert main(["textgen", "train", "--run-dir", str(run_dir), "--resume", "--epochs", "2", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "resuming" in out and "epoch 2:" in out and "samples after epoch 2" in out


def test_generate_is_reproducible_and_prints_json(run, capsys):
    run_dir, _ = run
    args = ["textgen", "generate", "--run-dir", str(run_dir), "--length", "20", "--temperature", "0.5", "1.2",
            "--num-samples", "2", "--top-k", "5", "--top-p", "0.9", "--seed", "9", "--json"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out) == first
    assert [s["temperature"] for s in first["samples"]] == [0.5, 0.5, 1.2, 1.2]
    assert first["prime"].startswith("Fellow") and all(len(s["text"]) == 20 for s in first["samples"])


def test_generate_plain_text_with_a_prime(run, capsys):
    assert main(["textgen", "generate", "--run-dir", str(run[0]), "--prime", "The ", "--length", "5",
                 "--weights", "last"]) == 0
    assert "--- temperature 1\nThe " in capsys.readouterr().out


def test_evaluate_json_reports_loss_bits_perplexity_and_characters(run, capsys):
    import math

    assert main(["textgen", "evaluate", "--run-dir", str(run[0]), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {"loss", "bpc", "perplexity", "characters"} <= set(result)
    assert result["bpc"] == pytest.approx(result["loss"] / math.log(2))
    assert result["perplexity"] == pytest.approx(math.exp(result["loss"]))
    assert result["characters"] > 100
    corpus_file = next(run[1].glob("*.txt"))
    assert main(["textgen", "evaluate", "--run-dir", str(run[0]), "--corpus", str(corpus_file)]) == 0
    assert "bits/char" in capsys.readouterr().out


@pytest.mark.parametrize("args, match", [
    (["textgen", "train", "--corpus", "/no/such.txt", "--run-dir", "{tmp}/new"], "corpus '/no/such.txt' not found"),
    (["textgen", "train", "--cell", "lstn"], "invalid choice: 'lstn'"),
    (["textgen", "train", "--units", "many"], "invalid int value"),
    (["textgen", "train", "--run-dir", "{run}"], "not empty"),
    (["textgen", "train", "--run-dir", "{run}", "--resume", "--units", "99"], "--units 99 differs"),
    (["textgen", "train", "--resume"], "--resume needs --run-dir"),
    (["textgen", "train", "--corpus", "{corpus}", "--seq-len", "100000", "--run-dir", "{tmp}/new"],
     "shorter than one window"),
    (["textgen", "generate", "--run-dir", "{run}", "--temperature", "0"], "temperature 0.0 is not above 0"),
    (["textgen", "generate", "--run-dir", "{tmp}/nothing"], "not a run folder"),
    (["textgen", "generate", "--run-dir", "{run}", "--weights", "{tmp}/no.weights.h5"], "not found"),
    (["textgen", "evaluate", "--run-dir", "{run}", "--corpus", "/no/such/dir/"], "not found"),
])
def test_user_errors_print_one_line_and_exit_2(run, tmp_path, capsys, args, match):
    args = [a.format(tmp=tmp_path, run=run[0], corpus=run[1]) for a in args]
    assert exit_code(args) == 2
    err = capsys.readouterr().err.strip()
    assert match in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "new").exists()


def test_every_command_has_help(capsys):
    for command in (["textgen", "train"], ["textgen", "generate"], ["textgen", "evaluate"]):
        with pytest.raises(SystemExit) as exit_:
            main([*command, "--help"])
        assert exit_.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--steps-per-epoch", "--clipnorm", "--top-p", "--num-samples", "--json", "--weights"):
        assert flag in out


def test_every_command_in_the_readme_parses():
    """The README is the manual: each `rnn-tf ...` line in it must be a command the CLI accepts."""
    import re
    import shlex

    from rnn_tf.cli import build_parser

    readme = open(os.path.join(os.path.dirname(__file__), "..", "README.md"), encoding="utf-8").read()
    commands = re.findall(r"^(?:.*\| )?rnn-tf (.*)$", readme, re.M)
    assert len(commands) >= 30
    parser = build_parser()
    for command in commands:
        try:
            parser.parse_args(shlex.split(command))
        except SystemExit:
            pytest.fail(f"README command does not parse: rnn-tf {command}")


@pytest.mark.parametrize("task", ["classify", "classify-finite", "translate"])
def test_every_task_follows_one_divergence_policy(task, tmp_path, capsys):
    """A loss that stops being finite, or rises far above an untrained model's (an LSTM's saturated
    softmax keeps a blown-up loss finite, near 1e30): training stops, the bad epoch is not saved, the
    command says so in one line and exits with code 1 (as textgen does), and no test scores are written."""
    from conftest import write_csv, write_pairs

    if task.startswith("classify"):
        cell = "irnn" if task == "classify" else "lstm"
        data = ["--data", str(write_csv(tmp_path / "reviews.csv")), "--cell", cell, "--units", "4"]
        task = "classify"
    else:
        data = ["--pairs", str(write_pairs(tmp_path / "pairs.txt")), "--units", "8"]
    run_dir = tmp_path / "run"
    code = exit_code([task, "train", *data, "--run-dir", str(run_dir), "--learning-rate", "1e30",
                      "--clipnorm", "0", "--epochs", "3", "--embedding-dim", "4", "--batch-size", "8",
                      "--seed", "3", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and "training diverged" in err and len(err.splitlines()) == 1, err
    assert not (run_dir / "checkpoints" / "epoch-001.weights.h5").exists()
    assert not (run_dir / "metrics.json").exists()
