"""The admin's housekeeping choices: daily backups and history retention.

Stored in the `settings` table like the download settings (webapp/services/admin/runtime_settings.py)
and read by the daily tasks (jobs/tasks.py) each time they run, so a change applies to the next
run without a restart. Only values that differ from the default are stored.
"""
from __future__ import annotations

from sqlalchemy import delete, select

from webapp.errors import Invalid
from webapp.extensions import db
from webapp.models import Setting
from webapp.models.setting import store_setting

BACKUP_ENABLED = "backup_schedule_enabled"  # a backup every day …
BACKUP_HOUR = "backup_schedule_hour"  # … at this hour (UTC) or the first minute after it
BACKUP_KEEP = "backup_keep"  # how many scheduled and manual backups stay; older ones are deleted
RETENTION_DAYS = "retention_days"  # finished jobs older than this leave the history (0: kept forever)
RETENTION_DELETE_FILES = "retention_delete_files"  # … with their files on disk
KEYS = (BACKUP_ENABLED, BACKUP_HOUR, BACKUP_KEEP, RETENTION_DAYS, RETENTION_DELETE_FILES)
DEFAULTS = {BACKUP_ENABLED: False, BACKUP_HOUR: 3, BACKUP_KEEP: 7, RETENTION_DAYS: 0, RETENTION_DELETE_FILES: False}
MAX_KEEP = 365
MAX_RETENTION_DAYS = 36500
_BOUNDS = {BACKUP_HOUR: (0, 23, "The backup hour"), BACKUP_KEEP: (1, MAX_KEEP, "The number of backups kept"),
           RETENTION_DAYS: (0, MAX_RETENTION_DAYS, "The history retention (days)")}
_FLAGS = {BACKUP_ENABLED: "Daily backups", RETENTION_DELETE_FILES: "Deleting files with old history"}


class HousekeepingInvalid(Invalid):
    """One or more values were refused; `errors` maps each key to its message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()), error_code="invalid_settings", extra={"errors": errors})
        self.errors = errors


def validate(key: str, raw):
    """The clean value of `key`, or ValueError with a message for the person (KeyError: not a key)."""
    if key in _FLAGS:
        if isinstance(raw, bool):
            return raw
        text = str(raw if raw is not None else "").strip().lower()
        if text in ("true", "on", "yes", "1"):
            return True
        if text in ("false", "off", "no", "0", ""):
            return False
        raise ValueError(f"{_FLAGS[key]}: must be true or false")
    if key in _BOUNDS:
        low, high, what = _BOUNDS[key]
        if isinstance(raw, bool):
            raise ValueError(f"{what} must be a whole number")
        try:
            value = raw if isinstance(raw, int) else int(str(raw).strip())
        except ValueError:
            raise ValueError(f"{what} must be a whole number") from None
        if not low <= value <= high:
            raise ValueError(f"{what} must be between {low} and {high}")
        return value
    raise KeyError(key)


def clean(values: dict) -> dict:
    """Every value of `values` checked; HousekeepingInvalid naming each refusal (unknown keys too)."""
    out, errors = {}, {}
    for key, raw in values.items():
        try:
            out[key] = validate(key, raw)
        except KeyError:
            errors[str(key)[:64]] = f"Unknown setting {str(key)[:64]!r}"
        except ValueError as exc:
            errors[key] = str(exc)
    if errors:
        raise HousekeepingInvalid(errors)
    return out


def current() -> dict:
    """The values in force: the stored ones (when still valid) over the defaults."""
    values = dict(DEFAULTS)
    for key, value in db.session.execute(select(Setting.key, Setting.value).where(Setting.key.in_(KEYS))).all():
        try:
            values[key] = validate(key, value)
        except ValueError:
            pass  # out of range now: the default
    return values


def stage(values: dict) -> None:
    """Write clean `values` into the session (a value equal to its default removes the row); no commit."""
    for key, value in values.items():
        store_setting(key, value, DEFAULTS[key])


def save(values: dict) -> dict:
    """Check and store `values` ({key: raw}), all or nothing; returns the values in force."""
    stage(clean(values))
    db.session.commit()
    return current()


def stored() -> dict:
    """Only the values an admin changed (what an export carries)."""
    rows = db.session.execute(select(Setting.key, Setting.value).where(Setting.key.in_(KEYS))).all()
    return {key: value for key, value in rows}


def reset_all() -> None:
    db.session.execute(delete(Setting).where(Setting.key.in_(KEYS)))
    db.session.commit()
