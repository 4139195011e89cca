"""The worker's liveness signal: its watchdog stamps a settings row every pass (~5 s)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Setting
from webapp.models.base import isoformat, utcnow

HEARTBEAT_KEY = "worker_heartbeat"


def beat() -> None:
    """Record that the worker is alive now (commits)."""
    row = db.session.get(Setting, HEARTBEAT_KEY)
    stamp = isoformat(utcnow())
    if row is None:
        db.session.add(Setting(key=HEARTBEAT_KEY, value=stamp))
    else:
        row.value = stamp
    db.session.commit()


def last_beat() -> datetime | None:
    """When the worker last stamped its heartbeat, or None if it never did."""
    value = db.session.scalar(select(Setting.value).where(Setting.key == HEARTBEAT_KEY))
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed
