"""`flask --app wsgi serve` (what `make run` and the container run): web and worker together,
the worker below the web in a session of its own, and Ctrl-C stopping both."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import requests

from stack import ROOT, free_port, kill_tree


def test_serve_starts_both_and_ctrl_c_stops_both(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAUL_")}
    env.update(HAUL_DATA_DIR=str(tmp_path / "data"), HAUL_PORT=str(port), HAUL_HOST="127.0.0.1")
    flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
    subprocess.run(flask + ["db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    # Its own process group stands for the terminal's foreground group Ctrl-C signals.
    launcher = subprocess.Popen(flask + ["serve"], cwd=ROOT, env=env, start_new_session=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    everything = [launcher.pid]
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/setup", timeout=5).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):  # not listening yet, or still loading
                pass
            assert time.monotonic() < deadline and launcher.poll() is None, "serve did not start"
            time.sleep(0.1)
        children = psutil.Process(launcher.pid).children()
        worker = next(p for p in children if "jobs.worker" in p.cmdline())
        web = next(p for p in children if "gunicorn" in " ".join(p.cmdline()))
        serving = web.children()[0]
        assert worker.nice() == 5 and serving.nice() == 0
        assert os.getsid(worker.pid) == worker.pid  # a scheduling group of its own
        everything += [worker.pid, web.pid, serving.pid]

        os.killpg(launcher.pid, signal.SIGINT)  # Ctrl-C: the foreground group, not the worker's
        output, _ = launcher.communicate(timeout=30)
        assert launcher.returncode == 0, output
        assert "/setup and enter the setup code" in output
        deadline = time.monotonic() + 10
        while any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
                  for pid in everything) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in everything if psutil.pid_exists(pid)
                    and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE], "a process outlived Ctrl-C"
    finally:
        kill_tree(launcher, also=everything)  # nothing left when the test passed
