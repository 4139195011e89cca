"""Sizes, speeds, durations and dates as people read them: for pages, messages and logs alike."""
from __future__ import annotations

from datetime import datetime, timezone

_UNITS = ("B", "KB", "MB", "GB", "TB")


def human_bytes(value) -> str:
    """1536 -> "1.5 KB" (powers of 1024, as file managers show them)."""
    if value is None:
        return "–"
    size = float(value)
    for unit in _UNITS:
        if abs(size) < 1024 or unit == _UNITS[-1]:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"  # pragma: no cover - the loop always returns


def human_duration(seconds) -> str:
    """75 -> "1:15", 3725 -> "1:02:05"."""
    if seconds is None:
        return "–"
    seconds = max(0, int(round(float(seconds))))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def local_datetime(value: datetime | None) -> str:
    """A UTC timestamp as "2026-11-23 18:04 UTC" (the page's script shows it in local time)."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
