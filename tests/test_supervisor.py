"""The supervisor behind `flask serve` (webapp/supervisor.py), driven with tiny fake children.

In-process tests step it by hand (`tick()`) on a fake clock, so the pauses between restarts are
checked without waiting them out; the attacks that kill the supervisor itself, or need it to
adopt orphans, run it as a process of its own (tests/support/supervised_fakes.py). The real stack under
the same attacks: tests/test_e2e_serve.py.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from support.stack import kill_tree

from webapp.supervisor import Child, CrashHistory, RestartPolicy, Supervisor, describe_exit

HERE = Path(__file__).resolve().parent
PY = sys.executable
SLEEPER = [PY, "-c", "import time; time.sleep(120)"]
# Stops on SIGTERM as the real children do (the worker hands its jobs back), and says so.
GRACEFUL = (
    "import pathlib, signal, sys, time\n"
    "out = pathlib.Path(sys.argv[1])\n"
    "signal.signal(signal.SIGTERM, lambda *a: (out.write_text('stopped by SIGTERM'), sys.exit(0)))\n"
    "out.write_text('ready')\n"
    "time.sleep(120)\n"
)
CRASH_ONCE = (
    "import pathlib, sys, time\n"
    "mark = pathlib.Path(sys.argv[1])\n"
    "if not mark.exists():\n"
    "    mark.write_text('crashed')\n"
    "    sys.exit(3)\n"
    "time.sleep(120)\n"
)
# Leaves a grandchild in a session of its own (out of reach of a process-group kill), as a
# worker's ffmpeg or gunicorn's serving process would be.
PARENT_OF_STRAY = (
    "import pathlib, subprocess, sys, time\n"
    "stray = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'], start_new_session=True)\n"
    "pathlib.Path(sys.argv[1]).write_text(str(stray.pid))\n"
    "time.sleep(120)\n"
)


class FakeClock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def wait_for(predicate, timeout: float = 15, message: str = "condition never held"):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, message
        time.sleep(0.02)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def in_process(children, lines, clock=None, **policy) -> Supervisor:
    return Supervisor(children, policy=RestartPolicy(**policy), log=lines.append,
                      clock=clock or time.monotonic, poll_seconds=0.01, stop_timeout=5, adopt_orphans=False)


# -- the pause before a restart --------------------------------------------------------------

def test_the_pause_doubles_with_each_crash_up_to_the_cap_and_gives_up_at_the_limit():
    history = CrashHistory(RestartPolicy(first_delay=1, max_delay=4, window=60, max_crashes=5))
    assert [history.record(t) for t in (0, 2, 5, 10)] == [1, 2, 4, 4]
    assert history.record(20) is None  # the fifth within a minute


def test_crashes_older_than_the_window_are_forgotten():
    history = CrashHistory(RestartPolicy(first_delay=1, max_delay=30, window=60, max_crashes=3))
    assert history.record(0) == 1
    assert history.record(30) == 2
    assert history.record(80) == 2  # the one at 0 is over a minute old: two recent crashes
    assert history.record(85) is None  # 30, 80 and 85: three within a minute


def test_an_exit_is_described_by_its_code_or_its_signal():
    assert describe_exit(-signal.SIGKILL) == "killed by SIGKILL"
    assert describe_exit(1) == "exit 1"
    assert describe_exit(0) == "exit 0"


# -- supervising (in process, a fake clock) ------------------------------------------------------

def test_a_crashed_child_starts_again_after_its_pause_while_the_other_runs_on(tmp_path):
    clock, lines = FakeClock(), []
    supervisor = in_process([Child("steady", SLEEPER), Child("flaky", [PY, "-c", CRASH_ONCE, str(tmp_path / "m")])],
                            lines, clock, first_delay=2)
    supervisor.start()
    try:
        steady = supervisor.pid("steady")
        wait_for(lambda: (supervisor.tick(), supervisor.pid("flaky") is None)[1], message="the crash went unnoticed")
        assert lines == ["haul: the flaky exited (exit 3); starting it again in 2 s"]
        clock.now += 1.9
        supervisor.tick()
        assert supervisor.pid("flaky") is None  # still pausing
        clock.now += 0.1
        supervisor.tick()
        again = supervisor.pid("flaky")
        assert again is not None and lines[-1] == f"haul: the flaky is running again (pid {again})"
        assert supervisor.pid("steady") == steady and alive(steady)  # never touched
        clock.now += 60
        supervisor.tick()
        assert alive(again) and supervisor.pid("flaky") == again and supervisor.gave_up is None
    finally:
        supervisor.stop_all()
    assert not alive(steady) and not alive(again)


def test_after_repeated_crashes_it_gives_up_says_why_and_stops_the_rest(tmp_path):
    clock, lines = FakeClock(), []
    steady_out = tmp_path / "steady"
    supervisor = in_process([Child("steady", [PY, "-c", GRACEFUL, str(steady_out)]),
                             Child("broken", [PY, "-c", "import sys; sys.exit(1)"])],
                            lines, clock, first_delay=1, max_crashes=4)
    supervisor.start()
    wait_for(lambda: steady_out.exists() and steady_out.read_text() == "ready")
    pauses = []
    for _ in range(3):
        wait_for(lambda: (supervisor.tick(), supervisor.pid("broken") is None)[1])
        pauses.append(lines[-1])
        clock.now += float(lines[-1].rsplit(" in ", 1)[1].split()[0])
        supervisor.tick()  # starts it again
    assert pauses == [f"haul: the broken exited (exit 1); starting it again in {n} s" for n in (1, 2, 4)]
    wait_for(lambda: (supervisor.tick(), supervisor.gave_up is not None)[1])
    assert lines[-1] == ("haul: the broken exited 4 times within 60 s (last: exit 1); giving up and stopping "
                         "Haul (its own messages above say why)")
    assert supervisor.supervise() == 1
    assert steady_out.read_text() == "stopped by SIGTERM"


def test_a_child_that_cannot_be_started_counts_as_a_crash(tmp_path):
    lines = []
    supervisor = in_process([Child("ghost", [str(tmp_path / "no-such-program")])], lines, FakeClock())
    supervisor.start()
    assert supervisor.pid("ghost") is None
    assert lines == ["haul: the ghost exited (could not start: No such file or directory); starting it again in 1 s"]
    supervisor.stop_all()


def test_a_stop_request_stops_every_child_with_sigterm_and_exits_0(tmp_path):
    outs = [tmp_path / "web", tmp_path / "worker"]
    lines = []
    supervisor = in_process([Child("web", [PY, "-c", GRACEFUL, str(outs[0])]),
                             Child("worker", [PY, "-c", GRACEFUL, str(outs[1])], new_session=True)], lines)
    supervisor.start()

    def stop_once_ready():  # stands for the SIGTERM handler, which only sets the same flag
        wait_for(lambda: all(out.exists() and out.read_text() == "ready" for out in outs))
        supervisor.request_stop()

    threading.Thread(target=stop_once_ready, daemon=True).start()
    assert supervisor.supervise() == 0
    assert [out.read_text() for out in outs] == ["stopped by SIGTERM"] * 2
    assert lines == []  # a requested stop is no crash: nothing restarted


# -- the supervisor as a process of its own ------------------------------------------------

def run_supervisor(tmp_path, commands: dict, own_session=()) -> subprocess.Popen:
    log = open(tmp_path / "supervisor.log", "wb")
    args = [PY, str(HERE / "support" / "supervised_fakes.py"), json.dumps(commands)]
    if own_session:
        args.append(",".join(own_session))
    return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def test_kill_9_of_the_supervisor_stops_every_child_even_one_in_its_own_session(tmp_path):
    outs = {"web": tmp_path / "web", "worker": tmp_path / "worker"}
    supervisor = run_supervisor(tmp_path, {name: [PY, "-c", GRACEFUL, str(out)] for name, out in outs.items()},
                                own_session=["worker"])
    children = []
    try:
        wait_for(lambda: all(out.exists() and out.read_text() == "ready" for out in outs.values()))
        children = [child.pid for child in psutil.Process(supervisor.pid).children()]
        assert len(children) == 2
        supervisor.kill()
        supervisor.wait(10)
        wait_for(lambda: not any(alive(pid) for pid in children), message="a child outlived its supervisor")
        # Told to stop (SIGTERM), not cut off: the worker gets to hand its jobs back.
        assert {name: out.read_text() for name, out in outs.items()} == {
            "web": "stopped by SIGTERM", "worker": "stopped by SIGTERM"}
    finally:
        kill_tree(supervisor, also=children)


def test_what_a_killed_child_left_running_is_stopped_before_it_starts_again(tmp_path):
    stray_file = tmp_path / "stray"
    supervisor = run_supervisor(tmp_path, {"worker": [PY, "-c", PARENT_OF_STRAY, str(stray_file)]},
                                own_session=["worker"])
    strays = []
    try:
        wait_for(lambda: stray_file.exists() and stray_file.read_text().isdigit())
        strays.append(int(stray_file.read_text()))
        [worker] = psutil.Process(supervisor.pid).children()
        stray_file.unlink()
        worker.kill()
        # Killed, and reaped by the supervisor that adopted it: not even a zombie is left.
        wait_for(lambda: not psutil.pid_exists(strays[0]), message="the killed worker's child was left running")
        wait_for(lambda: stray_file.exists() and stray_file.read_text().isdigit(), message="no new worker")
        strays.append(int(stray_file.read_text()))
        log = (tmp_path / "supervisor.log").read_text()
        assert "haul: the worker exited (killed by SIGKILL); starting it again in 0.05 s" in log
        assert f"(pid {strays[0]})" in log.split("haul: stopped what the worker left running: ", 1)[1]

        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(10) == 0
        assert not any(alive(pid) for pid in strays)  # the stop leaves nothing behind either
    finally:
        kill_tree(supervisor, also=strays)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_each_stop_signal_stops_the_children_and_exits_0(tmp_path, signum):
    out = tmp_path / "worker"
    supervisor = run_supervisor(tmp_path, {"worker": [PY, "-c", GRACEFUL, str(out)]}, own_session=["worker"])
    try:
        wait_for(lambda: out.exists() and out.read_text() == "ready")
        supervisor.send_signal(signum)
        assert supervisor.wait(10) == 0
        assert out.read_text() == "stopped by SIGTERM"
    finally:
        kill_tree(supervisor)
