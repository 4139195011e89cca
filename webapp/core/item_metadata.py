"""What a tool knew about an item, as the fields Haul keeps (models/job_metadata.py).

Each tool names things its own way: yt-dlp's info dict has `uploader`, `upload_date`
("20260102") and `tags` (a list); gallery-dl's keywords have `author` or `user` (a name or an
object), `date` (a datetime) and `tags` (a list or one string of words). The functions here turn
either into one plain dict of the same fields, so the worker records them without knowing the
tool, and the tests check them without running one. Values that are not what the field holds
(a title that is a number, a negative duration) are left out rather than guessed. Pure.
"""
from __future__ import annotations

import math
import re
from datetime import date, datetime, timezone

# The fields every translation may give; `extra` holds what has no column (album, artist, …).
FIELDS = ("title", "uploader", "channel", "upload_date", "duration", "description", "tags", "view_count",
          "webpage_url", "extractor", "width", "height", "vcodec", "acodec", "container", "gallery_title",
          "item_date", "extra")
MAX_TAGS = 100
MAX_TAG = 100

_DATE8 = re.compile(r"(\d{4})(\d{2})(\d{2})")


def _text(value) -> str | None:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return None


def _number(value, kind=float):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if math.isnan(value) or value < 0:  # a negative means "unknown" to the tools
        return None
    return kind(value)


def _codec(value) -> str | None:
    text = _text(value)
    return None if text in (None, "none") else text


def upload_date(value=None, timestamp=None) -> str | None:
    """"YYYY-MM-DD" from yt-dlp's "YYYYMMDD", an ISO date, a date(time), or else an epoch timestamp."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = _text(value)
    if text:
        match = _DATE8.fullmatch(text)
        if match:
            candidate = "-".join(match.groups())
        else:
            candidate = text[:10]
        try:
            return date.fromisoformat(candidate).isoformat()
        except ValueError:
            pass
    seconds = _number(timestamp)
    if seconds is not None:
        try:
            return datetime.fromtimestamp(seconds, tz=timezone.utc).date().isoformat()
        except (OverflowError, OSError, ValueError):
            return None
    return None


def _instant(value) -> str | None:
    """An item's own date as ISO 8601 (UTC when the tool gave a naive datetime, as gallery-dl does)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    text = _text(value)
    return text[:25] if text else None


def tag_list(value) -> list[str]:
    """Tags as a list of distinct, one-line words: from a list, or one string split on commas or spaces."""
    if isinstance(value, str):
        parts = re.split(r"[,\n]" if "," in value or "\n" in value else r"\s+", value)
    elif isinstance(value, (list, tuple)):
        parts = [part if isinstance(part, str) else (part.get("name") if isinstance(part, dict) else None)
                 for part in value]
    else:
        return []
    tags: list[str] = []
    for part in parts:
        tag = " ".join(part.split())[:MAX_TAG] if isinstance(part, str) else ""
        if tag and tag not in tags:
            tags.append(tag)
        if len(tags) >= MAX_TAGS:
            break
    return tags


def _person(value) -> str | None:
    """A name from a plain string or an object with a name (gallery-dl's `user`, `author`)."""
    if isinstance(value, dict):
        return next((_text(value.get(key)) for key in ("name", "nick", "username", "display_name", "login")
                     if _text(value.get(key))), None)
    return _text(value)


def _clean(fields: dict) -> dict:
    extra = {key: value for key, value in (fields.pop("extra", None) or {}).items() if value not in (None, "", [])}
    cleaned = {key: value for key, value in fields.items() if value not in (None, "", [])}
    if extra:
        cleaned["extra"] = extra
    return cleaned


def from_ytdlp(info: dict) -> dict:
    """The fields of yt-dlp's info dict of one downloaded video or song (after its postprocessors:
    `ext`, the codecs and the size are those of the file written)."""
    if not isinstance(info, dict):
        return {}
    chapters = info.get("chapters")
    subtitles = info.get("requested_subtitles")
    return _clean({
        "title": _text(info.get("title")),
        "uploader": _text(info.get("uploader")) or _text(info.get("channel")) or _text(info.get("creator"))
        or _text(info.get("uploader_id")),
        "channel": _text(info.get("channel")),
        "upload_date": upload_date(info.get("upload_date") or info.get("release_date"),
                                   info.get("timestamp") or info.get("release_timestamp")),
        "duration": _number(info.get("duration")),
        "description": _text(info.get("description")),
        "tags": tag_list(info.get("tags")),
        "view_count": _number(info.get("view_count"), int),
        "webpage_url": _text(info.get("webpage_url")),
        "extractor": _text(info.get("extractor_key")) or _text(info.get("extractor")),
        "width": _number(info.get("width"), int),
        "height": _number(info.get("height"), int),
        "vcodec": _codec(info.get("vcodec")),
        "acodec": _codec(info.get("acodec")),
        "container": _text(info.get("ext")),
        "extra": {
            "album": _text(info.get("album")),
            "artist": _text(info.get("artist")) or ", ".join(a for a in (info.get("artists") or [])
                                                             if isinstance(a, str)) or None,
            "track": _number(info.get("track_number"), int),
            "chapters": len(chapters) if isinstance(chapters, list) and chapters else None,
            "subtitles": sorted(subtitles) if isinstance(subtitles, dict) and subtitles else None,
            "id": _text(str(info["id"])) if info.get("id") is not None else None,
        },
    })


_GALLERY_TITLE_KEYS = ("gallery_title", "title", "album", "og_title", "name")
_ITEM_TITLE_KEYS = ("title", "filename")
_UPLOADER_KEYS = ("uploader", "author", "artist", "user", "username", "owner", "creator", "blog", "channel")
_DESCRIPTION_KEYS = ("description", "caption", "content", "text")


def from_gallery_dl(item: dict, gallery: dict | None = None) -> dict:
    """The fields of gallery-dl's keywords: `gallery` those of the directory (its title), `item`
    those of the first file (its date, uploader, tags)."""
    item = item if isinstance(item, dict) else {}
    gallery = gallery if isinstance(gallery, dict) else item
    gallery_title = next((_text(gallery.get(key)) for key in _GALLERY_TITLE_KEYS if _text(gallery.get(key))), None)
    uploader = next((_person(item.get(key)) or _person(gallery.get(key)) for key in _UPLOADER_KEYS
                     if _person(item.get(key)) or _person(gallery.get(key))), None)
    tags = tag_list(item.get("tags")) or tag_list(gallery.get("tags"))
    description = next((_text(item.get(key)) for key in _DESCRIPTION_KEYS if _text(item.get(key))), None)
    item_date = _instant(item.get("date")) or _instant(gallery.get("date"))
    return _clean({
        "title": gallery_title or next((_text(item.get(key)) for key in _ITEM_TITLE_KEYS if _text(item.get(key))),
                                       None),
        "uploader": uploader,
        "upload_date": upload_date(item.get("date") or gallery.get("date")),
        "description": description,
        "tags": tags,
        "extractor": _text(item.get("category")) or _text(gallery.get("category")),
        "width": _number(item.get("width"), int),
        "height": _number(item.get("height"), int),
        "container": _text(item.get("extension")),
        "gallery_title": gallery_title,
        "item_date": item_date,
    })


def tags_text(tags) -> str | None:
    """Tags as the column keeps them: one per line."""
    listed = tag_list(tags) if not isinstance(tags, list) else [t for t in tags if isinstance(t, str) and t]
    return "\n".join(listed) or None
