"""The /stats dashboard's figures: downloads and bytes today / this week / this month / ever,
success rates, the queue now, average wait and download time, the busiest sites, storage, and
the next scheduled run. Each figure is one aggregate query (no job rows come into Python).

A download is a finished item job, counted in the period it was submitted in (`created_at`,
indexed), as the timeline and the per-site figures in `stats` count them; its bytes are its
files'. "This week" starts on Monday and "this month" on the 1st, both 00:00 UTC.
"""
from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import and_, case, extract, func, select

from webapp.core.vocabulary import ACTIVE_STATUSES, CANCELLED, COMPLETED, FAILED, FINISHED_STATUSES
from webapp.extensions import db
from webapp.models import Job, JobFile
from webapp.models.base import isoformat, utcnow
from webapp.models.subscription import Subscription
from webapp.services.accounts.identity import Principal
from webapp.services.library import stats
from webapp.services.queue import windows as download_windows

TOP_SITES = 5  # the dashboard's card; /api/v1/stats/platforms lists more
_OUTCOMES = (COMPLETED, FAILED, CANCELLED)


def period_starts(now: datetime) -> dict[str, datetime]:
    """The start of today, this week (Monday) and this month, in UTC."""
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return {"today": today, "week": today - timedelta(days=today.weekday()), "month": today.replace(day=1)}


def library_totals(user_id: int | None = None) -> dict[str, int]:
    """Files recorded in the library and their bytes (only `user_id`'s jobs' when given)."""
    query = select(func.count(JobFile.id), func.coalesce(func.sum(JobFile.size), 0))
    if user_id is not None:
        query = query.join(Job, Job.id == JobFile.job_id).where(Job.user_id == user_id)
    files, size = db.session.execute(query).one()
    return {"files": int(files), "bytes": int(size)}


def disk_usage(root: Path) -> dict[str, int | None]:
    """The storage disk's total, used and free bytes (None when the folder cannot be read)."""
    try:
        usage = shutil.disk_usage(root)
    except OSError:
        return {"total_bytes": None, "used_bytes": None, "free_bytes": None}
    return {"total_bytes": usage.total, "used_bytes": usage.used, "free_bytes": usage.free}


def _since(start: datetime | None, when):
    """`when` for the jobs submitted since `start` (all of them for None)."""
    return when if start is None else and_(Job.created_at >= start, when)


def _bytes_since(start: datetime | None):
    """The files' bytes of the jobs submitted since `start` (all of them for None)."""
    return JobFile.size if start is None else case((Job.created_at >= start, JobFile.size), else_=0)


def _seconds(value) -> float | None:
    """An average from the database as seconds, one decimal; never below 0 (clocks are not perfect)."""
    return round(max(float(value), 0.0), 1) if value is not None else None


def period_figures(user_id: int | None, now: datetime) -> dict[str, dict]:
    """Downloads completed / failed / cancelled, their bytes and success rate today, this week,
    this month and ever: one query for the counts, one for the bytes."""
    starts = {**period_starts(now), "all": None}
    where = stats.item_conditions(user_id, None)
    columns = [func.coalesce(func.sum(case((_since(start, Job.status == status), 1), else_=0)), 0)
               for start in starts.values() for status in _OUTCOMES]
    counts = db.session.execute(select(*columns).where(*where)).one()
    sizes = db.session.execute(
        select(*[func.coalesce(func.sum(_bytes_since(start)), 0) for start in starts.values()])
        .select_from(Job).join(JobFile, JobFile.job_id == Job.id).where(*where)).one()
    figures = {}
    for index, name in enumerate(starts):
        completed, failed, cancelled = (int(n) for n in counts[index * 3:index * 3 + 3])
        figures[name] = {"downloads": completed + failed + cancelled, "completed": completed, "failed": failed,
                         "cancelled": cancelled, "success_rate": stats.success_rate(completed, failed),
                         "total_size_bytes": int(sizes[index])}
    return figures


def queue_now(user_id: int | None = None) -> dict[str, int]:
    """Jobs not finished, per status (queued, paused, downloading … whatever the queue holds)."""
    query = select(Job.status, func.count()).where(Job.status.notin_(FINISHED_STATUSES)).group_by(Job.status)
    if user_id is not None:
        query = query.where(Job.user_id == user_id)
    found = dict.fromkeys(ACTIVE_STATUSES, 0)
    found.update({status: int(n) for status, n in db.session.execute(query).all()})
    return found


def seconds_between(earlier, later, dialect: str):
    """`later - earlier` in seconds, in the database's own terms."""
    if dialect == "sqlite":
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0
    return extract("epoch", later - earlier)


def timings(user_id: int | None, start: datetime | None) -> dict:
    """The average wait (submitted → started) and download time (started → finished) of the
    downloads submitted since `start` that ran, in seconds (None when none ran)."""
    dialect = db.engine.dialect.name
    where = [*stats.item_conditions(user_id, start), Job.started_at.isnot(None), Job.finished_at.isnot(None)]
    measured, wait, run = db.session.execute(select(
        func.count(), func.avg(seconds_between(Job.created_at, Job.started_at, dialect)),
        func.avg(seconds_between(Job.started_at, Job.finished_at, dialect)))
        .where(*where)).one()
    return {"measured": int(measured), "average_wait_seconds": _seconds(wait),
            "average_download_seconds": _seconds(run)}


def next_scheduled_run(user_id: int | None = None, now: datetime | None = None) -> dict | None:
    """The enabled subscription (of `user_id` when given) that runs next, and when."""
    query = (select(Subscription.id, Subscription.name, Subscription.next_run_at)
             .where(Subscription.enabled.is_(True), Subscription.next_run_at.isnot(None))
             .order_by(Subscription.next_run_at, Subscription.id).limit(1))
    if user_id is not None:
        query = query.where(Subscription.user_id == user_id)
    row = db.session.execute(query).first()
    if row is None:
        return None
    in_seconds = (row.next_run_at - (now or utcnow())).total_seconds()
    return {"subscription_id": row.id, "name": row.name, "scheduled_time": isoformat(row.next_run_at),
            "in_seconds": max(int(in_seconds), 0)}


def download_window(now: datetime | None = None) -> dict:
    """Whether new downloads may start now (the admin's download windows), and when the next
    window opens while they may not: {enabled, open, next_open}."""
    found = download_windows.state(now)
    return {"enabled": found["enabled"], "open": found["open"], "next_open": found["next_open"]}


def dashboard(principal: Principal, storage_root: Path, user_id: int | None = None, period: str = "month",
              now: datetime | None = None) -> dict:
    """Everything the /stats page shows but its charts: `user_id`'s figures for an admin (None:
    everyone's), a user's own otherwise (someone else's: 403). `period` narrows the timings and the
    top sites."""
    owner = stats.scope_user(principal, user_id)
    now = now or utcnow()
    start = stats.period_start(stats.timeline_period(period), now)
    figures = period_figures(owner, now)
    library = library_totals(owner)
    return {
        "user_id": owner,
        "period": period,
        "since": isoformat(start),
        "periods": figures,
        "success_rate": figures["all"]["success_rate"],
        "queue": queue_now(owner),
        "timings": timings(owner, start),
        "top_sites": stats.site_figures(stats.item_conditions(owner, start), TOP_SITES),
        "storage": {"library_bytes": library["bytes"], "library_files": library["files"],
                    **disk_usage(storage_root)},
        "next_scheduled_run": next_scheduled_run(owner, now),
        "download_window": download_window(now),
    }
