"""Figures about the library (GET /api/v1/downloads/stats): totals, sites, sources, a timeline.

Every figure is one aggregate query over the same finished jobs the history page and
GET /api/v1/downloads list (history.finished_job_conditions), so they agree; no query reads
rows into Python. A period is a window on the submission time (`created_at`, indexed), the
field the list's date filters use.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

from sqlalchemy import Integer, case, func, literal_column, select

from webapp.core.vocabulary import CANCELLED, COMPLETED, FAILED
from webapp.extensions import db
from webapp.models import Job, JobFile
from webapp.models.base import isoformat
from webapp.services.accounts.identity import Principal
from webapp.services.library import history

# Days back from today (UTC) each period starts; None: the whole library.
PERIODS = {"today": 0, "week": 6, "month": 29, "year": 364, "all": None}
TOP_DOMAINS = 50  # a library of many small sites would otherwise answer thousands of keys


def period_start(period: str, now: datetime | None = None) -> datetime | None:
    """The UTC instant a period starts at: midnight UTC of its first day."""
    days = PERIODS[period]
    if days is None:
        return None
    today = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).date()
    return datetime.combine(today - timedelta(days=days), time.min, tzinfo=timezone.utc)


def _count_of(status: str):
    return func.sum(case((Job.status == status, 1), else_=0)).cast(Integer)


def _day():
    """The UTC day of a job's submission as YYYY-MM-DD, in the database's own terms."""
    if db.engine.dialect.name == "sqlite":
        return func.date(Job.created_at)  # stored as naive UTC text
    return func.to_char(func.timezone("UTC", Job.created_at), "YYYY-MM-DD")


def success_rate(completed: int, failed: int) -> float | None:
    """Completed out of completed and failed, in percent; a cancelled download is neither."""
    attempted = completed + failed
    return round(100.0 * completed / attempted, 1) if attempted else None


def _grouping(column, windowed: bool):
    """`column` to group by. With a period on SQLite, as `+column`: grouping by the bare column
    would make the planner walk that column's index over the whole library instead of taking
    the few rows of the period from ix_jobs_created_at."""
    if windowed and db.engine.dialect.name == "sqlite":
        return literal_column(f"+{column.table.name}.{column.name}")
    return column


def _counts_by(column, where: list, windowed: bool, limit: int | None = None) -> dict[str, int]:
    """{value: downloads} for one column, most first, then by value."""
    key = _grouping(column, windowed).label("key")
    count = func.count().label("count")
    query = select(key, count).where(*where).group_by(key).order_by(count.desc(), key)
    if limit:
        query = query.limit(limit)
    return {value: n for value, n in db.session.execute(query).all()}


def download_stats(period: str, principal: Principal) -> dict:
    """The library's figures for `period`, over the downloads `principal` may see."""
    start = period_start(period)
    filters = history.Filters(date_from=start.date() if start else None)
    where = history.finished_job_conditions(filters, principal)
    windowed = start is not None

    day = _day().label("day")
    timeline = [
        {"date": str(d), "count": n, "completed": c or 0, "failed": f or 0, "cancelled": x or 0}
        for d, n, c, f, x in db.session.execute(
            select(day, func.count(), _count_of(COMPLETED), _count_of(FAILED), _count_of(CANCELLED))
            .where(*where).group_by(day).order_by(day)
        ).all()
    ]
    files, size = db.session.execute(
        select(func.count(JobFile.id), func.coalesce(func.sum(JobFile.size), 0))
        .select_from(Job).join(JobFile, JobFile.job_id == Job.id).where(*where)
    ).one()
    # The totals are the timeline's, summed: one row per day, never one per job.
    completed, failed, cancelled = (sum(d[key] for d in timeline) for key in (COMPLETED, FAILED, CANCELLED))
    return {
        "period": period,
        "since": isoformat(start),
        "total_downloads": completed + failed + cancelled,
        "completed": completed,
        "failed": failed,
        "cancelled": cancelled,
        "success_rate": success_rate(completed, failed),
        "total_size_bytes": int(size or 0),
        "total_files": int(files or 0),
        "by_domain": _counts_by(Job.domain, where, windowed, TOP_DOMAINS),
        "by_source": _counts_by(Job.source, where, windowed),
        "timeline": timeline,
    }
