"""The disk guard: no new download starts while the storage disk is nearly full.

The rule (`threshold`): the guard trips when the storage root's free space falls below the
SMALLER of `disk_guard_min_free_bytes` (default 2 GiB) and `disk_guard_min_free_percent`
(default 5 %) of the disk, so a 100 TB array is not stopped at 5 TB free and a 16 GB card not
at 2 GiB of its 16. A value of 0 switches that one off; both 0 switch the guard off. It clears
itself when free space is back above the threshold plus a margin (a tenth of it, at least
1 MiB), so a disk hovering at the line does not pause and resume every few seconds.

A download that meets a full disk (jobs/runner.py) trips it at once (`trip_disk_full`): that
trip holds until free space has grown by the margin since the failed job's partial files were
removed — someone freed space — and is above the threshold.

The state is one row of `settings` (KEY: tripped, since, free_bytes, threshold, reason), so the
web and every worker agree. Only workers change it: `check()` from the watchdog every few
seconds, `may_start()` from each claim (statvfs costs microseconds), `trip_disk_full()` after
a failed job. A change writes, in one transaction, the row, an event for live pages (the queue's
toolbar shows a banner) and a notification (`disk_guard`, admins' targets); when it clears, the
workers are woken for the jobs that waited.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from webapp.core.readable import human_bytes
from webapp.core.vocabulary import DISK_GUARD_EVENT
from webapp.extensions import db
from webapp.models import Setting
from webapp.models.base import isoformat, utcnow
from webapp.services.admin import limits_settings
from webapp.services.notifications import outbox
from webapp.services.queue import dispatch, events

log = logging.getLogger(__name__)

KEY = "disk_guard"
LOW_SPACE, DISK_FULL = "low_space", "disk_full"  # why it tripped
MIB = 1024 * 1024


@dataclass(frozen=True)
class Reading:
    free: int  # bytes an unprivileged process may still write (statvfs f_bavail, as `df` shows)
    total: int


def threshold(total: int, min_free_bytes: int, min_free_percent: int) -> int | None:
    """The free space below which no new job starts: the smaller of the two rules that are on
    (0 switches one off); None when both are off."""
    rules = []
    if min_free_bytes > 0:
        rules.append(min_free_bytes)
    if min_free_percent > 0:
        rules.append(total * min_free_percent // 100)
    return min(rules) if rules else None


def margin(limit: int | None) -> int:
    """How far above the threshold free space must come back before the guard clears."""
    return max(MIB, (limit or 0) // 10)


def is_low(free: int, limit: int | None) -> bool:
    return limit is not None and free < limit


def measure(path: Path) -> Reading:
    """Free and total bytes of the disk holding `path` (its nearest existing folder)."""
    path = Path(path)
    while not path.exists() and path != path.parent:
        path = path.parent
    stat = os.statvfs(path)
    return Reading(free=stat.f_bavail * stat.f_frsize, total=stat.f_blocks * stat.f_frsize)


def _storage_root() -> Path:
    return current_app.config["HAUL"].storage_root


def _measure_storage() -> Reading | None:
    """The storage disk's reading, or None when it cannot be read (then nothing is held back)."""
    try:
        return measure(_storage_root())
    except OSError:
        log.warning("cannot read the free space of the storage root", exc_info=True)
        return None


def _read() -> tuple[dict, dict, object]:
    """(the stored state, the thresholds in force, the row's updated_at) in one query."""
    keys = (KEY, limits_settings.DISK_MIN_FREE_BYTES, limits_settings.DISK_MIN_FREE_PERCENT)
    rows = {key: (value, stamp) for key, value, stamp in
            db.session.execute(select(Setting.key, Setting.value, Setting.updated_at).where(Setting.key.in_(keys)))}
    stored, stamp = rows.get(KEY, (None, None))
    rules = {}
    for key in keys[1:]:
        value = rows.get(key, (None,))[0]
        rules[key] = value if limits_settings.shape_ok(key, value) else limits_settings.DEFAULTS[key]
    return (stored if isinstance(stored, dict) else {}), rules, stamp


def _limit(rules: dict, reading: Reading) -> int | None:
    return threshold(reading.total, rules[limits_settings.DISK_MIN_FREE_BYTES],
                     rules[limits_settings.DISK_MIN_FREE_PERCENT])


def state() -> dict:
    """What the guard says now: tripped or not (as the workers last decided), why and since when,
    the free space now, the threshold and its two rules. Cheap: one query and one statvfs."""
    stored, rules, _stamp = _read()
    reading = _measure_storage() or Reading(free=0, total=0)
    limit = _limit(rules, reading)
    tripped = bool(stored.get("tripped")) and limit is not None
    guard = {
        "enabled": limit is not None,
        "tripped": tripped,
        "reason": stored.get("reason") if tripped else None,
        "since": stored.get("since") if tripped else None,
        "free_bytes": reading.free,
        "total_bytes": reading.total,
        "threshold_bytes": limit,
        "min_free_bytes": rules[limits_settings.DISK_MIN_FREE_BYTES],
        "min_free_percent": rules[limits_settings.DISK_MIN_FREE_PERCENT],
        "checked_at": stored.get("checked_at"),
    }
    guard["message"] = banner(guard) if tripped else None
    return guard


def _should_clear(stored: dict, reading: Reading, limit: int | None) -> bool:
    if limit is None:
        return True  # switched off
    if reading.free < limit + margin(limit):
        return False
    if stored.get("reason") == DISK_FULL:
        return reading.free >= int(stored.get("free_bytes") or 0) + margin(limit)
    return True


def check() -> bool | None:
    """The watchdog's pass (every worker, every few seconds): trip or clear as free space says.
    Returns whether the guard is tripped now (None when the check itself failed: logged, and the
    watchdog's other work goes on)."""
    try:
        stored, rules, stamp = _read()
        reading = measure(_storage_root())
        limit = _limit(rules, reading)
        tripped = bool(stored.get("tripped"))
        if not tripped and is_low(reading.free, limit):
            return _change(True, LOW_SPACE, reading, limit, stamp) or True
        if tripped and _should_clear(stored, reading, limit):
            return not _change(False, stored.get("reason"), reading, limit, stamp)
        return tripped
    except Exception:  # a busy or full database, a storage root gone: try again next pass
        log.exception("disk guard check failed")
        return None
    finally:
        db.session.rollback()


def may_start() -> bool:
    """The claim's question: False while tripped, and trips it when free space is below the
    threshold now (a disk filled by something else between two watchdog passes)."""
    stored, rules, stamp = _read()
    if stored.get("tripped"):
        return False
    reading = _measure_storage()
    limit = _limit(rules, reading) if reading is not None else None
    if reading is None or not is_low(reading.free, limit):
        return True
    db.session.rollback()
    _change(True, LOW_SPACE, reading, limit, stamp)
    return False


def trip_disk_full() -> None:
    """A download met a full disk (ENOSPC): stop new jobs now, until space is freed. Called after
    the failed job's partial files were removed, so the free space recorded is what is left."""
    try:
        stored, rules, stamp = _read()
        reading = measure(_storage_root())
        limit = _limit(rules, reading)
        if limit is None:
            return  # the guard is off: each job meets the full disk by itself
        if stored.get("tripped") and stored.get("reason") == DISK_FULL:
            return
        db.session.rollback()
        _change(True, DISK_FULL, reading, limit, stamp)
    except Exception:  # the job's own outcome matters more than the guard's bookkeeping
        db.session.rollback()
        log.exception("could not trip the disk guard")


def banner(guard: dict) -> str:
    """The sentence the queue page and the notification show while tripped."""
    free, limit = human_bytes(guard["free_bytes"]), human_bytes(guard["threshold_bytes"])
    if guard.get("reason") == DISK_FULL:
        return (f"Paused: the storage disk filled up during a download ({free} free now). "
                "Downloads resume by themselves when space is freed.")
    return (f"Paused: only {free} free on the storage disk (needs {limit}). "
            "Downloads resume by themselves when space is freed.")


def _change(tripped: bool, reason: str | None, reading: Reading, limit: int | None, seen_stamp) -> bool:
    """Write the new state with its event and notification, unless another worker changed the row
    since we read it (then theirs stands). Returns whether this call made the change."""
    now = utcnow()
    value = {"tripped": tripped, "reason": reason if tripped else None, "since": isoformat(now),
             "free_bytes": reading.free, "total_bytes": reading.total, "threshold": limit,
             "checked_at": isoformat(now)}
    try:
        if seen_stamp is None:
            db.session.add(Setting(key=KEY, value=value, updated_at=now))
            db.session.flush()
        else:
            written = db.session.execute(
                update(Setting).where(Setting.key == KEY, Setting.updated_at == seen_stamp)
                .values(value=value, updated_at=now)).rowcount
            if written != 1:
                db.session.rollback()
                return False
        guard = {**value, "free_bytes": reading.free, "threshold_bytes": limit}
        if tripped:
            title, message = "Downloads paused: the storage disk is nearly full", banner(guard)
        else:
            title = "Downloads resumed: space on the storage disk is back"
            message = f"{human_bytes(reading.free)} free on the storage disk; waiting downloads start again."
        kind = events.DISK_GUARD_TRIPPED if tripped else events.DISK_GUARD_CLEARED
        events.publish_queue(kind, tripped=tripped, reason=value["reason"], free_bytes=reading.free,
                             threshold_bytes=limit, message=message)
        outbox.announce(DISK_GUARD_EVENT, {"title": title, "message": message, "url": "/", "tripped": tripped,
                                           "reason": value["reason"], "free_bytes": reading.free,
                                           "threshold_bytes": limit})
        db.session.commit()
    except IntegrityError:  # another worker wrote the first row at the same moment
        db.session.rollback()
        return False
    (log.warning if tripped else log.info)("disk guard %s: %s", "tripped" if tripped else "cleared", message)
    if not tripped:
        dispatch.top_up()  # the jobs that waited start now
    return True
