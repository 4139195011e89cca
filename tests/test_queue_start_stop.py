"""Queue start/stop (in-process): who may, what the state becomes, what the monitor of a
running job does when the queue is stopped, and the queue page's Stop button. The live
interruption of a real download is tests/test_queue_start_stop_e2e.py."""
from __future__ import annotations

import threading

from conftest import assert_api_error
from support.web import htmx_post

from jobs import runner
from webapp.extensions import db
from webapp.models import Job
from webapp.models.job import Outcome
from webapp.services.queue import job_control, start_stop
from webapp.services.queue import pause as queue_state
from webapp.services.queue.submissions import submit


def new_job(url: str) -> int:
    return submit([url], principal=None).entries[0].job_id


def test_users_and_read_tokens_may_not_stop_or_start(client, api_callers):
    for caller in ("user", "read", "submit"):
        assert_api_error(client.post("/api/v1/queue/stop", headers=api_callers[caller]), 403)
        assert_api_error(client.post("/api/v1/queue/start", headers=api_callers[caller]), 403)
    assert_api_error(client.post("/api/v1/queue/stop", headers=api_callers["anonymous"]), 401)
    assert not queue_state.is_paused() and not queue_state.is_stopped()


def test_stop_pauses_and_marks_stopped_and_start_ends_both(client, api_callers):
    job_id = new_job("http://example.com/waiting")
    stopped = client.post("/api/v1/queue/stop", headers=api_callers["admin"])
    assert stopped.status_code == 200
    assert stopped.get_json() == {"paused": True, "stopped": True, "interrupted": 0}
    assert queue_state.is_paused() and queue_state.is_stopped()
    assert runner.claim_next_job() is None  # nothing starts while stopped
    started = client.post("/api/v1/queue/start", headers=api_callers["admin"])
    assert started.status_code == 200
    assert started.get_json() == {"paused": False, "stopped": False, "waiting": 1}
    assert not queue_state.is_paused() and not queue_state.is_stopped()
    assert runner.claim_next_job() == job_id


def test_resume_all_also_ends_a_stop(app):
    """A stop left behind by a resume would turn the next pause into a stop: resume clears it."""
    start_stop.stop()
    job_control.resume_all()
    assert not queue_state.is_stopped()
    job_control.pause_all()
    assert queue_state.is_paused() and not queue_state.is_stopped()


def test_the_monitor_of_a_running_job_turns_a_stop_into_a_requeue(app):
    """What the worker does (jobs/runner.py): the job's monitor sees the stop within a poll and
    sets its cancel event with the SHUTDOWN outcome, which puts the job back in the queue with
    its attempt not counted."""
    job_id = new_job("http://example.com/running")
    assert runner.claim_next_job() == job_id
    cancel, stop_info = threading.Event(), runner._Stop()
    monitor = runner._Monitor(app, job_id, 0, cancel, stop_info)
    monitor.start()
    try:
        start_stop.stop()
        assert cancel.wait(5), "the monitor did not see the stop"
        assert stop_info.reason is Outcome.SHUTDOWN
    finally:
        monitor.finished.set()
        monitor.join()
    job = db.session.get(Job, job_id)
    job.requeue(refund_attempt=True)  # what _finish does with SHUTDOWN
    db.session.commit()
    assert (job.status, job.attempts) == ("queued", 0)


def test_stop_counts_the_downloads_it_interrupts(app):
    job_id = new_job("http://example.com/one-running")
    assert runner.claim_next_job() == job_id
    assert start_stop.stop() == 1


# The queue page --------------------------------------------------------------------------------


def test_the_toolbar_has_stop_for_admins_with_a_confirm(admin_client, admin):
    page = admin_client.get("/").get_data(as_text=True)
    assert 'id="queue-stop"' in page and "hx-confirm=" in page
    answer = htmx_post(admin_client, "/queue/stop")
    assert answer.status_code == 200
    text = answer.get_data(as_text=True)
    assert "The queue is stopped." in text and 'id="queue-start"' in text and 'id="queue-stop"' not in text
    answer = htmx_post(admin_client, "/queue/start")
    assert answer.status_code == 200 and "The queue is stopped." not in answer.get_data(as_text=True)
    assert not queue_state.is_paused()


def test_users_have_no_stop_button_and_get_403(alice_client, alice):
    page = alice_client.get("/").get_data(as_text=True)
    assert 'id="queue-stop"' not in page
    assert htmx_post(alice_client, "/queue/stop").status_code == 403
    assert htmx_post(alice_client, "/queue/start").status_code == 403
    assert not queue_state.is_stopped()
