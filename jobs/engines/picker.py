"""Which engine downloads a URL, and the fall-back when none claims it: the picking rules, in one place.

1. an engine the submission asked for;
2. the first registered engine, by claim order, that claims the URL (jobs/engines/registry.py):
   a site yt-dlp has a site-specific extractor for → yt-dlp; a site gallery-dl has one for →
   gallery-dl; a direct link to a media file → direct;
3. anything else → "generic": each engine of GENERIC_FALLBACK in turn, the next one only when
   the one before finds the page unsupported — yt-dlp's generic extraction (an embedded video),
   then the images gallery-dl's generic extractor finds on the page.
"""
from __future__ import annotations

from typing import Callable

# Importing an engine's module registers the engine: these are the engines Haul has.
from jobs.engines import direct, gallery_dl, registry, ytdlp  # noqa: F401
from jobs.engines.base import DownloadRequest, EngineError
from webapp.core.vocabulary import GALLERY_DL, YTDLP

GENERIC = "generic"
GENERIC_FALLBACK = (YTDLP, GALLERY_DL)


def pick(url: str, requested: str | None = None) -> str:
    """The engine name for `url` ("yt-dlp", "gallery-dl", "direct"), or GENERIC."""
    if requested:
        return requested
    for engine in registry.claimants():
        if engine.claims(url):
            return engine.name
    return GENERIC


def download(choice: str, request: DownloadRequest, started: Callable[[str], None]) -> None:
    """Download with the engine `pick` chose; for GENERIC, with the fall-back engines in turn.

    `started` learns each engine's name as it starts, so progress and the outcome name the
    engine that ran, failures included. The last fall-back's error is the job's.
    """
    if choice != GENERIC:
        started(choice)
        registry.get(choice).run(request)
        return
    *first, last = GENERIC_FALLBACK
    for name in first:
        started(name)
        try:
            registry.get(name).run_generic(request)
            return
        except EngineError as exc:
            if not exc.unsupported:
                raise
        request.check()
    started(last)
    registry.get(last).run_generic(request)


def warm_up(data_dir=None) -> None:
    """Build both tools' extractor lists before worker threads share them (gallery-dl's index
    cached in `data_dir`, see jobs/engines/gallery_dl_index.py)."""
    gallery_dl.configure(data_dir=data_dir)
    ytdlp.site_extractor_name("http://localhost/")
