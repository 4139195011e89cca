"""A subscription's filters: items read from yt-dlp entries, and the reason each one is skipped."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from webapp.core.item_filters import FilterProblem, Filters, Item, compile_pattern, item_from_entry

UTC = timezone.utc
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def item(**fields) -> Item:
    return Item(url=fields.pop("url", "https://example.com/v/1"), **fields)


# -- reading entries ----------------------------------------------------------------------------

def test_a_full_entry():
    entry = {"url": "https://www.youtube.com/watch?v=abc", "webpage_url": "https://other", "title": "Hello",
             "timestamp": 1767312000, "duration": 61.5, "ie_key": "Youtube", "id": "abc", "live_status": "not_live"}
    assert item_from_entry(entry) == Item(url="https://www.youtube.com/watch?v=abc", title="Hello",
                                          published=datetime(2026, 1, 2, tzinfo=UTC), duration=61.5,
                                          live=False, short=False, item_key="Youtube:abc")


def test_a_bare_entry():
    assert item_from_entry({"webpage_url": "https://example.com/p"}) == Item(url="https://example.com/p")
    assert item_from_entry({}).url == ""


def test_published_falls_back_through_the_fields():
    assert item_from_entry({"url": "u", "release_timestamp": 0}).published == datetime(1970, 1, 1, tzinfo=UTC)
    assert item_from_entry({"url": "u", "upload_date": "20260115"}).published == datetime(2026, 1, 15, tzinfo=UTC)
    assert item_from_entry({"url": "u", "release_date": "20251231"}).published == datetime(2025, 12, 31, tzinfo=UTC)
    assert item_from_entry({"url": "u", "timestamp": 1767312000, "upload_date": "20200101"}).published.year == 2026
    assert item_from_entry({"url": "u", "upload_date": "2026-01-15"}).published is None
    assert item_from_entry({"url": "u", "upload_date": "20261340"}).published is None
    assert item_from_entry({"url": "u", "timestamp": "soon"}).published is None


@pytest.mark.parametrize("entry, live", [
    ({"live_status": "is_live"}, True), ({"live_status": "is_upcoming"}, True), ({"live_status": "post_live"}, True),
    ({"live_status": "was_live"}, False), ({"is_live": True}, True), ({"is_live": False}, False), ({}, False),
])
def test_live(entry, live):
    assert item_from_entry({"url": "u", **entry}).live is live


def test_short():
    assert item_from_entry({"url": "https://www.youtube.com/shorts/abc"}).short
    assert item_from_entry({"url": "https://x/watch", "media_type": "short"}).short
    assert not item_from_entry({"url": "https://x/watch", "media_type": "video"}).short


def test_item_key_needs_both_halves():
    assert item_from_entry({"url": "u", "extractor_key": "Generic", "id": "x-1-1"}).item_key == "Generic:x-1-1"
    assert item_from_entry({"url": "u", "ie_key": "Youtube", "extractor_key": "Other", "id": "a"}).item_key == "Youtube:a"
    assert item_from_entry({"url": "u", "id": "a"}).item_key is None
    assert item_from_entry({"url": "u", "ie_key": "Youtube"}).item_key is None


def test_duration_ignores_what_is_not_a_number():
    assert item_from_entry({"url": "u", "duration": "12"}).duration is None
    assert item_from_entry({"url": "u", "duration": True}).duration is None
    assert item_from_entry({"url": "u", "duration": 12}).duration == 12.0


# -- checking items -----------------------------------------------------------------------------

def test_no_filters_keep_everything():
    assert Filters().check(item(live=True, short=True), NOW) is None


def test_published_after():
    filters = Filters(published_after=date(2026, 1, 1))
    assert filters.check(item(published=datetime(2025, 12, 31, 23, 59, tzinfo=UTC)), NOW) == "published before 2026-01-01"
    assert filters.check(item(published=datetime(2026, 1, 1, tzinfo=UTC)), NOW) is None


def test_within_days():
    filters = Filters(within_days=7)
    assert filters.check(item(published=datetime(2026, 2, 22, 11, 0, tzinfo=UTC)), NOW) == "published more than 7 days ago"
    assert filters.check(item(published=datetime(2026, 2, 22, 13, 0, tzinfo=UTC)), NOW) is None


def test_durations():
    filters = Filters(min_duration=60, max_duration=600)
    assert filters.check(item(duration=59.9), NOW) == "shorter than 60 s"
    assert filters.check(item(duration=600.5), NOW) == "longer than 600 s"
    assert filters.check(item(duration=60), NOW) is None
    assert filters.check(item(duration=600), NOW) is None


def test_unknown_date_and_duration_pass():
    filters = Filters(published_after=date(2026, 1, 1), within_days=1, min_duration=60, max_duration=600)
    assert filters.check(item(), NOW) is None


def test_title_patterns_are_case_insensitive_searches():
    include = Filters(title_include=r"podcast|episode \d+")
    assert include.check(item(title="The PODCAST, part 2"), NOW) is None
    assert include.check(item(title="Bonus: Episode 12"), NOW) is None
    assert include.check(item(title="A trailer"), NOW) == "title does not match 'podcast|episode \\d+'"
    assert include.check(item(title=None), NOW) == "title does not match 'podcast|episode \\d+'"
    exclude = Filters(title_exclude="trailer")
    assert exclude.check(item(title="Official TRAILER"), NOW) == "title matches 'trailer'"
    assert exclude.check(item(title=None), NOW) is None


def test_lives_and_shorts():
    assert Filters(skip_live=True).check(item(live=True), NOW) == "a live stream"
    assert Filters(skip_shorts=True).check(item(short=True), NOW) == "a short"
    assert Filters(skip_live=True, skip_shorts=True).check(item(), NOW) is None


def test_a_naive_published_is_read_as_utc():
    assert Filters(published_after=date(2026, 1, 1)).check(item(published=datetime(2025, 12, 31, 23)), NOW) is not None


# -- validating ---------------------------------------------------------------------------------

def test_compile_pattern():
    assert compile_pattern("abc").search("xxABCxx")
    with pytest.raises(FilterProblem, match="not a valid regular expression"):
        compile_pattern("(unclosed")
    with pytest.raises(FilterProblem, match="longer than 200 characters"):
        compile_pattern("a" * 201)
    assert compile_pattern("a" * 200)
    assert issubclass(FilterProblem, ValueError)


@pytest.mark.parametrize("filters, words", [
    (Filters(title_include="[a-"), "not a valid regular expression"),
    (Filters(title_exclude="x" * 201), "longer than 200"),
    (Filters(min_duration=-1), "min duration cannot be negative"),
    (Filters(max_duration=-5), "max duration cannot be negative"),
    (Filters(min_duration=600, max_duration=60), "more than the longest"),
    (Filters(within_days=0), "between 1 and 36500"),
    (Filters(within_days=36501), "between 1 and 36500"),
])
def test_validate_refuses(filters, words):
    with pytest.raises(FilterProblem, match=words):
        filters.validate()


def test_validate_accepts():
    Filters().validate()
    Filters(published_after=date(2026, 1, 1), within_days=36500, title_include="a", title_exclude="b",
            min_duration=0, max_duration=0, skip_live=True, skip_shorts=True).validate()
