"""Which engine downloads a URL (jobs.engines.picker.pick), the engine registry, the generic
fall-back (picker.download) and what counts as a direct media link."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest
import yt_dlp

from jobs.engines import gallery_dl, registry, ytdlp
from jobs.engines.base import Cancelled, DownloadRequest, Engine, EngineError
from jobs.engines.direct import is_direct_media_url
from jobs.engines.picker import GENERIC, download, pick
from webapp.core.vocabulary import DIRECT, ENGINES, GALLERY_DL, YTDLP

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


# The registry and the generic fall-back ---------------------------------------------------------


def test_every_engine_of_the_vocabulary_is_registered_and_asked_in_order():
    """Each engine module registered its engine under its word; yt-dlp's sites, gallery-dl's, then file types."""
    assert set(registry.names()) == set(ENGINES)
    assert [engine.name for engine in registry.claimants()] == [YTDLP, GALLERY_DL, DIRECT]
    for name in ENGINES:
        assert registry.get(name).name == name
    with pytest.raises(KeyError):
        registry.get("generic")


def test_a_second_engine_under_a_taken_name_is_refused():
    class Impostor(Engine):
        name = YTDLP

    with pytest.raises(ValueError, match="two engines"):
        registry.register(Impostor)
    assert type(registry.get(YTDLP)).__name__ == "YtDlpEngine"


class _Recorder:
    """Replaces each engine's `run` (which its `run_generic` calls too): records what ran, and
    raises the error each engine is given."""

    def __init__(self, monkeypatch, **raises):
        self.calls: list[tuple[str, str]] = []
        for name in ENGINES:
            monkeypatch.setattr(registry.get(name), "run", self._fake(name, raises.get(name)))

    def _fake(self, name, error):
        def run(request, generic=False):
            self.calls.append((name, "generic" if generic else "run"))
            if error is not None:
                raise error
        return run


def _request(cancelled=False) -> DownloadRequest:
    event = threading.Event()
    if cancelled:
        event.set()
    return DownloadRequest(url="http://127.0.0.1:8123/page.html", base_dir=Path("/nonexistent"),
                           storage_root=Path("/nonexistent"), report=lambda p: None, add_file=lambda p: None,
                           cancel_event=event)


@pytest.mark.parametrize("name", [YTDLP, GALLERY_DL, DIRECT])
def test_a_picked_engine_runs_alone(monkeypatch, name):
    recorder, started = _Recorder(monkeypatch), []
    download(name, _request(), started.append)
    assert recorder.calls == [(name, "run")] and started == [name]


def test_generic_is_yt_dlp_alone_when_it_finds_something(monkeypatch):
    recorder, started = _Recorder(monkeypatch), []
    download(GENERIC, _request(), started.append)
    assert recorder.calls == [(YTDLP, "run")] and started == [YTDLP]


def test_generic_falls_back_to_the_page_images_when_yt_dlp_finds_the_page_unsupported(monkeypatch):
    recorder = _Recorder(monkeypatch, **{YTDLP: EngineError("Unsupported URL", unsupported=True)})
    started = []
    download(GENERIC, _request(), started.append)
    assert recorder.calls == [(YTDLP, "run"), (GALLERY_DL, "generic")]
    assert started == [YTDLP, GALLERY_DL]  # the outcome names the engine that ran last


def test_generic_stops_at_yt_dlps_other_errors(monkeypatch):
    recorder = _Recorder(monkeypatch, **{YTDLP: EngineError("HTTP Error 500", transient=True)})
    with pytest.raises(EngineError, match="HTTP Error 500"):
        download(GENERIC, _request(), lambda name: None)
    assert recorder.calls == [(YTDLP, "run")]


def test_generic_reports_the_last_engines_error(monkeypatch):
    _Recorder(monkeypatch, **{YTDLP: EngineError("Unsupported URL", unsupported=True),
                              GALLERY_DL: EngineError("No images or videos found on this page")})
    with pytest.raises(EngineError, match="No images or videos found on this page"):
        download(GENERIC, _request(), lambda name: None)


def test_a_job_cancelled_during_yt_dlp_does_not_go_on_to_gallery_dl(monkeypatch):
    recorder = _Recorder(monkeypatch, **{YTDLP: EngineError("Unsupported URL", unsupported=True)})
    with pytest.raises(Cancelled):
        download(GENERIC, _request(cancelled=True), lambda name: None)
    assert recorder.calls == [(YTDLP, "run")]


def test_an_engine_no_one_registered_fails_the_job_as_before(monkeypatch):
    """A requested name with no engine: a KeyError, which the runner records as an unexpected error."""
    started = []
    with pytest.raises(KeyError):
        download("aria2", _request(), started.append)
    assert started == ["aria2"]
