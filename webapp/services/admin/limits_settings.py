"""The disk guard's thresholds and the bandwidth limits: keys, defaults, bounds and checks.

Part of the runtime settings (runtime_settings.py adds these keys to its own and asks this
module about them): stored in the `settings` table, changeable by admins only, read anew by
the worker every few seconds.

- `disk_guard_min_free_bytes` (default 2 GiB) and `disk_guard_min_free_percent` (default 5):
  the disk guard (webapp/services/queue/disk_guard.py) stops new jobs when the storage root's
  free space falls below the SMALLER of the two, so a 100 TB array is not stopped at 5 TB free
  and a 16 GB card not at 2 GiB of its 16. 0 switches that one off; both 0 switch the guard off.
- `bandwidth_limit` (bytes/s, 0 = none): all downloads together, split among those running
  (jobs/bandwidth.py); `per_job_bandwidth_limit` (0 = none): each download on its own, within
  the global one. The forms and the API take "5M" or "500K" (powers of 1024) or plain bytes.
"""
from __future__ import annotations

from sqlalchemy import select

from webapp.core.byte_sizes import parse_size
from webapp.extensions import db
from webapp.models import Setting

GIB = 1024 ** 3

DISK_MIN_FREE_BYTES = "disk_guard_min_free_bytes"
DISK_MIN_FREE_PERCENT = "disk_guard_min_free_percent"
BANDWIDTH_LIMIT = "bandwidth_limit"
PER_JOB_BANDWIDTH_LIMIT = "per_job_bandwidth_limit"
KEYS = (DISK_MIN_FREE_BYTES, DISK_MIN_FREE_PERCENT, BANDWIDTH_LIMIT, PER_JOB_BANDWIDTH_LIMIT)
SIZE_KEYS = (DISK_MIN_FREE_BYTES, BANDWIDTH_LIMIT, PER_JOB_BANDWIDTH_LIMIT)  # typed as sizes ("5M")

DEFAULTS = {DISK_MIN_FREE_BYTES: 2 * GIB, DISK_MIN_FREE_PERCENT: 5, BANDWIDTH_LIMIT: 0, PER_JOB_BANDWIDTH_LIMIT: 0}
MAX_MIN_FREE_BYTES = 1024 ** 5  # 1 PiB
MAX_MIN_FREE_PERCENT = 50  # a guard stopping a half-empty disk is a mistake, not a policy
# A limit below 16 KiB/s would starve a download into its tools' timeouts; above 100 GiB/s means none.
MIN_RATE = 16 * 1024
MAX_RATE = 100 * GIB
BOUNDS = {
    DISK_MIN_FREE_BYTES: (0, MAX_MIN_FREE_BYTES),
    DISK_MIN_FREE_PERCENT: (0, MAX_MIN_FREE_PERCENT),
    BANDWIDTH_LIMIT: (0, MAX_RATE),
    PER_JOB_BANDWIDTH_LIMIT: (0, MAX_RATE),
}
LIMITS = {key: {"min": low, "max": high} for key, (low, high) in BOUNDS.items()}
LIMITS[BANDWIDTH_LIMIT]["min_nonzero"] = LIMITS[PER_JOB_BANDWIDTH_LIMIT]["min_nonzero"] = MIN_RATE
NAMES = {
    DISK_MIN_FREE_BYTES: "The disk guard's free space",
    DISK_MIN_FREE_PERCENT: "The disk guard's free percentage",
    BANDWIDTH_LIMIT: "The bandwidth limit",
    PER_JOB_BANDWIDTH_LIMIT: "The per-download bandwidth limit",
}


def shape_ok(key: str, value) -> bool:
    """A stored value still usable (rows are only written validated)."""
    low, high = BOUNDS[key]
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        return False
    return not (key in (BANDWIDTH_LIMIT, PER_JOB_BANDWIDTH_LIMIT) and 0 < value < MIN_RATE)


def validate(key: str, raw) -> int:
    """The clean value for `key`, or ValueError with a message for the person."""
    what = NAMES[key]
    low, high = BOUNDS[key]
    if key in SIZE_KEYS:
        try:
            value = parse_size(raw)
        except ValueError:
            raise ValueError(f"{what} must be a number of bytes, or a size such as 500K, 5M or 2G") from None
    else:
        if isinstance(raw, bool):
            raise ValueError(f"{what} must be a whole number")
        try:
            value = raw if isinstance(raw, int) else int(str(raw if raw is not None else "").strip().rstrip("%"))
        except ValueError:
            raise ValueError(f"{what} must be a whole number") from None
    if not low <= value <= high:
        raise ValueError(f"{what} must be between {low} and {high}")
    if key in (BANDWIDTH_LIMIT, PER_JOB_BANDWIDTH_LIMIT) and 0 < value < MIN_RATE:
        raise ValueError(f"{what} must be 0 (no limit) or at least 16K (bytes per second)")
    return value


def current_values() -> dict:
    """The four values in force (the stored ones over the defaults), in one small query."""
    values = dict(DEFAULTS)
    for key, value in db.session.execute(select(Setting.key, Setting.value).where(Setting.key.in_(KEYS))):
        if shape_ok(key, value):
            values[key] = value
    return values
