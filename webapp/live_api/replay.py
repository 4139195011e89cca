"""What a reconnecting client missed, read back from the events table (bounded)."""
from __future__ import annotations

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Event
from webapp.models.base import isoformat
from webapp.services.queue.events import EventRecord, replay_ceiling

REPLAY_LIMIT = 2000  # a client further behind gets the newest this many, after a "gap" notice


def record_of(row: Event) -> EventRecord:
    return EventRecord(row.id, row.type, row.submission_id, row.job_id, row.user_id, row.data or {},
                       isoformat(row.created_at), row.token_id)


def missed_since(after_id: int, limit: int = REPLAY_LIMIT) -> tuple[list[EventRecord], dict | None]:
    """The events after `after_id` (oldest first, at most `limit`), and a gap when some are lost.

    The gap is {"oldest_available_id", "reason"}: "pruned" when the events right after
    `after_id` are no longer stored, "too_many" when more than `limit` were missed.
    """
    query = select(Event).where(Event.id > after_id)
    ceiling = replay_ceiling()  # PostgreSQL: never ahead of an event still to come live
    if ceiling is not None:
        query = query.where(Event.id <= ceiling)
    rows = db.session.scalars(query.order_by(Event.id.desc()).limit(limit + 1)).all()
    rows.reverse()
    gap = None
    if len(rows) > limit:
        rows = rows[1:]
        gap = {"oldest_available_id": rows[0].id, "reason": "too_many"}
    elif rows and rows[0].id > after_id + 1:
        oldest = db.session.scalar(select(func.min(Event.id)))
        if oldest is not None and oldest > after_id + 1:
            gap = {"oldest_available_id": oldest, "reason": "pruned"}
    return [record_of(row) for row in rows], gap
