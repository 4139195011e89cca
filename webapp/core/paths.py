"""The library on disk: storage_root/<post_title>/<domain>/<resource-id>/<file>.

Every path component that comes from outside (a post title, a site's id or title, a file
name) goes through `sanitize_component`, and every path is checked to stay under the
storage root with `inside_root`. Names stay valid on Windows/SMB shares and keep Unicode.
"""
from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path
from urllib.parse import unquote, urlsplit

MAX_COMPONENT_BYTES = 120
_FORBIDDEN = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}


class UnsafePath(ValueError):
    """A path would leave the storage root."""


def _truncate_utf8(text: str, limit: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    # errors="ignore" drops a character cut in half at the end.
    return encoded[:limit].decode("utf-8", errors="ignore")


def sanitize_component(name: str | None, fallback: str = "untitled", keep_extension: bool = False) -> str:
    """One safe folder or file name: no separators, no '..', no control or SMB-invalid characters.

    Trimmed, at most 120 bytes of UTF-8; with keep_extension a long file name is shortened
    before its extension so "video.mp4" stays playable.
    """
    text = unicodedata.normalize("NFC", str(name or ""))
    text = _FORBIDDEN.sub("_", text)
    text = " ".join(text.split())  # collapse runs of whitespace, trim
    text = text.strip(" .")  # Windows drops trailing dots/spaces; leading dots hide files
    if not text:
        text = fallback
    # Prefixed before the length limit so the "_" cannot push the name past it.
    if text.split(".")[0].upper() in _WINDOWS_RESERVED:
        text = "_" + text
    stem, dot, ext = text.rpartition(".")
    if keep_extension and dot and stem and 0 < len(ext.encode()) <= 16:
        text = _truncate_utf8(stem, MAX_COMPONENT_BYTES - len(ext.encode()) - 1).rstrip(" .") + "." + ext
    else:
        text = _truncate_utf8(text, MAX_COMPONENT_BYTES).rstrip(" .")
    if not text:
        text = fallback
    return text


def slug_from_url(url: str) -> str:
    """A resource id for a URL whose extractor gives none: its path as one component."""
    parts = urlsplit(url)
    path = unquote(parts.path).strip("/")
    if parts.query:
        path = f"{path}-{parts.query}" if path else parts.query
    slug = re.sub(r"[/\\?&=#%]+", "-", path).strip("-")
    return sanitize_component(slug, fallback="index")


def inside_root(root: Path, path: Path) -> Path:
    """Return `path` resolved, or raise UnsafePath when it is not under `root`."""
    root = Path(root).resolve()
    resolved = Path(os.path.abspath(path))
    # realpath of the deepest existing parent catches symlinks pointing out.
    existing = resolved
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    real = Path(os.path.realpath(existing)) / resolved.relative_to(existing)
    if real != root and root not in real.parents:
        raise UnsafePath(f"{path} is outside the storage root")
    return resolved


def job_directory(storage_root: Path, post_title: str | None, domain: str) -> Path:
    """storage_root/<post_title>/<domain>, or storage_root/<domain> without a post title."""
    parts = []
    if post_title and post_title.strip():
        parts.append(sanitize_component(post_title))
    parts.append(sanitize_component(domain, fallback="unknown-site"))
    return inside_root(storage_root, Path(storage_root).joinpath(*parts))


def resource_directory(base: Path, storage_root: Path, resource_id: str | None, url: str) -> Path:
    """<job directory>/<resource-id>, the id sanitised (a slug of the URL when there is none)."""
    component = sanitize_component(resource_id) if resource_id else slug_from_url(url)
    return inside_root(storage_root, Path(base) / component)


def relative_to_root(storage_root: Path, path: str | os.PathLike) -> str:
    """The path as stored in the database: relative to the storage root, with '/'."""
    full = inside_root(storage_root, Path(path))
    return full.relative_to(Path(storage_root).resolve()).as_posix()
