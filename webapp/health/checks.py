"""What /health/detailed checks: the database, the storage root, the worker, the queue, the tools.

Each check returns a dict with "ok" (bool) and what it found; a failing check makes the
answer 503. Tool versions are informative only and cached for the process's lifetime.
"""
from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select, text

from webapp.core.vocabulary import DOWNLOADING, GALLERY_DL, ITEM, QUEUED, YTDLP
from webapp.extensions import db
from webapp.models import Job
from webapp.models.base import isoformat, utcnow
from webapp.services.queue import dispatch
from webapp.services.queue import heartbeat as worker_heartbeat

# The worker's watchdog stamps its heartbeat every 5 s; this much silence means it is gone.
WORKER_STALE_AFTER = timedelta(seconds=30)


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


def detailed(storage_root: Path) -> tuple[dict, bool]:
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
    return {"status": "ok" if healthy else "unavailable", "checks": checks,
            "versions": tool_versions(), "pid": os.getpid()}, healthy
