"""Search trials in processes of their own, so that a search's memory stays flat.

TensorFlow keeps the traced graphs of every ``fit`` alive for the life of the process, even after
``keras.backend.clear_session()`` (about 20 MiB per tiny trial here; keras-team/keras#17458,
tensorflow#61791). A search that runs its trials in a child process, and replaces that child every
N trials, gives all of it back to the operating system when the child exits.

    search process (TrialProcess)                     trial process (python -m rnn_tf.search.worker)
    one job per line on the child's stdin:         -> prepares the task's data (once per process),
    task settings, search space, the trial's          builds the trial's model with the same
    hyperparameters, fit arguments, file paths        TaskHyperModel, (Hyperband: loads the earlier
                                                      trial's weights), fits, saves the best epoch's
                                                      weights where keras-tuner expects them
    reads the result file                         <-  writes ``trial_process.json`` in the trial's
                                                      folder, then a line on the "done" pipe

A child that dies mid-trial (killed, out of memory) closes the "done" pipe: the search records the
trial as failed and starts a new child for the next one.

A search that dies (``kill -9``, a lost terminal) takes its child with it. Otherwise the orphan would
go on training for the rest of its trial, writing checkpoints and a result into the very trial folder
that a resumed search's new child is writing. Three guards, because none is enough alone:
  * on Linux the child asks the kernel for SIGKILL when its parent dies (``prctl(PR_SET_PDEATHSIG)``):
    immediate, even in the middle of a long TensorFlow call. (The kernel ties it to the parent
    *thread* that started the child; the search starts children from the thread it runs in.)
  * that request races with a parent that died before it was made, so the parent passes its PID on
    the command line and the child exits at once if ``os.getppid()`` is already another process;
  * everywhere (macOS has no prctl), a daemon thread checks ``os.getppid()`` every half second: an
    orphan is adopted by another process, so a changed parent PID means the search is gone.
The child exits with ``os._exit(1)``, and checks once more before it writes a result: an orphan writes
no result file, no "done" line, nothing more in the trial folder.

The child builds what the search process would: the task (from the registry, by the job's name),
its data (``Task.prepare_search``) and the trial's model (``search.hypermodel``). It never imports
the tuners, which import this module.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
import time

from rnn_tf.runs import write_atomic

RESULT_FILE = "trial_process.json"


class TrialProcessError(RuntimeError):
    """The trial process failed; keras-tuner records the trial as failed."""


class TrialProcess:
    """A child process that runs trial jobs; replaced after ``trials_per_process`` jobs."""

    def __init__(self, trials_per_process: int = 1, verbose: int = 0):
        self.trials_per_process, self.verbose = trials_per_process, verbose
        self.child: subprocess.Popen | None = None
        self.done = None  # read end of the pipe the child writes one line to per finished job
        self.jobs_run = 0
        self.pids: list[int] = []  # every child started, for tests and reports

    def _start(self) -> None:
        read_fd, write_fd = os.pipe()
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
        self.child = subprocess.Popen(
            [sys.executable, "-m", "rnn_tf.search.worker", str(write_fd), "1" if self.verbose else "0",
             str(os.getpid())],  # the child dies with this process (see the module docstring)
            stdin=subprocess.PIPE, pass_fds=(write_fd,), env=env)
        os.close(write_fd)
        self.done = os.fdopen(read_fd, "r")
        self.jobs_run = 0
        self.pids.append(self.child.pid)

    def run(self, job: dict, trial_dir: str) -> dict:
        """Run one build + fit (``job``) in the child; its result: history, best_value, peak_rss_mib, pid."""
        result_path = os.path.join(trial_dir, RESULT_FILE)
        if os.path.exists(result_path):
            os.remove(result_path)
        if self.child is None or self.jobs_run >= self.trials_per_process or self.child.poll() is not None:
            self.close()
            self._start()
        self.jobs_run += 1
        try:
            self.child.stdin.write(json.dumps({**job, "result": result_path, "log": os.path.join(
                trial_dir, "trial.log")}).encode() + b"\n")
            self.child.stdin.flush()
            finished = self.done.readline()  # empty: the child died
        except BrokenPipeError:
            finished = ""
        except BaseException:  # Ctrl-C or an error here: never leave the child running
            self.close(kill=True)
            raise
        if not finished:
            code = self.child.wait()
            self.close()
            where = "" if self.verbose else f"; its output is in {os.path.join(trial_dir, 'trial.log')}"
            raise TrialProcessError(f"the trial process exited with code {code} in the middle of the trial{where}")
        with open(result_path, encoding="utf-8") as f:
            result = json.load(f)
        if "error" in result:
            raise TrialProcessError(f"in the trial process: {result['error']}")
        return result

    def close(self, kill: bool = False) -> None:
        """Let the child finish (it exits when its stdin closes), or kill it."""
        if self.child is None:
            return
        try:
            if kill:
                self.child.kill()
            else:
                self.child.stdin.close()
            self.child.wait(timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            self.child.kill()
            self.child.wait()
        self.done.close()
        self.child = self.done = None


def pss_mib() -> float:
    """This process's proportional set size: its private memory plus its share of pages (TensorFlow's
    libraries) mapped by other processes too, so that PSS adds up across processes and RSS does not."""
    try:
        with open("/proc/self/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024
    except OSError:  # not Linux
        pass
    return float("nan")


# --- the child side ---------------------------------------------------------------------------------
PARENT_CHECK_SECONDS = 0.5


def die_with_parent(parent_pid: int) -> None:
    """Exit as soon as the search process ``parent_pid`` is gone (the three guards of the docstring)."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        PR_SET_PDEATHSIG = 1
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no prctl in this libc: the thread below still watches
            pass
    if os.getppid() != parent_pid:  # the parent died before prctl: no signal will ever come
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


_prepared: dict = {}  # the task's data, prepared once per process


def run_job(job: dict) -> dict:
    """Build and fit one execution of a trial, as ``keras_tuner.Tuner._build_and_fit_model`` does."""
    import keras
    import keras_tuner as kt
    from keras_tuner.src.engine.tuner_utils import SaveBestEpoch

    from rnn_tf.search.hypermodel import TaskHyperModel, continue_trial
    from rnn_tf.tasks import get_task

    key = json.dumps([job["task"], job["settings"]], sort_keys=True)
    if key not in _prepared:
        _prepared.clear()
        task = get_task(job["task"])
        _prepared[key] = task.prepare_search(task.config(**job["settings"]).validate())
    data = _prepared[key]
    if data.fingerprint != job["fingerprint"]:
        raise RuntimeError(f"the data differs from what the search prepared ({data.description}): "
                           "was the data file changed during the search? Restore it, then --resume")
    keras.backend.clear_session()
    hypermodel = TaskHyperModel(data, job["space"])
    hp = kt.HyperParameters.from_config(job["hyperparameters"])
    model = hypermodel.build(hp)
    if job.get("load"):  # Hyperband: continue from an earlier trial's best epoch
        continue_trial(model, job["load"]["build_config"], job["load"]["checkpoint"])
    save_best = SaveBestEpoch(kt.Objective(*job["objective"]), job["checkpoint"])
    save_best.best_value = job["best_value"]  # the best over this trial's earlier executions
    history = hypermodel.fit(hp, model, **data.fit_kwargs(), **job["fit"], callbacks=[save_best])
    with open(job["build_config"], "w", encoding="utf-8") as f:
        json.dump(model.get_build_config(), f)
    return {"history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
            "best_value": float(save_best.best_value)}


def _log_to(path: str) -> None:
    """Send this process's output (Python's and TensorFlow's) to ``path``."""
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def main(done_fd: int, verbose: bool, parent_pid: int | None = None) -> int:
    parent_pid = os.getppid() if parent_pid is None else parent_pid
    die_with_parent(parent_pid)
    done = os.fdopen(done_fd, "w")
    for line in sys.stdin:
        job = json.loads(line)
        if not verbose:
            _log_to(job["log"])
        started = time.perf_counter()
        try:
            result = run_job(job)
        except Exception as exc:  # reported to the search, which records the trial as failed
            import traceback

            traceback.print_exc()
            result = {"error": f"{type(exc).__name__}: {exc}"}
        result.update(pid=os.getpid(), seconds=time.perf_counter() - started, pss_mib=pss_mib(),
                      peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        if os.getppid() != parent_pid:  # the search died during the trial (between two checks of the thread)
            os._exit(1)
        write_atomic(job["result"], json.dumps(result))  # a killed child leaves no half-written result
        done.write("done\n")
        done.flush()
    return 0


if __name__ == "__main__":
    # python -m rnn_tf.search.worker DONE_FD VERBOSE PARENT_PID
    sys.exit(main(int(sys.argv[1]), sys.argv[2] == "1", int(sys.argv[3]) if len(sys.argv) > 3 else None))
