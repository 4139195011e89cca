"""The engines tell a collection from a single item, in this process against the local media site:
yt-dlp lists a feed flat (no media fetched), gallery-dl hands over the pages an extractor queues,
and a single item is identified (extractor + id) before its download."""
from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
from gallery_dl import extractor as gdl_extractor
from gallery_dl.extractor.common import Extractor, Message

from jobs.engines import gallery_dl, ytdlp
from jobs.engines.base import AlreadyDownloaded, DownloadRequest


def request_for(url: str, tmp_path: Path, **fields) -> tuple[DownloadRequest, list]:
    files: list[Path] = []
    request = DownloadRequest(url=url, base_dir=tmp_path / "lib" / "site", storage_root=tmp_path / "lib",
                              report=lambda progress: None, add_file=files.append,
                              cancel_event=threading.Event(), **fields)
    return request, files


def test_yt_dlp_lists_a_feed_flat_without_fetching_media(media_site, tmp_path):
    media_site.feed("engine-feed", count=4)
    listings = []
    before = media_site.count("/video/engine-feed")
    request, files = request_for(media_site.url("/feed/engine-feed.xml"), tmp_path, on_collection=listings.append)
    ytdlp.YtDlpEngine().run(request)
    [listing] = listings
    assert listing.title == "Feed engine-feed"
    assert [item.url for item in listing.entries] == [media_site.url(f"/video/engine-feed-{k}") for k in (4, 3, 2, 1)]
    assert [item.title for item in listing.entries][0] == "Episode 4 of engine-feed"
    assert all(item.duration == 1 and item.published is not None for item in listing.entries)
    assert files == [] and media_site.count("/video/engine-feed") == before  # no entry was fetched


def test_a_single_video_is_no_collection_and_is_identified_before_its_download(media_site, tmp_path):
    listings, identities = [], []
    request, files = request_for(media_site.url("/video/engine-one"), tmp_path, on_collection=listings.append,
                                 identify=identities.append)
    ytdlp.YtDlpEngine().run(request)
    assert listings == []
    assert identities == ["HTML5MediaEmbed:engine-one-1"]
    assert len(files) == 1 and files[0].suffix == ".mp4"


def test_a_known_item_is_not_downloaded(media_site, tmp_path):
    def already(key):
        raise AlreadyDownloaded(41)

    request, files = request_for(media_site.url("/video/engine-dup"), tmp_path, identify=already)
    with pytest.raises(AlreadyDownloaded) as raised:
        ytdlp.YtDlpEngine().run(request)
    assert raised.value.job_id == 41 and files == []
    assert not any(path.is_file() for path in (tmp_path / "lib").rglob("*"))


def test_list_only_makes_a_single_item_a_listing_of_one(media_site, tmp_path):
    listings = []
    request, files = request_for(media_site.url("/video/engine-single"), tmp_path, on_collection=listings.append,
                                 list_only=True)
    ytdlp.YtDlpEngine().run(request)
    [listing] = listings
    assert [(item.url, item.item_key) for item in listing.entries] == [
        (media_site.url("/video/engine-single"), "HTML5MediaEmbed:engine-single-1")]
    assert files == []


class ProfileExtractor(Extractor):
    """A test site's profile page, as gallery-dl's site extractors for profiles work: it queues
    each of the profile's galleries (pages of their own) instead of yielding files."""

    category, subcategory = "haultest", "profile"
    pattern = r"(http://127\.0\.0\.1:\d+)/profile/(\w+)"

    def items(self):
        root, name = self.groups
        for k in (1, 2, 3):
            yield Message.Queue, f"{root}/album/{name}-{k}", {
                "id": k, "title": f"Album {k}", "category": self.category, "_extractor": AlbumExtractor}


class AlbumExtractor(Extractor):
    """One of the profile's albums: two images of the media site."""

    category, subcategory = "haultest", "album"
    pattern = r"(http://127\.0\.0\.1:\d+)/album/(\w+)-(\d+)"

    def items(self):
        root, name, k = self.groups
        album = {"album_id": f"{name}-{k}", "title": f"Album {k}"}
        yield Message.Directory, "", album
        for n in (1, 2):
            yield Message.Url, f"{root}/img/{int(k) * 10 + n}.png", {**album, "num": n, "filename": f"image{n}",
                                                                     "extension": "png"}


@pytest.fixture
def profile_extractor(monkeypatch):
    """Registers the test site's extractor where gallery-dl looks extractors up."""
    gallery_dl.configure()
    looked_up = gdl_extractor.find

    def find(url):
        match = re.match(ProfileExtractor.pattern, url)
        if match:
            return ProfileExtractor(match)
        return looked_up(url)

    monkeypatch.setattr(gdl_extractor, "find", find)


def test_gallery_dl_hands_over_the_pages_a_profile_queues(media_site, tmp_path, profile_extractor):
    listings = []
    request, files = request_for(media_site.url("/profile/ann"), tmp_path, on_collection=listings.append)
    gallery_dl.GalleryDlEngine().run(request)
    [listing] = listings
    assert [item.url for item in listing.entries] == [media_site.url(f"/album/ann-{k}") for k in (1, 2, 3)]
    assert [item.item_key for item in listing.entries] == ["haultest:1", "haultest:2", "haultest:3"]
    assert [item.title for item in listing.entries] == ["Album 1", "Album 2", "Album 3"]
    assert files == []


def test_gallery_dl_follows_the_pages_when_the_job_is_not_to_be_expanded(media_site, tmp_path, profile_extractor):
    request, files = request_for(media_site.url("/profile/bob"), tmp_path)  # a child: never a collection
    gallery_dl.GalleryDlEngine().run(request)
    assert len(files) == 6  # three galleries of two images, downloaded as gallery-dl would
