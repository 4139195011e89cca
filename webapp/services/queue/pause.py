"""Queue-wide pause: running jobs finish, none start. Kept in the settings table, so it survives a restart."""
from __future__ import annotations

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Setting

PAUSED_KEY = "queue_paused"


def is_paused() -> bool:
    return bool(db.session.scalar(select(Setting.value).where(Setting.key == PAUSED_KEY)))


def set_paused(paused: bool) -> None:
    """Record the queue's pause state (the caller commits)."""
    row = db.session.get(Setting, PAUSED_KEY)
    if row is None:
        db.session.add(Setting(key=PAUSED_KEY, value=paused))
    else:
        row.value = paused
