"""Cancel and retry: the rules for changing a job from outside the worker."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from webapp.errors import Conflict, NotFound
from webapp.extensions import db
from webapp.models import Job
from webapp.models.base import utcnow
from webapp.models.job import CANCELLED, DOWNLOADING, FAILED, QUEUED
from webapp.services import dispatch, events
from webapp.services.accounts import Principal


def get_visible_job(job_id: int, principal: Principal) -> Job:
    """The job, if it exists and `principal` may see it (else 404: existence is not leaked)."""
    job = db.session.get(Job, job_id)
    if job is None or not principal.can_see(job.user_id):
        raise NotFound(f"No job with id {job_id}", error_code="job_not_found")
    return job


def cancel(job: Job) -> Job:
    """Cancel a queued job at once; ask the worker to stop a running one (it confirms)."""
    if job.status == QUEUED:
        job.status = CANCELLED
        job.dedupe_key = None
        job.finished_at = utcnow()
        events.publish_job(events.CANCELLED, job)
    elif job.status == DOWNLOADING:
        job.cancel_requested = True
    else:
        raise Conflict(f"Job {job.id} is {job.status}; only queued or downloading jobs can be cancelled",
                       error_code="not_cancellable")
    db.session.commit()
    return job


def retry(job: Job) -> Job:
    """Queue a failed or cancelled job again from scratch."""
    if job.status not in (FAILED, CANCELLED):
        raise Conflict(f"Job {job.id} is {job.status}; only failed or cancelled jobs can be retried",
                       error_code="not_retryable")
    active = db.session.scalar(
        select(Job.id).where(Job.dedupe_key == job.url, Job.id != job.id)
    )
    if active is not None:
        raise Conflict(f"This URL is already queued or downloaded as job {active}", error_code="duplicate",
                       extra={"duplicate_of": active})
    job.status = QUEUED
    job.dedupe_key = job.url
    job.error = None
    job.attempts = 0
    job.not_before = None
    job.cancel_requested = False
    job.finished_at = None
    job.bytes_done, job.bytes_total, job.speed, job.eta = 0, None, None, None
    job.items_done, job.items_total, job.current_file = 0, None, None
    events.publish_job(events.STATUS, job)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("This URL was queued again meanwhile", error_code="duplicate") from None
    dispatch.wake_workers(1)
    return job
