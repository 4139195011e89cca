"""Once a day across every worker: a periodic task that several workers run claims the day first.

Each of them runs its periodic tasks every minute; the one whose UPDATE moves the stored day on
to today does the work, the others find the row already moved and skip. The same compare-and-set
as the subscriptions' runs (webapp/services/subscriptions/runs.py), on a row of `settings`.
"""
from __future__ import annotations

import json

from sqlalchemy import String, cast, update
from sqlalchemy.exc import IntegrityError

from webapp.extensions import db
from webapp.models import Setting


def claim_day(key: str, day: str) -> bool:
    """True for exactly one caller per (key, day); commits."""
    if last_day(key) == day:
        db.session.rollback()
        return False  # the usual answer, from a read: no write lock taken every few minutes
    claimed = db.session.execute(
        update(Setting).where(Setting.key == key, cast(Setting.value, String) != json.dumps(day)).values(value=day)
    ).rowcount
    if claimed:
        db.session.commit()
        return True
    if db.session.get(Setting, key) is not None:
        db.session.rollback()
        return False  # today's run is already someone's
    db.session.add(Setting(key=key, value=day))
    try:
        db.session.commit()
    except IntegrityError:  # another worker inserted it a moment ago: theirs
        db.session.rollback()
        return False
    return True


def last_day(key: str) -> str | None:
    """The day last claimed under `key`, or None."""
    row = db.session.get(Setting, key)
    return row.value if row is not None and isinstance(row.value, str) else None
