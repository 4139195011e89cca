"""What the queue page lists: active jobs in the order workers take them, then recent finished ones."""
from __future__ import annotations

from sqlalchemy import case, select
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.models import Job, User
from webapp.models.job import ACTIVE_STATUSES, DOWNLOADING, FINISHED_STATUSES

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
        .where(Job.status.in_(ACTIVE_STATUSES))
        .order_by(running_first, Job.priority.desc(), Job.rank, Job.id)
    )
    return list(db.session.scalars(_owned(query, user_id)))


def finished_jobs(user_id: int | None = None, limit: int = FINISHED_SHOWN) -> list[Job]:
    query = (
        select(Job)
        .options(selectinload(Job.submission))
        .where(Job.status.in_(FINISHED_STATUSES), Job.cleared_at.is_(None))
        .order_by(Job.finished_at.desc(), Job.id.desc())
        .limit(limit)
    )
    return list(db.session.scalars(_owned(query, user_id)))


def submitters() -> list[User]:
    """People an admin can filter by."""
    return list(db.session.scalars(select(User).order_by(User.username)))
