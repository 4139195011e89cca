"""Download windows, the pure part (webapp/core/windows.py): parsing, open or closed, the next
opening and closing across midnight, weekends, days and daylight-saving changes, messages."""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from webapp.core import windows as w

BERLIN = ZoneInfo("Europe/Berlin")
UTC = timezone.utc
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]
# 01:00–07:00 on weekdays, any time at weekends: the issue's example.
ISSUE_EXAMPLE = [{"days": WEEKDAYS, "start": "01:00", "end": "07:00"},
                 {"days": ["sat", "sun"], "start": "00:00", "end": "24:00"}]


def at(text: str, tz=BERLIN) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=tz)


def berlin(moment: datetime | None) -> str | None:
    return moment.astimezone(BERLIN).isoformat(timespec="minutes") if moment else None


def test_no_rules_is_always_open():
    assert w.is_open((), BERLIN, at("2026-12-07T12:00"))
    assert w.verdict(w.parse_rules([]), BERLIN, at("2026-12-07T12:00")) == w.Verdict(True, None, None)
    assert w.parse_rules(None) == ()
    assert w.describe(()) == "any time"


def test_a_window_crossing_midnight_is_open_on_both_sides_of_it():
    rules = w.parse_rules([{"days": ["mon"], "start": "22:00", "end": "06:00"}])
    # 2026-12-07 is a Monday.
    assert not w.is_open(rules, BERLIN, at("2026-12-07T21:59"))
    assert w.is_open(rules, BERLIN, at("2026-12-07T22:00"))
    assert w.is_open(rules, BERLIN, at("2026-12-08T05:59"))  # Tuesday morning: Monday's window
    assert not w.is_open(rules, BERLIN, at("2026-12-08T06:00"))  # the end is not inside
    assert not w.is_open(rules, BERLIN, at("2026-12-08T22:30"))  # Tuesday night: no window starts then
    assert not w.is_open(rules, BERLIN, at("2026-12-07T03:00"))  # Sunday's night has no window
    assert berlin(w.next_closing(rules, BERLIN, at("2026-12-07T23:00"))) == "2026-12-08T06:00+01:00"


def test_weekends_any_time_and_weekday_nights():
    rules = w.parse_rules(ISSUE_EXAMPLE)
    assert w.is_open(rules, BERLIN, at("2026-12-05T14:00"))  # Saturday afternoon
    assert w.is_open(rules, BERLIN, at("2026-12-06T23:59"))  # Sunday night
    assert w.is_open(rules, BERLIN, at("2026-12-07T03:00"))  # Monday 03:00
    assert not w.is_open(rules, BERLIN, at("2026-12-07T12:00"))  # Monday noon
    # Saturday and Sunday are one window: it closes at Monday 00:00, not at Sunday 00:00.
    assert berlin(w.next_closing(rules, BERLIN, at("2026-12-05T14:00"))) == "2026-12-07T00:00+01:00"
    assert w.describe(rules) == "01:00–07:00 Mon–Fri; any time Sat, Sun"


def test_next_opening_crosses_days():
    rules = w.parse_rules(ISSUE_EXAMPLE)
    # Monday noon: Tuesday 01:00, closing 07:00.
    found = w.verdict(rules, BERLIN, at("2026-12-07T12:00"))
    assert (found.open, berlin(found.next_open), berlin(found.next_close)) == (
        False, "2026-12-08T01:00+01:00", "2026-12-08T07:00+01:00")
    # Friday noon: the weekend, from Saturday 00:00.
    assert berlin(w.next_opening(rules, BERLIN, at("2026-12-11T12:00"))) == "2026-12-12T00:00+01:00"
    # Once a week: Wednesday's window, seen on Thursday, is six days away.
    weekly = w.parse_rules([{"days": ["wed"], "start": "02:00", "end": "03:00"}])
    assert berlin(w.next_opening(weekly, BERLIN, at("2026-12-10T12:00"))) == "2026-12-16T02:00+01:00"
    # While open, next_opening is now (a waiting job starts at once) and next_closing the end.
    now = at("2026-12-08T02:00")
    assert w.next_opening(rules, BERLIN, now) == now.astimezone(UTC)
    assert berlin(w.next_closing(rules, BERLIN, now)) == "2026-12-08T07:00+01:00"
    assert w.next_closing(rules, BERLIN, at("2026-12-07T12:00")) is None


def test_every_day_all_day_never_closes():
    rules = w.parse_rules([{"days": w.DAYS, "start": "00:00", "end": "00:00"}])
    assert w.verdict(rules, BERLIN, at("2026-12-07T12:00")) == w.Verdict(True, None, None)
    assert w.describe(rules) == "any time every day"


def test_spring_forward_keeps_wall_clock_times_in_berlin():
    """29 March 2026: 02:00 CET becomes 03:00 CEST. A 01:00–07:00 window is five real hours that night."""
    rules = w.parse_rules([{"days": ["sun"], "start": "01:00", "end": "07:00"}])
    found = w.verdict(rules, BERLIN, at("2026-03-28T12:00"))
    assert found.next_open == datetime(2026, 3, 29, 0, 0, tzinfo=UTC)  # 01:00 CET
    assert found.next_close == datetime(2026, 3, 29, 5, 0, tzinfo=UTC)  # 07:00 CEST
    assert berlin(found.next_close) == "2026-03-29T07:00+02:00"
    # Inside it, in UTC terms: 04:30 UTC is 06:30 CEST.
    assert w.is_open(rules, BERLIN, datetime(2026, 3, 29, 4, 30, tzinfo=UTC))
    assert not w.is_open(rules, BERLIN, datetime(2026, 3, 29, 5, 0, tzinfo=UTC))


def test_fall_back_keeps_wall_clock_times_in_berlin():
    """25 October 2026: 03:00 CEST becomes 02:00 CET. The same window is seven real hours that night."""
    rules = w.parse_rules([{"days": ["sun"], "start": "01:00", "end": "07:00"}])
    found = w.verdict(rules, BERLIN, at("2026-10-24T12:00"))
    assert found.next_open == datetime(2026, 10, 24, 23, 0, tzinfo=UTC)  # 01:00 CEST
    assert found.next_close == datetime(2026, 10, 25, 6, 0, tzinfo=UTC)  # 07:00 CET
    # The window after: next Sunday, in winter time.
    inside = w.verdict(rules, BERLIN, datetime(2026, 10, 25, 3, 0, tzinfo=UTC))
    assert inside.open and berlin(inside.next_open) == "2026-11-01T01:00+01:00"


def test_a_naive_time_is_read_in_the_schedules_zone():
    rules = w.parse_rules([{"days": ["mon"], "start": "01:00", "end": "02:00"}])
    assert w.is_open(rules, BERLIN, datetime(2026, 12, 7, 1, 30))
    assert not w.is_open(rules, BERLIN, datetime(2026, 12, 7, 1, 30, tzinfo=UTC))  # 02:30 in Berlin


def test_rules_come_back_in_their_canonical_form():
    rules = w.parse_rules([{"days": ["Friday", "MON", "mon"], "start": " 01:00", "end": "24:00"}])
    assert w.to_json(rules) == [{"days": ["mon", "fri"], "start": "01:00", "end": "24:00"}]


@pytest.mark.parametrize(("raw", "message"), [
    ("01:00-07:00", "Download windows must be a list of rules"),
    ([{"days": [], "start": "01:00", "end": "07:00"}], "Rule 1: choose at least one day"),
    ([{"days": ["mon"], "start": "1:00", "end": "07:00"}], "Rule 1: the start must be a time like 01:00"),
    ([{"days": ["mon"], "start": "01:00", "end": "25:00"}], "Rule 1: the end must be a time like 01:00"),
    ([{"days": ["mon"], "start": "24:00", "end": "07:00"}], "Rule 1: the start must be a time like 01:00"),
    ([{"days": ["mon"], "start": "01:00"}], "Rule 1: the end must be a time like 01:00"),
    ([{"days": ["mon"], "start": "01:00", "end": "02:00"}, {"days": ["funday"], "start": "01:00", "end": "02:00"}],
     "Rule 2: unknown day 'funday'"),
    ([{"days": ["mon"], "start": "01:00", "end": "02:00", "every": 2}], "Rule 1: unknown field every"),
    (["mon 01:00"], "Rule 1: must be an object"),
    ([{"days": ["mon"], "start": 100, "end": "02:00"}], "Rule 1: the start must be a time like 01:00"),
    ([{"days": ["mon"], "start": "01:00", "end": "02:00"}] * 21, "At most 20 download windows"),
])
def test_bad_rules_are_refused_with_a_message_naming_the_rule(raw, message):
    with pytest.raises(w.WindowError) as refused:
        w.parse_rules(raw)
    assert str(refused.value).startswith(message), str(refused.value)


@pytest.mark.parametrize("name", ["Mars/Olympus", "../../etc/passwd", "/etc/localtime", "", None, "Europe/" + "x" * 80,
                                  "Europe/../Berlin"])
def test_unknown_or_path_like_time_zones_are_refused(name):
    with pytest.raises(w.WindowError, match="time zone"):
        w.zone(name)


def test_known_time_zones_are_accepted():
    assert w.zone("Europe/Berlin") == BERLIN
    assert str(w.zone("UTC")) == "UTC"
    assert w.zone(w.local_zone_name())  # the server's own zone is always usable


def test_waits_and_moments_in_words():
    assert w.describe_wait(20) == "under a minute"
    assert w.describe_wait(25 * 60) == "25 min"
    assert w.describe_wait(3 * 3600) == "3 h"
    assert w.describe_wait(3 * 3600 + 20 * 60) == "3 h 20 min"
    assert w.describe_wait(50 * 3600) == "2 days"
    now = at("2026-12-07T12:00")
    assert w.describe_moment(at("2026-12-07T23:00"), now, BERLIN) == "23:00"
    assert w.describe_moment(at("2026-12-08T01:00"), now, BERLIN) == "Tue 01:00"
    assert w.describe_moment(at("2026-12-20T01:00"), now, BERLIN) == "2026-12-20 01:00"
    assert w.describe_days([0, 1, 2, 3, 4]) == "Mon–Fri"
    assert w.describe_days([0, 2, 3, 4, 6]) == "Mon, Wed–Fri, Sun"
