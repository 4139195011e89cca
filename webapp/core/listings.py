"""Collections: what an engine lists at a collection's URL, and the options a person chose for it.

A URL is a collection when the tool lists other pages there (a playlist, a channel, a profile,
an album of posts, a feed): the worker lists it without downloading media and queues one child
job per entry (webapp/services/queue/collections.py). A page with several videos of its own
(entries that are not links) stays one job.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import datetime

from webapp.core.item_filters import Item

# In the source's order (channels and feeds list the newest first), or that order reversed.
NEWEST_FIRST, OLDEST_FIRST = "newest", "oldest"
ORDERS = (NEWEST_FIRST, OLDEST_FIRST)
MAX_LIMIT = 10_000
# yt-dlp's playlist_items syntax, a subset: "1-5", "3", "1-3,7,10-12" (1-based, in listed order).
_RANGE = re.compile(r"^\s*\d{1,5}(?:\s*-\s*\d{1,5})?(?:\s*,\s*\d{1,5}(?:\s*-\s*\d{1,5})?)*\s*$")


class OptionsProblem(ValueError):
    """Why a collection's options were refused, in words for the person who chose them."""


@dataclass
class Listing:
    """A collection's entries in the source's order, with its own id and title."""

    collection_id: str | None
    title: str | None
    extractor: str | None
    entries: list[Item] = field(default_factory=list)

    def to_json(self) -> dict:
        """As JSON (the preview's listing process prints it)."""
        return {
            "collection_id": self.collection_id, "title": self.title, "extractor": self.extractor,
            "entries": [{"url": item.url, "title": item.title,
                         "published": item.published.isoformat() if item.published else None,
                         "duration": item.duration, "live": item.live, "short": item.short,
                         "item_key": item.item_key}
                        for item in self.entries],
        }

    @classmethod
    def from_json(cls, data: dict) -> Listing:
        entries = [Item(url=e["url"], title=e.get("title"),
                        published=datetime.fromisoformat(e["published"]) if e.get("published") else None,
                        duration=e.get("duration"), live=bool(e.get("live")), short=bool(e.get("short")),
                        item_key=e.get("item_key"))
                   for e in data.get("entries", [])]
        return cls(data.get("collection_id"), data.get("title"), data.get("extractor"), entries)


@dataclass(frozen=True)
class Options:
    """What to take from a collection and how to lay it out.

    `items` (places such as "1-5,8"; "8-5" is 5 to 8) picks entries in the listed order, `limit`
    keeps the first N of what is picked (of everything without `items`);
    `order` then says which is queued — and numbered — first; `numbered` puts the zero-padded
    position before each file name; `folder` keeps the collection in a folder of its own
    (<post_title>/<domain>/<collection-id>/) with each child's resource folder inside.
    """

    items: str | None = None
    limit: int | None = None
    order: str = NEWEST_FIRST
    numbered: bool = False
    folder: bool = True

    @classmethod
    def from_json(cls, data: dict | None) -> Options:
        """Options from what a request sent (or a job stored); OptionsProblem for bad values."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise OptionsProblem("collection must be an object with items, limit, order, numbered and folder")
        unknown = set(data) - {"items", "limit", "order", "numbered", "folder"}
        if unknown:
            raise OptionsProblem(f"Unknown collection option(s): {', '.join(sorted(unknown))}")
        items, limit = data.get("items"), data.get("limit")
        if items in ("", None):
            items = None
        elif not isinstance(items, str) or not _RANGE.match(items):
            raise OptionsProblem("collection.items must be a range such as \"1-5\" or \"1-3,7,10-12\"")
        if limit in ("", None):
            limit = None
        elif isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise OptionsProblem(f"collection.limit must be a whole number from 1 to {MAX_LIMIT}")
        order = data.get("order") or NEWEST_FIRST
        if order not in ORDERS:
            raise OptionsProblem(f"collection.order must be {' or '.join(ORDERS)}")
        numbered, folder = data.get("numbered", False), data.get("folder", True)
        if not isinstance(numbered, bool) or not isinstance(folder, bool):
            raise OptionsProblem("collection.numbered and collection.folder must be true or false")
        return cls(items=items.replace(" ", "") if items else None, limit=limit, order=order,
                   numbered=numbered, folder=folder)

    def to_json(self) -> dict:
        return asdict(self)

    def pick(self, entries: list) -> list:
        """The entries these options take, in the order they are queued."""
        if self.items is not None:
            wanted = []
            for start, end in _spans(self.items):
                low, high = sorted((int(start), int(end)))
                wanted.extend(range(low, min(high, len(entries)) + 1))
            picked = [entries[i - 1] for i in dict.fromkeys(wanted) if 1 <= i <= len(entries)]
        else:
            picked = list(entries)
        if self.limit is not None:
            picked = picked[: self.limit]
        return picked[::-1] if self.order == OLDEST_FIRST else picked

    def name_prefix(self, position: int, total: int) -> str | None:
        """"007 - " for the 7th of 120 when numbered; None otherwise."""
        if not self.numbered:
            return None
        return f"{position:0{max(2, len(str(total)))}d} - "


def _spans(items: str) -> list[tuple[str, str]]:
    spans = []
    for part in items.replace(" ", "").split(","):
        start, _, end = part.partition("-")
        spans.append((start, end or start))
    return spans
