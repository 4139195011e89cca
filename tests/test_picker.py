"""Which engine downloads a URL (jobs.engines.picker.pick) and what counts as a direct media link."""
from __future__ import annotations

import pytest
import yt_dlp

from jobs.engines import gallery_dl, ytdlp
from jobs.engines.direct import is_direct_media_url
from jobs.engines.picker import GENERIC, pick

# Sites gallery-dl has a site extractor for and yt-dlp has none (checked below, so a tool
# upgrade that changes this shows up as a failing premise rather than a puzzling pick).
GALLERY_DL_ONLY = [
    "https://www.pixiv.net/en/artworks/12345",
    "https://danbooru.donmai.us/posts/123",
    "https://e621.net/posts/123",
]


@pytest.mark.parametrize("url", GALLERY_DL_ONLY)
def test_gallery_dl_only_sites_are_what_the_tools_say(url):
    """Premise: gallery-dl matches these with a site category, yt-dlp has no site extractor."""
    extractor = gallery_dl.site_extractor(url)
    assert extractor is not None and extractor.category not in ("generic", "directlink")
    assert ytdlp.site_extractor_name(url) is None


@pytest.mark.parametrize(
    ("url", "engine"),
    [
        ("https://www.youtube.com/watch?v=dQw4w9WgXcQ", "yt-dlp"),
        ("https://youtu.be/dQw4w9WgXcQ", "yt-dlp"),
        ("https://vimeo.com/76979871", "yt-dlp"),
        *[(url, "gallery-dl") for url in GALLERY_DL_ONLY],
        ("http://127.0.0.1:8123/img/1.png", "direct"),
        ("http://127.0.0.1:8123/video/clip.mp4", "direct"),
        ("http://127.0.0.1:8123/img/PHOTO.JPG", "direct"),
        ("http://127.0.0.1:8123/audio/song.mp3?download=1", "direct"),
        ("http://127.0.0.1:8123/gallery/x", GENERIC),
        ("http://127.0.0.1:8123/", GENERIC),
        ("http://127.0.0.1:8123/page.html", GENERIC),
    ],
)
def test_pick(url, engine):
    """Site extractors first (yt-dlp, then gallery-dl), then direct media links, else generic."""
    assert pick(url) == engine


@pytest.mark.parametrize(
    ("url", "requested"),
    [
        ("https://www.youtube.com/watch?v=dQw4w9WgXcQ", "gallery-dl"),
        ("https://www.youtube.com/watch?v=dQw4w9WgXcQ", "direct"),
        ("https://danbooru.donmai.us/posts/123", "yt-dlp"),
        ("http://127.0.0.1:8123/img/1.png", "gallery-dl"),
        ("http://127.0.0.1:8123/gallery/x", "direct"),
    ],
)
def test_requested_engine_wins(url, requested):
    """An engine the submission asked for is used whatever the URL is."""
    assert pick(url, requested) == requested


@pytest.mark.parametrize("requested", [None, ""])
def test_no_requested_engine_means_automatic(requested):
    """None or an empty request falls back to the picking rules."""
    assert pick("http://127.0.0.1:8123/img/1.png", requested) == "direct"


@pytest.mark.parametrize(
    ("url", "direct"),
    [
        ("http://127.0.0.1:8123/img/1.png", True),
        ("http://127.0.0.1:8123/img/1.PNG", True),
        ("http://example.com/a.jpeg", True),
        ("http://example.com/a.webp", True),
        ("http://example.com/v/clip.mp4", True),
        ("http://example.com/v/clip.MKV", True),
        ("http://example.com/v/clip.webm?token=abc", True),  # the query does not count
        ("http://example.com/v/clip.webm#t=10", True),
        ("http://example.com/a/song.flac", True),
        ("http://example.com/img.png/", False),  # a folder, not a file
        ("http://example.com/file.png.html", False),
        ("http://example.com/gallery/x", False),
        ("http://example.com/", False),
        ("http://example.com", False),
        ("http://example.com/archive.zip", False),
        ("http://example.com/page?file=a.png", False),  # the extension must be on the path
        ("http://example.png/", False),  # nor on the host
        ("http://example.com/v.1/clip", False),
    ],
)
def test_is_direct_media_url(url, direct):
    """True only when the URL's path ends in a media file extension."""
    assert is_direct_media_url(url) is direct


def _test_urls_of_ytdlp_extractors(limit: int = 400) -> list[str]:
    """URLs from yt-dlp's own extractor tests: one per extractor, a deterministic sample."""
    from yt_dlp.extractor import _extractors

    urls = []
    for name in sorted(dir(_extractors)):
        ie = getattr(_extractors, name)
        tests = getattr(ie, "_TESTS", None) or ([ie._TEST] if getattr(ie, "_TEST", None) else [])
        if isinstance(ie, type) and tests and isinstance(tests[0], dict) and tests[0].get("url"):
            urls.append(tests[0]["url"])
    return urls[:: max(1, len(urls) // limit)]


def test_the_joined_site_pattern_answers_like_asking_each_extractor():
    """The one-regex fast path of yt-dlp site matching gives yt-dlp's own answer, site URLs and others."""
    from jobs.engines.ytdlp import site_extractor_name

    def site_extractor_name_slow(url):
        """The reference answer: every extractor asked in turn, as yt-dlp itself would."""
        for ie in yt_dlp.extractor.gen_extractor_classes():
            if ie.ie_key() != "Generic" and ie.suitable(url) and ie.working():
                return ie.ie_key()
        return None

    urls = _test_urls_of_ytdlp_extractors() + [
        "http://127.0.0.1:8123/img/1.png", "https://example.com/page", "https://example.com/a.mp4",
        "https://www.pixiv.net/en/artworks/12345", "https://danbooru.donmai.us/posts/123",
    ]
    assert len(urls) > 300
    matched = 0
    for url in urls:
        expected = site_extractor_name_slow(url)
        assert site_extractor_name(url) == expected, url
        matched += expected is not None
    assert matched > 250  # the sample really exercises the slow path behind the fast "no"
