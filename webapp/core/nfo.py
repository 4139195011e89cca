"""Kodi/Jellyfin .nfo files: what a media server reads beside a video instead of asking the internet.

Three shapes, as Kodi documents them and Jellyfin, Emby and Plex's XBMCnfo agents read them:
`<movie>` for a video on its own, `<episodedetails>` for an episode, and `<tvshow>` for the
folder of a collection downloaded as a series (written once, as `tvshow.nfo`, in the
collection's own folder). A series has no seasons of its own here: the season is the upload
year and the episode the item's position in the collection, which keeps a channel's episodes in
order in every server. Built from the fields of webapp/core/item_metadata.py with ElementTree
(which escapes the text); pure, no files written.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

MOVIE, EPISODE, SERIES = "movie", "episode", "series"
TVSHOW_NFO = "tvshow.nfo"
MAX_PLOT = 20_000
# What XML 1.0 cannot hold (ElementTree writes it as it is, and no parser reads it back).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _add(parent: ET.Element, tag: str, value, **attributes) -> None:
    if value in (None, ""):
        return
    element = ET.SubElement(parent, tag, {key: _NOT_XML.sub("", str(val)) for key, val in attributes.items()})
    element.text = _NOT_XML.sub("", str(value))


def _serialise(root: ET.Element) -> bytes:
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _year(upload_date: str | None) -> int | None:
    if isinstance(upload_date, str) and len(upload_date) >= 4 and upload_date[:4].isdigit():
        return int(upload_date[:4])
    return None


def _runtime_minutes(duration) -> int | None:
    """Kodi's <runtime> is whole minutes; a clip shorter than one is 1, not 0 (0 reads as unknown)."""
    if not isinstance(duration, (int, float)) or duration <= 0:
        return None
    return max(1, round(duration / 60))


def _uniqueid(parent: ET.Element, fields: dict) -> None:
    item_id = (fields.get("extra") or {}).get("id")
    if item_id:
        kind = (fields.get("extractor") or "haul").lower()
        _add(parent, "uniqueid", item_id, type=kind, default="true")


def episode_numbers(upload_date: str | None, position: int | None) -> tuple[int | None, int | None]:
    """(season, episode) of a collection's item in a series: its upload year and its position."""
    return _year(upload_date), position if isinstance(position, int) and position > 0 else None


def item_nfo(fields: dict, layout: str = MOVIE, *, poster: str | None = None, show_title: str | None = None,
             position: int | None = None) -> bytes:
    """The .nfo of one video: a <movie>, or an <episodedetails> for the "episode" and "series"
    layouts (numbered season = upload year, episode = `position` when it is in a collection).
    `poster` is the poster file's name beside it."""
    episode = layout in (EPISODE, SERIES)
    root = ET.Element("episodedetails" if episode else "movie")
    _add(root, "title", fields.get("title"))
    if episode:
        _add(root, "showtitle", show_title or fields.get("uploader"))
        season, number = episode_numbers(fields.get("upload_date"), position)
        _add(root, "season", season)
        _add(root, "episode", number)
    description = fields.get("description")
    _add(root, "plot", description[:MAX_PLOT] if isinstance(description, str) else None)
    upload = fields.get("upload_date")
    _add(root, "aired" if episode else "premiered", upload)
    _add(root, "year", _year(upload))
    _add(root, "runtime", _runtime_minutes(fields.get("duration")))
    _add(root, "studio", fields.get("channel") or fields.get("uploader"))
    if not episode:
        _add(root, "director", fields.get("uploader"))
    for tag in fields.get("tags") or []:
        _add(root, "tag", tag)
    _uniqueid(root, fields)
    _add(root, "thumb", poster, aspect="poster")
    return _serialise(root)


def tvshow_nfo(title: str | None, fields: dict | None = None, *, poster: str | None = None) -> bytes:
    """The `tvshow.nfo` of a collection downloaded as a series: its title (the collection's) and
    the studio (the uploader) of its first item."""
    fields = fields or {}
    root = ET.Element("tvshow")
    _add(root, "title", title or fields.get("uploader") or "Untitled")
    _add(root, "studio", fields.get("channel") or fields.get("uploader"))
    _add(root, "thumb", poster, aspect="poster")
    return _serialise(root)
