"""The queue's status in one answer (GET /api/v1/queue/status, the Aniworld seed's shape):
whether it is paused or stopped, counts per status, what runs now, the workers, the download
windows, the disk guard and the estimated time left.

What a caller sees is what the queue page shows them: an admin everyone's jobs, a user (or a
token of theirs) only their own — counts, running downloads and the estimate alike. The
queue-wide facts (paused, stopped, workers, windows, disk guard) are everyone's to know: they
say why their jobs wait.

The estimate (`eta_seconds`), documented in docs/operations.md:
- each running download's own estimate (the tool's ETA, else remaining bytes / current speed,
  else the recent average download time minus how long it has run); they run side by side, so
  the longest counts;
- then the queued jobs: their number × the average download time of the last 50 completed
  downloads ÷ the download concurrency;
- while the windows are closed, queued jobs start at the next opening at the earliest.
None when it cannot be told: the queue is paused or stopped, or nothing has been downloaded yet
to take an average from while jobs wait.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select

from webapp.core.vocabulary import COMPLETED, DOWNLOADING, ITEM, QUEUED
from webapp.extensions import db
from webapp.models import Job
from webapp.models.base import isoformat, utcnow
from webapp.services.accounts.identity import Principal
from webapp.services.admin import runtime_settings
from webapp.services.queue import disk_guard, heartbeat, windows
from webapp.services.queue import listing as queue_listing
from webapp.services.queue import pause as queue_state
from webapp.services.queue.events import progress_of

RECENT_DOWNLOADS = 50  # the average download time is of the last this many completed downloads
WORKER_STALE_AFTER = timedelta(seconds=30)  # as /health/detailed: the watchdog beats every 5 s


def average_download_seconds() -> float | None:
    """How long the last RECENT_DOWNLOADS completed downloads took on average (anyone's: the
    pace is the server's), None before the first."""
    rows = db.session.execute(
        select(Job.started_at, Job.finished_at)
        .where(Job.status == COMPLETED, Job.kind == ITEM, Job.started_at.is_not(None), Job.finished_at.is_not(None))
        .order_by(Job.finished_at.desc()).limit(RECENT_DOWNLOADS)).all()
    took = [max(0.0, (finished - started).total_seconds()) for started, finished in rows]
    return sum(took) / len(took) if took else None


def running_remaining(job: Job, average: float | None, now: datetime) -> float | None:
    """Seconds one running download still needs, by the best figure it has (None: no idea)."""
    if job.eta is not None:
        return max(0.0, job.eta)
    if job.bytes_total and job.speed:
        return max(0.0, (job.bytes_total - job.bytes_done) / job.speed)
    if average is not None and job.started_at is not None:
        return max(0.0, average - (now - job.started_at).total_seconds())
    return None


def estimate_seconds(remaining: list[float | None], queued: int, average: float | None, concurrency: int,
                     wait_seconds: float = 0.0) -> float | None:
    """The queue's time left: the longest running download, or the wait for the window if longer,
    then the queued jobs shared among the download slots. None when a part cannot be told."""
    if any(value is None for value in remaining):
        return None
    running_part = max(remaining, default=0.0)
    if not queued:
        return running_part
    if average is None:
        return None
    return max(running_part, wait_seconds) + queued * average / max(1, concurrency)


def _worker() -> dict:
    beat = heartbeat.last_beat()
    settings = current_app.config["HAUL"]
    return {
        "alive": beat is not None and utcnow() - beat <= WORKER_STALE_AFTER,
        "heartbeat_at": isoformat(beat),
        "concurrency": runtime_settings.concurrency(),  # downloads at once, across the workers
        "threads": runtime_settings.pool_size(settings),  # the pool a worker starts with
        "worker_type": settings.worker_type,
    }


def queue_status(principal: Principal, now: datetime | None = None) -> dict:
    now = now or utcnow()
    visible = queue_listing.visible_to(principal)
    paused, stopped = queue_state.is_paused(), queue_state.is_stopped()
    window = windows.current()
    verdict = window.verdict(now)
    running = list(db.session.scalars(
        select(Job).where(Job.status == DOWNLOADING, Job.kind == ITEM, visible).order_by(Job.started_at, Job.id)))
    queued_now, queued_held = db.session.execute(
        select(func.count(Job.id).filter(Job.run_now.is_(True)), func.count(Job.id).filter(Job.run_now.is_not(True)))
        .where(Job.status == QUEUED, Job.kind == ITEM, visible)).one()
    average = average_download_seconds()
    concurrency = runtime_settings.concurrency()
    eta = None
    if not paused:
        wait = (verdict.next_open - now).total_seconds() if not verdict.open and queued_held else 0.0
        eta = estimate_seconds([running_remaining(job, average, now) for job in running],
                               queued_now + queued_held, average, concurrency, wait)
    return {
        "paused": paused,
        "stopped": stopped,
        "counts": queue_listing.queue_counts(principal),
        "running": [{"id": job.id, "title": job.title, "url": job.url, "progress": progress_of(job),
                     "speed": job.speed, "started_at": isoformat(job.started_at)} for job in running],
        "workers": _worker(),
        "window": windows.state(now),
        "disk_guard": disk_guard.state(),
        "eta_seconds": round(eta, 1) if eta is not None else None,
        "average_download_seconds": round(average, 1) if average is not None else None,
    }
