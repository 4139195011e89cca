"""Nothing is lost: jobs whose worker died go back to the queue.

Huey runs a task at most once, so a task that was running when its consumer was killed is
gone from Huey. The job row still says `downloading`, with the worker's tag and heartbeat:
when that worker is gone (its process is dead on this host, or its heartbeat — the lease its worker renews every
few seconds, jobs/lease.py — has expired), the job is queued again and a wake-up task enqueued.
This runs when a consumer starts and, once per period across every worker and host, in the
watchdog thread (jobs/worker.py). A worker that cannot renew its lease stops the download itself
before the lease runs out, so a job is never downloaded twice at once.
"""
from __future__ import annotations

import logging
import os

from sqlalchemy import select

from jobs import lease, runner
from webapp.core.vocabulary import DOWNLOADING, ITEM
from webapp.extensions import db
from webapp.models import Job
from webapp.models.job import Outcome
from webapp.services.queue import collections, dispatch, events
from webapp.services.subscriptions import runs as subscription_runs

log = logging.getLogger(__name__)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child nobody has reaped yet is a zombie: dead for our purposes
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def is_orphaned(job: Job, now) -> bool:
    """True when the worker that claimed `job` is certainly gone."""
    if job.heartbeat_at is None or now - job.heartbeat_at > lease.stale_after():
        return True
    host, _, rest = (job.worker_tag or "").partition(":")
    pid_text, _, boot_id = rest.partition(":")
    if host != runner.HOSTNAME or not pid_text.isdigit():
        return False  # another machine: only its heartbeat can tell
    pid = int(pid_text)
    if pid == os.getpid():
        return boot_id != runner.BOOT_ID  # our pid, but an earlier life (e.g. pid 1 in a container)
    return not _pid_alive(pid)


def requeue_orphans() -> list[int]:
    """Queue again every downloading job whose worker is gone; returns their ids."""
    now = lease.database_now()  # the clock the leases were written with
    recovered = []
    # Items only: a collection that queued its children has no worker (it follows them).
    # FOR UPDATE SKIP LOCKED on PostgreSQL: the rows judged stay as read until the commit, so two
    # hosts recovering at once cannot both re-queue a job (the second would re-queue it again
    # after a third worker claimed it); a row another transaction holds (its worker renewing its
    # lease this instant) is alive anyway. SQLite has one writer at a time and ignores the clause.
    candidates = select(Job).where(Job.status == DOWNLOADING, Job.kind == ITEM).with_for_update(skip_locked=True)
    for job in db.session.scalars(candidates).all():
        if not is_orphaned(job, now):
            continue
        if job.attempts >= runner.MAX_ATTEMPTS:
            # The URL killed its worker on every attempt: stop trying.
            job.finish(Outcome.FAILED, f"The worker stopped during each of {job.attempts} attempts", now=now)
            events.publish_job(events.FAILED, job)
            collections.refresh_parent(job.parent_id, now)
            subscription_runs.listing_ended(job)
        else:
            job.requeue("Worker stopped while downloading; queued again")
            events.publish_job(events.STATUS, job)
            recovered.append(job.id)
    db.session.commit()
    if recovered:
        log.warning("re-queued %d job(s) left by a stopped worker: %s", len(recovered), recovered)
    return recovered


def recover() -> None:
    """Requeue orphans, settle collections whose children all ended, and make sure every queued
    job has a wake-up task."""
    requeue_orphans()
    collections.refresh_stale_parents()
    added = dispatch.top_up()
    if added:
        log.info("enqueued %d wake-up task(s) for queued jobs", added)
