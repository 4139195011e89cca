"""Which engine downloads a URL: the picking rules, in one place.

1. an engine the submission asked for;
2. a site yt-dlp has a site-specific extractor for → yt-dlp;
3. a site gallery-dl has a site-specific extractor for → gallery-dl;
4. a direct link to a media file → direct;
5. anything else → "generic": yt-dlp's generic extraction (an embedded video), falling back
   to the images gallery-dl's generic extractor finds on the page.
"""
from __future__ import annotations

from jobs.engines import gallery_dl, ytdlp
from jobs.engines.direct import is_direct_media_url

GENERIC = "generic"


def pick(url: str, requested: str | None = None) -> str:
    """The engine name for `url`: "yt-dlp", "gallery-dl", "direct" or "generic"."""
    if requested:
        return requested
    if ytdlp.site_extractor_name(url):
        return "yt-dlp"
    if gallery_dl.site_extractor(url) is not None:
        return "gallery-dl"
    if is_direct_media_url(url):
        return "direct"
    return GENERIC


def warm_up(data_dir=None) -> None:
    """Build both tools' extractor lists before worker threads share them (gallery-dl's index
    cached in `data_dir`, see jobs/engines/gallery_dl_index.py)."""
    gallery_dl.configure(data_dir=data_dir)
    ytdlp.site_extractor_name("http://localhost/")
