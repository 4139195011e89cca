"""Housekeeping of the history and the storage root: old finished jobs, and partial files nobody finishes.

History retention: finished jobs (completed, failed, cancelled) whose end is older than
`retention_days` leave the history through the same path as the history page's delete
(webapp/services/library/history.py: their files too when `retention_delete_files`, thumbnails
no other record needs, folders left empty). Top-level entries only: a collection's children go
with it, and a child is never removed while its collection stays.

Orphaned partial files: the downloaders' unfinished files (`.part`, `.ytdl`, `.tmp`, yt-dlp's
`.temp.mp4` and fragments — the rescan's `is_partial`) older than an hour, in no running job's
folder. The walk never follows a symbolic link (a link is neither entered nor deleted, so its
target is never touched), never enters hidden folders, and never leaves the storage root.

Both run daily in the worker (jobs/tasks.py, claimed once a day across workers) and on demand
(POST /api/v1/history/cleanup, the Settings → Backups tab), where a dry run answers what would go.
"""
from __future__ import annotations

import logging
import os
import stat
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from webapp.core.paths import UnsafePath, inside_root
from webapp.core.vocabulary import FINISHED_STATUSES
from webapp.extensions import db
from webapp.models import Job
from webapp.models.base import utcnow
from webapp.services.library import history, rescan

log = logging.getLogger(__name__)

PARTIAL_MIN_AGE_SECONDS = 3600  # younger partial files may belong to a download just starting
BATCH = 200  # jobs deleted per pass (each is its own transaction, as on the history page)
MAX_LISTED = 200  # names returned in a report; the counts are complete


@dataclass
class CleanupReport:
    dry_run: bool
    retention_days: int
    delete_files: bool
    jobs: int = 0  # history entries removed (or that would be)
    job_ids: list[int] = field(default_factory=list)
    files_removed: int = 0  # the jobs' files deleted from disk
    partial_files: int = 0  # orphaned partial files removed (or that would be)
    partial_bytes: int = 0
    partial_paths: list[str] = field(default_factory=list)  # relative to the storage root
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"dry_run": self.dry_run, "retention_days": self.retention_days, "delete_files": self.delete_files,
                "jobs": self.jobs, "job_ids": self.job_ids[:MAX_LISTED], "files_removed": self.files_removed,
                "partial_files": self.partial_files, "partial_bytes": self.partial_bytes,
                "partial_paths": self.partial_paths[:MAX_LISTED], "problems": self.problems[:MAX_LISTED]}


def _expired_query(days: int, now: datetime):
    return (select(Job).where(Job.status.in_(FINISHED_STATUSES), Job.parent_id.is_(None),
                              Job.finished_at.is_not(None), Job.finished_at < now - timedelta(days=days))
            .order_by(Job.id))


def remove_old_jobs(report: CleanupReport, now: datetime | None = None) -> None:
    """Remove (or, in a dry run, count) the finished jobs older than the report's retention_days."""
    if report.retention_days <= 0:
        return  # kept forever
    now = now or utcnow()
    if report.dry_run:
        report.job_ids = list(db.session.scalars(_expired_query(report.retention_days, now)
                                                 .with_only_columns(Job.id).limit(MAX_LISTED)))
        report.jobs = db.session.scalar(_expired_query(report.retention_days, now)
                                        .with_only_columns(db.func.count(Job.id)).order_by(None)) or 0
        return
    while True:
        batch = list(db.session.scalars(_expired_query(report.retention_days, now).limit(BATCH)))
        if not batch:
            break
        for job in batch:
            result = history.delete_entry(job, with_files=report.delete_files)
            report.jobs += 1
            report.job_ids.append(result.job_id)
            report.files_removed += result.removed
            report.problems.extend(f"could not remove {path}" for path in result.failed)


def _partial(name: str) -> bool:
    return rescan.is_partial(name)


def find_orphan_partials(storage_root: Path, min_age: float = PARTIAL_MIN_AGE_SECONDS,
                         now: float | None = None) -> list[tuple[str, int]]:
    """(path relative to the root, size) of each orphaned partial file; see the module's docstring."""
    root = Path(storage_root).resolve()
    now = time.time() if now is None else now
    running = rescan._running_folders(root)  # the rescan's rule for where running jobs write
    found = []
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            inside_root(root, folder)
            entries = list(os.scandir(folder))
        except (OSError, UnsafePath):
            continue
        relative_folder = folder.relative_to(root).as_posix() if folder != root else ""
        busy = bool(running) and rescan._under_any(relative_folder, running)
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISLNK(info.st_mode):
                continue  # neither entered nor deleted: a link's target is not ours
            if stat.S_ISDIR(info.st_mode):
                if not entry.name.startswith("."):
                    stack.append(Path(entry.path))
                continue
            if busy or not stat.S_ISREG(info.st_mode) or not _partial(entry.name):
                continue
            if now - info.st_mtime < min_age:
                continue
            found.append((f"{relative_folder}/{entry.name}" if relative_folder else entry.name, info.st_size))
    return sorted(found)


def remove_orphan_partials(report: CleanupReport, storage_root: Path, now: float | None = None) -> None:
    """Remove (or count) the orphaned partial files; each is checked again just before (still a
    regular file inside the root, not a link)."""
    root = Path(storage_root).resolve()
    for relative, size in find_orphan_partials(root, now=now):
        report.partial_files += 1
        report.partial_bytes += size
        report.partial_paths.append(relative)
        if report.dry_run:
            continue
        try:
            path = inside_root(root, root / relative)
            if not stat.S_ISREG(os.lstat(path).st_mode):
                continue
            os.unlink(path)
        except FileNotFoundError:
            continue  # finished or removed meanwhile
        except (OSError, UnsafePath) as exc:
            report.problems.append(f"could not remove {relative}: {getattr(exc, 'strerror', None) or exc}")


def clean_up(settings, *, retention_days: int, delete_files: bool, dry_run: bool, partials: bool = True,
             now: datetime | None = None) -> CleanupReport:
    """Both kinds of housekeeping at once; returns what was (or would be) removed."""
    report = CleanupReport(dry_run=dry_run, retention_days=retention_days, delete_files=delete_files)
    remove_old_jobs(report, now)
    if partials:
        remove_orphan_partials(report, settings.storage_root,
                               now=now.timestamp() if now is not None else None)
    if not dry_run and (report.jobs or report.partial_files):
        log.info("cleanup: %d history entries (files %s), %d partial files removed", report.jobs,
                 "deleted" if delete_files else "kept", report.partial_files)
    return report
