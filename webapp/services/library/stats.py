"""Figures about the library: GET /api/v1/downloads/stats (totals, sites, sources, a timeline of
the history's entries), and GET /api/v1/stats/timeline and /stats/platforms (item downloads per
hour/day/week/month and per site, below).

Every figure is one aggregate query over the same finished jobs the history page and
GET /api/v1/downloads list (history.finished_job_conditions), so they agree; no query reads
rows into Python. A period is a window on the submission time (`created_at`, indexed), the
field the list's date filters use.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

from sqlalchemy import Integer, case, func, literal_column, select

from webapp.core.vocabulary import CANCELLED, COMPLETED, FAILED, FINISHED_STATUSES, ITEM
from webapp.errors import Forbidden, Invalid
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


def download_stats(period: str, principal: Principal, group_by: str = "day") -> dict:
    """The library's figures for `period`, over the downloads `principal` may see; the timeline
    per UTC hour, day, week (Monday) or month (`group_by`)."""
    check_grouping(period, group_by)
    start = period_start(period)
    filters = history.Filters(date_from=start.date() if start else None)
    where = history.finished_job_conditions(filters, principal)
    windowed = start is not None

    day = (_day() if group_by == "day" else _bucket(group_by)).label("day")
    timeline = [
        # An hour as its ISO start; a day, a week or a month as the date it starts on.
        {"date": str(d) if group_by in ("day", "hour") else str(d)[:10],
         "count": n, "completed": c or 0, "failed": f or 0, "cancelled": x or 0}
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
        "group_by": group_by,
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


# -- over time and per site (GET /api/v1/stats/timeline, /stats/platforms, the /stats page) ----
#
# These count downloads as the worker made them: every finished item job (a collection's items
# each count, the collection's own listing does not), with the bytes of their files, so the
# dashboard's "all time" bytes are the library's. /downloads/stats above counts the history's
# entries instead (a collection is one entry).

GROUPINGS = ("hour", "day", "week", "month")
# The periods a timeline or the per-site figures take: the library's, and "day" (the seed's
# word for today).
TIMELINE_PERIODS = ("day", *PERIODS)
# Hourly buckets over a year would be 8,760 of them: hours only for periods up to a month.
HOURLY_PERIODS = ("day", "today", "week", "month")
TOP_SITES = 50
_TIMESTAMP = "%Y-%m-%dT%H:%M:%SZ"


def timeline_period(period: str) -> str:
    """`period` as period_start takes it ("day" is "today"); an unknown one is refused (422)."""
    if period not in TIMELINE_PERIODS:
        raise Invalid(f"period must be one of {', '.join(TIMELINE_PERIODS)}", error_code="invalid_period")
    return "today" if period == "day" else period


def check_grouping(period: str, group_by: str) -> None:
    """Refuse a grouping that is not one, or hours over more than a month (422)."""
    if group_by not in GROUPINGS:
        raise Invalid(f"group_by must be one of {', '.join(GROUPINGS)}", error_code="invalid_group_by")
    timeline_period(period)
    if group_by == "hour" and period not in HOURLY_PERIODS:
        raise Invalid("group_by=hour covers at most a month: choose period day, week or month, or a longer "
                      "grouping", error_code="invalid_group_by")


def scope_user(principal: Principal, user_id: int | None) -> int | None:
    """Whose downloads the figures count: an admin's choice (None: everyone's), anyone else's
    own. A user asking for someone else's figures is refused (403), not quietly shown theirs:
    a script that asks for another user's numbers should learn it cannot."""
    if principal.is_admin:
        return user_id
    if user_id is not None and user_id != principal.user_id:
        raise Forbidden("Only an admin may see another user's figures", error_code="forbidden")
    return principal.user_id


def item_conditions(user_id: int | None, start: datetime | None) -> list:
    """The finished item jobs (of `user_id` when given) submitted since `start`.

    On SQLite the status is tested as `+jobs.status`: through ix_jobs_status ("finished" is
    nearly every job) the planner would visit the whole library row by row instead of taking
    the period's rows from ix_jobs_created_at, or the user's from ix_jobs_user_id, or reading
    the table straight through (measured: a month of 100,000 jobs 3x faster)."""
    status = literal_column("+jobs.status") if db.engine.dialect.name == "sqlite" else Job.status
    conditions = [Job.kind == ITEM, status.in_(FINISHED_STATUSES)]
    if user_id is not None:
        conditions.append(Job.user_id == user_id)
    if start is not None:
        conditions.append(Job.created_at >= start)
    return conditions


def bucket_of(group_by: str, dialect: str):
    """The UTC start of the hour, day, week (Monday) or month a job was submitted in, as ISO text
    with a Z, computed by the database (so only one row per bucket comes back).

    The constants are SQL literals, not bound parameters: PostgreSQL takes `date_trunc($1, …)`
    in the SELECT and `date_trunc($2, …)` in the GROUP BY for different expressions."""
    if group_by not in GROUPINGS:
        raise Invalid(f"group_by must be one of {', '.join(GROUPINGS)}", error_code="invalid_group_by")
    if dialect == "sqlite":  # stored as naive UTC text
        if group_by == "week":  # the Sunday on or after, less six days: the Monday on or before
            return func.strftime(literal_column("'%Y-%m-%dT00:00:00Z'"), Job.created_at,
                                 literal_column("'weekday 0'"), literal_column("'-6 days'"))
        pattern = {"hour": "%Y-%m-%dT%H:00:00Z", "day": "%Y-%m-%dT00:00:00Z", "month": "%Y-%m-01T00:00:00Z"}
        return func.strftime(literal_column(f"'{pattern[group_by]}'"), Job.created_at)
    # PostgreSQL: date_trunc's weeks start on Monday too.
    truncated = func.date_trunc(literal_column(f"'{group_by}'"), func.timezone(literal_column("'UTC'"), Job.created_at))
    return func.to_char(truncated, literal_column("""'YYYY-MM-DD"T"HH24:MI:SS"Z"'"""))


def _bucket(group_by: str):
    return bucket_of(group_by, db.engine.dialect.name)


def bucket_start(moment: datetime, group_by: str) -> datetime:
    """The same buckets in Python (UTC), to list the empty ones between those the database found."""
    moment = moment.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    if group_by == "hour":
        return moment
    day = moment.replace(hour=0)
    if group_by == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1) if group_by == "month" else day


def next_bucket(start: datetime, group_by: str) -> datetime:
    if group_by == "month":
        return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    return start + {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(days=7)}[group_by]


def _outcome_columns():
    return (func.count(), _count_of(COMPLETED), _count_of(FAILED), _count_of(CANCELLED))


def timeline(period: str, group_by: str, principal: Principal, user_id: int | None = None,
             now: datetime | None = None) -> dict:
    """Downloads per hour, day, week or month of `period`, completed / failed / cancelled and
    bytes, oldest first, empty buckets included (from the period's start, or the first download
    for "all", to now). Two aggregate queries: counts per bucket, bytes per bucket."""
    check_grouping(period, group_by)
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    owner = scope_user(principal, user_id)
    start = period_start(timeline_period(period), now)
    where = item_conditions(owner, start)
    bucket = _bucket(group_by).label("bucket")
    counts = {key: (n, c or 0, f or 0, x or 0) for key, n, c, f, x in db.session.execute(
        select(bucket, *_outcome_columns()).where(*where).group_by(bucket)).all()}
    sizes = dict(db.session.execute(
        select(bucket, func.coalesce(func.sum(JobFile.size), 0)).select_from(Job)
        .join(JobFile, JobFile.job_id == Job.id).where(*where).group_by(bucket)).all())
    buckets = []
    first = start if start is not None else (
        datetime.strptime(min(counts), _TIMESTAMP).replace(tzinfo=timezone.utc) if counts else None)
    moment = bucket_start(first, group_by) if first is not None else None
    last = bucket_start(now, group_by)
    while moment is not None and moment <= last:
        key = moment.strftime(_TIMESTAMP)
        total, completed, failed, cancelled = counts.pop(key, (0, 0, 0, 0))
        buckets.append({"timestamp": key, "downloads": total, "success": completed, "completed": completed,
                        "failed": failed, "cancelled": cancelled, "total_size_bytes": int(sizes.get(key) or 0)})
        moment = next_bucket(moment, group_by)
    return {"period": period, "group_by": group_by, "since": isoformat(start), "user_id": owner,
            "timeline": buckets}


def platforms(period: str, principal: Principal, user_id: int | None = None, limit: int = TOP_SITES,
              now: datetime | None = None) -> dict:
    """Per site (the link's domain), the busiest first: downloads, completed, failed, cancelled,
    success rate and bytes, over `period`. Two aggregate queries."""
    owner = scope_user(principal, user_id)
    start = period_start(timeline_period(period), now)
    return {"period": period, "since": isoformat(start), "user_id": owner,
            "platforms": site_figures(item_conditions(owner, start), limit)}


def site_figures(where: list, limit: int) -> list[dict]:
    """The `limit` busiest sites among the jobs `where` picks."""
    total = func.count().label("total")
    # By `+jobs.domain` on SQLite: grouping by the bare column would walk ix_jobs_domain over the
    # whole library instead of taking the period's rows (as _grouping above).
    domain = _grouping(Job.domain, windowed=True).label("domain")
    rows = db.session.execute(
        select(domain, total, *_outcome_columns()[1:]).where(*where)
        .group_by(domain).order_by(total.desc(), domain).limit(limit)).all()
    if not rows:
        return []
    sizes = dict(db.session.execute(
        select(Job.domain, func.coalesce(func.sum(JobFile.size), 0)).select_from(Job)
        .join(JobFile, JobFile.job_id == Job.id)
        .where(*where, Job.domain.in_([row[0] for row in rows])).group_by(Job.domain)).all())
    return [{"platform": domain, "downloads": n, "success": c or 0, "completed": c or 0, "failed": f or 0,
             "cancelled": x or 0, "success_rate": success_rate(c or 0, f or 0),
             "total_size_bytes": int(sizes.get(domain) or 0)}
            for domain, n, c, f, x in rows]
