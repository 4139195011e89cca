"""What a file in a job's folder is, from its name: the media, its subtitles, its poster …

The tools name the files they write beside a download after it (`<name>.en.srt`,
`<name>.info.json`, `<name>.jpg`), so the name and its neighbours say what each one is. The
history lists a job's files by kind and media servers find them by the same names.
"""
from __future__ import annotations

import mimetypes
from pathlib import PurePath

from webapp.core.vocabulary import (
    AUDIO_FILE,
    INFO_JSON_FILE,
    MEDIA_FILE,
    NFO_FILE,
    OTHER_FILE,
    POSTER_FILE,
    SUBTITLE_FILE,
)

SUBTITLE_EXTENSIONS = {".srt", ".vtt", ".ass", ".ssa", ".lrc", ".ttml", ".srv1", ".srv2", ".srv3", ".json3",
                       ".sbv", ".dfxp"}
AUDIO_EXTENSIONS = {".mp3", ".m4a", ".opus", ".ogg", ".oga", ".flac", ".wav", ".aac", ".wma", ".alac", ".aiff"}
POSTER_SUFFIXES = ("-poster", "-thumb", "-fanart")
POSTER_NAMES = {"poster", "folder", "cover", "fanart"}


def _mime_major(name: str) -> str:
    mime = mimetypes.guess_type(name)[0] or ""
    return mime.split("/", 1)[0]


def file_kind(name: str, neighbours: tuple[str, ...] | list[str] = ()) -> str:
    """The kind of file `name` is (webapp/core/vocabulary.FILE_KINDS), its folder's other
    file names in `neighbours`: an image named after a video or a song beside it is its poster."""
    path = PurePath(name)
    lower = path.name.lower()
    suffix = path.suffix.lower()
    if lower.endswith(".info.json"):
        return INFO_JSON_FILE
    if suffix == ".nfo":
        return NFO_FILE
    if suffix in SUBTITLE_EXTENSIONS:
        return SUBTITLE_FILE
    if suffix in AUDIO_EXTENSIONS:
        return AUDIO_FILE
    major = _mime_major(lower)
    if major == "audio":
        return AUDIO_FILE
    if major == "image":
        stem = path.stem
        if stem.lower() in POSTER_NAMES or stem.lower().endswith(POSTER_SUFFIXES):
            return POSTER_FILE
        for other in neighbours:
            other_path = PurePath(other)
            if other_path.name == path.name:
                continue
            kind = _mime_major(other_path.name.lower())
            if (kind == "video" or other_path.suffix.lower() in AUDIO_EXTENSIONS) and other_path.stem == stem:
                return POSTER_FILE
        return MEDIA_FILE
    if major == "video":
        return MEDIA_FILE
    return OTHER_FILE
