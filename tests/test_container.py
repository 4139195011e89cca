"""The Dockerfile's own start-up, health check and stop, run without Docker (none on this machine).

Its ENV, CMD and HEALTHCHECK lines are read from the Dockerfile and run as a container would:
from the project folder (the image's WORKDIR /app holds the same files), with the image's
environment, the data dir and port swapped for the test's. What this cannot check is the
image build itself (apt-get, pip, the user); docs/deployment.md says so.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
from support.stack import ROOT, free_port, kill_tree

DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, rest = line.partition(" ")
            pairs.append((name.upper(), rest.strip()))
    return pairs


def image_environment() -> dict:
    env = {}
    for name, rest in instructions():
        if name == "ENV":
            for item in shlex.split(rest):
                key, _, value = item.partition("=")
                env[key] = value
    return env


def exec_form(name: str) -> list[str]:
    """The JSON (exec) form of CMD, or of HEALTHCHECK's CMD after its options."""
    rest = next(rest for instruction, rest in instructions() if instruction == name)
    if name == "HEALTHCHECK":
        rest = rest[rest.index("CMD ") + 4:]
    return json.loads(rest)


def test_the_image_starts_answers_its_health_check_and_stops_on_docker_stop(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAUL_")}
    env.update(image_environment())
    assert env["HAUL_DATA_DIR"] == "/data" and env["HAUL_HOST"] == "0.0.0.0"
    port = free_port()
    env.update(HAUL_DATA_DIR=str(tmp_path / "data"), HAUL_PORT=str(port))
    # `flask` and `python` as the image's PATH finds them: here, the venv's.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    health = exec_form("HEALTHCHECK")
    assert health[0] == "python"

    container = subprocess.Popen(exec_form("CMD"), cwd=ROOT, env=env, start_new_session=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    everything = [container.pid]
    try:
        deadline = time.monotonic() + 60  # the HEALTHCHECK's start period
        while subprocess.run(health, env=env, capture_output=True, timeout=10).returncode != 0:
            assert container.poll() is None, container.communicate()[0]
            assert time.monotonic() < deadline, "the health check never passed"
            time.sleep(0.5)
        # `exec` in the CMD: the supervisor is the process `docker stop` signals (PID 1).
        supervisor = psutil.Process(container.pid)
        assert "serve" in supervisor.cmdline()
        everything += [child.pid for child in supervisor.children(recursive=True)]
        assert len(everything) >= 4  # supervisor, gunicorn master and its worker, the Huey consumer

        stopped_at = time.monotonic()
        container.send_signal(signal.SIGTERM)
        output, _ = container.communicate(timeout=10)  # docker stop's grace before SIGKILL
        assert container.returncode == 0, output
        assert time.monotonic() - stopped_at < 10
        assert "Haul stopped." in output
        assert not [pid for pid in everything if psutil.pid_exists(pid)
                    and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
        # The migration ran: the database is there, and the health check fails once it is gone.
        assert (tmp_path / "data" / "haul.db").is_file()
        assert subprocess.run(health, env=env, capture_output=True, timeout=10).returncode != 0
    finally:
        kill_tree(container, also=everything)  # nothing left when the test passed
