"""Which of the items a subscription lists it keeps: dates, words in the title, length, lives, shorts.

A subscription lists a channel or feed cheaply (yt-dlp's flat playlist, gallery-dl's listing)
and each entry becomes an `Item`; its `Filters` then say, item by item, whether to keep it or
why not, in a few words the subscription's page shows next to the skipped item.

Flat listings often lack the publication date or the duration: many extractors only learn
them by opening each video, which is exactly the cost a flat listing avoids. An item whose
date or duration is unknown therefore passes the date and duration filters; refusing it
would silently drop most of some channels, and a download too long or too old is the
smaller harm.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache

MAX_PATTERN_LENGTH = 200
MAX_WITHIN_DAYS = 36500
LIVE_STATUSES = ("is_live", "is_upcoming", "post_live")


class FilterProblem(ValueError):
    """Why a subscription's filters were refused, in words for the person who set them."""


@dataclass(frozen=True)
class Item:
    url: str
    title: str | None = None
    published: datetime | None = None  # UTC
    duration: float | None = None  # seconds
    live: bool = False  # live now, upcoming, or a live recording still being processed
    short: bool = False
    item_key: str | None = None  # "<extractor key>:<id>", the identity dedupe uses


def item_from_entry(entry: dict) -> Item:
    """An Item from a yt-dlp (flat) playlist entry; missing fields stay None."""
    url = _text(entry.get("url")) or _text(entry.get("webpage_url")) or ""
    extractor = _text(entry.get("ie_key")) or _text(entry.get("extractor_key"))
    ident = _text(entry.get("id"))
    return Item(
        url=url,
        title=_text(entry.get("title")),
        published=_published(entry),
        duration=_number(entry.get("duration")),
        live=entry.get("live_status") in LIVE_STATUSES or entry.get("is_live") is True,
        short="/shorts/" in url or entry.get("media_type") == "short",
        item_key=f"{extractor}:{ident}" if extractor and ident else None,
    )


def compile_pattern(text: str) -> re.Pattern:
    """A title pattern (a Python regular expression, case-insensitive), or FilterProblem."""
    if len(text) > MAX_PATTERN_LENGTH:
        raise FilterProblem(f"the pattern is longer than {MAX_PATTERN_LENGTH} characters")
    try:
        return re.compile(text, re.IGNORECASE)
    except re.error as exc:
        raise FilterProblem(f"'{text}' is not a valid regular expression: {exc}") from None


@dataclass(frozen=True)
class Filters:
    published_after: date | None = None  # keep items published on or after this day (UTC)
    within_days: int | None = None  # keep items published in the last N days
    title_include: str | None = None  # keep only titles this pattern is found in
    title_exclude: str | None = None  # skip titles this pattern is found in
    min_duration: int | None = None  # seconds
    max_duration: int | None = None  # seconds
    skip_live: bool = False
    skip_shorts: bool = False

    def validate(self) -> None:
        """Raise FilterProblem for settings that cannot be right."""
        for name in ("title_include", "title_exclude"):
            pattern = getattr(self, name)
            if pattern is not None:
                compile_pattern(pattern)
        for name in ("min_duration", "max_duration"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise FilterProblem(f"{name.replace('_', ' ')} cannot be negative")
        if self.min_duration is not None and self.max_duration is not None and self.min_duration > self.max_duration:
            raise FilterProblem(
                f"the shortest length ({self.min_duration} s) is more than the longest ({self.max_duration} s)")
        if self.within_days is not None and not 1 <= self.within_days <= MAX_WITHIN_DAYS:
            raise FilterProblem(f"'within days' must be between 1 and {MAX_WITHIN_DAYS}")

    def check(self, item: Item, now: datetime) -> str | None:
        """None when the item is kept, else a short reason it is skipped.

        Unknown dates and durations pass (see the module docstring); an unknown title is an
        empty one, so an include pattern skips it and an exclude pattern keeps it.
        """
        if self.skip_live and item.live:
            return "a live stream"
        if self.skip_shorts and item.short:
            return "a short"
        if item.published is not None:
            published = _as_utc(item.published)
            if self.published_after is not None and published.date() < self.published_after:
                return f"published before {self.published_after.isoformat()}"
            if self.within_days is not None and published < _as_utc(now) - timedelta(days=self.within_days):
                return f"published more than {self.within_days} days ago"
        if item.duration is not None:
            if self.min_duration is not None and item.duration < self.min_duration:
                return f"shorter than {self.min_duration} s"
            if self.max_duration is not None and item.duration > self.max_duration:
                return f"longer than {self.max_duration} s"
        title = item.title or ""
        if self.title_include is not None and not _pattern(self.title_include).search(title):
            return f"title does not match '{self.title_include}'"
        if self.title_exclude is not None and _pattern(self.title_exclude).search(title):
            return f"title matches '{self.title_exclude}'"
        return None


# -- helpers ------------------------------------------------------------------------------------

@lru_cache(maxsize=256)
def _pattern(text: str) -> re.Pattern:
    # A subscription checks every listed item against the same few patterns.
    return compile_pattern(text)


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _text(value) -> str | None:
    return value if isinstance(value, str) and value else None


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _published(entry: dict) -> datetime | None:
    for key in ("timestamp", "release_timestamp"):
        seconds = _number(entry.get(key))
        if seconds is not None:
            try:
                return datetime.fromtimestamp(seconds, tz=timezone.utc)
            except (OverflowError, OSError, ValueError):
                pass
    for key in ("upload_date", "release_date"):
        day = entry.get(key)
        if isinstance(day, str) and re.fullmatch(r"\d{8}", day):
            try:
                return datetime.strptime(day, "%Y%m%d").replace(tzinfo=timezone.utc)
            except ValueError:
                pass
    return None
