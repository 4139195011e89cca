"""Starting a job "now": past the download windows (webapp/services/queue/windows.py).

A job marked `run_now` may be claimed while the windows are closed; everything else about it
stays (the pause, the concurrency, its place in the queue). Marking one is an admin's choice:
the windows are the admin's rule for when this server's network and disk are busy, and a user
who could mark their own jobs could ignore it for every link they send (as a user may not give
a priority above "high"). The command line (no principal) is an operator's, as for priorities.
"""
from __future__ import annotations

from sqlalchemy import update

from webapp.core.vocabulary import COLLECTION, PAUSED, QUEUED
from webapp.errors import Conflict, Forbidden, Invalid
from webapp.extensions import db
from webapp.models import Job
from webapp.services.accounts.identity import Principal
from webapp.services.queue import dispatch, events

WAITING = (QUEUED, PAUSED)


def check_run_now(value, principal: Principal | None) -> bool:
    """`value` when it is a boolean `principal` may give; Invalid (422) or Forbidden (403
    `run_now_reserved`) otherwise."""
    if not isinstance(value, bool):
        raise Invalid("run_now must be true or false", error_code="invalid_run_now")
    if value and principal is not None and not principal.is_admin:
        raise Forbidden("Only an admin may start a job outside the download windows", error_code="run_now_reserved")
    return value


def start_now(job: Job, principal: Principal | None) -> Job:
    """Mark a waiting job to start outside the download windows, and wake a worker for it.

    A collection: its waiting entries (and the entries it lists later). A paused job is marked
    and stays paused until resumed. Marking a marked job again changes nothing."""
    check_run_now(True, principal)
    if job.kind == COLLECTION:
        db.session.execute(update(Job).where(Job.parent_id == job.id, Job.status.in_(WAITING))
                           .values(run_now=True))
    elif job.status not in WAITING:
        raise Conflict(f"Job {job.id} is {job.status}; only a queued or paused job can be started now",
                       error_code="not_waiting")
    if not job.run_now:
        job.run_now = True
        events.publish_job(events.STATUS, job)
    db.session.commit()
    dispatch.top_up(release_session=False)  # the caller answers with the job
    return job
