"""The download windows in force: when queued jobs may start.

The schedule and its time zone are runtime settings (webapp/services/admin/window_settings.py);
what they mean is webapp/core/windows.py. Outside the windows a queued job waits — its status
stays `queued` in the database; pages and the API show it as *scheduled*, with the time it will
start (`scheduled_for`) — unless it is marked `run_now`. A download that started inside a
window runs to its end.

Who asks: the claim (jobs/runner.py: outside the windows only `run_now` jobs), the wake-ups
(dispatch.top_up counts only the jobs that may start), the minute task that wakes the workers
when a window opens (jobs/tasks.py), and the pages and JSON that show "scheduled".
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select

from webapp.core import windows as schedule
from webapp.core.vocabulary import QUEUED
from webapp.core.windows import WindowError
from webapp.extensions import db
from webapp.models import Setting
from webapp.models.base import isoformat, utcnow
from webapp.services.admin import window_settings


class Windows:
    """The stored schedule, read once: the rules, their zone, and what they say at a moment."""

    def __init__(self, rules, zone_name: str):
        self.rules = rules
        self.zone_name = zone_name
        self.zone = schedule.zone(zone_name)

    @property
    def enabled(self) -> bool:
        return bool(self.rules)

    def verdict(self, now: datetime | None = None) -> schedule.Verdict:
        return schedule.verdict(self.rules, self.zone, _aware(now))

    def closed_until(self, now: datetime | None = None) -> datetime | None:
        """None while jobs may start; else when the next window opens (UTC; every rule recurs
        weekly, so a closed schedule always has a next opening)."""
        found = self.verdict(now)
        return None if found.open else found.next_open

    def is_open(self, now: datetime | None = None) -> bool:
        return self.verdict(now).open

    def describe(self) -> str:
        return schedule.describe(self.rules)

    def local(self, moment: datetime | None) -> datetime | None:
        """`moment` in the schedule's zone, for people."""
        return moment.astimezone(self.zone) if moment is not None else None


def _aware(now: datetime | None) -> datetime:
    if now is None:
        return utcnow()
    return now if now.tzinfo is not None else now.replace(tzinfo=timezone.utc)  # the database's UTC


def current() -> Windows:
    """The schedule as stored (one small query); a stored value no longer usable counts as unset."""
    stored = dict(db.session.execute(
        select(Setting.key, Setting.value).where(Setting.key.in_(window_settings.KEYS))).all())
    values = window_settings.defaults()
    for key, value in stored.items():
        if window_settings.shape_ok(key, value):
            values[key] = value
    try:
        rules = schedule.parse_rules(values[window_settings.WINDOWS])
        return Windows(rules, values[window_settings.TIMEZONE])
    except WindowError:  # the server's own zone unknown to zoneinfo: read the rules in UTC
        return Windows(schedule.parse_rules(values[window_settings.WINDOWS]), "UTC")


def may_start_any(now: datetime | None = None) -> bool:
    """Whether a queued job without `run_now` may start now (the windows are open, or there are none)."""
    return current().is_open(now)


def state(now: datetime | None = None) -> dict:
    """The windows for the API, the status and the pages: {enabled, open, next_open, next_close,
    timezone, rules, description}; times are ISO 8601 in UTC (None where there is none)."""
    windows = current()
    found = windows.verdict(now)
    return {
        "enabled": windows.enabled,
        "open": found.open,
        "next_open": isoformat(found.next_open),
        "next_close": isoformat(found.next_close),
        "timezone": windows.zone_name,
        "rules": schedule.to_json(windows.rules),
        "description": windows.describe(),
    }


def scheduled_for(job, closed_until: datetime | None) -> datetime | None:
    """When a job will start because of the windows: the next opening while they are closed
    (`closed_until`, from Windows.closed_until) for a queued job not marked run_now; else None."""
    if closed_until is None or job.status != QUEUED or job.run_now:
        return None
    return closed_until
