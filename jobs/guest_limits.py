"""An invite's byte limits on its guests' link jobs, enforced by the worker while they download.

A link job sent through an invite may write no file larger than the invite's largest-file
limit, and no more than what is left of its total once everything else the invite holds is
counted (webapp/services/guests/invite_usage.py: its uploads, its other jobs' files and downloads).
The worker does not take a tool's or a site's word for sizes. It watches

* every progress report (each block for direct downloads and yt-dlp, every 0.25 s for
  gallery-dl): the bytes counted as they arrive, and the size the site announced (a file
  announced too large is stopped before its body is read: the engines report what a site
  announces before downloading — yt-dlp's format sizes, gallery-dl's Content-Length);
* the job's files on disk, partial and finished, measured at every report and by the job's
  monitor thread (every 0.4 s) — whatever the tool says or fails to say, such as a server
  that sends no Content-Length or a downloader that reports nothing;
* the finished files when the job ends, counted under the invite's lock with everything else
  the invite holds, so two jobs (or a job and an upload) ending together cannot both slip
  under the total.

The tools' own size options (yt-dlp's max_filesize, gallery-dl's filesize-max) are not used:
both skip a file quietly, and the job would end "found nothing to download" instead of saying
why. Passing a limit cancels the download with the reason Outcome.OVER_LIMIT, which the runner records
as a failure — never retried — with a message a guest understands; the job's partial and
finished files are removed (a file another job recorded too is left alone).
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from sqlalchemy import delete, select

from jobs.engines.base import DownloadRequest, Progress
from webapp.core.paths import inside_root
from webapp.core.readable import human_bytes
from webapp.extensions import db
from webapp.models import Invite, Job, JobFile
from webapp.models.job import Outcome
from webapp.services.guests import invite_usage

log = logging.getLogger(__name__)

REFRESH_SECONDS = 1.0  # how often the monitor re-reads what the rest of the invite holds


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:  # not there (yet, or any more)
        return 0


class InviteLimits:
    """The byte limits of one running link job of a guest; see the module doc."""

    def __init__(self, job_id: int, invite_id: int, limits: invite_usage.Limits, storage_root: Path,
                 recorded: dict[Path, int]):
        self.job_id = job_id
        self.invite_id = invite_id
        self.limits = limits
        self.storage_root = Path(storage_root)
        self.recorded = recorded  # files an earlier attempt of this job recorded: path -> size
        self.others = 0  # what the rest of the invite holds, as last read
        self.message: str | None = None  # why the job was cut off
        self._finished: dict[Path, int] = {}  # finished files never change: measured once
        self._files: list[Path] = []
        self._temp_paths: set = set()
        self._request: DownloadRequest | None = None
        self._stop = None
        self._refreshed_at = 0.0
        self._trip_lock = threading.Lock()

    @classmethod
    def for_job(cls, job: Job, storage_root: Path) -> InviteLimits | None:
        """The limits of this job, or None: not sent through an invite, or the invite has none."""
        submission = job.submission
        if submission.invite_id is None:
            return None
        invite = db.session.get(Invite, submission.invite_id)
        if invite is None:
            return None
        limits = invite_usage.limits_for(invite)
        if limits.max_file_bytes is None and limits.max_total_bytes is None:
            return None
        root = Path(storage_root)
        recorded = {root / f.path: f.size for f in job.files}
        watcher = cls(job.id, invite.id, limits, root, recorded)
        watcher.refresh()
        return watcher

    # -- while the job runs ------------------------------------------------------------------------

    def watch(self, request: DownloadRequest, files: list[Path], stop) -> None:
        """Check every progress report of `request`; `files` are the job's finished files and
        `stop` the runner's stop reason, set with the request's cancel event when cut off."""
        self._request, self._files, self._temp_paths, self._stop = request, files, request.temp_paths, stop
        report = request.report

        def checked_report(progress: Progress, *args, **kwargs):
            self.check(progress)
            return report(progress, *args, **kwargs)

        request.report = checked_report

    def refresh(self) -> None:
        """Read again what the rest of the invite holds (the caller's database session)."""
        self.others = invite_usage.bytes_used(self.invite_id, since=self.limits.since(),
                                              excluding_job=self.job_id)
        self._refreshed_at = time.monotonic()

    def check_from_monitor(self) -> None:
        """The monitor thread's round: the files on disk, and the invite's others now and then."""
        if self.message is not None or self._request is None:
            return
        if self.limits.max_total_bytes is not None and time.monotonic() - self._refreshed_at >= REFRESH_SECONDS:
            self.refresh()
        self.check(None)

    def check(self, progress: Progress | None) -> None:
        """Cut the job off if it passed a limit (from a progress report, or None: disk only)."""
        if self.message is not None:
            return
        arrived = (progress.bytes_done or 0) if progress is not None else 0
        announced = (progress.bytes_total or 0) if progress is not None else 0
        largest, written = self._written()
        max_file, max_total = self.limits.max_file_bytes, self.limits.max_total_bytes
        if max_file is not None and max(largest, arrived, announced) > max_file:
            self._trip(self.file_message())
        elif max_total is not None and self.others + written + max(0, announced - arrived) > max_total:
            self._trip(self.total_message())

    def _written(self) -> tuple[int, int]:
        """The largest file of this job on disk, and all of them together (its earlier
        attempt's recorded files included, where this attempt has not met them again)."""
        sizes = []
        for path in list(self._files):
            if path not in self._finished:
                self._finished[path] = _size(path)
            sizes.append(self._finished[path])
        for temp in list(self._temp_paths):
            path = Path(temp)
            if path not in self._finished:
                sizes.append(_size(path))
        sizes += [size for path, size in self.recorded.items() if path not in self._finished]
        return max(sizes, default=0), sum(sizes)

    def _trip(self, message: str) -> None:
        with self._trip_lock:
            if self.message is not None:
                return
            self.message = message
            cancel = self._request.cancel_event
            if not cancel.is_set():
                self._stop.reason = Outcome.OVER_LIMIT
                cancel.set()

    def file_message(self) -> str:
        limit = human_bytes(self.limits.max_file_bytes)
        return f"Stopped: a file was larger than this invite's limit of {limit} per file"

    def total_message(self) -> str:
        return f"Stopped: this invite's limit of {self.limits.total_words()} was reached"

    # -- when it ends ------------------------------------------------------------------------------

    def settle(self, outcome: Outcome, job: Job, described: list[dict]) -> tuple[Outcome, list[dict]]:
        """The job's outcome and the files to record, the limits checked on what it wrote.

        Called in the runner's final transaction before anything is written: with a total, the
        invite's lock is taken here and held until that transaction commits, so what is counted
        stays true until this job's files are recorded. Over a limit: the files are removed and
        Outcome.OVER_LIMIT is returned with nothing to record."""
        if self.message is None:
            if outcome is Outcome.SHUTDOWN:  # back to the queue: its files stay for the next attempt
                return outcome, described
            self._check_at_end(job, described)
        if self.message is None:
            return outcome, described
        self._discard(job, [info["path"] for info in described])
        return Outcome.OVER_LIMIT, []

    def _check_at_end(self, job: Job, described: list[dict]) -> None:
        max_file, max_total = self.limits.max_file_bytes, self.limits.max_total_bytes
        final = {info["path"]: info["size"] for info in described}
        final.update({f.path: f.size for f in job.files if f.path not in final})
        if max_file is not None and max(final.values(), default=0) > max_file:
            self.message = self.file_message()
        elif max_total is not None and final:
            invite_usage.lock(self.invite_id)
            self.refresh()
            if self.others + sum(final.values()) > max_total:
                self.message = self.total_message()

    def _discard(self, job: Job, described_paths: list[str]) -> None:
        """Remove the job's finished files (and rows of an earlier attempt's) from the library,
        except a file another job recorded too: it is that job's as well."""
        relative = set(described_paths) | {f.path for f in job.files}
        shared = set(db.session.scalars(select(JobFile.path).where(JobFile.path.in_(relative),
                                                                   JobFile.job_id != job.id))) if relative else set()
        for path in relative - shared:
            try:
                inside_root(self.storage_root, self.storage_root / path).unlink(missing_ok=True)
            except (OSError, ValueError):
                log.warning("could not remove %s of job %s, cut off by its invite's limits", path, job.id)
        if job.files:
            db.session.execute(delete(JobFile).where(JobFile.job_id == job.id))
            db.session.expire(job, ["files"])
