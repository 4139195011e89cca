"""Download windows: the times of the week when new downloads may start (pure: no Flask, no database).

A schedule is a list of rules, each `{"days": ["mon", …], "start": "01:00", "end": "07:00"}`:
the window opens at `start` on each of its days and closes at `end` — the same day, or the next
one when `end` is not after `start` (22:00–06:00 crosses midnight). `end` may be "24:00" (the
end of the day), and `start` equal to `end` is a whole 24 hours. Times are wall-clock times in
the schedule's time zone, so a window keeps its hours across daylight-saving changes (it is an
hour shorter or longer on those nights). No rules: always open.

The window only decides when a job may *start*: a download that started inside it runs to
its end (webapp/services/queue/windows.py has the stored schedule and its time zone).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # date.weekday() order
_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MAX_RULES = 20
MAX_ZONE_LENGTH = 64
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_ZONE = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*$")
_RULE_KEYS = {"days", "start", "end"}
# How far ahead openings are looked for: every rule recurs within a week.
_HORIZON_DAYS = 8


class WindowError(ValueError):
    """A schedule or time zone that cannot be used; the message says why, for a person."""


@dataclass(frozen=True)
class Rule:
    days: tuple[int, ...]  # date.weekday() numbers, sorted
    start: int  # minutes after midnight, 0–1439
    end: int  # minutes after midnight, 1–1440 (1440: the end of the day)

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start

    def to_json(self) -> dict:
        return {"days": [DAYS[d] for d in self.days], "start": _clock(self.start), "end": _clock(self.end)}


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _minutes(raw, what: str, allow_end_of_day: bool) -> int:
    if not isinstance(raw, str):
        raise WindowError(f"{what} must be a time like 01:00")
    text = raw.strip()
    if allow_end_of_day and text == "24:00":
        return 1440
    match = _TIME.match(text)
    if not match:
        raise WindowError(f"{what} must be a time like 01:00 (00:00 to 23:59{', or 24:00' if allow_end_of_day else ''}),"
                          f" not {text[:20]!r}")
    return int(match.group(1)) * 60 + int(match.group(2))


def parse_rule(raw, number: int = 1) -> Rule:
    """One rule from its JSON form; WindowError naming the rule (1-based `number`) otherwise."""
    where = f"Rule {number}"
    if not isinstance(raw, dict):
        raise WindowError(f"{where}: must be an object with days, start and end")
    unknown = sorted(str(key) for key in raw if key not in _RULE_KEYS)
    if unknown:
        raise WindowError(f"{where}: unknown field {', '.join(unknown)[:60]} (use days, start and end)")
    days = raw.get("days")
    if not isinstance(days, (list, tuple)) or not days:
        raise WindowError(f"{where}: choose at least one day (mon … sun)")
    numbers = set()
    for day in days:
        name = day.strip().lower() if isinstance(day, str) else None
        if name in _FULL_DAYS:
            name = DAYS[_FULL_DAYS.index(name)]
        if name not in DAYS:
            raise WindowError(f"{where}: unknown day {str(day)[:20]!r} (use mon, tue, wed, thu, fri, sat, sun)")
        numbers.add(DAYS.index(name))
    start = _minutes(raw.get("start"), f"{where}: the start", allow_end_of_day=False)
    end = _minutes(raw.get("end"), f"{where}: the end", allow_end_of_day=True)
    return Rule(tuple(sorted(numbers)), start, end)


def parse_rules(raw) -> tuple[Rule, ...]:
    """A schedule from its JSON form (a list of rules; None or [] is no windows: always open)."""
    if raw is None:
        return ()
    if not isinstance(raw, (list, tuple)):
        raise WindowError("Download windows must be a list of rules like "
                          '{"days": ["mon"], "start": "01:00", "end": "07:00"}')
    if len(raw) > MAX_RULES:
        raise WindowError(f"At most {MAX_RULES} download windows")
    return tuple(parse_rule(rule, number) for number, rule in enumerate(raw, start=1))


def to_json(rules) -> list[dict]:
    return [rule.to_json() for rule in rules]


def zone(name) -> ZoneInfo:
    """The time zone called `name` (IANA, e.g. Europe/Berlin); WindowError when there is none."""
    if not isinstance(name, str) or not name.strip():
        raise WindowError("The time zone must be a name like Europe/Berlin or UTC")
    text = name.strip()
    # The shape first: ZoneInfo reads a file named after the key, so nothing path-like gets to it.
    if len(text) > MAX_ZONE_LENGTH or not _ZONE.match(text) or ".." in text:
        raise WindowError(f"Unknown time zone {text[:MAX_ZONE_LENGTH]!r} (use a name like Europe/Berlin or UTC)")
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise WindowError(f"Unknown time zone {text!r} (use a name like Europe/Berlin or UTC)") from None


def local_zone_name() -> str:
    """The server's own time zone as an IANA name (TZ, /etc/timezone, /etc/localtime), else UTC."""
    candidates = [_strip_colon(os.environ.get("TZ", ""))]
    try:
        candidates.append(Path("/etc/timezone").read_text().strip())
    except OSError:
        pass
    try:
        target = str(Path("/etc/localtime").resolve())
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    except OSError:
        pass
    for candidate in candidates:
        try:
            zone(candidate)
            return candidate
        except WindowError:
            continue
    return "UTC"


def _strip_colon(value: str) -> str:
    return value[1:] if value.startswith(":") else value


# Where the windows fall -------------------------------------------------------------------------


def _intervals(rules, tz: ZoneInfo, around: date):
    """(opens, closes) in UTC of every window starting from the day before `around` on, sorted
    and merged where they touch (two windows back to back are one)."""
    found = []
    for offset in range(-1, _HORIZON_DAYS):
        day = around + timedelta(days=offset)
        for rule in rules:
            if day.weekday() not in rule.days:
                continue
            opens = _at(day, rule.start, tz)
            # 24:00 is _at's next midnight; an end not after the start is on the next day.
            closes = _at(day + timedelta(days=1) if rule.crosses_midnight else day, rule.end, tz)
            if closes > opens:
                found.append((opens, closes))
    found.sort()
    merged: list[list[datetime]] = []
    for opens, closes in found:
        if merged and opens <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], closes)
        else:
            merged.append([opens, closes])
    return [(opens, closes) for opens, closes in merged]


def _at(day: date, minutes: int, tz: ZoneInfo) -> datetime:
    """`minutes` after midnight on `day`, in `tz`, as a UTC instant (a time skipped by a
    daylight-saving change counts as the moment after the change)."""
    if minutes >= 1440:
        day, minutes = day + timedelta(days=1), minutes - 1440
    local = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=tz)
    return local.astimezone(timezone.utc)


def _utc(moment: datetime, tz: ZoneInfo) -> datetime:
    if moment.tzinfo is None:  # a naive time is read as wall-clock time in the schedule's zone
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(timezone.utc)


@dataclass(frozen=True)
class Verdict:
    """The windows as they stand at one moment (UTC instants; None where there is none)."""

    open: bool
    next_open: datetime | None  # closed: when the next window opens; open: the one after this
    next_close: datetime | None  # open: when this window closes; closed: when the next one does


def verdict(rules, tz: ZoneInfo, now: datetime) -> Verdict:
    """Whether the windows are open at `now` (aware; naive is local to `tz`), and the next changes."""
    if not rules:
        return Verdict(True, None, None)
    instant = _utc(now, tz)
    today = instant.astimezone(tz).date()
    intervals = _intervals(rules, tz, today)
    first_day, last_day = _at(today - timedelta(days=1), 0, tz), _at(today + timedelta(days=_HORIZON_DAYS), 0, tz)
    for index, (opens, closes) in enumerate(intervals):
        if opens <= instant < closes:
            if opens <= first_day and closes >= last_day:  # open all week round: it never closes
                return Verdict(True, None, None)
            later = intervals[index + 1][0] if index + 1 < len(intervals) else None
            return Verdict(True, later, closes)
        if opens > instant:
            return Verdict(False, opens, closes)
    return Verdict(False, None, None)


def is_open(rules, tz: ZoneInfo, now: datetime) -> bool:
    return verdict(rules, tz, now).open


def next_opening(rules, tz: ZoneInfo, now: datetime) -> datetime | None:
    """When a job waiting at `now` may start: `now` itself while open, else the next opening (UTC)."""
    found = verdict(rules, tz, now)
    return _utc(now, tz) if found.open else found.next_open


def next_closing(rules, tz: ZoneInfo, now: datetime) -> datetime | None:
    """When the window open at `now` closes (UTC); None while closed or when it never closes."""
    found = verdict(rules, tz, now)
    return found.next_close if found.open else None


# For people ---------------------------------------------------------------------------------------


def describe_days(days) -> str:
    """Mon–Fri, Sat, Sun, every day …: runs of three or more days as a range."""
    days = sorted(set(days))
    if len(days) == 7:
        return "every day"
    runs: list[list[int]] = []
    for day in days:
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{DAY_NAMES[run[0]]}–{DAY_NAMES[run[-1]]}")
        else:
            parts.extend(DAY_NAMES[day] for day in run)
    return ", ".join(parts)


def describe_rule(rule: Rule) -> str:
    if rule.start == rule.end or (rule.start == 0 and rule.end == 1440):
        return f"any time {describe_days(rule.days)}"
    return f"{_clock(rule.start)}–{_clock(rule.end)} {describe_days(rule.days)}"


def describe(rules) -> str:
    """The schedule in one line: "01:00–07:00 Mon–Fri; any time Sat, Sun"."""
    if not rules:
        return "any time"
    return "; ".join(describe_rule(rule) for rule in rules)


def describe_wait(seconds: float) -> str:
    """How long until something, roughly: "under a minute", "25 min", "3 h", "3 h 20 min", "2 days"."""
    minutes = max(0, int(round(seconds / 60)))
    if minutes < 1:
        return "under a minute"
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h" + (f" {rest} min" if rest and hours < 10 else "")
    days = round(hours / 24)
    return f"{days} day{'s' if days != 1 else ''}"


def describe_moment(moment: datetime, now: datetime, tz: ZoneInfo) -> str:
    """A coming moment in `tz` as people read it: "01:00" today, "Tue 01:00" within a week, else a date."""
    local, today = moment.astimezone(tz), now.astimezone(tz).date()
    clock = local.strftime("%H:%M")
    if local.date() == today:
        return clock
    if (local.date() - today).days < 7:
        return f"{DAY_NAMES[local.weekday()]} {clock}"
    return f"{local.date().isoformat()} {clock}"
