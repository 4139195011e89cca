"""Downloaded files as the GUI sees them: where they are, what kind they are, their thumbnails.

Thumbnails are made by the worker (jobs/thumbnails.py) and kept under
`<data_dir>/thumbnails/<sha256[:2]>/<sha256>.webp`: keyed by content, so a file downloaded
twice has one thumbnail, made once. The web only reads them.
"""
from __future__ import annotations

import mimetypes
import os
from pathlib import Path

from webapp.core.paths import UnsafePath, inside_root

THUMBNAIL_DIRNAME = "thumbnails"
THUMBNAIL_SUFFIX = ".webp"
PREVIEW_KINDS = ("image", "video", "audio", "other")  # preview_kind

# Shown in the page (inline) rather than downloaded. SVG is left out: it can carry script,
# and these files come from anywhere on the web.
_INLINE_PREFIXES = ("image/", "video/", "audio/")
_NEVER_INLINE = {"image/svg+xml"}


def guess_mime(path: str, mime: str | None = None) -> str:
    """The recorded MIME type, else one guessed from the name, else application/octet-stream."""
    return mime or mimetypes.guess_type(path)[0] or "application/octet-stream"


def preview_kind(path: str, mime: str | None = None) -> str:
    """image, video, audio or other: what the in-page preview can show (what the file is to its
    job, its media or a subtitle or a poster …, is JobFile.kind: webapp/core/file_kinds.py)."""
    mime = guess_mime(path, mime)
    if mime in _NEVER_INLINE:
        return "other"
    major = mime.split("/", 1)[0]
    return major if major in ("image", "video", "audio") else "other"


def may_show_inline(path: str, mime: str | None = None) -> bool:
    """Whether the browser may render the file in the page instead of downloading it."""
    mime = guess_mime(path, mime)
    return mime.startswith(_INLINE_PREFIXES) and mime not in _NEVER_INLINE


def display_name(path: str) -> str:
    """The file's name without its folders."""
    return path.rsplit("/", 1)[-1] or path


def absolute_path(storage_root: Path, relative: str) -> Path:
    """The file on disk for a path stored relative to the storage root; raises UnsafePath outside it."""
    return inside_root(storage_root, Path(storage_root) / relative)


def file_on_disk(storage_root: Path, relative: str) -> Path | None:
    """The regular file a record names, resolved strictly inside the storage root; None when it is
    gone from disk or its path leads outside the root (a record must never serve another file)."""
    try:
        path = absolute_path(storage_root, relative)
    except UnsafePath:
        return None
    return path if path.is_file() else None


# Thumbnails live in `Settings.thumbnail_dir`: DATA_DIR/thumbnails unless HAUL_THUMBNAIL_DIR says
# otherwise (a folder every host shares when workers and web run on different hosts).


def thumbnail_path(thumbnail_dir: Path, sha256: str) -> Path | None:
    """Where the thumbnail of content `sha256` lives (whether or not it was made); None for a bad key."""
    key = (sha256 or "").lower()
    if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
        return None
    return Path(thumbnail_dir) / key[:2] / f"{key}{THUMBNAIL_SUFFIX}"


def has_thumbnail(thumbnail_dir: Path, sha256: str) -> bool:
    path = thumbnail_path(thumbnail_dir, sha256)
    return path is not None and path.is_file()


class ThumbnailCheck:
    """has_thumbnail for many files at once, with plain strings (a page checks ~300)."""

    def __init__(self, thumbnail_dir: Path):
        self.base = str(thumbnail_dir)

    def exists(self, sha256: str) -> bool:
        key = (sha256 or "").lower()
        if len(key) != 64 or key.strip("0123456789abcdef"):
            return False
        return os.path.isfile(os.path.join(self.base, key[:2], key + THUMBNAIL_SUFFIX))
