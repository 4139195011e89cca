"""The media site's RSS feed, as yt-dlp's generic extractor lists it: the subscriptions' e2e
tests stand on it, so what a flat listing gives (and the identity of a resolved entry) is
pinned here."""
from __future__ import annotations

import json
import urllib.request
from datetime import datetime, timedelta, timezone

import yt_dlp

EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)


def flat_entries(url: str) -> list[dict]:
    with yt_dlp.YoutubeDL({"extract_flat": "in_playlist", "quiet": True, "no_warnings": True}) as ydl:
        return list(ydl.extract_info(url, download=False)["entries"])


def resolve(url: str) -> dict:
    with yt_dlp.YoutubeDL({"quiet": True, "no_warnings": True}) as ydl:
        return ydl.extract_info(url, download=False)


def post(url: str) -> dict:
    with urllib.request.urlopen(urllib.request.Request(url, data=b"", method="POST")) as answer:
        assert answer.status == 200
        return json.loads(answer.read())


def test_flat_listing_is_newest_first_with_titles_dates_and_durations(media_site):
    entries = flat_entries(media_site.url("/feed/flat.xml"))
    assert [e["title"] for e in entries] == [f"Episode {k} of flat" for k in (5, 4, 3, 2, 1)]
    assert [e["timestamp"] for e in entries] == [int((EPOCH + timedelta(days=k)).timestamp())
                                                for k in (5, 4, 3, 2, 1)]
    assert [e["duration"] for e in entries] == [1] * 5
    assert entries[0]["url"].startswith(media_site.url("/video/flat-5#"))
    # A flat entry carries no id of its own: only the guid smuggled into its url.
    assert all(e.get("id") is None and e.get("ie_key") is None for e in entries)


def test_count_sizes_a_feed_on_its_first_request_only(media_site):
    assert len(flat_entries(media_site.url("/feed/sized.xml?count=2"))) == 2
    assert len(flat_entries(media_site.url("/feed/sized.xml?count=7"))) == 2


def test_add_and_set_count(media_site):
    feed = media_site.feed("grow")
    feed.add(3)
    entries = flat_entries(media_site.url("/feed/grow.xml"))
    assert len(entries) == 8
    assert entries[0]["title"] == "Episode 8 of grow"
    feed.add(title="Special", duration=90)
    entries = flat_entries(media_site.url("/feed/grow.xml"))
    assert (entries[0]["title"], entries[0]["duration"]) == ("Special", 90)
    feed.set_count(2)
    assert [e["title"] for e in flat_entries(media_site.url("/feed/grow.xml"))] == [
        "Episode 2 of grow", "Episode 1 of grow"]


def test_http_add_and_reset(media_site):
    media_site.feed("remote")
    assert post(media_site.url("/feed/remote/add?count=2")) == {"count": 7}
    with urllib.request.urlopen(media_site.url("/feed/remote/add")) as answer:
        assert json.loads(answer.read()) == {"count": 8}
    assert len(flat_entries(media_site.url("/feed/remote.xml"))) == 8
    assert post(media_site.url("/feed/remote/reset?count=1")) == {"count": 1}
    assert [e["title"] for e in flat_entries(media_site.url("/feed/remote.xml"))] == ["Episode 1 of remote"]


def test_slow_links(media_site):
    entries = flat_entries(media_site.url("/feed/lag.xml?links=slow"))
    assert entries[0]["url"].startswith(media_site.url("/slow/lag-5.jpg?kb=256&rate=32#"))
    assert flat_entries(media_site.url("/feed/lag.xml"))[0]["url"].startswith(media_site.url("/video/lag-5#"))


def test_a_resolved_entry_has_the_identity_of_its_page_alone(media_site):
    entry = flat_entries(media_site.url("/feed/same.xml"))[-1]
    from_feed, alone = resolve(entry["url"]), resolve(media_site.url("/video/same-1"))
    assert (from_feed["extractor_key"], from_feed["id"]) == ("HTML5MediaEmbed", "same-1-1")
    assert (alone["extractor_key"], alone["id"]) == ("HTML5MediaEmbed", "same-1-1")
