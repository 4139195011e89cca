"""The download settings an admin changes in the GUI, effective without a restart.

Each value is the admin's choice stored in the `settings` table, or else the default from the
environment (`webapp.config.Settings`, i.e. HAUL_WORKERS, HAUL_JOB_TIMEOUT_SECONDS, …). Only
values that differ from the default are stored, so an unchanged value keeps following the
environment.

The worker reads them on every claim (concurrency) and at the start of every job (timeout,
extra tool switches, default engine and preset): one small query, no cache to go stale, so a
change applies to the next job. Parsing the extra switches with the tools' own parsers is
the costly part; it is memoised per string.

Concurrency: the claim refuses to start a job while `download_concurrency` jobs are
downloading, so lowering it takes effect at once. The Huey consumer starts HAUL_WORKERS
threads (or the stored concurrency, when higher) and grows its pool when the setting rises
(jobs/worker.py, within a couple of seconds); an idle thread costs little, but one per
possible slot would cost every installation memory for a setting few raise. Process workers
are a fixed pool of HAUL_WORKERS (each costs ~90 MB), so there the setting can only lower it.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from sqlalchemy import delete, func, select

from webapp.core import tool_args
from webapp.core.tool_args import ToolArgsError
from webapp.core.vocabulary import AUTO, GALLERY_DL, QUEUED, TOOLS, YTDLP
from webapp.errors import Invalid
from webapp.extensions import db
from webapp.models import Job, Setting
from webapp.models.setting import store_setting
from webapp.services.admin import limits_settings, window_settings
from webapp.services.library import presets
from webapp.services.queue import dispatch

log = logging.getLogger(__name__)

MAX_CONCURRENCY = 16  # thread workers: the highest the setting goes (HAUL_WORKERS may set more)
# On PostgreSQL the setting caps every worker host's downloads together, each host running at
# most its own HAUL_WORKERS (docs/scale-out.md): it may go as high as a cluster needs.
MAX_CLUSTER_CONCURRENCY = 256
MAX_TIMEOUT_SECONDS = 7 * 24 * 3600
MAX_ARGS_LENGTH = 2000
ENGINE_CHOICES = (AUTO, *TOOLS)

CONCURRENCY = "download_concurrency"
TIMEOUT = "job_timeout_seconds"
ENGINE = "default_engine"
PRESET = presets.DEFAULT_SETTING  # a preset's name (a row of `presets`)
GALLERY_DL_ARGS = "gallery_dl_extra_args"
YTDLP_ARGS = "ytdlp_extra_args"
# Access: whether users' links may reach private addresses (admins' always may; see
# webapp/core/url_policy.py), and how many live streams one user, token or guest may hold.
PRIVATE_FOR_USERS = "users_private_addresses"
MAX_STREAMS = "max_streams"
# The shortest interval a subscription's schedule may have (webapp/services/subscriptions/manage.py):
# every run lists a whole channel or feed, so a minute-by-minute schedule would hammer the site.
SUBSCRIPTION_MIN_INTERVAL = "subscription_min_interval_minutes"
KEYS = (CONCURRENCY, TIMEOUT, ENGINE, PRESET, GALLERY_DL_ARGS, YTDLP_ARGS, PRIVATE_FOR_USERS, MAX_STREAMS,
        SUBSCRIPTION_MIN_INTERVAL)
# The disk guard and the bandwidth limits (webapp/services/queue/disk_guard.py, jobs/bandwidth.py):
# their keys, defaults, bounds and checks live in limits_settings.py; added to KEYS here.
KEYS += limits_settings.KEYS
# The download windows and their time zone (webapp/services/queue/windows.py): window_settings.py.
KEYS += window_settings.KEYS
TOOL_OF_ARGS = {GALLERY_DL_ARGS: GALLERY_DL, YTDLP_ARGS: YTDLP}  # whose extra switches each setting holds
DEFAULT_MAX_STREAMS = 20
MAX_MAX_STREAMS = 10000
DEFAULT_SUBSCRIPTION_MIN_INTERVAL = 15  # minutes
MAX_SUBSCRIPTION_MIN_INTERVAL = 1440  # a day
# Where each default comes from, shown next to the field.
ENV_NAMES = {
    CONCURRENCY: "HAUL_WORKERS",
    TIMEOUT: "HAUL_JOB_TIMEOUT_SECONDS",
    GALLERY_DL_ARGS: "HAUL_GALLERY_DL_EXTRA_ARGS",
    YTDLP_ARGS: "HAUL_YTDLP_EXTRA_ARGS",
}


class SettingsInvalid(Invalid):
    """One or more values were refused; `errors` maps each key to its message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()), error_code="invalid_settings", extra={"errors": errors})
        self.errors = errors


@dataclass(frozen=True)
class Effective:
    """The values in force now, and which of them the admin changed (stored in the database)."""

    download_concurrency: int
    job_timeout_seconds: int
    default_engine: str
    default_preset: str
    gallery_dl_extra_args: str
    ytdlp_extra_args: str
    users_private_addresses: bool
    max_streams: int
    subscription_min_interval_minutes: int
    disk_guard_min_free_bytes: int
    disk_guard_min_free_percent: int
    bandwidth_limit: int
    per_job_bandwidth_limit: int
    download_windows: list
    download_windows_timezone: str
    changed: frozenset = frozenset()

    def get(self, key: str):
        return getattr(self, key)


def _settings(settings=None):
    return settings if settings is not None else current_app.config["HAUL"]


def pool_size(settings=None) -> int:
    """How many download threads (or processes) the worker starts with."""
    settings = _settings(settings)
    if settings.worker_type == "process" or shared_by_hosts(settings):
        return settings.workers  # a host of a cluster: its own capacity, whatever the cluster's cap
    return max(settings.workers, concurrency(settings))


def shared_by_hosts(settings=None) -> bool:
    """Whether worker hosts may share this queue (PostgreSQL): the concurrency setting is then
    the cap of all of them together, and no worker's pool grows to it."""
    return not _settings(settings).is_sqlite


def max_concurrency(settings=None) -> int:
    """The highest concurrency the worker can honour: thread pools grow, process pools don't;
    on PostgreSQL the cap of every worker host together."""
    settings = _settings(settings)
    if shared_by_hosts(settings):
        return max(MAX_CLUSTER_CONCURRENCY, settings.workers)
    if settings.worker_type == "process":
        return settings.workers
    return max(MAX_CONCURRENCY, settings.workers)


def defaults(settings=None) -> dict:
    """The environment's value for every key."""
    settings = _settings(settings)
    return {
        CONCURRENCY: min(settings.workers, max_concurrency(settings)),
        TIMEOUT: settings.job_timeout_seconds,
        ENGINE: AUTO,
        PRESET: presets.FALLBACK,
        GALLERY_DL_ARGS: settings.gallery_dl_extra_args,
        YTDLP_ARGS: settings.ytdlp_extra_args,
        PRIVATE_FOR_USERS: False,
        MAX_STREAMS: DEFAULT_MAX_STREAMS,
        SUBSCRIPTION_MIN_INTERVAL: DEFAULT_SUBSCRIPTION_MIN_INTERVAL,
        **limits_settings.DEFAULTS,
        **window_settings.defaults(),
    }


def _stored(keys=KEYS) -> dict:
    rows = db.session.execute(select(Setting.key, Setting.value).where(Setting.key.in_(keys))).all()
    return {key: value for key, value in rows}


def _shape_ok(key: str, value, settings) -> bool:
    """A stored value still usable (rows are only written validated; the cap may have changed since)."""
    if key == CONCURRENCY:
        return isinstance(value, int) and 1 <= value <= max_concurrency(settings)
    if key == TIMEOUT:
        return isinstance(value, int) and 0 <= value <= MAX_TIMEOUT_SECONDS
    if key == ENGINE:
        return value in ENGINE_CHOICES
    if key == PRESET:
        return isinstance(value, str) and presets.get(value) is not None
    if key == PRIVATE_FOR_USERS:
        return isinstance(value, bool)
    if key == MAX_STREAMS:
        return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_MAX_STREAMS
    if key == SUBSCRIPTION_MIN_INTERVAL:
        return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_SUBSCRIPTION_MIN_INTERVAL
    if key in limits_settings.KEYS:
        return limits_settings.shape_ok(key, value)
    if key in window_settings.KEYS:
        return window_settings.shape_ok(key, value)
    return isinstance(value, str)


def current(settings=None) -> Effective:
    """The effective values: what the admin stored, over the environment's defaults."""
    settings = _settings(settings)
    values = defaults(settings)
    changed = set()
    for key, value in _stored().items():
        if _shape_ok(key, value, settings):
            values[key] = value
            changed.add(key)
        else:
            log.warning("ignoring the stored setting %s=%r (out of range now); using the default", key, value)
    return Effective(**values, changed=frozenset(changed))


def concurrency(settings=None) -> int:
    """Downloads allowed to run at once, across every worker (one small query)."""
    value = db.session.scalar(select(Setting.value).where(Setting.key == CONCURRENCY))
    return concurrency_of(value, settings)


def concurrency_of(stored, settings=None) -> int:
    """The download concurrency from its stored value (None when none is stored)."""
    settings = _settings(settings)
    if _shape_ok(CONCURRENCY, stored, settings):
        return stored
    return defaults(settings)[CONCURRENCY]


def users_may_reach_private_addresses() -> bool:
    """Whether users' (not only admins') links may reach private addresses (one small query)."""
    return db.session.scalar(select(Setting.value).where(Setting.key == PRIVATE_FOR_USERS)) is True


def stream_limit() -> int:
    """How many live streams (SSE, WebSocket) one user, token or guest session may hold at once."""
    value = db.session.scalar(select(Setting.value).where(Setting.key == MAX_STREAMS))
    return value if _shape_ok(MAX_STREAMS, value, None) else DEFAULT_MAX_STREAMS


def subscription_min_interval_seconds() -> int:
    """The shortest schedule a subscription may have, in seconds (one small query)."""
    value = db.session.scalar(select(Setting.value).where(Setting.key == SUBSCRIPTION_MIN_INTERVAL))
    minutes = value if _shape_ok(SUBSCRIPTION_MIN_INTERVAL, value, None) else DEFAULT_SUBSCRIPTION_MIN_INTERVAL
    return minutes * 60


def limits(settings=None) -> dict:
    """The bounds and choices of each setting (what `validate` accepts), for forms and the API."""
    settings = _settings(settings)
    return {
        CONCURRENCY: {"min": 1, "max": max_concurrency(settings)},
        TIMEOUT: {"min": 0, "max": MAX_TIMEOUT_SECONDS},
        ENGINE: {"choices": list(ENGINE_CHOICES)},
        PRESET: {"choices": presets.names()},
        GALLERY_DL_ARGS: {"max_length": MAX_ARGS_LENGTH},
        YTDLP_ARGS: {"max_length": MAX_ARGS_LENGTH},
        PRIVATE_FOR_USERS: {"choices": [False, True]},
        MAX_STREAMS: {"min": 1, "max": MAX_MAX_STREAMS},
        SUBSCRIPTION_MIN_INTERVAL: {"min": 1, "max": MAX_SUBSCRIPTION_MIN_INTERVAL},
        **limits_settings.LIMITS,
        **window_settings.LIMITS,
    }


def describe(settings=None) -> dict:
    """Each setting's value in force, its default from the environment, whether an admin's value
    is stored, the HAUL_* variable the default comes from, and why a stored value is refused."""
    settings = _settings(settings)
    effective, env = current(settings), defaults(settings)
    refused = refused_tool_args(effective)
    return {key: {"value": effective.get(key), "default": env[key], "stored": key in effective.changed,
                  "env": ENV_NAMES.get(key), "refused": refused.get(key)} for key in KEYS}


def refused_tool_args(effective: Effective) -> dict[str, str]:
    """The stored extra switches that are refused now ({key: message}): jobs use the
    environment's instead. They were saved before the allowlist refused them."""
    refused = {}
    for key, tool in TOOL_OF_ARGS.items():
        if key in effective.changed:
            error = check_tool_args(tool, effective.get(key))
            if error:
                refused[key] = f"{tool}: {error}"
    return refused


# Validation ---------------------------------------------------------------------------------


def _whole_number(raw, low: int, high: int, what: str) -> int:
    if isinstance(raw, bool):
        raise ValueError(f"{what} must be a whole number")
    if isinstance(raw, int):
        value = raw
    else:
        text = str(raw if raw is not None else "").strip()
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"{what} must be a whole number") from None
    if not low <= value <= high:
        raise ValueError(f"{what} must be between {low} and {high}")
    return value


_YES, _NO = ("true", "on", "yes", "1"), ("false", "off", "no", "0", "")


def _yes_or_no(raw, what: str) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw if raw is not None else "").strip().lower()
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise ValueError(f"{what} must be true or false")


def validate(key: str, raw, settings=None):
    """The clean value for `key`, or ValueError with a message for the person."""
    settings = _settings(settings)
    if key == CONCURRENCY:
        return _whole_number(raw, 1, max_concurrency(settings), "Download concurrency")
    if key == TIMEOUT:
        return _whole_number(raw, 0, MAX_TIMEOUT_SECONDS, "The job timeout")
    if key == ENGINE:
        if raw not in ENGINE_CHOICES:
            raise ValueError(f"The default engine must be one of {', '.join(ENGINE_CHOICES)}")
        return raw
    if key == PRESET:
        if not isinstance(raw, str) or presets.get(raw) is None:
            raise ValueError(f"The default preset must be one of {', '.join(presets.names())}")
        return raw
    if key == PRIVATE_FOR_USERS:
        return _yes_or_no(raw, "Whether users may reach private addresses")
    if key == MAX_STREAMS:
        return _whole_number(raw, 1, MAX_MAX_STREAMS, "Live connections per user")
    if key == SUBSCRIPTION_MIN_INTERVAL:
        return _whole_number(raw, 1, MAX_SUBSCRIPTION_MIN_INTERVAL, "The subscriptions' shortest interval (minutes)")
    if key in limits_settings.KEYS:
        return limits_settings.validate(key, raw)
    if key in window_settings.KEYS:
        return window_settings.validate(key, raw)
    if key in TOOL_OF_ARGS:
        text = " ".join(str(raw or "").split())  # one line: newlines from a textarea are spaces
        if len(text) > MAX_ARGS_LENGTH:
            raise ValueError(f"At most {MAX_ARGS_LENGTH} characters")
        error = check_tool_args(TOOL_OF_ARGS[key], text)
        if error:
            raise ValueError(f"{TOOL_OF_ARGS[key]}: {error}")
        return text
    raise KeyError(key)


def _clean(values: dict, settings) -> dict:
    """The clean value of each of `values` ({key: raw}); SettingsInvalid naming every refusal."""
    clean, errors = {}, {}
    for key, raw in values.items():
        try:
            clean[key] = validate(key, raw, settings)
        except ValueError as exc:
            errors[key] = str(exc)
    if errors:
        raise SettingsInvalid(errors)
    return clean


def check(values: dict, settings=None) -> dict[str, str]:
    """The message for each refused value of `values` ({key: raw}), by the rules `save` applies;
    nothing is stored. Empty when every value would be accepted."""
    settings = _settings(settings)
    try:
        _clean(values, settings)
    except SettingsInvalid as exc:
        return exc.errors
    return {}


def save(values: dict, settings=None, reset_keys=()) -> list[str]:
    """Validate and store `values` ({key: raw}); returns the keys whose effective value changed.

    Nothing is stored when any value is refused (SettingsInvalid names each). A value equal to
    the environment's default removes the stored one, as does naming the key in `reset_keys`
    (in the same transaction). Raising the concurrency wakes workers for the queued jobs that
    may start now.
    """
    settings = _settings(settings)
    before = current(settings)
    clean = _clean(values, settings)
    env = defaults(settings)
    forget = [key for key in reset_keys if key in KEYS and key not in clean]
    if forget:
        db.session.execute(delete(Setting).where(Setting.key.in_(forget)))
    for key, value in clean.items():
        store_setting(key, value, env[key])
    db.session.commit()
    after = current(settings)
    _wake_for_more_room(before.download_concurrency, after.download_concurrency)
    return [key for key in KEYS if before.get(key) != after.get(key)]


def reset(keys, settings=None) -> list[str]:
    """Forget the stored values of `keys` (back to the environment's defaults)."""
    settings = _settings(settings)
    before = current(settings)
    db.session.execute(delete(Setting).where(Setting.key.in_([k for k in keys if k in KEYS])))
    db.session.commit()
    after = current(settings)
    _wake_for_more_room(before.download_concurrency, after.download_concurrency)
    return [key for key in KEYS if before.get(key) != after.get(key)]


def _wake_for_more_room(old: int, new: int) -> None:
    """Queued jobs refused for lack of room have no wake-up task left: give them one."""
    if new <= old:
        return

    queued = db.session.scalar(select(func.count(Job.id)).where(Job.status == QUEUED)) or 0
    db.session.remove()
    dispatch.wake_workers(min(new - old, queued))


# The tools' own parsers -----------------------------------------------------------------------


def _parse(tool: str, args: str):
    if tool == GALLERY_DL:
        return tool_args.parse_gallery_dl_args(args)
    return tool_args.parse_ytdlp_args(args)


def _error_of(tool: str, args: str) -> str | None:
    try:
        _parse(tool, args)
    except ToolArgsError as exc:
        return str(exc) or "invalid arguments"
    return None


# Verdicts already reached ({(tool, args): message or None}): a saved value is checked again
# whenever the Settings page shows it, and in the web process each check starts a child.
# The answer for a string only changes with the tools' version, which needs a restart.
_verdicts: dict[tuple[str, str], str | None] = {}
_MAX_VERDICTS = 64


def check_tool_args(tool: str, args: str) -> str | None:
    """Why `args` are refused (a switch not on the allowlist, or the tool's own message), else None.

    The web process checks in a short-lived child process: importing yt-dlp would add ~30 MB
    to it for a form saved once in a while. Elsewhere (worker, CLI, tests) it checks in-process.
    """
    if not args.strip():
        return None
    if (tool, args) in _verdicts:
        return _verdicts[(tool, args)]
    try:
        role = current_app.config.get("HAUL_ROLE")
    except RuntimeError:
        role = None
    verdict = _error_of(tool, args) if role != "web" else _error_in_child(tool, args)
    if verdict != _CHECK_FAILED:
        if len(_verdicts) >= _MAX_VERDICTS:
            _verdicts.clear()
        _verdicts[(tool, args)] = verdict
    return verdict


_CHECK_FAILED = "could not check these arguments; see the server log"


def _error_in_child(tool: str, args: str) -> str | None:
    root = Path(__file__).resolve().parents[3]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH")) if p)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "webapp.services.admin.runtime_settings", tool],
            input=args, capture_output=True, text=True, timeout=60, cwd=root, env=env,
        )
        return json.loads(done.stdout.strip().splitlines()[-1])["error"]
    except (subprocess.SubprocessError, OSError, ValueError, IndexError, KeyError):
        log.exception("checking %s arguments in a child process failed", tool)
        return _CHECK_FAILED


@functools.lru_cache(maxsize=16)
def _parsed(tool: str, args: str):
    return _parse(tool, args)


# The refused stored switches already logged, so a refused value is logged once, not per job.
_warned: set[tuple[str, str]] = set()


def apply(settings=None):
    """`settings` with the effective values in place: what a job runs with.

    Returns (settings, effective). Stored extra switches that are refused now (saved before
    the allowlist refused them, or a tool upgrade dropped an option) are not applied: the job
    runs with the environment's, and a warning is logged once.
    """
    settings = _settings(settings)
    effective = current(settings)
    parsed, in_force = {}, {}
    for key, tool in TOOL_OF_ARGS.items():
        args = in_force[key] = effective.get(key)
        try:
            parsed[key] = _parsed(tool, args)
        except ToolArgsError as exc:
            if (tool, args) not in _warned:
                _warned.add((tool, args))
                log.warning("the saved %s switches are refused (%s); jobs use %s instead until an admin "
                            "changes them on the Settings page", tool, exc, ENV_NAMES[key])
            in_force[key] = getattr(settings, key)
            parsed[key] = _parsed(tool, in_force[key])
    updated = dataclasses.replace(
        settings,
        workers=effective.download_concurrency,
        job_timeout_seconds=effective.job_timeout_seconds,
        gallery_dl_extra_args=in_force[GALLERY_DL_ARGS],
        ytdlp_extra_args=in_force[YTDLP_ARGS],
        gallery_dl_options=parsed[GALLERY_DL_ARGS],
        ytdlp_options=dict(parsed[YTDLP_ARGS]),
    )
    return updated, effective


def _main() -> int:
    """`python -m webapp.services.admin.runtime_settings TOOL` < args: prints {"error": message or null}."""
    tool = sys.argv[1] if len(sys.argv) > 1 else ""
    if tool not in TOOL_OF_ARGS.values():
        print(json.dumps({"error": f"unknown tool {tool!r}"}))
        return 2
    print(json.dumps({"error": _error_of(tool, sys.stdin.read())}))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
