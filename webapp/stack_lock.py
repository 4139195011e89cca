"""One Haul per data dir: `flask serve` holds an exclusive lock on DATA_DIR/haul.lock.

A second `flask serve` (a second `make run`, the systemd service beside a terminal) on the same
data dir would start a second worker on the same queue; it refuses instead, with one line naming
the pid of the first. The lock is flock(2): the kernel drops it when the last descriptor on it
closes, so a stale file left by a kill -9 blocks nothing. The launcher passes its descriptor to
the web server and the worker (webapp/supervisor.py), so the lock lasts until the last process
of the stack is gone, not just the launcher. The file holds the launcher's pid, for the message.

A worker started alone (`python -m jobs.worker`) takes no lock: several workers sharing one
queue is a supported set-up, kept safe by the atomic claim (docs/architecture.md).
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_FILE = "haul.lock"


class AlreadyRunning(Exception):
    """Another Haul holds the data dir's lock."""

    def __init__(self, data_dir: Path, pid: int | None):
        self.data_dir, self.pid = data_dir, pid
        super().__init__(self.message())

    def message(self) -> str:
        """One line for the operator."""
        if self.pid is None:
            return f"another Haul is already running on {self.data_dir}; stop it first"
        if not _alive(self.pid):
            # Its launcher is gone but a child still holds the lock: stopping, SIGTERMed by the
            # kernel when the launcher died.
            return (f"the Haul that ran on {self.data_dir} (pid {self.pid}) is still stopping; "
                    f"try again in a few seconds")
        return f"another Haul is already running on {self.data_dir} (pid {self.pid}); stop it first"


def hold(data_dir: Path) -> int:
    """Take the data dir's lock for this process and write its pid into the file.

    Returns the locked descriptor: keep it open for as long as Haul runs (and hand it to the
    children). Raises AlreadyRunning when another process holds it."""
    path = Path(data_dir) / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = _read_pid(fd)
        os.close(fd)
        raise AlreadyRunning(Path(data_dir), pid) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _read_pid(fd: int) -> int | None:
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return int(text) if text.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True
