"""What a dashboard shows at a glance: jobs per status, finished counts, library size, storage,
the success rate, the next scheduled run, the worker's heartbeat and the queue's pause — a
handful of aggregate queries, none per job. The figures themselves are counted in
webapp/services/library/dashboard.py (the /stats page counts with the same functions).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import case, func, select

from webapp.core.vocabulary import COMPLETED, FAILED
from webapp.extensions import db
from webapp.models import Job
from webapp.models.base import isoformat, utcnow
from webapp.services.library import stats
from webapp.services.library.dashboard import (
    disk_usage,
    download_window,
    library_totals,
    next_scheduled_run,
    period_starts,
)
from webapp.services.queue import heartbeat as worker_heartbeat
from webapp.services.queue import job_control
from webapp.services.queue import pause as queue_state

__all__ = ["disk_usage", "library_totals", "overview", "period_starts"]  # settings.py reads the first two here

# The worker's watchdog stamps its heartbeat every 5 s; this much silence means it is gone
# (the same allowance as /health/detailed).
WORKER_STALE_AFTER = timedelta(seconds=30)


def finished_counts(statuses, user_id: int | None = None, now: datetime | None = None) -> dict[str, dict[str, int]]:
    """How many jobs reached each of `statuses` today, this week and this month: one aggregate
    over this month's finished jobs (there is no index on finished_at, so it reads them all:
    ~30 ms for 100,000 jobs on SQLite)."""
    starts = period_starts(now or utcnow())
    first = min(starts.values())  # the month or the week, whichever began earlier
    columns = [func.coalesce(func.sum(case((Job.finished_at >= start, 1), else_=0)), 0) for start in starts.values()]
    query = (select(Job.status, *columns).where(Job.status.in_(statuses), Job.finished_at >= first)
             .group_by(Job.status))
    if user_id is not None:
        query = query.where(Job.user_id == user_id)
    found = {status: dict.fromkeys(starts, 0) for status in statuses}
    for status, *counts in db.session.execute(query).all():
        found[status] = dict(zip(starts, (int(n) for n in counts)))
    return found


def worker_state() -> dict:
    """Whether the worker stamped its heartbeat recently, and when."""
    beat = worker_heartbeat.last_beat()
    since = (utcnow() - beat).total_seconds() if beat else None
    return {"alive": since is not None and since <= WORKER_STALE_AFTER.total_seconds(),
            "heartbeat_at": isoformat(beat), "seconds_since_heartbeat": round(since, 1) if since is not None else None}


def overview(storage_root: Path, user_id: int | None = None) -> dict:
    """The dashboard's numbers: every job's (user_id None) or one user's."""
    jobs = job_control.status_counts(user_id)
    finished = finished_counts((COMPLETED, FAILED), user_id)
    return {
        "scope": "all" if user_id is None else "own",
        "jobs": jobs,
        "completed": {**finished[COMPLETED], "total": jobs[COMPLETED]},
        "failed": {**finished[FAILED], "total": jobs[FAILED]},
        # Every job that ended either way, ever: cancelled ones are neither.
        "success_rate": stats.success_rate(jobs[COMPLETED], jobs[FAILED]),
        "library": library_totals(user_id),
        "storage": disk_usage(storage_root),
        "worker": worker_state(),
        "queue": {"paused": queue_state.is_paused()},
        "next_scheduled_run": next_scheduled_run(user_id),
        "download_window": download_window(),
    }
