"""The download windows' settings: keys, defaults, bounds and checks.

Part of the runtime settings (runtime_settings.py adds these keys to its own and asks this
module about them): stored in the `settings` table, changed by admins only (Settings →
Downloads, PATCH /api/v1/settings), read anew by every claim.

- `download_windows`: a list of rules `{"days": [...], "start": "01:00", "end": "07:00"}`
  (webapp/core/windows.py says what they mean); [] (the default) is no windows: always open.
- `download_windows_timezone`: the IANA zone the rules' times are in; default the server's own
  zone (TZ, /etc/timezone or /etc/localtime, else UTC).
"""
from __future__ import annotations

import functools

from webapp.core import windows

WINDOWS = "download_windows"
TIMEZONE = "download_windows_timezone"
KEYS = (WINDOWS, TIMEZONE)
MAX_RULES = windows.MAX_RULES
LIMITS = {
    WINDOWS: {"max_rules": windows.MAX_RULES, "days": list(windows.DAYS), "time": "HH:MM (end may be 24:00)"},
    TIMEZONE: {"max_length": windows.MAX_ZONE_LENGTH},
}


@functools.cache
def server_zone() -> str:
    """The server's own zone name, read once per process."""
    return windows.local_zone_name()


def defaults() -> dict:
    return {WINDOWS: [], TIMEZONE: server_zone()}


def validate(key: str, raw):
    """The clean value for `key` (rules in their canonical JSON form, a zone's name), or
    ValueError (core.windows.WindowError) with a message for the person."""
    if key == WINDOWS:
        return windows.to_json(windows.parse_rules(raw))
    if isinstance(raw, str):
        raw = raw.strip()
    windows.zone(raw)
    return raw


def shape_ok(key: str, value) -> bool:
    """A stored value still usable (rows are only written validated; a zone may vanish with tzdata)."""
    try:
        validate(key, value)
    except ValueError:
        return False
    return True
