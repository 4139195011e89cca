"""What the queue page and GET /api/v1/queue list: active jobs in the order workers take them, then
finished ones; and who may see which job."""
from __future__ import annotations

from sqlalchemy import and_, case, false, func, literal_column, select, true
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import set_committed_value

from webapp.core.vocabulary import (
    ACTIVE_STATUSES,
    DOWNLOADING,
    FAILED,
    FINISHED_STATUSES,
    PAUSED,
    QUEUED,
    STATUSES,
)
from webapp.extensions import db
from webapp.models import Job, Submission, User
from webapp.services.accounts.identity import Principal
from webapp.services.queue import pause as queue_state

# A collection's children are not rows of the queue: they show under their parent
# (webapp/services/queue/children.py), which counts them.
# The unary + keeps SQLite's planner off ix_jobs_parent_id, which nearly every job would match.
TOP_LEVEL = literal_column("+jobs.parent_id").is_(None)

# Finished rows stay on the queue page until cleared, but only this many: an open page must
# not grow without bound (static/js/queue.js trims live additions to the same number).
FINISHED_SHOWN = 50


def _owned(query, user_id: int | None):
    return query if user_id is None else query.where(Job.user_id == user_id)


def active_jobs(user_id: int | None = None) -> list[Job]:
    """Downloading first, then waiting jobs by priority and rank (the order they will start)."""
    running_first = case((Job.status == DOWNLOADING, 0), else_=1)
    query = (
        select(Job)
        .options(selectinload(Job.submission))
        .where(Job.status.in_(ACTIVE_STATUSES), TOP_LEVEL)
        .order_by(running_first, Job.priority.desc(), Job.rank, Job.id)
    )
    return list(db.session.scalars(_owned(query, user_id)))


def finished_jobs(user_id: int | None = None, limit: int = FINISHED_SHOWN) -> list[Job]:
    query = (
        select(Job)
        .options(selectinload(Job.submission))
        .where(Job.status.in_(FINISHED_STATUSES), Job.cleared_at.is_(None), TOP_LEVEL)
        .order_by(Job.finished_at.desc(), Job.id.desc())
        .limit(limit)
    )
    return list(db.session.scalars(_owned(query, user_id)))


def submitters() -> list[User]:
    """People an admin can filter by."""
    return list(db.session.scalars(select(User).order_by(User.username)))


# The machine API's view of the queue (GET /api/v1/queue and its bulk actions) -----------------

# The order workers take jobs in, then finished ones newest first. Waiting jobs sort by
# (priority, rank) like the claim in jobs/runner.py; finished ones ignore both.
_GROUP = case((Job.status == DOWNLOADING, 0), (Job.status.in_((QUEUED, PAUSED)), 1), else_=2)
QUEUE_ORDER = (
    _GROUP,
    case((_GROUP < 2, Job.priority), else_=0).desc(),
    case((_GROUP < 2, Job.rank), else_=0.0),
    # NULLS LAST said, not left to the database: PostgreSQL puts NULLs first in a DESC order,
    # SQLite last (a finished row without finished_at comes only from old data, but both agree).
    Job.finished_at.desc().nulls_last(),
    Job.id,
)


def visible_to(principal: Principal):
    """A WHERE clause for the jobs `principal` may see: an admin all, a user their own, a
    submit-only token the ones it submitted itself."""
    if principal.is_admin:
        return true()
    if principal.user_id is None:
        return false()
    clause = Job.user_id == principal.user_id
    if principal.own_submissions_only:
        if principal.token_id is None:
            return false()
        added = select(Submission.id).where(Submission.token_id == principal.token_id)
        clause = and_(clause, Job.submission_id.in_(added))
    return clause


def _in_queue(principal: Principal, domain: str | None, source: str | None) -> list:
    """Conditions shared by the list and its counts: visible, still on the queue (not cleared), filtered."""
    conditions = [visible_to(principal), Job.cleared_at.is_(None), TOP_LEVEL]
    if domain:
        conditions.append(Job.domain == domain.strip().lower())
    if source:
        conditions.append(Job.source == source)
    return conditions


# Everything job_json reads, loaded with the page rather than a query per row.
WITH_DETAILS = (
    selectinload(Job.submission).selectinload(Submission.user),
    selectinload(Job.submission).selectinload(Submission.token),
    selectinload(Job.files),
)


def queue_page(principal: Principal, *, statuses=ACTIVE_STATUSES, domain: str | None = None,
               source: str | None = None, offset: int = 0, limit: int = 50) -> tuple[list[Job], int]:
    """One page of the jobs on the queue `principal` may see, and how many there are in all."""
    conditions = [*_in_queue(principal, domain, source), Job.status.in_(tuple(statuses))]
    total = db.session.scalar(select(func.count(Job.id)).where(*conditions)) or 0
    query = (
        select(Job)
        .options(*WITH_DETAILS)
        .where(*conditions)
        .order_by(*QUEUE_ORDER)
        .offset(offset)
        .limit(limit)
    )
    return list(db.session.scalars(query)), total


def queue_counts(principal: Principal, *, domain: str | None = None, source: str | None = None) -> dict[str, int]:
    """How many jobs on the queue `principal` may see are in each status (every status named)."""
    query = select(Job.status, func.count(Job.id)).where(*_in_queue(principal, domain, source)).group_by(Job.status)
    counts = dict.fromkeys(STATUSES, 0)
    counts.update(dict(db.session.execute(query).all()))
    return counts


def visible_jobs(job_ids, principal: Principal) -> dict[int, Job]:
    """The jobs among `job_ids` that `principal` may see, by id (the others are simply absent)."""
    ids = list(dict.fromkeys(job_ids))
    if not ids:
        return {}
    query = select(Job).options(*WITH_DETAILS).where(Job.id.in_(ids), visible_to(principal))
    return {job.id: job for job in db.session.scalars(query)}


def jobs_from_rows(rows: list[dict]) -> list[Job]:
    """Job objects (not in the session) for rows a submission has just stored, so POST
    /api/v1/queue, the busiest request, answers without reading them back. They have no files
    yet; the caller knows who submitted them."""
    jobs = []
    for row in rows:
        job = Job(**row)
        set_committed_value(job, "files", [])
        jobs.append(job)
    return jobs


def failed_on_queue(principal: Principal) -> list[Job]:
    """The failed jobs still on the queue (not cleared) that `principal` may see, oldest first."""
    query = (
        select(Job)
        .where(Job.status == FAILED, Job.cleared_at.is_(None), TOP_LEVEL, visible_to(principal))
        .order_by(Job.id)
    )
    return list(db.session.scalars(query))


def queue_stats(principal: Principal) -> dict:
    """The queue at a glance for `principal`: whether it is paused, counts per status, how many
    are active, the combined speed of running downloads and the oldest job still waiting."""
    counts = queue_counts(principal)
    visible = visible_to(principal)
    speed = db.session.scalar(
        select(func.coalesce(func.sum(Job.speed), 0.0)).where(Job.status == DOWNLOADING, visible)
    )
    oldest = db.session.scalar(select(func.min(Job.created_at)).where(Job.status.in_((QUEUED, PAUSED)), visible))
    return {
        "paused": queue_state.is_paused(),
        "counts": counts,
        "active": sum(counts[status] for status in ACTIVE_STATUSES),
        "finished": sum(counts[status] for status in FINISHED_STATUSES),
        "speed": float(speed or 0.0),
        "oldest_waiting_at": oldest,
    }
