"""GET /api/v1/queue/status: its shape, what a user sees (their own jobs only), the workers,
the windows, and the estimated time left (webapp/services/queue/status.py)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import assert_api_error

from jobs import runner
from webapp.extensions import db
from webapp.models import Job
from webapp.models.base import utcnow
from webapp.services.accounts.identity import Principal
from webapp.services.queue import heartbeat, start_stop
from webapp.services.queue import status as queue_status
from webapp.services.queue.submissions import submit

KEYS = {"paused", "stopped", "counts", "running", "workers", "window", "disk_guard", "eta_seconds",
        "average_download_seconds"}


def completed_download(url: str, seconds: float, user=None) -> int:
    """A job completed in `seconds` (its times set as a worker would have)."""
    job_id = submit([url], principal=Principal(user=user) if user else None).entries[0].job_id
    job = db.session.get(Job, job_id)
    finished = utcnow() - timedelta(minutes=5)
    job.status, job.started_at, job.finished_at = "completed", finished - timedelta(seconds=seconds), finished
    job.dedupe_key = None
    db.session.commit()
    return job_id


def test_status_has_the_seed_shape_and_the_estimate(client, api_callers):
    heartbeat.beat()
    completed_download("http://example.com/done-1", 10)
    completed_download("http://example.com/done-2", 20)
    running_id = submit(["http://example.com/running"], principal=None).entries[0].job_id
    assert runner.claim_next_job() == running_id
    running = db.session.get(Job, running_id)
    running.title, running.bytes_done, running.bytes_total, running.speed = "Running", 1000, 5000, 100.0
    db.session.commit()
    for n in range(4):
        submit([f"http://example.com/waiting-{n}"], principal=None)
    body = client.get("/api/v1/queue/status", headers=api_callers["admin"]).get_json()
    assert set(body) == KEYS
    assert body["paused"] is False and body["stopped"] is False
    assert body["counts"]["queued"] == 4 and body["counts"]["downloading"] == 1
    assert body["running"] == [{"id": running_id, "title": "Running", "url": "http://example.com/running",
                                "progress": body["running"][0]["progress"], "speed": 100.0,
                                "started_at": body["running"][0]["started_at"]}]
    assert body["running"][0]["progress"]["bytes_done"] == 1000
    assert body["workers"]["alive"] is True and body["workers"]["concurrency"] == 8
    assert body["window"]["enabled"] is False and body["window"]["open"] is True
    assert body["disk_guard"] is not None
    # 4000 bytes at 100 B/s = 40 s running; then 4 queued × 15 s average ÷ 8 slots = 7.5 s.
    assert body["average_download_seconds"] == 15.0
    assert body["eta_seconds"] == pytest.approx(47.5)


def test_a_user_sees_only_their_own_jobs_in_the_status(client, api_callers):
    alice, root = api_callers.alice, api_callers.root
    submit(["http://example.com/roots-1"], principal=Principal(user=root))
    submit(["http://example.com/roots-2"], principal=Principal(user=root))
    own = submit(["http://example.com/alices"], principal=Principal(user=alice)).entries[0].job_id
    roots_running = submit(["http://example.com/roots-running"], principal=Principal(user=root)).entries[0].job_id
    db.session.get(Job, roots_running).priority = 100
    db.session.commit()
    assert runner.claim_next_job() == roots_running
    mine = client.get("/api/v1/queue/status", headers=api_callers["read"]).get_json()
    assert mine["counts"]["queued"] == 1 and mine["counts"]["downloading"] == 0
    assert mine["running"] == []  # root's download is not hers to see
    everyone = client.get("/api/v1/queue/status", headers=api_callers["admin"]).get_json()
    assert everyone["counts"]["queued"] == 3 and [job["id"] for job in everyone["running"]] == [roots_running]
    assert own


def test_status_needs_the_read_scope(client, api_callers):
    assert_api_error(client.get("/api/v1/queue/status", headers=api_callers["submit"]), 403)
    assert_api_error(client.get("/api/v1/queue/status"), 401)


def test_stopped_and_paused_queues_have_no_estimate(client, api_callers):
    completed_download("http://example.com/done", 10)
    submit(["http://example.com/waits"], principal=None)
    start_stop.stop()
    body = client.get("/api/v1/queue/status", headers=api_callers["admin"]).get_json()
    assert body["stopped"] is True and body["paused"] is True and body["eta_seconds"] is None


def test_without_history_a_waiting_queue_has_no_estimate_and_an_empty_one_zero(client, api_callers):
    body = client.get("/api/v1/queue/status", headers=api_callers["admin"]).get_json()
    assert body["eta_seconds"] == 0 and body["average_download_seconds"] is None
    submit(["http://example.com/first-ever"], principal=None)
    body = client.get("/api/v1/queue/status", headers=api_callers["admin"]).get_json()
    assert body["eta_seconds"] is None


def test_the_estimate_rule():
    # Running side by side: the longest counts; then the queued share the slots.
    assert queue_status.estimate_seconds([30.0, 10.0], queued=6, average=20.0, concurrency=3) == 30 + 40
    # A closed window: queued jobs start at its opening at the earliest.
    assert queue_status.estimate_seconds([10.0], queued=2, average=20.0, concurrency=2, wait_seconds=600) == 620
    assert queue_status.estimate_seconds([], queued=0, average=None, concurrency=2) == 0
    assert queue_status.estimate_seconds([None], queued=0, average=None, concurrency=2) is None


def test_a_running_downloads_time_left_uses_the_best_figure_it_has():
    now = utcnow()
    job = Job(eta=12.0, bytes_done=0, bytes_total=100, speed=1.0, started_at=now)
    assert queue_status.running_remaining(job, 50.0, now) == 12.0  # the tool's own ETA
    job = Job(eta=None, bytes_done=40, bytes_total=100, speed=2.0, started_at=now)
    assert queue_status.running_remaining(job, 50.0, now) == 30.0  # remaining bytes / speed
    job = Job(eta=None, bytes_done=0, bytes_total=None, speed=None, started_at=now - timedelta(seconds=20))
    assert queue_status.running_remaining(job, 50.0, now) == pytest.approx(30.0)  # the average, less its time so far
    assert queue_status.running_remaining(job, None, now) is None
