"""/health (public) and /health/detailed (admin token): database, storage, worker, queue, versions."""
from __future__ import annotations

import dataclasses

import pytest
from conftest import API_TOKEN

ADMIN = {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture
def worker_alive(app):
    from webapp.services.queue import heartbeat as worker_heartbeat

    worker_heartbeat.beat()


def test_health_is_public(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_detailed_health_needs_a_token(client):
    response = client.get("/health/detailed")
    assert response.status_code == 401
    assert response.get_json()["error_code"] == "missing_token"
    assert client.get("/health/detailed", headers={"Authorization": "Bearer not-a-real-token"}).status_code == 401


def test_detailed_health_needs_an_admin(app, client):
    from webapp.services.accounts.identity import create_token, create_user

    user = create_user("plain", "a-long-password-123")
    secret = create_token(user, "health")[1]
    response = client.get("/health/detailed", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 403


def test_detailed_health_reports_every_check_and_the_tool_versions(client, worker_alive):
    response = client.get("/health/detailed", headers=ADMIN)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "ok"
    checks = body["checks"]
    assert checks["database"]["ok"] is True
    assert checks["storage"]["writable"] is True and checks["storage"]["free_bytes"] > 0
    assert checks["worker"]["ok"] is True and checks["worker"]["heartbeat_at"]
    assert checks["worker"]["pending_tasks"] is not None
    assert checks["queue"] == {"ok": True, "queued": 0, "downloading": 0}
    versions = body["versions"]
    assert versions["gallery-dl"] and versions["yt-dlp"]
    assert versions["ffmpeg"] is None or versions["ffmpeg"][0].isdigit()  # None where ffmpeg is missing


def test_no_worker_heartbeat_means_503(client):
    response = client.get("/health/detailed", headers=ADMIN)
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert body["checks"]["worker"]["ok"] is False and body["checks"]["worker"]["heartbeat_at"] is None
    assert body["versions"]["yt-dlp"]  # still reported


def test_an_unwritable_storage_root_means_503(app, client, worker_alive, tmp_path):
    # The tests run as root, so permissions would not stop a write: make the root a plain file.
    not_a_folder = tmp_path / "not-a-folder"
    not_a_folder.write_text("x")
    app.config["HAUL"] = dataclasses.replace(app.config["HAUL"], storage_root=not_a_folder)
    response = client.get("/health/detailed", headers=ADMIN)
    assert response.status_code == 503
    storage = response.get_json()["checks"]["storage"]
    assert storage["ok"] is False and storage["writable"] is False
    assert client.get("/health").status_code == 200  # the public check only asks the database


def test_ffmpeg_version_parsing_handles_a_missing_tool():
    from webapp.health import checks

    assert checks.ffmpeg_version("no-such-ffmpeg-binary") is None
