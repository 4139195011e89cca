"""Once per period across every worker and every host.

Every worker process runs the periodic work (its watchdog every few seconds, Huey's periodic
tasks every minute), and in scale-out mode there are several worker hosts. Work that must happen
once per period — re-queueing the jobs of a dead worker, the daily backup and history cleanup —
first claims the period: one conditional UPDATE moves the task's row in `periodic_claims` from
an earlier period to this one, and only the caller whose UPDATE changed the row does the work.
The same compare-and-set on SQLite (one writer at a time) and PostgreSQL (the second UPDATE
waits for the first's row lock, then finds the period already moved).

Periods are numbers that only move forward (`period < :this`), never "is it different": a host
whose clock is a little behind cannot claim again a period that another host already ran.
"""
from __future__ import annotations

import time

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from webapp.extensions import db
from webapp.models import PeriodicClaim
from webapp.models.base import utcnow


def period_of(seconds: float, now: float | None = None) -> int:
    """The number of the `seconds`-long period `now` (epoch seconds) falls in."""
    return int((time.time() if now is None else now) // seconds)


def claim(name: str, period: int, holder: str = "") -> bool:
    """True for exactly one caller per (name, period), and only if no later period was claimed;
    commits either way."""
    row = db.session.get(PeriodicClaim, name)
    if row is not None and row.period >= period:
        db.session.rollback()
        return False  # the usual answer, from a read: no write lock taken on every pass
    claimed = db.session.execute(
        update(PeriodicClaim).where(PeriodicClaim.name == name, PeriodicClaim.period < period)
        .values(period=period, holder=holder[:200] or None, claimed_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed:
        db.session.commit()
        return True
    if row is not None or db.session.get(PeriodicClaim, name) is not None:
        db.session.rollback()
        return False  # someone moved it first
    db.session.add(PeriodicClaim(name=name, period=period, holder=holder[:200] or None, claimed_at=utcnow()))
    try:
        db.session.commit()
    except IntegrityError:  # another worker inserted the row a moment ago: the period is theirs
        db.session.rollback()
        return False
    return True


def last_claimed(name: str) -> PeriodicClaim | None:
    return db.session.get(PeriodicClaim, name)
