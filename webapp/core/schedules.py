"""When a subscription looks for new items: a cron expression or a plain "every N hours".

People write a schedule in one box, either as cron (`0 */6 * * *`, or an alias such as
`@daily`) or in words (`every 6 hours`, `every day`, `every 30 min`). Both become a
`Schedule`, which is stored as three columns (kind, cron, interval_seconds) and rebuilt from
them with `schedule_from_columns`. Cron is always read in UTC: the server's own zone is an
accident of where it runs, and a schedule must not move when the container does.

The admin sets a minimum interval so that a subscription cannot hammer a site. An interval is
held against it directly; a cron expression by the smallest gap between its next firings from a
fixed moment, which catches `*/5 * * * *` as well as `0,5 * * * *`. A schedule rebuilt from the
database skips that check: lowering the minimum later must not break stored subscriptions, and
raising it is the admin's to apply, not the loader's.

croniter does the cron arithmetic; this module only chooses what to accept and how to say it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from croniter import croniter

CRON, INTERVAL = "cron", "interval"
KINDS = (CRON, INTERVAL)

MINUTE, HOUR, DAY = 60, 3600, 86400
MAX_INTERVAL_SECONDS = 365 * DAY
# Where the minimum check starts counting a cron expression's firings, and how many gaps it
# looks at: fixed so the same expression is always judged the same, and enough firings to see
# the short gap in a list such as "0,5 * * * *" or a run of minutes inside one hour.
REFERENCE_MOMENT = datetime(2026, 1, 1, tzinfo=timezone.utc)
FIRINGS_CHECKED = 64

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
UNITS = {"minute": MINUTE, "min": MINUTE, "m": MINUTE, "hour": HOUR, "hr": HOUR, "h": HOUR, "day": DAY, "d": DAY}
_INTERVAL_RE = re.compile(r"every\s*(\d+)?\s*(minutes?|mins?|m|hours?|hrs?|h|days?|d)", re.IGNORECASE)
DAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_DAY_ABBREVIATIONS = {name[:3].lower(): i for i, name in enumerate(DAY_NAMES)}


class ScheduleProblem(ValueError):
    """Why a schedule was refused, in words for the person who wrote it."""


@dataclass(frozen=True)
class Schedule:
    kind: str  # CRON or INTERVAL
    cron: str | None
    interval_seconds: int | None
    text: str  # canonical: the cron expression, or "every N minutes/hours/days"

    def next_after(self, moment: datetime) -> datetime:
        """The first firing strictly after `moment` (timezone-aware), in UTC."""
        if moment.tzinfo is None:
            raise ValueError("next_after needs a timezone-aware datetime")
        moment = moment.astimezone(timezone.utc)
        if self.kind == INTERVAL:
            return moment + timedelta(seconds=self.interval_seconds)
        return croniter(self.cron, moment).get_next(datetime).astimezone(timezone.utc)

    @property
    def human(self) -> str:
        """The schedule as a sentence for the pages, e.g. "Every day at 03:00 UTC"."""
        if self.kind == INTERVAL:
            return _capitalise(interval_text(self.interval_seconds))
        return describe_cron(self.cron)


def parse_schedule(text: str, *, min_interval_seconds: int) -> Schedule:
    """Read what a person typed into a Schedule, or raise ScheduleProblem."""
    if not isinstance(text, str) or not text.strip():
        raise ScheduleProblem("no schedule given: write a cron expression or 'every N minutes/hours/days'")
    written = " ".join(text.split())
    if written.lower().startswith("every"):
        schedule = _parse_interval(written)
        if schedule.interval_seconds < min_interval_seconds:
            raise ScheduleProblem(
                f"'{written}' is more often than the minimum of {interval_text(min_interval_seconds)} the admin allows")
        return schedule
    schedule = _parse_cron(written)
    gap = _shortest_gap(schedule.cron)
    if gap < min_interval_seconds:
        raise ScheduleProblem(
            f"'{written}' fires as often as {interval_text(gap)}, more often than the minimum of "
            f"{interval_text(min_interval_seconds)} the admin allows")
    return schedule


def schedule_from_columns(kind: str, cron: str | None, interval_seconds: int | None) -> Schedule:
    """Rebuild a stored schedule (no minimum check: see the module docstring)."""
    if kind == INTERVAL:
        if not isinstance(interval_seconds, int) or interval_seconds <= 0:
            raise ScheduleProblem(f"a stored interval schedule needs a positive number of seconds, not {interval_seconds!r}")
        return Schedule(INTERVAL, None, interval_seconds, interval_text(interval_seconds))
    if kind == CRON:
        if not cron:
            raise ScheduleProblem("a stored cron schedule has no expression")
        return _parse_cron(cron)
    raise ScheduleProblem(f"unknown schedule kind {kind!r}")


def interval_text(seconds: int) -> str:
    """"every N minutes/hours/days" in the largest whole unit ("every hour" for one)."""
    for unit, size in (("day", DAY), ("hour", HOUR), ("minute", MINUTE)):
        if seconds % size == 0:
            count = seconds // size
            return f"every {unit}" if count == 1 else f"every {count} {unit}s"
    return "every second" if seconds == 1 else f"every {seconds} seconds"


def describe_cron(expression: str) -> str:
    """A phrase for the common shapes of cron, else "Cron: <expr> (UTC)"."""
    fields = ALIASES.get(expression.lower(), expression).split()
    if len(fields) != 5:
        return f"Cron: {expression} (UTC)"
    minute, hour, dom, month, dow = fields
    rest_any = month == "*"
    if rest_any and dom == "*" and dow == "*":
        if hour == "*":
            if minute == "*":
                return "Every minute"
            # */N only fires evenly when N divides the hour (*/7 has a 4-minute gap at :56).
            if (step := _step(minute)) and 60 % step == 0:
                return _capitalise(interval_text(step * MINUTE))
            if _number(minute, 59) is not None:
                return f"Every hour at minute {int(minute)}"
        elif _number(minute, 59) is not None:
            if hour_step := _step(hour):
                if hour_step == 1:
                    return f"Every hour at minute {int(minute)}"
                return f"At minute {int(minute)} past every {_ordinal(hour_step)} hour (UTC)"
            if _number(hour, 23) is not None:
                return f"Every day at {_clock(hour, minute)} UTC"
    at = _clock(hour, minute) if _number(minute, 59) is not None and _number(hour, 23) is not None else None
    if at and rest_any and dom == "*" and (day := _weekday(dow)) is not None:
        return f"Every {DAY_NAMES[day]} at {at} UTC"
    if at and rest_any and dow == "*" and (day_of_month := _number(dom, 31)) is not None and day_of_month >= 1:
        return f"Monthly on day {day_of_month} at {at} UTC"
    return f"Cron: {expression} (UTC)"


# -- reading ------------------------------------------------------------------------------------

def _parse_interval(written: str) -> Schedule:
    match = _INTERVAL_RE.fullmatch(written)
    if not match:
        raise ScheduleProblem(f"not a cron expression or 'every N minutes/hours/days': '{written}'")
    count = int(match.group(1)) if match.group(1) else 1
    unit = match.group(2).lower()
    size = UNITS.get(unit) or UNITS[unit.rstrip("s")]
    seconds = count * size
    if seconds <= 0:
        raise ScheduleProblem(f"'{written}' never comes round: the number must be at least 1")
    if seconds > MAX_INTERVAL_SECONDS:
        raise ScheduleProblem(f"'{written}' is longer than the longest interval, {interval_text(MAX_INTERVAL_SECONDS)}")
    return Schedule(INTERVAL, None, seconds, interval_text(seconds))


def _parse_cron(written: str) -> Schedule:
    expression = " ".join(written.split())
    if expression.startswith("@"):
        expression = expression.lower()
        if expression not in ALIASES:
            raise ScheduleProblem(
                f"unknown cron alias '{written}': use one of {', '.join(sorted(ALIASES))}")
    else:
        fields = expression.split(" ")
        if len(fields) == 6:
            raise ScheduleProblem(f"'{written}' has six fields: seconds are not allowed, use five (minute hour day month weekday)")
        if len(fields) != 5:
            raise ScheduleProblem(f"not a cron expression or 'every N minutes/hours/days': '{written}'")
    try:
        valid = croniter.is_valid(expression)
    except Exception:  # croniter raises more than its own errors on odd input
        valid = False
    if not valid:
        raise ScheduleProblem(f"not a cron expression or 'every N minutes/hours/days': '{written}'")
    try:
        croniter(expression, REFERENCE_MOMENT).get_next(datetime)
    except Exception:
        raise ScheduleProblem(f"'{written}' never fires (no such date)") from None
    return Schedule(CRON, expression, None, expression)


def _shortest_gap(expression: str) -> int:
    """The smallest gap in seconds between the expression's next firings after REFERENCE_MOMENT."""
    iterator = croniter(expression, REFERENCE_MOMENT)
    previous = iterator.get_next(datetime)
    shortest = None
    for _ in range(FIRINGS_CHECKED):
        try:
            current = iterator.get_next(datetime)
        except Exception:  # a rare date with no firing after it: judge on the gaps seen
            break
        gap = int((current - previous).total_seconds())
        shortest = gap if shortest is None else min(shortest, gap)
        previous = current
    return shortest if shortest is not None else MAX_INTERVAL_SECONDS


# -- describing ---------------------------------------------------------------------------------

def _number(field: str, highest: int) -> int | None:
    return int(field) if field.isdigit() and int(field) <= highest else None


def _step(field: str) -> int | None:
    """N for "*/N" (and 1 for "*"), else None."""
    if field == "*":
        return 1
    match = re.fullmatch(r"\*/(\d+)", field)
    return int(match.group(1)) if match and int(match.group(1)) > 0 else None


def _weekday(field: str) -> int | None:
    if field.isdigit() and int(field) <= 7:
        return int(field) % 7  # cron allows 7 for Sunday as well as 0
    return _DAY_ABBREVIATIONS.get(field.lower())


def _clock(hour: str, minute: str) -> str:
    return f"{int(hour):02d}:{int(minute):02d}"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]
