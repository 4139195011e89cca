"""Telling a download that met a full disk from any other failure.

Every tool says it its own way: Python's OSError with errno 28 (ENOSPC; EDQUOT, a quota, is the
same for the person), yt-dlp's "ERROR: unable to write data: [Errno 28] No space left on device"
(its DownloadError keeps the OSError in `exc_info`), gallery-dl's logged "Unable to download data:
OSError: [Errno 28] …", ffmpeg's "No space left on device" in a postprocessor's error, and
SQLite's "database or disk is full" when the job's own progress write finds no room. The runner
asks `caused_by_full_disk` about the exception a job ended with; such a job fails without
another attempt (a retry would fill the disk again), with MESSAGE, and trips the disk guard.
"""
from __future__ import annotations

import errno

MESSAGE = "no space left on the disk"
_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
_WORDS = ("no space left on device", "errno 28]", "database or disk is full", "disk quota exceeded")
_SQLITE_FULL = 13


def _linked(exc: BaseException) -> list[BaseException]:
    """The exceptions `exc` carries: its cause, its context (also behind `from None`) and the
    tools' own holders (yt-dlp's exc_info, gallery-dl's context.exception, SQLAlchemy's orig)."""
    linked = [exc.__cause__, exc.__context__, getattr(exc, "orig", None)]
    info = getattr(exc, "exc_info", None)
    if isinstance(info, tuple) and len(info) > 1:
        linked.append(info[1])
    return [item for item in linked if isinstance(item, BaseException)]


def caused_by_full_disk(exc: BaseException | None, messages=()) -> bool:
    """Whether `exc`, anything it was raised from, or the tool's `messages` say the disk is full."""
    seen: set[int] = set()
    pending = [exc] if exc is not None else []
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _ERRNOS:
            return True
        if getattr(current, "sqlite_errorcode", None) == _SQLITE_FULL:
            return True
        if any(word in str(current).lower() for word in _WORDS):
            return True
        pending.extend(_linked(current))
    return any(word in str(message).lower() for message in messages for word in _WORDS)
