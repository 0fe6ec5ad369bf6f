"""One writer per folder: an exclusive advisory lock on a run folder (or a search folder), held by every
command that writes it.

The lock is ``flock`` on the folder's ``.lock`` file, which also records the holder (PID and host) and
exists only while a writer works (the holder removes it when it is done). The operating system
releases the lock when the process ends, however it ends, so a ``kill -9`` leaves no stale lock
behind, only a file the next writer takes over; a second writer is refused at once, naming the holder. Readers (generate, evaluate,
predict, translate) take no lock: they read the last committed epoch, which a writer never changes.
Where ``fcntl`` does not exist (Windows), folders are not locked.
"""

from __future__ import annotations

import functools
import json
import os
import socket

from rnn_tf.errors import UserError

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Linux or macOS
    fcntl = None

LOCK_FILE = ".lock"


class FolderLock:
    """``with FolderLock(folder, "run"):`` holds the folder's lock, creating the folder if need be. A
    folder this lock created and that is empty when it is released is removed again, so a refused new
    run leaves nothing behind."""

    def __init__(self, folder: str, what: str = "run"):
        self.folder, self.what = folder, what
        self.path = os.path.join(folder, LOCK_FILE)
        self.fd: int | None = None
        self.created = False

    def __enter__(self):
        self.created = not os.path.exists(self.folder)
        flag = "--project-dir" if self.what == "search" else "--run-dir"
        try:
            os.makedirs(self.folder, exist_ok=True)
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileExistsError:
            raise UserError(f"{self.what} folder '{self.folder}' is a file: choose another {flag}") from None
        except OSError as exc:
            raise UserError(f"cannot create {self.what} folder '{self.folder}': {exc.strerror}; "
                            f"choose another {flag}") from None
        while fcntl is not None:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(self.path)
                os.close(self.fd)
                self.fd = None
                raise UserError(f"{self.what} folder '{self.folder}' is in use by another rnn-tf process "
                                f"({holder}): wait for it to finish, or stop it first") from None
            if _same_file(self.fd, self.path):
                break
            # The holder removed the file between our open and our lock: ours is a stale copy.
            os.close(self.fd)
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        os.ftruncate(self.fd, 0)
        os.write(self.fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode())
        return self

    def __exit__(self, *exc_info):
        if self.fd is None:
            return
        os.remove(self.path)  # while still locked: whoever opened it meanwhile sees it is gone and retries
        if self.created and not os.listdir(self.folder):
            os.rmdir(self.folder)  # a refused new run leaves nothing behind
        os.close(self.fd)  # releases the lock
        self.fd = None


def _same_file(fd: int, path: str) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def _read_holder(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            holder = json.load(f)
        return f"PID {holder['pid']} on {holder['host']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "holder unknown"


def locked_run(train):
    """Decorator for a task's ``train(run_dir, ...)``: the whole of training holds the run's lock."""
    @functools.wraps(train)
    def locked(run_dir, *args, **kwargs):
        with FolderLock(run_dir, "run"):
            return train(run_dir, *args, **kwargs)

    return locked
