"""The worker's thread pool follows the download concurrency setting without a restart."""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import pytest


def save_concurrency(stack, value: int) -> None:
    """What the settings page stores when an admin changes "Downloads at once"."""
    stack.sql("DELETE FROM settings WHERE key = 'download_concurrency'")
    stack.sql("INSERT INTO settings (key, value, updated_at) VALUES ('download_concurrency', :value, :now)",
              value=json.dumps(value), now=stack.timestamp(datetime.now(timezone.utc)))


def most_at_once(stack, job_ids: list[int], timeout: float = 30) -> int:
    """The most of `job_ids` seen downloading at the same time, until all have finished."""
    deadline, most = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        statuses = [stack.job(job_id)["status"] for job_id in job_ids]
        most = max(most, statuses.count("downloading"))
        if all(s in ("completed", "failed", "cancelled") for s in statuses):
            return most
        time.sleep(0.1)
    raise AssertionError(f"jobs did not finish: {statuses}")


@pytest.mark.embedded_only  # on PostgreSQL a worker host keeps its own HAUL_WORKERS (test_scale_out_modes.py)
def test_raising_the_concurrency_grows_the_pool_without_a_restart(make_stack, media_site):
    stack = make_stack(HAUL_WORKERS="1")
    assert "worker started: 1 thread worker(s)" in stack.log("worker.log")
    first = [e["id"] for e in stack.submit([media_site.url(f"/slow/pool-a{n}.jpg?kb=192&rate=192") for n in range(3)])["jobs"]]
    assert most_at_once(stack, first) == 1

    save_concurrency(stack, 3)
    deadline = time.monotonic() + 10
    while "download threads: 3" not in stack.log("worker.log") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "download threads: 3" in stack.log("worker.log")
    second = [e["id"] for e in stack.submit([media_site.url(f"/slow/pool-b{n}.jpg?kb=192&rate=192") for n in range(3)])["jobs"]]
    assert most_at_once(stack, second) == 3
    # Nobody restarted the worker.
    assert stack.log("worker.log").count("worker started") == 1


def test_the_worker_runs_below_the_web_in_a_scheduling_group_of_its_own(make_stack, media_site):
    """HAUL_WORKER_NICE (default 5): started in a session of its own, as `flask serve` starts it
    (so Linux's autogroup scheduler weighs it apart from the web), the worker lowers its own and
    its group's priority, and still downloads. It also runs without gevent, which only the web
    needs (huey would import it otherwise)."""
    import os

    import psutil

    stack = make_stack()
    worker = psutil.Process(stack.worker.pid)
    serving = psutil.Process(stack.web.pid).children()[0]
    assert worker.nice() == 5
    assert serving.nice() == 0
    assert os.getsid(worker.pid) == worker.pid != os.getsid(os.getpid())
    autogroup = f"/proc/{worker.pid}/autogroup"
    if os.path.exists(autogroup):  # a kernel with autogroup
        with open(autogroup) as group:
            assert group.read().strip().endswith("nice 5")
    loaded = {m.path for m in worker.memory_maps()}
    assert not [path for path in loaded if "/gevent/" in path], "the worker loaded gevent"
    assert [path for path in {m.path for m in serving.memory_maps()} if "/gevent/" in path], "the web runs on gevent"

    job = stack.submit([media_site.url("/img/4242.png")])["jobs"][0]
    deadline = time.monotonic() + 20
    while stack.job(job["id"])["status"] != "completed" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert stack.job(job["id"])["status"] == "completed"


def test_nice_zero_leaves_the_worker_where_it_was_started():
    import os

    from jobs.worker import lower_cpu_priority

    session, nice = os.getsid(0), os.nice(0)
    lower_cpu_priority(0)
    assert (os.getsid(0), os.nice(0)) == (session, nice)


def test_a_worker_started_in_a_terminal_session_leaves_that_session_alone():
    """Not the leader of its session (run by hand from a shell): only the worker's own nice value
    rises; the session's autogroup, which the shell shares, keeps its priority."""
    import os
    import subprocess
    import sys

    import pytest

    if not os.path.exists("/proc/self/autogroup"):
        pytest.skip("this kernel has no autogroup: there is no session priority to leave alone")
    script = (
        "import os; from jobs.worker import lower_cpu_priority; "
        "before = open('/proc/self/autogroup').read(); lower_cpu_priority(3); "
        "print(os.nice(0), open('/proc/self/autogroup').read() == before, os.getsid(0) == os.getpid())"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=root)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(os.nice(0) + 3), "True", "False"]


def test_the_worker_app_loads_none_of_the_web_extensions():
    """Sessions' manager, CSRF, WebSockets and rate limits are made on first use (webapp/extensions.py),
    which the worker's app never reaches; the web's app has them all."""
    import os
    import subprocess
    import sys

    script = (
        "import sys; from webapp import create_app; app = create_app(role=sys.argv[1]); "
        "print(sorted(m for m in ('flask_limiter', 'flask_wtf', 'flask_sock') if m in sys.modules), "
        "sorted(app.extensions))"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    answers = {}
    for role in ("worker", "cli"):
        done = subprocess.run([sys.executable, "-c", script, role], capture_output=True, text=True,
                              timeout=60, cwd=root)
        assert done.returncode == 0, done.stderr
        answers[role] = done.stdout.strip().splitlines()[-1]
    assert answers["worker"].startswith("[] ") and "limiter" not in answers["worker"]
    assert answers["cli"].startswith("['flask_limiter', 'flask_sock', 'flask_wtf'] ") and "limiter" in answers["cli"]
