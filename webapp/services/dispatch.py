"""Waking the download workers.

The job rows are the queue's truth: a Huey task carries no job id, it asks the worker to
claim the next runnable job (priority, then age). One task is enqueued per job that becomes
runnable, and `top_up()` re-creates tasks when rows and Huey disagree (after a crash, or when
the web died between its commit and its enqueue).
"""
from __future__ import annotations

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Job
from webapp.models.job import QUEUED


def wake_workers(count: int = 1, delay: float | None = None) -> None:
    """Enqueue `count` wake-up tasks, optionally to run after `delay` seconds."""
    if count <= 0:
        return
    from jobs.tasks import process_next  # the web imports the worker's task lazily

    for _ in range(count):
        if delay:
            process_next.schedule(delay=delay)
        else:
            process_next()


def pending_wakeups() -> int:
    from jobs import huey

    return huey.pending_count() + huey.scheduled_count()


def top_up() -> int:
    """Enqueue tasks until there is one per queued job that may start now; returns how many were added.

    "May start now": no more than the download concurrency has room for. Claims beyond it are
    refused, so more tasks would only be used up in vain (and the watchdog tops up every few
    seconds); each job that ends tops up again.
    """
    from webapp.services import runtime_settings

    queued = db.session.scalar(select(func.count(Job.id)).where(Job.status == QUEUED)) or 0
    room = runtime_settings.free_slots()
    db.session.remove()
    missing = min(queued, room) - pending_wakeups()
    wake_workers(missing)
    return max(missing, 0)
