"""/health/detailed's additions: Haul's version, this process's CPU time, memory and uptime, and
the operations' state (disk guard, newest backup, notification targets), admin only; one part
that cannot be read does not fail the answer."""
from __future__ import annotations

import os
import re
import time
from datetime import UTC, datetime

import pytest
from conftest import API_TOKEN

from webapp.core.version import VERSION

ADMIN = {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture
def worker_alive(app):
    from webapp.services.queue import heartbeat as worker_heartbeat

    worker_heartbeat.beat()


def detailed(client) -> dict:
    response = client.get("/health/detailed", headers=ADMIN)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_version_of_haul_and_the_tools(client, worker_alive):
    body = detailed(client)
    assert re.fullmatch(r"\d+\.\d+\.\d+", VERSION)
    assert body["version"] == VERSION == body["versions"]["haul"]
    assert body["versions"]["gallery-dl"] and body["versions"]["yt-dlp"] and "ffmpeg" in body["versions"]


def test_process_cpu_memory_and_uptime_are_this_process(client, worker_alive):
    before = time.process_time()
    # Burn a little CPU so the figure has something to show.
    sum(i * i for i in range(300_000))
    process = detailed(client)["process"]
    assert process["pid"] == os.getpid()
    assert process["cpu_seconds"] == pytest.approx(process["cpu_user_seconds"] + process["cpu_system_seconds"],
                                                   abs=0.02)
    assert process["cpu_seconds"] >= before - 0.05  # the test client runs in this process
    with open("/proc/self/status") as status:
        rss = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))
    assert process["memory_rss_bytes"] == pytest.approx(rss, rel=0.25)
    assert process["memory_max_rss_bytes"] >= process["memory_rss_bytes"] * 0.9
    started = datetime.fromisoformat(process["started_at"].replace("Z", "+00:00"))
    assert started <= datetime.now(UTC)
    assert 0 < process["uptime_seconds"] == pytest.approx((datetime.now(UTC) - started).total_seconds(), abs=2)
    assert process["threads"] >= 1


def test_process_start_without_proc_falls_back(monkeypatch):
    from webapp.health import checks

    def no_proc(*args, **kwargs):
        raise FileNotFoundError("/proc")

    monkeypatch.setattr("builtins.open", no_proc)
    assert checks.process_started_at() == checks._IMPORTED_AT
    assert checks._proc_status_bytes("VmRSS") is None


def test_operations_state_is_reported(client, worker_alive):
    body = detailed(client)
    guard = body["disk_guard"]
    assert {"enabled", "tripped", "free_bytes"} <= set(guard) and guard["tripped"] is False
    assert body["last_backup"] is None  # none made yet
    assert body["notifications"] == {"targets": 0, "enabled": 0, "failing": []}


def test_a_backup_shows_as_the_last_one(app, client, worker_alive):
    from webapp.services.admin import backup

    made = backup.create(app.config["HAUL"])
    last = detailed(client)["last_backup"]
    assert last is not None and last["name"] == made.as_dict()["name"] and last["age_seconds"] <= 60


def test_an_unreadable_part_does_not_fail_the_answer(client, worker_alive, monkeypatch):
    from webapp.health import checks

    def broken():
        raise RuntimeError("boom")

    monkeypatch.setattr(checks.notification_targets, "health_summary", broken)
    monkeypatch.setattr(checks.disk_guard, "state", broken)
    body = detailed(client)
    assert body["status"] == "ok"
    assert body["notifications"] == {"error": "RuntimeError"} and body["disk_guard"] == {"error": "RuntimeError"}
    assert "boom" not in str(body)  # the message (which could hold a path or a secret) is not echoed


def test_the_additions_are_for_admins_only(app, client):
    from webapp.services.accounts.identity import create_token, create_user

    user = create_user("plainer", "a-long-password-123")
    response = client.get("/health/detailed", headers={"Authorization": f"Bearer {create_token(user, 'h')[1]}"})
    assert response.status_code == 403 and "process" not in response.get_data(as_text=True)
    assert client.get("/health").get_json() == {"status": "ok"}  # the public check says no more
