"""Exclusive locks on what one process writes at a time: a training run's folder, a streamed job's
partial file, a Beam job's output folder.

    with Lock(run_dir, f"the run {run_dir}", "--run-dir"):
        ...  # a second process asking for the same lock gets one OutputError line naming this one

``fcntl.flock`` on the folder itself or on the file being written, so no lock file is left behind:
the kernel releases the lock when the process ends (SIGKILL included), and a lock never outlives
its writer. The holder is named from ``/proc/locks`` where there is one (Linux). A file that was
replaced while a process waited for it (the partial file renamed into place) is noticed after
locking (its inode is no longer the path's) and the new one locked instead.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

from textdeconv.errors import OutputError

try:
    import fcntl
except ImportError:  # Windows: no flock; writers are not locked there
    fcntl = None


def holder(path) -> int | None:
    """The pid holding a flock on ``path`` according to ``/proc/locks`` (Linux), else None."""
    try:
        st = os.stat(path)
        with open("/proc/locks", encoding="ascii", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split()
        if "->" in parts or len(parts) < 6 or parts[1] != "FLOCK":  # "->" marks a waiting request
            continue
        try:
            major, minor, inode = parts[5].split(":")
            if int(inode) == st.st_ino and os.makedev(int(major, 16), int(minor, 16)) == st.st_dev:
                return int(parts[4])
        except ValueError:
            continue
    return None


class Lock:
    """An exclusive, non-blocking flock on ``path`` (a folder, or a file created if missing).

    Args:
        what: the thing being written, for the message ("the run runs/x").
        option: the option that named it, put first in the message ("--run-dir").
    """

    def __init__(self, path, what: str, option: str | None = None):
        self.path, self.what, self.option = Path(path), what, option
        self.fd: int | None = None

    def acquire(self) -> int:
        """Lock and return the open descriptor (a file's is opened read-write, not truncated).

        Raises:
            OutputError: another process holds the lock (one line naming its pid).
        """
        if self.fd is not None:
            return self.fd
        folder = self.path.is_dir()
        for _ in range(10):
            fd = os.open(self.path, os.O_RDONLY if folder else os.O_RDWR | os.O_CREAT, 0o666)
            if fcntl is None:
                self.fd = fd
                return fd
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                pid = holder(self.path)
                who = (f"another process (pid {pid})" if pid and pid != os.getpid()
                       else "another writer in this process" if pid else "another process")
                head = f"{self.option} " if self.option else ""
                raise OutputError(f"{head}{self.what} is being written by {who}; wait for it to finish or stop "
                                  "it (a stopped writer releases the lock)") from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self.fd = fd
                return fd
            os.close(fd)  # the file we opened was replaced while we waited: lock the new one
        raise OutputError(f"{self.what}: {self.path} keeps being replaced; another process is writing it")

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)  # closing releases the flock
            self.fd = None

    def __del__(self):
        self.release()

    def __enter__(self) -> Lock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
