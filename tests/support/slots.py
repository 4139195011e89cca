"""Numbered things that test processes share (Redis database numbers, cluster subnets): each
taken under a file lock, so pytest-xdist's processes and concurrent runs never take the same
one; the kernel drops the lock when its holder closes the file or dies."""
from __future__ import annotations

import fcntl
from collections.abc import Iterable
from pathlib import Path
from typing import IO


def hold_first_free(lock_dir: Path, numbers: Iterable[int]) -> tuple[int, IO] | None:
    """The first of `numbers` nobody holds and its open lock file (close it to give the number
    back), or None when every one is held."""
    lock_dir.mkdir(exist_ok=True)
    for number in numbers:
        lock = open(lock_dir / f"{number}.lock", "a")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        return number, lock
    return None
