import json
import os
import socket
import subprocess
import sys

import keras_tuner as kt
import pytest

from conftest import labelled_rows, write_corpus, write_csv, write_pairs
from helpers import run_cli
from rnn_tf.cli import main
from rnn_tf.tasks.classify import ClassifyConfig
from rnn_tf.errors import UserError
from rnn_tf.search.run import run_search, train_best
from rnn_tf.search.space import build_space, define

# Tiny models; the space searches a few real choices and drops the slow or irrelevant ones.
SETTINGS = {
    "textgen": dict(embedding_dim=4, layers=1, seq_len=16, batch_size=4, steps_per_epoch=2, val_steps=2,
                    val_fraction=0.34, sample_length=5, temperatures=[1.0]),
    "classify": dict(embedding_dim=4, layers=1, batch_size=8, max_length=12),
    "translate": dict(embedding_dim=4, layers=1, batch_size=8, max_words=None, test_fraction=0.15,
                      val_fraction=0.15),
}
SPACE = {"units": [4, 6], "cell": ["gru", "lstm"], "dropout": None, "clipnorm": None,
         "learning_rate": {"type": "float", "min": 1e-3, "max": 1e-2, "sampling": "log"}}
TASK_SPACE = {"textgen": {}, "classify": {"pooling": None, "bidirectional": None},
              "translate": {"attention": ["bahdanau", "none"], "bidirectional": None}}


def data_settings(task, tmp_path):
    if task == "textgen":
        return {"corpus": str(write_corpus(tmp_path / "corpus"))}
    if task == "classify":
        return {"data": str(write_csv(tmp_path / "reviews.csv"))}
    return {"pairs": str(write_pairs(tmp_path / "fra.txt"))}


def tiny_search(task, tmp_path, tuner="random", max_trials=2, epochs=1, project="project", trials_per_process=0,
                **kwargs):
    """A tiny search; by default its trials run in the test's process (each trial process costs
    seconds to start TensorFlow), which the tests that say so change."""
    settings = {**data_settings(task, tmp_path), **SETTINGS[task], "epochs": epochs, "seed": 5}
    return run_search(task, settings, space_entries={**SPACE, **TASK_SPACE[task]}, tuner=tuner,
                      max_trials=max_trials, project_dir=str(tmp_path / project),
                      trials_per_process=trials_per_process, **kwargs)


def consume(task, run_dir, capsys) -> str:
    """The command a user runs on a trained run folder; returns what it printed."""
    capsys.readouterr()
    if task == "textgen":
        code = main(["textgen", "generate", "--run-dir", run_dir, "--length", "5", "--seed", "1"])
    elif task == "classify":
        code = main(["classify", "predict", "--run-dir", run_dir, "a good and lovely film"])
    else:
        code = main(["translate", "translate", "--run-dir", run_dir, "He is red."])
    assert code == 0
    return capsys.readouterr().out


# Every task with the random tuner and every tuner with classify (the quickest task) on every run;
# the other task x tuner pairs add minutes and nothing the registry does not already share: slow.
# (Hyperband with classify runs in test_trial_processes_train_what_this_process_would, in this process
# and in trial processes.)
TASK_TUNER = [(task, tuner) if (task == "classify" and tuner != "hyperband") or tuner == "random" else
              pytest.param(task, tuner, marks=pytest.mark.slow)
              for task in ("textgen", "classify", "translate") for tuner in ("random", "hyperband", "bayesian")]


@pytest.mark.parametrize("task,tuner", TASK_TUNER)
def test_tiny_search_for_each_task_and_tuner(task, tuner, tmp_path, capsys):
    # classify's random search runs its trials in a trial process (one for the search), the others in
    # this one (each trial process costs seconds to start TensorFlow; every task's worker is the same
    # code, and Hyperband in trial processes: test_trial_processes_train_what_this_process_would)
    result = tiny_search(task, tmp_path, tuner, epochs=2 if tuner == "hyperband" else 1,
                         trials_per_process=5 if (task, tuner) == ("classify", "random") else 0)
    completed = [r for r in result.rows if r["status"] == "COMPLETED"]
    assert 1 <= len(completed) <= 2 and (tuner == "hyperband" or len(completed) == 2)
    assert all(r["score"] is not None and r["score"] == r["score"] for r in completed)  # finite, reported
    out = capsys.readouterr().out
    assert "trials, best first" in out and "trial 0" in out
    best = json.load(open(tmp_path / "project" / "best_hyperparameters.json"))
    assert best["task"] == task and best["values"]["units"] in (4, 6) and best["values"]["cell"] in ("gru", "lstm")
    assert 1e-3 <= best["values"]["learning_rate"] <= 1e-2
    # the best trial scores no worse than any other
    scores = [r["score"] for r in completed]
    assert best["score"] == min(scores)
    if tuner == "random":  # the best configuration retrains into a run folder the task's commands accept
        run_dir = str(tmp_path / "best-run")
        train_best(str(tmp_path / "project"), run_dir)
        saved = json.load(open(os.path.join(run_dir, "config.json")))
        assert {k: saved[k] for k in best["values"]} == best["values"]
        assert consume(task, run_dir, capsys).strip()


def test_interrupted_search_resumes_and_keeps_finished_trials(tmp_path, monkeypatch, capsys):
    """Ctrl-C while a trial process trains trial 1: the child is killed, the search stops, and
    --resume runs that trial again with the values it had been given, keeping trial 0."""
    import signal

    from rnn_tf.search.tuners import SearchTuner

    children = []
    original_end = SearchTuner.on_trial_end

    def end_then_interrupt_soon(self, trial):
        original_end(self, trial)
        children.extend(self.trial_process.pids)
        if trial.trial_id == "0":  # as Ctrl-C half a second into the next trial
            signal.setitimer(signal.ITIMER_REAL, 0.5)

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    monkeypatch.setattr(SearchTuner, "on_trial_end", end_then_interrupt_soon)
    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        with pytest.raises(KeyboardInterrupt):
            tiny_search("classify", tmp_path, max_trials=3, trials_per_process=5)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    monkeypatch.setattr(SearchTuner, "on_trial_end", original_end)
    project = tmp_path / "project"
    first = json.load(open(project / "trial_0" / "trial.json"))
    interrupted = json.load(open(project / "trial_1" / "trial.json"))
    assert first["status"] == "COMPLETED" and interrupted["status"] == "RUNNING"
    assert len(children) == 1 and not _alive(children[0])  # the trial process did not outlive the search

    with pytest.raises(UserError, match="already holds a search"):
        tiny_search("classify", tmp_path, max_trials=3)  # never silently continued or replaced
    with pytest.raises(UserError, match="is not this one"):
        settings = {**data_settings("classify", tmp_path), **SETTINGS["classify"], "epochs": 1, "seed": 5}
        run_search("classify", settings, space_entries={**SPACE, "units": [4, 8]}, max_trials=3,
                   project_dir=str(project), resume=True)

    result = tiny_search("classify", tmp_path, max_trials=3, resume=True)  # in this process: quicker
    assert result.trials_run_here == ["1", "2"]  # the interrupted trial again, then a new one
    assert sorted(r["trial"] for r in result.rows if r["status"] == "COMPLETED") == ["0", "1", "2"]
    assert json.load(open(project / "trial_0" / "trial.json")) == first  # finished trial untouched
    resumed = json.load(open(project / "trial_1" / "trial.json"))["hyperparameters"]["values"]
    assert resumed == interrupted["hyperparameters"]["values"]


def test_trial_processes_train_what_this_process_would(tmp_path):
    """Hyperband in trial processes replaced every 2 trials: the same scores as in this process, and
    trial 3 continues trial 0's weights from a checkpoint another process wrote."""
    here = tiny_search("classify", tmp_path, "hyperband", max_trials=4, epochs=3, project="here")
    best = json.load(open(tmp_path / "here" / "best_hyperparameters.json"))
    assert best["score"] == min(r["score"] for r in here.rows if r["status"] == "COMPLETED")
    apart = tiny_search("classify", tmp_path, "hyperband", max_trials=4, epochs=3, project="apart",
                        trials_per_process=2)
    assert {r["trial"]: r["score"] for r in apart.rows} == {r["trial"]: r["score"] for r in here.rows}
    assert len(apart.rows) == 4 and all(r["status"] == "COMPLETED" for r in apart.rows)
    trial = json.load(open(tmp_path / "apart" / "trial_3" / "trial.json"))["hyperparameters"]["values"]
    assert trial["tuner/trial_id"] == "0" and trial["tuner/initial_epoch"] == 1
    pids = [json.load(open(tmp_path / "apart" / f"trial_{t}" / "trial_process.json"))["pid"] for t in "0123"]
    assert pids[0] == pids[1] != pids[2] == pids[3] and os.getpid() not in pids
    assert not any(_alive(pid) for pid in pids)


def test_trial_process_refuses_changed_data(tmp_path):
    from rnn_tf.search.worker import TrialProcess, TrialProcessError

    data = write_csv(tmp_path / "reviews.csv")
    settings = ClassifyConfig(data=str(data), **SETTINGS["classify"], epochs=1, seed=5).to_dict()
    settings.pop("labels")
    job = {"task": "classify", "settings": settings, "space": {}, "fingerprint": "not this data"}
    process = TrialProcess()
    try:
        with pytest.raises(TrialProcessError, match="the data differs from what the search prepared"):
            process.run(job, str(tmp_path))
    finally:
        process.close()
    assert "RuntimeError: the data differs" in (tmp_path / "trial.log").read_text()


def test_search_space_file_narrows_widens_and_conditions(tmp_path):
    base = ClassifyConfig(data="x.csv").validate()
    path = tmp_path / "space.yaml"
    path.write_text("model: [rnn, cnn]\n"
                    "filters: {type: int, min: 2, max: 8, step: 2, when: {model: cnn}}\n"
                    "cell: {type: choice, values: [gru], when: {model: rnn}}\n"
                    "units: 16\n"
                    "pooling: null\n", encoding="utf-8")
    from rnn_tf.search.space import load_space_file

    space = build_space("classify", base, load_space_file(str(path)), fixed=("dropout",))
    assert "pooling" not in space and "dropout" not in space  # dropped by the file, fixed by a flag
    assert space["units"] == {"type": "fixed", "value": 16}
    assert list(space).index("model") < list(space).index("filters")  # parents first
    hp = kt.HyperParameters()
    values = define(hp, space)
    assert values["model"] == "rnn" and "filters" not in values and values["cell"] == "gru"
    hp.values.update({"model": "cnn", "filters": 6})  # as the oracle sets a trial's values
    values = define(hp, space)
    assert values["model"] == "cnn" and values["filters"] == 6 and "cell" not in values


@pytest.mark.parametrize("entries, message", [
    ({"colour": [1, 2]}, "entry 'colour' is not a setting classify can search"),
    ({"units": {"type": "int", "min": 8, "max": 4}}, "entry 'units' has min 8 above max 4"),
    ({"units": {"type": "int", "min": 0, "max": 4}}, "entry 'units' allows 0"),
    ({"cell": ["gru", "tree"]}, "entry 'cell' allows 'tree'"),
    ({"dropout": {"type": "float", "min": 0.1, "max": 0.5, "sampling": "cubic"}}, "entry 'dropout' has sampling"),
    ({"filters": {"type": "int", "min": 2, "max": 4, "when": {"model": "cnn"}}}, "depends on 'model', which is not"),
    ({"model": ["rnn", "bow"], "filters": {"type": "int", "min": 2, "max": 4, "when": {"model": "cnn"}}},
     "depends on 'model' being ['cnn']"),
    ({"units": {"type": "range"}}, "entry 'units' has type 'range'"),
])
def test_bad_search_space_entries_are_named(entries, message):
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("]", r"\]")):
        build_space("classify", ClassifyConfig(data="x.csv").validate(), entries)


def test_cli_errors_exit_2_with_one_line(tmp_path, capsys):
    data = str(write_csv(tmp_path / "r.csv", labelled_rows(24)))
    common = ["tune", "classify", "--data", data, "--project-dir", str(tmp_path / "p")]
    code, err = run_cli(common + ["--tuner", "grid"], capsys)
    assert code == 2 and "unknown --tuner 'grid'" in err and "\n" not in err
    code, err = run_cli(common + ["--objective", "val_bleu"], capsys)
    assert code == 2 and "--objective 'val_bleu' is not reported by classify" in err
    code, err = run_cli(["tune", "textgen", "--corpus", "x", "--objective", "val_accuracy",
                         "--project-dir", str(tmp_path / "p")], capsys)
    assert code == 2 and "val_accuracy" in err and "use one of loss, val_loss" in err
    bad = tmp_path / "space.json"
    bad.write_text('{"units": [4, 8],\n "cell": ["gru",]}', encoding="utf-8")
    code, err = run_cli(common + ["--search-space", str(bad)], capsys)
    assert code == 2 and "is not valid JSON" in err and "line 2" in err
    bad.write_text('{"units": {"type": "int", "min": 4}}', encoding="utf-8")
    code, err = run_cli(common + ["--search-space", str(bad)], capsys)
    assert code == 2 and "entry 'units' needs 'max'" in err
    code, err = run_cli(common + ["--resume"], capsys)
    assert code == 2 and "holds no search" in err
    code, err = run_cli(common + ["--trials-per-process", "-1"], capsys)
    assert code == 2 and "--trials-per-process -1 is negative" in err
    assert not (tmp_path / "p").exists()  # nothing was created by a refused command

    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "search.json").write_text("{}", encoding="utf-8")
    code, err = run_cli(common, capsys)
    assert code == 2 and "already holds a search" in err
    assert os.listdir(tmp_path / "p") == ["search.json"]
    code, err = run_cli(["tune", "train-best", "--project-dir", str(tmp_path / "p"), "--run-dir",
                         str(tmp_path / "r")], capsys)
    assert code == 2 and "has no best_hyperparameters.json" in err


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is gone too
        return f.read().split(")")[-1].split()[0] != "Z"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # three TensorFlow processes on two cores, beside the other test worker: ~45 s
def test_distributed_search_chief_and_two_workers(tmp_path):
    """keras-tuner's chief/worker protocol on 127.0.0.1: each trial runs once, every process exits."""
    data = write_csv(tmp_path / "r.csv")
    space = tmp_path / "space.json"
    space.write_text(json.dumps({**SPACE, **TASK_SPACE["classify"]}), encoding="utf-8")
    project = tmp_path / "project"
    argv = [sys.executable, "-m", "rnn_tf", "tune", "classify", "--data", str(data), "--epochs", "1",
            "--embedding-dim", "4", "--layers", "1", "--batch-size", "8", "--max-length", "12", "--seed", "5",
            "--search-space", str(space), "--max-trials", "2", "--project-dir", str(project), "--quiet",
            "--trials-per-process", "0"]  # trials in the workers themselves: 2 cores, 3 processes already
    env = {**os.environ, "KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": str(_free_port()),
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    procs = {}
    for tuner_id in ("chief", "tuner0", "tuner1"):
        procs[tuner_id] = subprocess.Popen(argv, env={**env, "KERASTUNER_TUNER_ID": tuner_id},
                                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    outputs = {}
    try:
        for tuner_id, proc in procs.items():
            outputs[tuner_id] = proc.communicate(timeout=240)[0]
    finally:
        for proc in procs.values():
            proc.kill()
    for tuner_id, proc in procs.items():
        assert proc.returncode == 0, outputs[tuner_id][-2000:]
    ran = []
    for worker in ("tuner0", "tuner1"):
        line = [ln for ln in outputs[worker].splitlines() if ln.startswith(f"worker {worker} done: ran trials")]
        assert line, outputs[worker][-2000:]
        ran += [t.strip() for t in line[0].split("ran trials", 1)[1].split(",") if t.strip() != "none"]
    trials = sorted(p.name[len("trial_"):] for p in project.glob("trial_*"))
    assert sorted(ran) == trials == ["0", "1"]  # every trial once, none twice
    for t in trials:
        assert json.load(open(project / f"trial_{t}" / "trial.json"))["status"] == "COMPLETED"
    assert "2 trials, best first" in outputs["chief"]
    assert os.path.isfile(project / "best_hyperparameters.json")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; prctl is Linux's")
def test_a_trial_process_dies_with_its_search(tmp_path):
    """``kill -9`` of the search process: its trial process stops within a second or two instead of
    training on, an orphan, into the trial folder a resumed search is writing."""
    import time

    from rnn_tf.search.worker import TrialProcess

    process = TrialProcess()
    process._start()
    command = process.child.args
    process.close()
    assert command[-1] == str(os.getpid())  # the search passes its PID to the child

    # The search, as an intermediate process that starts a trial process as TrialProcess does, then waits.
    # The trial process's stdin is this test's pipe, so the search's death does not end its job loop: as
    # in the middle of a trial, only the guards can stop it.
    search = ("import os, subprocess, sys, time; r, w = os.pipe(); child = subprocess.Popen([sys.executable, "
              "'-m', 'rnn_tf.search.worker', str(w), '0', str(os.getpid())], pass_fds=(w,)); "
              "print(child.pid, flush=True); time.sleep(60)")
    stdin_r, stdin_w = os.pipe()
    parent = subprocess.Popen([sys.executable, "-c", search], stdin=stdin_r, stdout=subprocess.PIPE, text=True)
    os.close(stdin_r)
    try:
        child = int(parent.stdout.readline())
        time.sleep(1.0)  # the child is up and waiting for its job, as mid-trial
        assert _alive(child)
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 2.0
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child), "the trial process outlived its search"
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()
        os.close(stdin_w)

    # A search that died before the child could ask for the signal: the child exits at once, code 1.
    read_fd, write_fd = os.pipe()
    late = subprocess.run([sys.executable, "-m", "rnn_tf.search.worker", str(write_fd), "0", "1"],
                          pass_fds=(write_fd,), stdin=subprocess.PIPE, timeout=20)
    os.close(read_fd)
    os.close(write_fd)
    assert late.returncode == 1
