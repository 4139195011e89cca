"""Waking the download workers.

The job rows are the queue's truth: a Huey task carries no job id, it asks the worker to
claim the next runnable job (priority, then age). One task is enqueued per job that becomes
runnable, and `top_up()` re-creates tasks when rows and Huey disagree (after a crash, or when
the web died between its commit and its enqueue).

The services reach the workers only through `WorkerQueue`, the small interface below: the
worker's side (Huey tasks, jobs/tasks.py) implements it, and the app factory connects it. So
the services never import `jobs`, and `jobs` may import the services.
"""
from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path
from typing import Protocol

from sqlalchemy import func, select

from webapp.core.listings import Listing
from webapp.core.vocabulary import DOWNLOADING, ITEM, QUEUED
from webapp.extensions import db
from webapp.models import Job, Setting
from webapp.services.admin import runtime_settings
from webapp.services.queue import pause as queue_state
from webapp.services.queue import windows


class WorkerQueue(Protocol):
    """What the services ask of the download workers' queue."""

    def process_next(self, delay: float | None = None) -> None:
        """Ask a worker to claim the next runnable job (after `delay` seconds, if given)."""

    def make_thumbnails(self, job_id: int) -> None:
        """Ask a worker to make the thumbnails of a job the web completed itself (an upload)."""

    def check_subscriptions(self) -> None:
        """Ask a worker for a scheduler pass now (a subscription became due)."""

    def rescan_library(self, rescan_id: int) -> None:
        """Ask a worker to run the library rescan `rescan_id` (webapp/services/library/rescan.py)."""

    def ready_count(self) -> int:
        """Wake-ups waiting to be taken now."""

    def scheduled_count(self) -> int:
        """Wake-ups scheduled for later (a retry's backoff)."""


_worker_queue: WorkerQueue | None = None


def connect(worker_queue: WorkerQueue) -> None:
    """Called once per process by the app factory."""
    global _worker_queue
    _worker_queue = worker_queue


def worker_queue() -> WorkerQueue:
    if _worker_queue is None:
        raise RuntimeError("no worker queue connected: build the app with webapp.create_app()")
    return _worker_queue


def wake_workers(count: int = 1, delay: float | None = None) -> None:
    """Enqueue `count` wake-up tasks, optionally to run after `delay` seconds."""
    for _ in range(max(0, count)):
        worker_queue().process_next(delay)


def check_subscriptions_soon() -> None:
    """A subscription was created, enabled or rescheduled: start what is due without waiting
    for the scheduler's next minute."""
    worker_queue().check_subscriptions()


def make_thumbnails_later(job_id: int) -> None:
    worker_queue().make_thumbnails(job_id)


def rescan_library_later(rescan_id: int) -> None:
    worker_queue().rescan_library(rescan_id)


def pending_wakeups() -> int:
    """Wake-up tasks waiting in Huey, those scheduled for later (retries) included."""
    return worker_queue().ready_count() + worker_queue().scheduled_count()


def _ready_wakeups() -> int:
    return worker_queue().ready_count()


@functools.cache
def _startable_query():
    jobs, settings = Job.__table__, Setting.__table__

    def setting(key):
        return select(settings.c.value).where(settings.c.key == key).scalar_subquery()

    def count(status):
        # Items only: a collection downloading its children holds no slot of its own.
        return (select(func.count()).select_from(jobs).where(jobs.c.status == status, jobs.c.kind == ITEM)
                .scalar_subquery())

    return select(setting(queue_state.PAUSED_KEY), setting(runtime_settings.CONCURRENCY), count(QUEUED),
                  count(DOWNLOADING))


def _startable() -> tuple[int, int]:
    """(queued jobs, free download slots), both 0 while the queue is paused — in one query
    built once: this runs after every submission."""
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
    if queued and room and not windows.may_start_any():
        # Outside the download windows only the jobs marked "now" may start: the others get their
        # wake-ups from the watchdog's top-up when a window opens (jobs/recovery.py, every 5 s).
        queued = db.session.scalar(select(func.count(Job.id)).where(
            Job.status == QUEUED, Job.kind == ITEM, Job.run_now.is_(True))) or 0
    if release_session:
        db.session.remove()
    missing = min(queued, room) - _ready_wakeups() if room else 0
    wake_workers(missing)
    return max(missing, 0)


# -- listing a collection for a preview ---------------------------------------------------------

PROJECT_ROOT = Path(__file__).resolve().parents[3]


class ListingFailed(Exception):
    """A preview's listing failed; the message says why in the tool's words."""


def list_collection(url: str, engine: str | None, public_only: bool, timeout: float = 60.0) -> Listing:
    """List what a collection URL holds without downloading anything (a subscription's preview).

    Runs `python -m jobs.listing` (jobs/listing.py): a process of its own, so the web never
    loads the download tools and a preview never waits for a busy worker. Under gevent the
    wait yields to the other requests (subprocess is patched).
    """
    request = json.dumps({"url": url, "engine": engine, "public_only": public_only})
    try:
        done = subprocess.run([sys.executable, "-m", "jobs.listing", request], cwd=PROJECT_ROOT,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ListingFailed(f"Listing the source took longer than {int(timeout)} seconds") from None
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    try:
        answer = json.loads(lines[-1])
    except (IndexError, ValueError):
        raise ListingFailed("The listing process ended without an answer") from None
    if "error" in answer:
        raise ListingFailed(answer["error"])
    return Listing.from_json(answer["listing"])
