"""Keep Haul's processes running: the supervisor behind `flask serve` (webapp/commands.py).

It starts each child (the web server, the worker), and when one exits without being asked to
it starts it again after a short, growing pause (1 s, 2 s, 4 s…), saying so on one line, while
the others keep running. A child that keeps crashing (`max_crashes` exits within `window`
seconds) is given up on: the supervisor says so and stops everything, so the service manager
above it (systemd's Restart=, Docker's restart policy) sees a failure instead of a Haul that
takes links it never downloads.

Nothing outlives it, whatever ends it:

- every child asks the kernel for SIGTERM when the supervisor dies (PR_SET_PDEATHSIG), even a
  kill -9; the worker then hands its running jobs back to the queue and gunicorn drains. The
  signal fires when the *thread* that forked the child ends, so children are only started from
  the main thread;
- it is a child subreaper (PR_SET_CHILD_SUBREAPER): what a dead child leaves behind (ffmpeg
  under a killed worker, gunicorn's serving process under a killed master) becomes its child,
  and is killed before the replacement starts, so a restarted worker never races a leftover
  writing the same files; it also reaps those leftovers, as PID 1 in a container must.
  (gunicorn's serving process would also leave by itself: it checks its parent every second.)

Both rely on Linux's prctl, Haul's platform; elsewhere they are skipped. The module imports
nothing from Flask: it runs any commands, which is how its tests drive it.
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Sequence

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


@dataclass(frozen=True)
class Child:
    """A process to keep running: a name for the log lines and the command."""

    name: str
    argv: Sequence[str]
    # A session (and scheduling group) of its own: the worker, niced apart from the web.
    new_session: bool = False


@dataclass(frozen=True)
class RestartPolicy:
    """How long to wait before starting a crashed child again, and when to stop trying."""

    first_delay: float = 1.0
    max_delay: float = 30.0
    window: float = 60.0
    max_crashes: int = 5


class CrashHistory:
    """A child's recent exits, deciding the pause before its next start."""

    def __init__(self, policy: RestartPolicy):
        self.policy = policy
        self._times: deque[float] = deque()

    def record(self, now: float) -> float | None:
        """Note an exit at `now`; the seconds to wait before starting again, or None to give up."""
        self._times.append(now)
        while self._times[0] < now - self.policy.window:
            self._times.popleft()
        if len(self._times) >= self.policy.max_crashes:
            return None
        return min(self.policy.max_delay, self.policy.first_delay * 2 ** (len(self._times) - 1))

    def __len__(self) -> int:
        return len(self._times)


def describe_exit(returncode: int) -> str:
    """'exit 1' or 'killed by SIGKILL', for the log lines."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit {returncode}"


def _prctl():
    """libc's prctl, or None where there is none (not Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


def become_subreaper() -> bool:
    """Adopt this process's orphaned descendants (so they can be found and stopped); True if done."""
    prctl = _prctl()
    return prctl is not None and prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def die_with_parent_hook(signum: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A preexec_fn asking the kernel to send `signum` to the child when this process dies.

    prctl is looked up here, in the parent: the hook runs between fork and exec, where loading
    a library is not safe. A parent that died before the hook ran is caught by its pid check.
    """
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()

    def hook() -> None:
        prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return hook


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass
class _Slot:
    child: Child
    history: CrashHistory
    proc: subprocess.Popen | None = None
    restart_at: float | None = None


@dataclass
class Supervisor:
    """Start the children, keep them running, stop them all; see the module docstring."""

    children: Sequence[Child]
    env: dict | None = None
    cwd: str | None = None
    # Descriptors every child inherits: the data dir's lock (webapp/stack_lock.py), so the lock
    # lasts while any process of the stack does.
    pass_fds: Sequence[int] = ()
    policy: RestartPolicy = field(default_factory=RestartPolicy)
    log: Callable[[str], None] = _stderr
    clock: Callable[[], float] = time.monotonic
    poll_seconds: float = 0.2
    stop_timeout: float = 20.0
    # Off in tests that run a supervisor inside the test process, which must not adopt orphans.
    adopt_orphans: bool = True
    # Told of every unexpected exit: (child's name, how it exited, whether this was the last
    # straw). `flask serve` announces the worker's as a notification; a failure here is logged only.
    on_exit: Callable[[str, str, bool], None] | None = None

    def __post_init__(self):
        self._slots = [_Slot(child, CrashHistory(self.policy)) for child in self.children]
        self._stop_requested = False
        self.gave_up: str | None = None
        self._preexec = die_with_parent_hook()

    # -- the public steps ------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        """SIGINT (Ctrl-C), SIGTERM (docker stop, systemd) and SIGHUP (a closed terminal) stop all.

        The worker runs in a session of its own and hears none of them itself."""
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self.request_stop)

    def request_stop(self, signum=None, frame=None) -> None:
        """Ask the supervision loop to stop everything (safe in a signal handler)."""
        self._stop_requested = True

    def start(self) -> None:
        """Become the subreaper and start every child."""
        if self.adopt_orphans:
            become_subreaper()
        for slot in self._slots:
            self._spawn(slot)

    def supervise(self) -> int:
        """Keep the children running until asked to stop or giving up; stop them all.

        Returns the exit code for the launcher: 0 when asked to stop, 1 when it gave up."""
        try:
            while not self._stop_requested and self.gave_up is None:
                self.tick()
                time.sleep(self.poll_seconds)
        finally:
            self.stop_all()
        return 1 if self.gave_up else 0

    def pid(self, name: str) -> int | None:
        """The pid of the running child called `name`, or None while it is down."""
        slot = next(slot for slot in self._slots if slot.child.name == name)
        return slot.proc.pid if slot.proc is not None else None

    def tick(self) -> None:
        """One pass: notice exits, start again whatever is due, reap leftovers."""
        for slot in self._slots:
            if self.gave_up is not None or self._stop_requested:
                break
            if slot.proc is not None and slot.proc.poll() is not None:
                self._exited(slot, describe_exit(slot.proc.returncode))
            if slot.proc is None and slot.restart_at is not None and self.clock() >= slot.restart_at:
                self._spawn(slot)
                if slot.proc is not None:
                    self.log(f"haul: the {slot.child.name} is running again (pid {slot.proc.pid})")
        self._reap_orphans()

    def stop_all(self) -> None:
        """SIGTERM every running child, wait for them (SIGKILL after stop_timeout), then clean up."""
        running = [slot.proc for slot in self._slots if slot.proc is not None and slot.proc.poll() is None]
        for proc in running:
            try:
                proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + self.stop_timeout
        for proc in running:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for slot in self._slots:
            slot.proc = None
            slot.restart_at = None
        self._kill_leftovers()
        self._reap_orphans()

    # -- inside ----------------------------------------------------------------------
    def _spawn(self, slot: _Slot) -> None:
        # PR_SET_PDEATHSIG fires when the forking *thread* ends: only the main thread, which
        # lasts as long as the process, may start children.
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("the supervisor starts children from the main thread only")
        slot.restart_at = None
        try:
            slot.proc = subprocess.Popen(
                list(slot.child.argv), env=self.env, cwd=self.cwd, start_new_session=slot.child.new_session,
                pass_fds=tuple(self.pass_fds), preexec_fn=self._preexec,
            )
        except OSError as exc:
            slot.proc = None
            self._exited(slot, f"could not start: {exc.strerror or exc}")

    def _exited(self, slot: _Slot, how: str) -> None:
        slot.proc = None
        delay = slot.history.record(self.clock())
        name = slot.child.name
        if delay is None:
            self.gave_up = (f"haul: the {name} exited {len(slot.history)} times within "
                            f"{self.policy.window:g} s (last: {how}); giving up and stopping Haul "
                            f"(its own messages above say why)")
            self.log(self.gave_up)
        else:
            slot.restart_at = self.clock() + delay
            self.log(f"haul: the {name} exited ({how}); starting it again in {delay:g} s")
        self._kill_leftovers(whose=name)
        if self.on_exit is not None:
            try:
                self.on_exit(name, how, self.gave_up is not None)
            except Exception as exc:  # telling of it must never stop the supervision
                self.log(f"haul: could not announce that the {name} exited: {type(exc).__name__}")

    def _running_pids(self) -> set[int]:
        return {slot.proc.pid for slot in self._slots if slot.proc is not None}

    def _kill_leftovers(self, whose: str | None = None) -> None:
        """SIGKILL the orphans this subreaper adopted: what a dead child left running."""
        if not self.adopt_orphans:
            return
        leftovers = [(pid, name) for pid, name in adopted_children() if pid not in self._running_pids()]
        for pid, _ in leftovers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if leftovers:
            named = ", ".join(f"{name} (pid {pid})" for pid, name in leftovers)
            self.log(f"haul: stopped what the {whose} left running: {named}" if whose
                     else f"haul: stopped processes left running: {named}")

    def _reap_orphans(self) -> None:
        """Collect the exit status of adopted orphans (else they stay zombies); children of
        our own are left to their Popen, which needs their status."""
        if not hasattr(os, "waitid"):
            return
        ours = self._running_pids()
        while True:
            try:
                found = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if found is None or found.si_pid in ours:
                return
            try:
                os.waitpid(found.si_pid, 0)
            except ChildProcessError:
                return


def adopted_children() -> list[tuple[int, str]]:
    """(pid, command line) of this process's living children, read from /proc (Linux)."""
    me = os.getpid()
    found = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:  # exited meanwhile
            continue
        state, ppid = stat[stat.rfind(")") + 2:].split()[:2]
        if int(ppid) == me and state != "Z":
            found.append((int(entry), _command_line(entry) or stat[stat.find("(") + 1:stat.rfind(")")]))
    return found


def _command_line(pid: str, limit: int = 80) -> str:
    """The process's command, shortened for a log line ('' when unreadable)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            argv = fh.read().rstrip(b"\0").decode(errors="replace").split("\0")
    except OSError:
        return ""
    line = " ".join([os.path.basename(argv[0]), *argv[1:]]).strip()
    return line if len(line) <= limit else line[:limit - 1] + "…"
