"""What /health/detailed checks: the database, the storage root, the worker, the queue, the tools.

Each check returns a dict with "ok" (bool) and what it found; a failing check makes the
answer 503. The rest is informative and never fails the answer: Haul's and the tools' versions
(the tools' cached for the process's lifetime), this process's CPU time, memory and uptime, the
disk guard, the newest backup and the notification targets.
"""
from __future__ import annotations

import functools
import logging
import os
import re
import resource
import shutil
import subprocess
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import func, select, text

from webapp.core.version import VERSION
from webapp.core.vocabulary import DOWNLOADING, GALLERY_DL, ITEM, QUEUED, YTDLP
from webapp.extensions import db
from webapp.models import Job
from webapp.models.base import isoformat, utcnow
from webapp.services.admin import backup
from webapp.services.notifications import targets as notification_targets
from webapp.services.queue import disk_guard, dispatch
from webapp.services.queue import heartbeat as worker_heartbeat

log = logging.getLogger(__name__)

# The worker's watchdog stamps its heartbeat every 5 s; this much silence means it is gone.
WORKER_STALE_AFTER = timedelta(seconds=30)
# When this module was imported: the process's start when /proc cannot say (not Linux).
_IMPORTED_AT = time.time()


def database() -> dict:
    try:
        db.session.execute(text("SELECT 1"))
        return {"ok": True}
    except Exception as exc:  # any driver error means "unreachable" here
        db.session.rollback()
        return {"ok": False, "error": type(exc).__name__}


def storage(root: Path) -> dict:
    """Whether files can be written under `root`, and how much room is left."""
    found: dict = {"ok": False, "path": str(root), "writable": False}
    try:
        with tempfile.NamedTemporaryFile(dir=root, prefix=".haul-health-", delete=True) as probe:
            probe.write(b"ok")
            probe.flush()
        found["writable"] = True
    except OSError as exc:
        found["error"] = exc.strerror or type(exc).__name__
    try:
        usage = shutil.disk_usage(root)
        found.update(free_bytes=usage.free, total_bytes=usage.total)
    except OSError:
        found.update(free_bytes=None, total_bytes=None)
    found["ok"] = found["writable"]
    return found


def worker() -> dict:
    beat = worker_heartbeat.last_beat()
    alive = beat is not None and utcnow() - beat <= WORKER_STALE_AFTER
    newest_job_beat = db.session.scalar(select(func.max(Job.heartbeat_at)).where(Job.status == DOWNLOADING))
    try:
        pending = dispatch.pending_wakeups()
    except Exception:  # Huey's own store unreadable: report it, don't fail the whole answer
        pending = None
    return {
        "ok": alive,
        "heartbeat_at": isoformat(beat),
        "seconds_since_heartbeat": round((utcnow() - beat).total_seconds(), 1) if beat else None,
        "newest_job_heartbeat_at": isoformat(newest_job_beat),
        "pending_tasks": pending,
        "has_pending_tasks": bool(pending) if pending is not None else None,
    }


def queue() -> dict:
    counts = dict(db.session.execute(
        select(Job.status, func.count(Job.id)).where(Job.status.in_((QUEUED, DOWNLOADING)), Job.kind == ITEM).group_by(Job.status)
    ).all())
    return {"ok": True, "queued": counts.get(QUEUED, 0), "downloading": counts.get(DOWNLOADING, 0)}


@functools.lru_cache(maxsize=1)
def tool_versions() -> dict:
    """gallery-dl, yt-dlp and ffmpeg versions (None when a tool is missing); asked once per process."""
    versions: dict[str, str | None] = {}
    # Imported here: a tool's package (yt-dlp's especially) is tens of MB the web never needs
    # otherwise, and a missing tool must read as None, not stop the import of this module.
    try:
        from gallery_dl import version as gdl_version

        versions[GALLERY_DL] = gdl_version.__version__
    except Exception:
        versions[GALLERY_DL] = None
    try:
        from yt_dlp import version as ytdlp_version

        versions[YTDLP] = ytdlp_version.__version__
    except Exception:
        versions[YTDLP] = None
    versions["ffmpeg"] = ffmpeg_version()
    return versions


def ffmpeg_version(executable: str = "ffmpeg") -> str | None:
    path = shutil.which(executable)
    if path is None:
        return None
    try:
        out = subprocess.run([path, "-version"], capture_output=True, text=True, timeout=5, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.match(r"\S+ version (\S+)", out)
    return match.group(1) if match else (out.splitlines()[0] if out else None)


def _proc_status_bytes(field: str) -> int | None:
    """A "<field>: N kB" line of /proc/self/status in bytes (None off Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def process_started_at() -> float:
    """This process's start (Unix time): from /proc (its start in clock ticks after boot), or
    when this module was imported."""
    try:
        with open("/proc/self/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()  # after "pid (name)", which may hold spaces
        with open("/proc/uptime", encoding="ascii") as uptime:
            since_boot = float(uptime.read().split()[0])
        ticks = int(fields[19])  # field 22 of proc(5): starttime
        return time.time() - since_boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return _IMPORTED_AT


def process() -> dict:
    """This web process: CPU time used (user and system), memory (resident now and at most),
    threads, and how long it has been running. Under gunicorn, the worker that answered."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    started = process_started_at()
    rss = _proc_status_bytes("VmRSS")
    return {
        "pid": os.getpid(),
        "cpu_user_seconds": round(usage.ru_utime, 2),
        "cpu_system_seconds": round(usage.ru_stime, 2),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "memory_rss_bytes": rss,
        "memory_max_rss_bytes": usage.ru_maxrss * 1024,  # Linux reports kB
        "threads": threading.active_count(),
        "started_at": datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="seconds").replace(
            "+00:00", "Z"),
        "uptime_seconds": round(max(time.time() - started, 0.0), 1),
    }


def _informative(name: str, read):
    """What `read()` says, or {"error": …} when it fails: these parts never fail the answer."""
    try:
        return read()
    except Exception as exc:  # one part unreadable must not hide the others
        log.warning("health: %s unreadable: %s", name, type(exc).__name__)
        db.session.rollback()
        return {"error": type(exc).__name__}


def operations(settings) -> dict:
    """The disk guard's state, the newest backup and the notification targets' state."""
    return {
        "disk_guard": _informative("disk guard", disk_guard.state),
        "last_backup": _informative("backups", lambda: backup.latest(settings)),
        "notifications": _informative("notification targets", notification_targets.health_summary),
    }


def detailed(storage_root: Path, settings=None) -> tuple[dict, bool]:
    """Every check's result, and whether all of them passed."""
    checks = {
        "database": database(),
        "storage": storage(storage_root),
    }
    if checks["database"]["ok"]:
        checks["worker"] = worker()
        checks["queue"] = queue()
    else:
        checks["worker"] = {"ok": False, "error": "database unreachable"}
        checks["queue"] = {"ok": False, "error": "database unreachable"}
    healthy = all(check["ok"] for check in checks.values())
    body = {"status": "ok" if healthy else "unavailable", "checks": checks, "version": VERSION,
            "versions": {"haul": VERSION, **tool_versions()}, "pid": os.getpid(), "process": process()}
    if settings is not None and checks["database"]["ok"]:
        body.update(operations(settings))
    return body, healthy
