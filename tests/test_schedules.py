"""Subscription schedules: what is accepted, the admin's minimum, the next firing and the words."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from webapp.core.schedules import CRON, INTERVAL, Schedule, ScheduleProblem, parse_schedule, schedule_from_columns

UTC = timezone.utc
QUARTER = 15 * 60


def parse(text: str, minimum: int = QUARTER) -> Schedule:
    return parse_schedule(text, min_interval_seconds=minimum)


@pytest.mark.parametrize("text, seconds, canonical", [
    ("every 6 hours", 6 * 3600, "every 6 hours"),
    ("Every Hour", 3600, "every hour"),
    ("every day", 86400, "every day"),
    ("  every   30   min ", 1800, "every 30 minutes"),
    ("every 90 minutes", 5400, "every 90 minutes"),
    ("every 120 minutes", 7200, "every 2 hours"),
    ("every 48 hours", 172800, "every 2 days"),
    ("EVERY 2 DAYS", 172800, "every 2 days"),
    ("every 1 hour", 3600, "every hour"),
    ("every 15 mins", 900, "every 15 minutes"),
])
def test_intervals(text, seconds, canonical):
    schedule = parse(text)
    assert (schedule.kind, schedule.cron, schedule.interval_seconds, schedule.text) == (INTERVAL, None, seconds, canonical)


@pytest.mark.parametrize("text, canonical", [
    ("0 */6 * * *", "0 */6 * * *"),
    ("  30   3 * * *  ", "30 3 * * *"),
    ("@daily", "@daily"),
    ("@HOURLY", "@hourly"),
    ("0 9 * * mon", "0 9 * * mon"),
])
def test_cron(text, canonical):
    schedule = parse(text)
    assert (schedule.kind, schedule.cron, schedule.interval_seconds, schedule.text) == (CRON, canonical, None, canonical)


@pytest.mark.parametrize("text, words", [
    ("", "no schedule"),
    ("   ", "no schedule"),
    ("sometimes", "not a cron expression or 'every N minutes/hours/days'"),
    ("every fortnight", "not a cron expression"),
    ("every 0 hours", "at least 1"),
    ("every 400 days", "longest interval"),
    ("0 0 * * * 5", "six fields"),
    ("0 0 * *", "not a cron expression"),
    ("61 * * * *", "not a cron expression"),
    ("@reboot", "unknown cron alias"),
    ("0 0 31 2 *", "never fires"),
])
def test_refused(text, words):
    with pytest.raises(ScheduleProblem, match=words):
        parse(text)


def test_schedule_problem_is_a_value_error():
    assert issubclass(ScheduleProblem, ValueError)


def test_interval_minimum():
    with pytest.raises(ScheduleProblem) as caught:
        parse("every 5 minutes")
    assert str(caught.value) == "'every 5 minutes' is more often than the minimum of every 15 minutes the admin allows"
    assert parse("every 15 minutes").interval_seconds == QUARTER
    with pytest.raises(ScheduleProblem, match="minimum of every hour"):
        parse("every 59 min", minimum=3600)


@pytest.mark.parametrize("text", ["*/5 * * * *", "* * * * *", "0,5 * * * *", "*/10 9 * * *",
                                  "0-4 3 * * *"])
def test_cron_minimum(text):
    with pytest.raises(ScheduleProblem, match="more often than the minimum of every 15 minutes"):
        parse(text)


def test_cron_minimum_sees_the_uneven_gap():
    with pytest.raises(ScheduleProblem, match="as often as every 4 minutes"):
        parse("*/7 * * * *", minimum=5 * 60)
    assert parse("*/15 * * * *").cron == "*/15 * * * *"
    assert parse("@hourly", minimum=3600).cron == "@hourly"
    with pytest.raises(ScheduleProblem):
        parse("@hourly", minimum=7200)


def test_next_after_interval():
    moment = datetime(2026, 3, 1, 10, 17, 5, tzinfo=UTC)
    assert parse("every 6 hours").next_after(moment) == datetime(2026, 3, 1, 16, 17, 5, tzinfo=UTC)


def test_next_after_cron_is_utc_and_strictly_after():
    schedule = parse("0 */6 * * *")
    assert schedule.next_after(datetime(2026, 3, 1, 10, 17, tzinfo=UTC)) == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert schedule.next_after(datetime(2026, 3, 1, 12, 0, tzinfo=UTC)) == datetime(2026, 3, 1, 18, 0, tzinfo=UTC)
    # The same moment written in another zone gives the same UTC answer.
    paris = timezone(timedelta(hours=1))
    later = schedule.next_after(datetime(2026, 3, 1, 11, 17, tzinfo=paris))
    assert later == datetime(2026, 3, 1, 12, 0, tzinfo=UTC) and later.utcoffset() == timedelta(0)
    assert parse("@daily").next_after(datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == datetime(2027, 1, 1, tzinfo=UTC)
    # 2026-03-02 is a Monday.
    assert parse("0 9 * * mon").next_after(datetime(2026, 3, 1, tzinfo=UTC)) == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_next_after_needs_an_aware_moment():
    with pytest.raises(ValueError):
        parse("@daily").next_after(datetime(2026, 1, 1))


@pytest.mark.parametrize("text, human", [
    ("every 6 hours", "Every 6 hours"),
    ("every hour", "Every hour"),
    ("every 30 minutes", "Every 30 minutes"),
    ("every 3 days", "Every 3 days"),
    ("*/30 * * * *", "Every 30 minutes"),
    ("0 */6 * * *", "At minute 0 past every 6th hour (UTC)"),
    ("15 */2 * * *", "At minute 15 past every 2nd hour (UTC)"),
    ("0 * * * *", "Every hour at minute 0"),
    ("@hourly", "Every hour at minute 0"),
    ("0 3 * * *", "Every day at 03:00 UTC"),
    ("@daily", "Every day at 00:00 UTC"),
    ("30 18 * * 5", "Every Friday at 18:30 UTC"),
    ("0 9 * * MON", "Every Monday at 09:00 UTC"),
    ("0 9 * * 7", "Every Sunday at 09:00 UTC"),
    ("@weekly", "Every Sunday at 00:00 UTC"),
    ("0 4 15 * *", "Monthly on day 15 at 04:00 UTC"),
    ("@monthly", "Monthly on day 1 at 00:00 UTC"),
    ("0 9 * * 1-5", "Cron: 0 9 * * 1-5 (UTC)"),
    ("@yearly", "Cron: @yearly (UTC)"),
])
def test_human(text, human):
    assert parse(text).human == human


def test_from_columns_skips_the_minimum_and_round_trips():
    for text in ("every 6 hours", "0 */6 * * *", "@daily"):
        stored = parse(text)
        assert schedule_from_columns(stored.kind, stored.cron, stored.interval_seconds) == stored
    assert schedule_from_columns(INTERVAL, None, 60).text == "every minute"
    assert schedule_from_columns(CRON, "* * * * *", None).human == "Every minute"


@pytest.mark.parametrize("kind, cron, seconds", [
    ("weekly", None, 60), (INTERVAL, None, None), (INTERVAL, None, 0), (CRON, None, None), (CRON, "nonsense", None),
])
def test_from_columns_refuses_broken_rows(kind, cron, seconds):
    with pytest.raises(ScheduleProblem):
        schedule_from_columns(kind, cron, seconds)
