"""``--strategy``: training under tf.distribute. Two worker processes on 127.0.0.1 train a tiny run,
stop together when a time budget runs out on either, resume to the end; the chief's run folder is
complete and the result is a single process's with the same global batch; a worker that dies stops the
others with one line."""

import csv
import json
import os
import socket
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from conftest import TINY, labelled_rows, write_corpus, write_csv, write_pairs
from helpers import assert_user_error, train_run
from rnn_tf.runcheck import check_run
from test_tag import TINY_TAG, write_conll

# Dropout off: each replica draws its own masks, so only a run without dropout can equal one process's.
SETTINGS = dict(units=4, embedding_dim=4, batch_size=8, seed=3, max_length=12, dropout=0.0, clipnorm=0.05)


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def start_workers(argv: list[str], ports: list[int], cwd) -> list[subprocess.Popen]:
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    return [subprocess.Popen([sys.executable, "-m", "rnn_tf", *argv, "--strategy", "multi-worker", "--quiet"],
                             cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster,
                                                                        "task": {"type": "worker", "index": i}})})
            for i in range(len(ports))]


def finish(workers, timeout=240) -> list[tuple[int, str, str]]:
    out = []
    for w in workers:
        try:
            stdout, stderr = w.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for other in workers:
                other.kill()
            raise AssertionError("the workers hung")
        out.append((w.returncode, stdout, stderr))
    return out


def weights(path) -> dict:
    found = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, item: found.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None)
    return found


def assert_same_run(multi, single):
    a, b = weights(multi / "best.weights.h5"), weights(single / "best.weights.h5")
    assert a.keys() == b.keys() and a
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-4, atol=1e-6, err_msg=name)
    rows = lambda run: list(csv.DictReader(open(run / "history.csv")))  # noqa: E731
    for ra, rb in zip(rows(multi), rows(single), strict=True):
        for key in set(ra) - {"seconds"}:
            np.testing.assert_allclose(float(ra[key]), float(rb[key]), rtol=1e-4, atol=1e-6, err_msg=key)


def where(run) -> tuple:
    state = json.loads((run / "state.json").read_text())
    return state["epoch"], (state.get("partial") or {}).get("steps_done")


def test_two_workers_stop_together_and_resume_as_one_process_does(tmp_path):
    data = write_csv(tmp_path / "reviews.csv", labelled_rows(60))
    flags = ["--data", str(data), "--units", "4", "--embedding-dim", "4", "--batch-size", "8", "--seed", "3",
             "--max-length", "12", "--dropout", "0", "--clipnorm", "0.05"]  # clipping at work: norms ~0.3
    argv = ["classify", "train", *flags, "--run-dir", "multi"]
    # A one-second budget runs out on one worker or the other within the first steps: both stop after the same one.
    for code, _, err in finish(start_workers([*argv, "--epochs", "3", "--max-time", "1s"], free_ports(2), tmp_path)):
        assert code == 0, err[-3000:]
    assert where(tmp_path / "multi") == where(tmp_path / "multi.worker-1")
    assert not (tmp_path / "multi" / "metrics.json").exists()  # cut: scored when it ends
    for code, _, err in finish(start_workers([*argv, "--epochs", "3", "--resume"], free_ports(2), tmp_path)):
        assert code == 0, err[-3000:]
    report = check_run(str(tmp_path / "multi"))
    assert report["complete"] == [1, 2, 3] and not report["problems"]
    assert (tmp_path / "multi" / "metrics.json").is_file() and (tmp_path / "multi.worker-1").is_dir()
    train_run("classify", tmp_path / "single", {"data": str(data), **SETTINGS, "epochs": 3})
    assert_same_run(tmp_path / "multi", tmp_path / "single")


@pytest.mark.parametrize("task", ["classify", *(pytest.param(t, marks=pytest.mark.slow)  # the same lifecycle: slow
                                               for t in ("textgen", "translate", "tag"))])
def test_mirrored_on_this_machine_is_one_process(task, tmp_path):
    data = {"classify": lambda: {"data": str(write_csv(tmp_path / "reviews.csv", labelled_rows(40))), **SETTINGS},
            "textgen": lambda: {"corpus": str(write_corpus(tmp_path / "corpus")), **TINY, "dropout": 0.0},
            "translate": lambda: {"pairs": str(write_pairs(tmp_path / "fra.txt")), "units": 8, "embedding_dim": 6,
                                  "batch_size": 4, "seed": 2},
            "tag": lambda: {"data": str(write_conll(tmp_path / "train.conll")), **TINY_TAG}}[task]()
    base = {**data, "epochs": 1}
    plain = train_run(task, tmp_path / "plain", base)
    mirrored = train_run(task, tmp_path / "mirrored", {**base, "strategy": "mirrored"})
    assert mirrored.history[0]["loss"] == pytest.approx(plain.history[0]["loss"], rel=1e-5)
    assert json.loads((tmp_path / "mirrored" / "config.json").read_text())["strategy"] == "mirrored"


def test_a_cluster_that_cannot_be_read_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    data = write_csv(tmp_path / "reviews.csv", labelled_rows(20))
    argv = ["classify", "train", "--data", str(data), "--run-dir", str(tmp_path / "run"), "--strategy", "multi-worker"]
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert_user_error(argv, capsys, "TF_CONFIG, which is not set")
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 3}}')
    assert_user_error(argv, capsys, "TF_CONFIG is not a cluster")
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_a_worker_that_dies_stops_the_others_with_one_line(tmp_path):
    data = write_csv(tmp_path / "reviews.csv", labelled_rows(60))
    argv = ["classify", "train", "--data", str(data), "--run-dir", "multi", "--epochs", "400", "--units", "4",
            "--batch-size", "8", "--seed", "3"]
    chief, worker = start_workers(argv, free_ports(2), tmp_path)
    deadline = time.time() + 120
    while not (tmp_path / "multi" / "checkpoints").is_dir() or not list((tmp_path / "multi" / "checkpoints").iterdir()):
        assert time.time() < deadline and chief.poll() is None, "the chief never committed an epoch"
        time.sleep(0.5)
    worker.kill()
    code, _, err = finish([chief], timeout=180)[0]
    assert code == 2 and "a worker of the cluster stopped" in err and "--resume" in err, err[-2000:]
    assert check_run(str(tmp_path / "multi"))["complete"]
    # Both go on: from the same epoch, or (the worker died between the chief's commit and its own) they say so.
    epochs = str(check_run(str(tmp_path / "multi"))["epoch"] + 2)
    resume = ["classify", "train", "--data", str(data), "--run-dir", "multi", "--epochs", epochs, "--resume"]
    chief, worker = start_workers(resume, free_ports(2), tmp_path)
    for code, _, err in finish([chief, worker]):
        assert code == 0 or (code == 2 and "stand at different points" in err), err[-2000:]
