"""What survives what: a fault matrix on a finished run folder. Every damaged or tampered run file,
for every command that reads it, is one line on stderr and exit code 2, with nothing in the folder
written; and the faults a running process meets (a second writer, a full disk, SIGTERM, leftovers
of a killed writer) leave every committed epoch as it was."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import TINY, write_corpus
from helpers import exit_code, train_run
from rnn_tf.runs import RunDir


def fingerprint(folder):
    """Relative path -> bytes of every file below ``folder``: proves that nothing was written."""
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, folder)] = f.read()
    return out


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished two-epoch textgen run, copied by each test that changes it."""
    base = tmp_path_factory.mktemp("finished")
    corpus = write_corpus(base / "corpus")
    train_run("textgen", base / "run", {"corpus": str(corpus), **TINY, "epochs": 2})
    return base / "run"


@pytest.fixture
def run_copy(finished, tmp_path):
    shutil.copytree(finished, tmp_path / "run")
    return tmp_path / "run"


def rewrite_json(path, change):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(change(data), f)


def swap_two_tokens(vocab):
    tokens = vocab["tokens"]
    tokens[2], tokens[3] = tokens[3], tokens[2]
    return vocab


FAULTS = {
    "missing": lambda p: os.remove(p),
    "empty": lambda p: open(p, "w").close(),
    "random bytes": lambda p: open(p, "wb").write(os.urandom(64) + b"\xff\xfe"),
    "a JSON list": lambda p: open(p, "w").write("[1, 2, 3]"),
}
TAMPERED = {
    ("state.json", "epoch is text"): lambda p: rewrite_json(p, lambda d: {**d, "epoch": "three"}),
    ("state.json", "best epoch after the last"): lambda p: rewrite_json(p, lambda d: {**d, "best_epoch": 9}),
    ("config.json", "units is text"): lambda p: rewrite_json(p, lambda d: {**d, "units": "16"}),
    ("config.json", "units changed"): lambda p: rewrite_json(p, lambda d: {**d, "units": 9}),
    ("config.json", "unknown setting"): lambda p: rewrite_json(p, lambda d: {**d, "colour": "red"}),
    ("vocab.json", "two tokens swapped"): lambda p: rewrite_json(p, swap_two_tokens),
    ("vocab.json", "no <pad> first"): lambda p: rewrite_json(p, lambda d: {**d, "tokens": d["tokens"][1:]}),
    ("vocab.json", "a token of two characters"): lambda p: rewrite_json(
        p, lambda d: {**d, "tokens": d["tokens"] + ["ab"]}),
    ("checkpoints/epoch-002.weights.h5", "random bytes"): lambda p: open(p, "r+b").write(os.urandom(256)),
}
CASES = [(name, fault) for name in ("state.json", "config.json", "vocab.json") for fault in FAULTS
         if (name, fault) != ("state.json", "missing")] + list(TAMPERED)
COMMANDS = {
    "resume": lambda run: ["textgen", "train", "--run-dir", run, "--resume", "--epochs", "3", "--quiet"],
    "generate": lambda run: ["textgen", "generate", "--run-dir", run, "--length", "5", "--weights", "last"],
    "evaluate": lambda run: ["textgen", "evaluate", "--run-dir", run, "--weights", "last"],
    "check": lambda run: ["runs", "check", run],
}


@pytest.mark.parametrize("name,fault", CASES, ids=[f"{n}: {f}" for n, f in CASES])
def test_a_damaged_run_file_is_one_line_and_exit_2_for_every_command(run_copy, capsys, name, fault):
    path = str(run_copy / name)
    (TAMPERED.get((name, fault)) or FAULTS[fault])(path)
    before = fingerprint(run_copy)
    for command, argv in COMMANDS.items():
        code = exit_code(argv(str(run_copy)))
        err = capsys.readouterr().err.strip()
        assert code == 2 and err.startswith("error: ") and len(err.splitlines()) == 1, (command, err)
        assert fingerprint(run_copy) == before, command


def test_resuming_without_state_json_is_refused(run_copy, capsys):
    os.remove(run_copy / "state.json")
    assert exit_code(COMMANDS["resume"](str(run_copy))) == 2
    assert "no completed epoch to resume" in capsys.readouterr().err


def test_a_changed_file_is_named(run_copy, capsys):
    rewrite_json(str(run_copy / "vocab.json"), swap_two_tokens)
    assert exit_code(COMMANDS["generate"](str(run_copy))) == 2
    assert "vocab.json changed since epoch 2 was saved" in capsys.readouterr().err


def test_runs_check_reports_complete_epochs_and_what_a_resume_cleans_up(run_copy, capsys):
    assert exit_code(["runs", "check", str(run_copy), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["complete"] == [1, 2] and report["fingerprinted"] and not report["problems"]
    (run_copy / "checkpoints" / "epoch-003.partial-999.weights.h5").write_bytes(b"half")
    (run_copy / "state.json.999.tmp").write_text("{")
    assert exit_code(["runs", "check", str(run_copy), "--json"]) == 0
    assert sorted(json.loads(capsys.readouterr().out)["cleanup"]) == [
        "checkpoints/epoch-003.partial-999.weights.h5", "state.json.999.tmp"]


def test_a_second_writer_is_refused_at_once_naming_the_first(run_copy, capsys):
    from rnn_tf.locks import FolderLock

    with FolderLock(str(run_copy), "run"):  # another process's training, as far as flock can tell
        started = time.perf_counter()
        assert exit_code(COMMANDS["resume"](str(run_copy))) == 2
        assert time.perf_counter() - started < 5
    err = capsys.readouterr().err
    assert "is in use by another rnn-tf process (PID" in err and len(err.strip().splitlines()) == 1


def test_a_full_disk_at_save_keeps_every_committed_epoch_and_the_next_resume_is_clean(run_copy, capsys, monkeypatch):
    import collections

    from rnn_tf import callbacks

    committed = {k: v for k, v in fingerprint(run_copy).items()
                 if k.startswith("checkpoints") or k in ("state.json", "history.csv", "vocab.json")}
    full = collections.namedtuple("usage", "total used free")(10**9, 10**9, 1000)
    monkeypatch.setattr(callbacks.shutil, "disk_usage", lambda path: full)
    assert exit_code(COMMANDS["resume"](str(run_copy))) == 2
    err = capsys.readouterr().err.strip()
    assert "No space left on device" in err and len(err.splitlines()) == 1, err
    after = fingerprint(run_copy)
    assert {k: after[k] for k in committed} == committed
    assert not [k for k in after if "partial" in k or k.endswith(".tmp")]

    monkeypatch.undo()
    result = train_run("textgen", run_copy, {"epochs": 3}, resume=True)
    assert [r["epoch"] for r in result.history] == ["1", "2", "3"]
    samples = (run_copy / "samples.txt").read_text(encoding="utf-8")
    assert [samples.count(f"samples after epoch {k} ") for k in (1, 2, 3)] == [1, 1, 1]


def test_a_resume_cleans_up_after_a_killed_writer(run_copy):
    leftovers = [run_copy / "checkpoints" / "epoch-003.partial-999.weights.h5", run_copy / "state.json.999.tmp"]
    for path in leftovers:
        path.write_bytes(b"half")
    with open(run_copy / "samples.txt", "a", encoding="utf-8") as f:  # sampled, then killed before the commit
        f.write("\n----- samples after epoch 3 (prime 'x') -----\nnever committed\n")
    train_run("textgen", run_copy, {"epochs": 3}, resume=True)
    assert not any(path.exists() for path in leftovers)
    samples = (run_copy / "samples.txt").read_text(encoding="utf-8")
    assert "never committed" not in samples and samples.count("samples after epoch 3 ") == 1


def test_sigterm_stops_training_with_its_own_message_and_exit_143(tmp_path, finished):
    run_dir = tmp_path / "run"
    corpus = write_corpus(tmp_path / "corpus")
    argv = [sys.executable, "-m", "rnn_tf", "textgen", "train", "--run-dir", str(run_dir), "--corpus", str(corpus),
            "--units", "8", "--embedding-dim", "4", "--seq-len", "16", "--batch-size", "4",
            "--steps-per-epoch", "3", "--sample-length", "10", "--epochs", "10000", "--seed", "7", "--quiet"]
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    deadline = time.time() + 120
    while not (run_dir / "state.json").exists() and time.time() < deadline and child.poll() is None:
        time.sleep(0.2)
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 143, err
    assert "terminated (SIGTERM); completed epochs are saved" in err
    epoch = RunDir(str(run_dir)).read_state()["epoch"]
    assert epoch >= 1 and len(RunDir(str(run_dir)).read_history()) == epoch


def task_data(task, tmp_path):
    from conftest import write_csv, write_pairs

    return {"textgen": lambda: ["--corpus", str(write_corpus(tmp_path / "corpus")), "--seq-len", "16", "--batch-size", "4"],
            "classify": lambda: ["--data", str(write_csv(tmp_path / "reviews.csv"))],
            "translate": lambda: ["--pairs", str(write_pairs(tmp_path / "pairs.txt"))]}[task]()


@pytest.mark.parametrize("task", ["textgen", "classify", "translate"])
def test_a_model_too_big_for_memory_is_refused_before_anything_is_allocated(task, tmp_path, capsys):
    run_dir = tmp_path / "run"
    code = exit_code([task, "train", *task_data(task, tmp_path), "--run-dir", str(run_dir),
                      "--units", "100000000", "--epochs", "1", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "parameters" in err and "GiB of memory available" in err and len(err.splitlines()) == 1
    assert not run_dir.exists()


def test_a_run_folder_below_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "a-file").write_text("not a folder")
    code = exit_code(["textgen", "train", *task_data("textgen", tmp_path), "--run-dir", str(tmp_path / "a-file" / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "cannot create run folder" in err and len(err.splitlines()) == 1, err


@pytest.mark.parametrize("fault", ["random bytes", "a JSON list"])
def test_a_damaged_history_is_one_line_on_resume(run_copy, capsys, fault):
    FAULTS[fault](str(run_copy / "history.csv"))
    before = fingerprint(run_copy)
    assert exit_code(COMMANDS["resume"](str(run_copy))) == 2
    err = capsys.readouterr().err.strip()
    assert "history.csv' is damaged" in err and len(err.splitlines()) == 1, err
    assert fingerprint(run_copy) == before


@pytest.mark.slow
def test_kill_9_at_random_moments_then_resume_matches_an_uninterrupted_run(tmp_path):
    """The hard case, at random: `kill -9` a training process again and again (mid-step, mid-save,
    mid-sampling), resume each time, and compare with a run that was never interrupted: every history
    row and every weight array, dropout on."""
    import random

    import h5py
    import numpy as np

    corpus = write_corpus(tmp_path / "corpus")
    base = [sys.executable, "-m", "rnn_tf", "textgen", "train", "--corpus", str(corpus), "--units", "16",
            "--layers", "2", "--dropout", "0.2", "--embedding-dim", "4", "--seq-len", "16", "--batch-size", "4",
            "--steps-per-epoch", "40", "--sample-length", "20", "--epochs", "6", "--seed", "7", "--quiet"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    subprocess.run(base + ["--run-dir", str(straight)], check=True, **quiet)

    rng, kills = random.Random(0), 0
    while RunDir(str(killed)).read_state()["epoch"] < 6:
        resume = (killed / "state.json").exists()
        child = subprocess.Popen(base + ["--run-dir", str(killed), "--resume" if resume else "--overwrite"], **quiet)
        if kills < 8:
            time.sleep(rng.uniform(4.0, 12.0))
            if child.poll() is None:
                child.kill()
                kills += 1
        child.wait()
    assert kills >= 3

    rows = lambda run: [{k: v for k, v in r.items() if k != "seconds"} for r in RunDir(str(run)).read_history()]  # noqa: E731
    assert rows(killed) == rows(straight)

    def arrays(path):
        out = {}
        with h5py.File(path, "r") as f:
            f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
        return out

    a, b = arrays(RunDir(str(killed)).checkpoint(6)), arrays(RunDir(str(straight)).checkpoint(6))
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_a_second_search_of_one_folder_is_refused(tmp_path, capsys):
    from conftest import write_csv

    from rnn_tf.locks import FolderLock

    project = tmp_path / "search"
    with FolderLock(str(project), "search"):
        code = exit_code(["tune", "classify", "--data", str(write_csv(tmp_path / "reviews.csv")),
                          "--project-dir", str(project), "--max-trials", "1", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "search folder" in err and "in use by another rnn-tf process" in err, err
    assert not project.exists()  # the lock's folder goes with it; the refused search wrote nothing
