"""Queue-wide pause: running jobs finish, none start. Kept in the settings table, so it survives a restart."""
from __future__ import annotations

import time

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Setting

PAUSED_KEY = "queue_paused"


def is_paused() -> bool:
    return bool(db.session.scalar(select(Setting.value).where(Setting.key == PAUSED_KEY)))


# Set while a database restore runs (webapp/services/admin/restore.py): no job starts, whatever
# the pause says; the restored database has no such row, so the swap itself lifts it. The value
# is when it was set (epoch seconds): a restore whose process died leaves a flag that lapses.
MAINTENANCE_KEY = "queue_maintenance"
MAINTENANCE_LAPSES_AFTER = 15 * 60


def holds_claims() -> bool:
    """Whether no job may start now: the queue is paused or a restore is under way (one query)."""
    rows = db.session.execute(select(Setting.key, Setting.value)
                              .where(Setting.key.in_((PAUSED_KEY, MAINTENANCE_KEY)))).all()
    for key, value in rows:
        if key == PAUSED_KEY and value:
            return True
        if key == MAINTENANCE_KEY and in_maintenance(value):
            return True
    return False


def in_maintenance(value) -> bool:
    """Whether a stored maintenance flag still holds (set less than MAINTENANCE_LAPSES_AFTER ago)."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and 0 <= time.time() - value < MAINTENANCE_LAPSES_AFTER)


def set_paused(paused: bool) -> None:
    """Record the queue's pause state (the caller commits). Resuming also ends a stop."""
    row = db.session.get(Setting, PAUSED_KEY)
    if row is None:
        db.session.add(Setting(key=PAUSED_KEY, value=paused))
    else:
        row.value = paused
    if not paused:
        set_stopped(False)


# A stopped queue (webapp/services/queue/start_stop.py) is a paused one whose running downloads
# were interrupted and put back in the queue: the jobs' monitors (jobs/runner.py) watch this row.
# Set only together with the pause, and cleared by every resume (set_paused(False)).
STOPPED_KEY = "queue_stopped"


def is_stopped() -> bool:
    return bool(db.session.scalar(select(Setting.value).where(Setting.key == STOPPED_KEY)))


def set_stopped(stopped: bool) -> None:
    """Record whether the queue is stopped (the caller commits; stop sets the pause too)."""
    row = db.session.get(Setting, STOPPED_KEY)
    if row is None:
        if stopped:
            db.session.add(Setting(key=STOPPED_KEY, value=True))
    else:
        row.value = stopped
