"""Kodi/Jellyfin .nfo files (webapp/core/nfo.py): valid XML with the fields media servers read."""
from __future__ import annotations

import xml.etree.ElementTree as ET

from webapp.core import nfo

FIELDS = {
    "title": "A <video> & more", "description": "Line one\nLine two", "upload_date": "2026-02-03",
    "duration": 754.0, "uploader": "Someone", "tags": ["one", "two"], "extractor": "Youtube",
    "extra": {"id": "abc123"},
}


def parse(data: bytes) -> ET.Element:
    assert data.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    return ET.fromstring(data)


def test_a_video_on_its_own_is_a_movie_with_the_fields_kodi_reads():
    root = parse(nfo.item_nfo(FIELDS, nfo.MOVIE, poster="A video-poster.jpg"))
    assert root.tag == "movie"
    assert root.findtext("title") == "A <video> & more"  # escaped on the way in, read back as written
    assert root.findtext("plot") == "Line one\nLine two"
    assert root.findtext("premiered") == "2026-02-03" and root.findtext("year") == "2026"
    assert root.findtext("runtime") == "13"  # minutes
    assert root.findtext("studio") == "Someone" and root.findtext("director") == "Someone"
    assert [tag.text for tag in root.findall("tag")] == ["one", "two"]
    uniqueid = root.find("uniqueid")
    assert uniqueid.text == "abc123" and uniqueid.get("type") == "youtube" and uniqueid.get("default") == "true"
    thumb = root.find("thumb")
    assert thumb.text == "A video-poster.jpg" and thumb.get("aspect") == "poster"


def test_an_episode_of_a_series_is_numbered_by_year_and_position():
    root = parse(nfo.item_nfo(FIELDS, nfo.SERIES, show_title="The channel", position=7))
    assert root.tag == "episodedetails"
    assert root.findtext("showtitle") == "The channel"
    assert root.findtext("season") == "2026" and root.findtext("episode") == "7"
    assert root.findtext("aired") == "2026-02-03" and root.find("premiered") is None
    assert root.find("thumb") is None  # no poster kept


def test_an_episode_alone_names_its_uploader_as_the_show_and_has_no_number():
    root = parse(nfo.item_nfo(FIELDS, nfo.EPISODE))
    assert root.findtext("showtitle") == "Someone"
    assert root.find("episode") is None and root.findtext("season") == "2026"


def test_missing_fields_are_left_out_and_a_short_clip_runs_one_minute():
    root = parse(nfo.item_nfo({"title": "Only a title", "duration": 4}))
    assert [child.tag for child in root] == ["title", "runtime"]
    assert root.findtext("runtime") == "1"


def test_the_series_folder_gets_a_tvshow_nfo():
    root = parse(nfo.tvshow_nfo("Feed of things", FIELDS))
    assert root.tag == "tvshow" and root.findtext("title") == "Feed of things" and root.findtext("studio") == "Someone"
    assert parse(nfo.tvshow_nfo(None, {})).findtext("title") == "Untitled"


def test_control_characters_a_site_sends_do_not_break_the_xml():
    # XML 1.0 cannot hold most control characters; the builder must still give parseable XML.
    root = parse(nfo.item_nfo({"title": "bell\x07 and nul\x00 and tab\t"}))
    assert root.findtext("title").startswith("bell")
