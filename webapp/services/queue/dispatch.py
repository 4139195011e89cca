"""Waking the download workers.

The job rows are the queue's truth: a Huey task carries no job id, it asks the worker to
claim the next runnable job (priority, then age). One task is enqueued per job that becomes
runnable, and `top_up()` re-creates tasks when rows and Huey disagree (after a crash, or when
the web died between its commit and its enqueue).
"""
from __future__ import annotations

import functools

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Job, Setting
from webapp.models.job import DOWNLOADING, QUEUED


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
    """Wake-up tasks waiting in Huey, those scheduled for later (retries) included."""
    from jobs import huey

    return huey.pending_count() + huey.scheduled_count()


def _ready_wakeups() -> int:
    from jobs import huey

    return huey.pending_count()


@functools.cache
def _startable_query():
    from webapp.services.queue import pause as queue_state
    from webapp.services.admin import runtime_settings

    jobs, settings = Job.__table__, Setting.__table__

    def setting(key):
        return select(settings.c.value).where(settings.c.key == key).scalar_subquery()

    def count(status):
        return select(func.count()).select_from(jobs).where(jobs.c.status == status).scalar_subquery()

    return select(setting(queue_state.PAUSED_KEY), setting(runtime_settings.CONCURRENCY), count(QUEUED),
                  count(DOWNLOADING))


def _startable() -> tuple[int, int]:
    """(queued jobs, free download slots), both 0 while the queue is paused — in one query
    built once: this runs after every submission."""
    from webapp.services.admin import runtime_settings

    paused, concurrency, queued, running = db.session.connection().execute(_startable_query()).one()
    if paused:
        return 0, 0
    return queued, max(0, runtime_settings.concurrency_of(concurrency) - running)


def top_up(release_session: bool = True) -> int:
    """Enqueue tasks until there is one per queued job that may start now; returns how many were added.

    "May start now": the queue is not paused, and no more than the download concurrency has
    room for. Claims beyond it are refused, so more tasks would only be used up in vain — each
    costs a worker a dequeue and a claim (a burst of 1,000 links would otherwise be 1,000 idle
    wake-ups); each job that ends tops up again, `resume_all` does when the queue is resumed, and
    the watchdog every few seconds. Tasks scheduled for later (a retry's backoff) are not
    counted: they claim whatever is next when they fire, and must not hold a new job back.
    `release_session` hands the database connection back before the enqueue (callers that
    still use their session's objects, like a submission, keep it).
    """
    queued, room = _startable()
    if release_session:
        db.session.remove()
    missing = min(queued, room) - _ready_wakeups() if room else 0
    wake_workers(missing)
    return max(missing, 0)
