"""One Haul per data dir (webapp/stack_lock.py). The real `flask serve` refusing: tests/test_e2e_serve.py."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from webapp import stack_lock


def test_a_second_holder_is_refused_with_the_pid_of_the_first(tmp_path):
    fd = stack_lock.hold(tmp_path)
    try:
        assert (tmp_path / "haul.lock").read_text() == f"{os.getpid()}\n"
        with pytest.raises(stack_lock.AlreadyRunning) as refused:
            stack_lock.hold(tmp_path)  # a descriptor of its own, as another process would have
        assert str(refused.value) == f"another Haul is already running on {tmp_path} (pid {os.getpid()}); stop it first"
    finally:
        os.close(fd)


def test_the_lock_ends_with_its_holder_and_a_stale_file_blocks_nothing(tmp_path):
    os.close(stack_lock.hold(tmp_path))  # what the kernel does when a kill -9 ends the holder
    fd = stack_lock.hold(tmp_path)
    os.close(fd)
    (tmp_path / "haul.lock").write_text("4194000\n")  # a pid from a run long gone, never locked
    fd = stack_lock.hold(tmp_path)
    try:
        assert (tmp_path / "haul.lock").read_text() == f"{os.getpid()}\n"
    finally:
        os.close(fd)


def test_a_lock_kept_by_children_of_a_dead_launcher_says_it_is_still_stopping(tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(gone.stdout)
    fd = stack_lock.hold(tmp_path)
    try:
        os.pwrite(fd, f"{dead_pid}\n".encode(), 0)  # the launcher that wrote it has exited
        with pytest.raises(stack_lock.AlreadyRunning) as refused:
            stack_lock.hold(tmp_path)
        assert str(refused.value) == (f"the Haul that ran on {tmp_path} (pid {dead_pid}) is still stopping; "
                                      f"try again in a few seconds")
    finally:
        os.close(fd)
