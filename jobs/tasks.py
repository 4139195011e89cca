"""Huey tasks: thin wrappers that take no ORM objects and call the runner.

`worker_queue` is this side of `webapp.services.queue.dispatch.WorkerQueue`: the app factory
connects it, and the services enqueue through it without importing `jobs`.
"""
from __future__ import annotations

import threading

from flask import current_app, has_app_context
from huey import crontab

from jobs import huey, thumbnails
from webapp import create_app

_app = None
_app_lock = threading.Lock()


def worker_app():
    """The Flask app of this worker process, built once (the caller's app in immediate mode)."""
    global _app
    if has_app_context():
        return current_app._get_current_object()
    with _app_lock:
        if _app is None:
            _app = create_app(role="worker")
        return _app


@huey.task()
def process_next():
    """Claim the next runnable job (priority, then age) and download it."""
    # Imported here, not at the top: the web process imports this module to enqueue, and the
    # runner brings the engines (yt-dlp's extractors alone are ~30 MB) that only workers use.
    from jobs import runner

    with worker_app().app_context():
        job_id = runner.claim_next_job()
        if job_id is not None:
            return runner.run_job(job_id)
    return None


@huey.task()
def make_thumbnails(job_id: int):
    """Thumbnails for a job the web completed itself (an uploaded file), made by the worker,
    which owns thumbnail making (jobs/thumbnails.py)."""
    with worker_app().app_context():
        thumbnails.after_job_completed(job_id)


@huey.periodic_task(crontab(minute="*"))
def fire_subscriptions():
    """The subscriptions' scheduler, every minute on every worker: starts the runs that are due.

    Each due subscription is claimed atomically (webapp/services/subscriptions/runs.py), so
    workers passing at once — on one host or several — start each run once.
    """
    from webapp.services.subscriptions import runs

    with worker_app().app_context():
        runs.fire_due()


@huey.periodic_task(crontab(minute="*/5"))
def daily_housekeeping():
    """The scheduled backup and the history cleanup, each claimed once a day across every worker
    (webapp/services/admin/housekeeping.py); most passes find nothing due (two small queries)."""
    from webapp.services.admin import housekeeping

    with worker_app().app_context():
        housekeeping.run_due(current_app.config["HAUL"])


@huey.task()
def check_subscriptions():
    """A scheduler pass now (a subscription was created or its schedule changed), not at the minute."""
    fire_subscriptions.call_local()


@huey.task()
def rescan_library(rescan_id: int):
    """Run the library rescan an admin asked for, in a thread of its own (jobs/library_rescan.py)."""
    from jobs import library_rescan

    library_rescan.run_in_worker(worker_app(), rescan_id)


class HueyWorkerQueue:
    """The services' `WorkerQueue` on this Huey instance."""

    def process_next(self, delay: float | None = None) -> None:
        if delay:
            process_next.schedule(delay=delay)
        else:
            process_next()

    def make_thumbnails(self, job_id: int) -> None:
        make_thumbnails(job_id)

    def check_subscriptions(self) -> None:
        check_subscriptions()

    def rescan_library(self, rescan_id: int) -> None:
        rescan_library(rescan_id)

    def ready_count(self) -> int:
        return huey.pending_count()

    def scheduled_count(self) -> int:
        return huey.scheduled_count()


worker_queue = HueyWorkerQueue()
