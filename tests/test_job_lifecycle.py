"""A job's status changes: each transition writes status, finished_at, dedupe_key and error
as one, refuses a status it may not leave, and every way a job ends lets its URL be queued
again (completed aside: that URL is downloaded already)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from jobs import recovery, runner
from jobs.engines.base import Cancelled, Progress
from webapp.core.vocabulary import CANCELLED, COMPLETED, DOWNLOADING, FAILED, PAUSED, QUEUED
from webapp.extensions import db
from webapp.models import Job
from webapp.models.base import utcnow
from webapp.models.job import IllegalTransition, Outcome
from webapp.services.admin import runtime_settings
from webapp.services.queue import job_control
from webapp.services.queue.submissions import submit

URL = "http://example.com/lifecycle"


def queued(url: str = URL) -> Job:
    """A job queued through the real submission path."""
    return db.session.get(Job, submit([url], principal=None).entries[0].job_id)


def downloading(url: str = URL) -> Job:
    job = queued(url)
    job.claim("host:1:boot")
    return job


def in_status(status: str) -> Job:
    """A job in `status`, reached through the transitions."""
    job = queued()
    if status == PAUSED:
        job.pause()
    elif status != QUEUED:
        job.claim("host:1:boot")
        if status != DOWNLOADING:
            job.finish(Outcome(status))
    assert job.status == status
    return job


# Each transition -----------------------------------------------------------------------------------


def test_claim_takes_a_queued_job_for_a_worker(app):
    job = queued()
    job.not_before, job.cancel_requested = utcnow(), True
    now = utcnow()
    job.claim("host:1:boot", now)
    assert job.status == DOWNLOADING and job.worker_tag == "host:1:boot"
    assert job.started_at == job.heartbeat_at == now and job.attempts == 1
    assert job.not_before is None and job.cancel_requested is False
    assert job.dedupe_key == URL and job.finished_at is None


def test_the_workers_atomic_claim_sets_what_claim_sets(app):
    """claim_next_job's one UPDATE takes its values from the same place as Job.claim."""
    job = queued()
    assert runner.claim_next_job() == job.id
    db.session.refresh(job)
    assert job.status == DOWNLOADING and job.worker_tag == runner.worker_tag() and job.attempts == 1
    assert job.started_at == job.heartbeat_at is not None
    values = Job.claim_values("w", utcnow())
    assert values["status"] == DOWNLOADING and set(values) >= {"worker_tag", "attempts", "cancel_requested"}


def test_progress_is_recorded_while_downloading(app):
    job = downloading()
    job.progress(Progress(bytes_done=10, bytes_total=100, speed=1234.56, eta=7.04, items_done=1, items_total=4,
                          current_file="x" * 600, title="T" * 600, resource_id="id"))
    assert (job.bytes_done, job.bytes_total, job.speed, job.eta) == (10, 100, 1234.6, 7.0)
    assert (job.items_done, job.items_total) == (1, 4)
    assert len(job.current_file) == 500 and len(job.title) == 500 and job.resource_id == "id"
    assert job.status == DOWNLOADING


def test_finish_completed_keeps_the_dedupe_key_and_clears_the_error(app):
    job = downloading()
    job.error = "Attempt 1 of 3 failed: HTTP 503"
    now = utcnow()
    job.finish(Outcome.COMPLETED, now=now)
    assert job.status == COMPLETED and job.finished_at == now
    assert job.dedupe_key == URL  # downloaded: the same URL is a duplicate
    assert job.error is None and job.worker_tag is None and job.heartbeat_at is None


@pytest.mark.parametrize("outcome", [Outcome.FAILED, Outcome.TIMED_OUT, Outcome.OVER_LIMIT])
def test_finish_as_failed_releases_the_url_and_says_why(app, outcome):
    job = downloading()
    job.finish(outcome, "why it failed")
    assert job.status == FAILED and job.finished_at is not None
    assert job.dedupe_key is None and job.error == "why it failed" and job.worker_tag is None


def test_finish_cancelled_releases_the_url_and_keeps_an_earlier_error(app):
    job = downloading()
    job.error = "Attempt 1 of 3 failed: HTTP 503"
    job.finish(Outcome.CANCELLED)
    assert job.status == CANCELLED and job.finished_at is not None and job.dedupe_key is None
    assert job.error == "Attempt 1 of 3 failed: HTTP 503"


@pytest.mark.parametrize("outcome", [Outcome.SHUTDOWN, Outcome.TAKEN_OVER])
def test_outcomes_that_do_not_end_the_job_cannot_finish_it(app, outcome):
    job = downloading()
    assert outcome.status is None
    with pytest.raises(ValueError):
        job.finish(outcome)
    assert job.status == DOWNLOADING


def test_requeue_gives_the_job_back_to_the_queue(app):
    job = downloading()
    later = utcnow() + timedelta(seconds=30)
    job.requeue("Attempt 1 of 3 failed: HTTP 503", not_before=later)
    assert job.status == QUEUED and job.dedupe_key == URL and job.finished_at is None
    assert job.error == "Attempt 1 of 3 failed: HTTP 503" and job.not_before == later
    assert job.worker_tag is None and job.heartbeat_at is None and job.attempts == 1


def test_requeue_can_refund_the_attempt(app):
    job = downloading()
    job.requeue(refund_attempt=True)
    assert job.status == QUEUED and job.attempts == 0 and job.error is None


@pytest.mark.parametrize("status", [QUEUED, PAUSED])
def test_cancel_ends_a_waiting_job_at_once(app, status):
    job = in_status(status)
    job.cancel()
    assert job.status == CANCELLED and job.finished_at is not None and job.dedupe_key is None


def test_request_cancel_asks_the_worker(app):
    job = downloading()
    job.request_cancel()
    assert job.cancel_requested is True and job.status == DOWNLOADING


def test_pause_and_resume(app):
    job = queued()
    job.pause()
    assert job.status == PAUSED and job.dedupe_key == URL
    job.resume()
    assert job.status == QUEUED and job.dedupe_key == URL


@pytest.mark.parametrize("status", [FAILED, CANCELLED])
def test_retry_starts_a_finished_job_from_scratch(app, status):
    job = in_status(status)
    job.error, job.cleared_at, job.bytes_done, job.items_done = "HTTP 404", utcnow(), 5, 2
    job.retry()
    assert job.status == QUEUED and job.dedupe_key == URL
    assert job.finished_at is None and job.cleared_at is None and job.error is None
    assert job.attempts == 0 and job.bytes_done == 0 and job.items_done == 0 and job.cancel_requested is False


# Illegal transitions ---------------------------------------------------------------------------------

ALLOWED = {
    "claim": {QUEUED},
    "progress": {DOWNLOADING},
    "finish": {DOWNLOADING},
    "requeue": {DOWNLOADING},
    "request_cancel": {DOWNLOADING},
    "cancel": {QUEUED, PAUSED},
    "pause": {QUEUED},
    "resume": {PAUSED},
    "retry": {FAILED, CANCELLED},
}
CALLS = {
    "claim": lambda job: job.claim("host:1:boot"),
    "progress": lambda job: job.progress(Progress(bytes_done=1)),
    "finish": lambda job: job.finish(Outcome.FAILED, "no"),
    "requeue": lambda job: job.requeue(),
    "request_cancel": lambda job: job.request_cancel(),
    "cancel": lambda job: job.cancel(),
    "pause": lambda job: job.pause(),
    "resume": lambda job: job.resume(),
    "retry": lambda job: job.retry(),
}
REFUSED = [(change, status) for change, allowed in ALLOWED.items()
           for status in (QUEUED, PAUSED, DOWNLOADING, COMPLETED, FAILED, CANCELLED) if status not in allowed]


@pytest.mark.parametrize("change,status", REFUSED)
def test_a_transition_from_a_status_it_may_not_leave_is_refused_and_changes_nothing(app, change, status):
    job = in_status(status)
    before = {column: getattr(job, column) for column in ("status", "finished_at", "dedupe_key", "error",
                                                           "attempts", "worker_tag", "cancel_requested")}
    with pytest.raises(IllegalTransition) as refused:
        CALLS[change](job)
    assert refused.value.status == status and f"is {status}" in str(refused.value)
    assert {column: getattr(job, column) for column in before} == before


def test_every_outcome_converts_from_an_engines_cancel_reason():
    assert Outcome(Cancelled().reason) is Outcome.CANCELLED
    assert [Outcome(o.value) for o in Outcome] == list(Outcome)


# Every way of ending lets the URL be queued again (through the real submit path) ---------------------


def submitted_again(url: str):
    return submit([url], principal=None).entries[0]


def claim_and_run(job_id: int) -> tuple[Outcome, Job]:
    assert runner.claim_next_job() == job_id
    outcome = runner.run_job(job_id)
    db.session.expire_all()
    return outcome, db.session.get(Job, job_id)


def assert_queued_again(url: str, old: Job) -> None:
    assert old.dedupe_key is None and old.finished_at is not None
    entry = submitted_again(url)
    assert not entry.duplicate and entry.job_id != old.id
    assert db.session.get(Job, entry.job_id).status == QUEUED


def test_a_completed_url_stays_a_duplicate(app, media_site):
    url = media_site.url("/img/7301.png")
    job = queued(url)
    outcome, done = claim_and_run(job.id)
    assert outcome is Outcome.COMPLETED and done.status == COMPLETED
    entry = submitted_again(url)
    assert entry.duplicate and entry.job_id == done.id


def test_a_failed_url_can_be_queued_again(app, media_site):
    url = media_site.url("/missing.jpg")
    job = queued(url)
    outcome, failed = claim_and_run(job.id)
    assert outcome is Outcome.FAILED and failed.status == FAILED and failed.error
    assert_queued_again(url, failed)


def test_a_timed_out_url_can_be_queued_again(app, media_site):
    runtime_settings.save({runtime_settings.TIMEOUT: "1"})
    url = media_site.url("/slow/lifecycle-timeout.jpg?kb=2048&rate=64")
    job = queued(url)
    outcome, timed_out = claim_and_run(job.id)
    assert outcome is Outcome.TIMED_OUT and timed_out.status == FAILED and "Timed out" in timed_out.error
    assert_queued_again(url, timed_out)


def test_a_url_cancelled_while_downloading_can_be_queued_again(app, media_site):
    url = media_site.url("/slow/lifecycle-cancel.jpg?kb=2048&rate=64")
    job = queued(url)
    assert runner.claim_next_job() == job.id
    db.session.refresh(job)
    job_control.cancel(job)  # asks the worker; its monitor stops the download
    outcome = runner.run_job(job.id)
    db.session.expire_all()
    cancelled = db.session.get(Job, job.id)
    assert outcome is Outcome.CANCELLED and cancelled.status == CANCELLED
    assert_queued_again(url, cancelled)


@pytest.mark.parametrize("how", [job_control.cancel, job_control.remove])
def test_a_waiting_url_cancelled_or_removed_can_be_queued_again(app, how):
    job = queued()
    how(job)
    assert job.status == CANCELLED
    assert_queued_again(URL, job)


def test_a_url_whose_worker_died_on_every_attempt_can_be_queued_again(app):
    job = downloading()
    job.attempts, job.heartbeat_at = runner.MAX_ATTEMPTS, utcnow() - timedelta(minutes=5)
    db.session.commit()
    assert recovery.requeue_orphans() == []
    db.session.refresh(job)
    assert job.status == FAILED
    assert_queued_again(URL, job)


def test_a_failed_job_retried_takes_its_url_back(app, media_site):
    url = media_site.url("/missing.jpg")
    job = queued(url)
    _, failed = claim_and_run(job.id)
    job_control.retry(failed)
    assert failed.status == QUEUED and failed.dedupe_key == url
    entry = submitted_again(url)
    assert entry.duplicate and entry.job_id == failed.id


def test_a_run_whose_job_was_taken_back_meanwhile_writes_nothing(app, media_site):
    """A watchdog queued the job again while it ran: the run's outcome is not recorded."""
    url = media_site.url("/img/7302.png")
    job = queued(url)
    assert runner.claim_next_job() == job.id
    db.session.refresh(job)
    job.requeue("Worker stopped while downloading; queued again")
    db.session.commit()
    assert runner.run_job(job.id) is Outcome.TAKEN_OVER
    db.session.expire_all()
    back = db.session.get(Job, job.id)
    assert back.status == QUEUED and back.files == [] and back.finished_at is None
