"""The download windows and the queue's stop as pages and JSON show them.

A queued job that may not start because the windows are closed is shown as *scheduled* —
"scheduled — starts at 01:00 (in 3 h)" on the queue page, `scheduled_for` in the API — while
its status stays `queued` in the database (webapp/services/queue/windows.py).

The stored schedule is read at most once a second per app context (kept in `flask.g`): a page
or a list of 500 jobs asks once, and a long-lived stream sees a change within a second.
"""
from __future__ import annotations

import time
from datetime import datetime

from flask import g

from webapp.core import windows as schedule
from webapp.core.vocabulary import QUEUED
from webapp.models.base import isoformat, utcnow
from webapp.services.queue import pause as queue_state
from webapp.services.queue import windows

_FRESH_SECONDS = 1.0


def _now_state() -> tuple[windows.Windows, datetime | None]:
    """(the schedule, when it opens next if closed now), cached in g for a second."""
    cached = g.get("_haul_windows")
    if cached is not None and time.monotonic() - cached[0] < _FRESH_SECONDS:
        return cached[1], cached[2]
    current = windows.current()
    closed_until = current.closed_until()
    g._haul_windows = (time.monotonic(), current, closed_until)
    return current, closed_until


def scheduled_for(job) -> datetime | None:
    """When a queued job will start because the windows are closed now; None otherwise."""
    if getattr(job, "status", None) != QUEUED or job.run_now:
        return None  # asked before reading the settings: most jobs are not waiting for a window
    _current, closed_until = _now_state()
    return windows.scheduled_for(job, closed_until)


def scheduled_for_json(job) -> str | None:
    return isoformat(scheduled_for(job))


def scheduled_label(job) -> str | None:
    """ "starts at 01:00 (in 3 h)" for a scheduled job, else None."""
    when = scheduled_for(job)
    if when is None:
        return None
    current, _ = _now_state()
    now = utcnow()
    return (f"starts at {schedule.describe_moment(when, now, current.zone)} "
            f"(in {schedule.describe_wait((when - now).total_seconds())})")


def banner() -> dict:
    """What the queue's toolbar says about the windows and a stop: {"stopped", "closed",
    "schedule" (the rules in words), "next_open" (for people), "timezone"}."""
    current, closed_until = _now_state()
    now = utcnow()
    return {
        "stopped": queue_state.is_stopped(),
        "closed": closed_until is not None,
        "schedule": current.describe(),
        "next_open": schedule.describe_moment(closed_until, now, current.zone) if closed_until else None,
        "in": schedule.describe_wait((closed_until - now).total_seconds()) if closed_until else None,
        "timezone": current.zone_name,
    }
