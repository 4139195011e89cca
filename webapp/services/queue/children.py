"""A collection's children as the API and the pages read them: a page at a time, and their counts.

A child is visible exactly when its parent is: it is the parent's owner's job in the parent's
submission, so whoever reaches the parent (job_control.get_visible_job, the library's
get_download) reaches these, and nobody else — callers check the parent, never a child alone.
The children are read through ix_jobs_parent_id, in the collection's order.
"""
from __future__ import annotations

from sqlalchemy import case, func, select
from sqlalchemy.orm import selectinload

from webapp.core.vocabulary import CANCELLED, COLLECTION, COMPLETED, FAILED, STATUSES
from webapp.errors import Invalid
from webapp.extensions import db
from webapp.models import Job

CHILDREN_PER_PAGE = 50  # the pages' "more" step and the API's default
MAX_CHILDREN_PER_PAGE = 200


def is_collection(job: Job) -> bool:
    return job.kind == COLLECTION


def summary(parent: Job) -> dict[str, int]:
    """How many children the collection has in all, completed (duplicates among them), failed,
    cancelled and still active (queued, paused, downloading): one grouped query."""
    duplicate = case((Job.duplicate_of_id.is_not(None), 1), else_=0)
    rows = db.session.execute(
        select(Job.status, func.count(), func.sum(duplicate)).where(Job.parent_id == parent.id).group_by(Job.status)
    ).all()
    counts = {status: count for status, count, _ in rows}
    total = sum(counts.values())
    finished = {key: counts.get(key, 0) for key in (COMPLETED, FAILED, CANCELLED)}
    return {"total": total, **finished, "active": total - sum(finished.values()),
            "duplicates": sum(duplicates or 0 for _, _, duplicates in rows)}


def check_status(status: str | None) -> str | None:
    if status in (None, ""):
        return None
    if status not in STATUSES:
        raise Invalid(f"status must be one of {', '.join(STATUSES)}", error_code="invalid_status")
    return status


def children_page(parent: Job, *, page: int = 1, per_page: int = CHILDREN_PER_PAGE,
                  status: str | None = None) -> tuple[list[Job], int]:
    """One page of the collection's children in its order (position), and how many match."""
    conditions = [Job.parent_id == parent.id]
    if status:
        conditions.append(Job.status == status)
    total = db.session.scalar(select(func.count(Job.id)).where(*conditions)) or 0
    query = (select(Job).options(selectinload(Job.files)).where(*conditions)
             .order_by(Job.position, Job.id).offset((page - 1) * per_page).limit(per_page))
    return list(db.session.scalars(query)), total


def summaries(parents: list[Job]) -> dict[int, dict[str, int]]:
    """summary() for many collections in one query (a page of the queue or the history)."""
    ids = [job.id for job in parents if job.kind == COLLECTION]
    if not ids:
        return {}
    rows = db.session.execute(
        select(Job.parent_id, Job.status, func.count()).where(Job.parent_id.in_(ids))
        .group_by(Job.parent_id, Job.status)
    ).all()
    found: dict[int, dict[str, int]] = {
        parent_id: {"total": 0, COMPLETED: 0, FAILED: 0, CANCELLED: 0, "active": 0} for parent_id in ids}
    for parent_id, status, count in rows:
        counts = found[parent_id]
        counts["total"] += count
        if status in (COMPLETED, FAILED, CANCELLED):
            counts[status] += count
        else:
            counts["active"] += count
    return found


def shown_page(parent: Job, page: int | None) -> dict:
    """What a page shows of an expanded collection: a page of its children (CHILDREN_PER_PAGE),
    how many there are and which page "More" loads next (None after the last)."""
    page = max(1, min(page or 1, 10**6))
    children, total = children_page(parent, page=page, per_page=CHILDREN_PER_PAGE)
    shown = (page - 1) * CHILDREN_PER_PAGE + len(children)
    return {"parent": parent, "children": children, "page": page, "total": total, "shown": shown,
            "next_page": page + 1 if shown < total else None}
