"""Running one job in a worker: claim it, download it with its engine, record the outcome.

Writes are short transactions: the claim, progress at most a few times a second, and the
outcome. No transaction is held across a download. A monitor thread per job keeps the
heartbeat fresh and turns a cancel request, the job timeout or a shutdown into the job's
cancel event, which every engine checks as it goes.
"""
from __future__ import annotations

import logging
import mimetypes
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import func, insert, or_, select, update

from jobs import guest_limits, net_guard
from jobs.engines import picker
from jobs.engines.base import Cancelled, DownloadRequest, EngineError, Progress
from webapp.extensions import db
from webapp.models import Event, Invite, Job, JobFile
from webapp.models.base import utcnow
from webapp.models.job import CANCELLED, COMPLETED, DOWNLOADING, FAILED, QUEUED
from webapp.services import cookie_access, dispatch, events, queue_state, runtime_settings, url_policy
from webapp.services.library import inside_root, job_directory, relative_to_root
from webapp.services.upload_store import sha256_of
from webapp.vocabulary import AUTO

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
HEARTBEAT_SECONDS = 5.0
CANCEL_POLL_SECONDS = 0.4
PROGRESS_WRITE_SECONDS = 0.3
BOOT_ID = uuid.uuid4().hex[:12]
HOSTNAME = socket.gethostname()

# Set by the worker process when it is asked to stop: running jobs go back to the queue.
SHUTDOWN = threading.Event()


def worker_tag() -> str:
    """Who runs a job: host, process id and this process's boot id."""
    return f"{HOSTNAME}:{os.getpid()}:{BOOT_ID}"


def claim_next_job() -> int | None:
    """Atomically move the next runnable job (priority, then rank — its age unless moved) to downloading.

    Nothing is claimed while the whole queue is paused; a paused job is never claimed. One
    UPDATE … WHERE id = (the next queued job) AND status = 'queued' RETURNING: of two workers
    racing for a job only one gets it back, and the write lock is held for one statement and
    one event row.
    """
    if queue_state.is_paused():
        db.session.rollback()
        return None  # resuming the queue wakes the workers again
    # Download concurrency (a setting, changeable at any time): the consumer runs a fixed pool
    # of threads, and a claim that would exceed the limit is refused. The refused wake-up is
    # not lost: every job that ends tops the wake-ups up again (see run_job).
    limit = runtime_settings.concurrency()
    running = select(func.count(Job.id)).where(Job.status == DOWNLOADING).scalar_subquery()
    for _ in range(10):
        if db.session.scalar(select(running)) >= limit:
            db.session.rollback()
            return None
        now = utcnow()
        next_id = (
            select(Job.id)
            .where(Job.status == QUEUED, or_(Job.not_before.is_(None), Job.not_before <= now))
            .order_by(Job.priority.desc(), Job.rank, Job.id)
            .limit(1)
            .scalar_subquery()
        )
        if db.session.scalar(select(next_id)) is None:
            db.session.rollback()
            return None
        job = db.session.execute(
            update(Job)
            # The limit again inside the UPDATE: two workers counting at once cannot both start.
            .where(Job.id == next_id, Job.status == QUEUED, running < limit)
            .values(
                status=DOWNLOADING,
                worker_tag=worker_tag(),
                heartbeat_at=now,
                started_at=now,
                attempts=Job.attempts + 1,
                cancel_requested=False,
                not_before=None,
            )
            .returning(Job)
            .execution_options(populate_existing=True)
        ).scalar_one_or_none()
        if job is not None:
            events.publish_job(events.STATUS, job)
            db.session.commit()
            return job.id
        db.session.rollback()  # another worker took it between our look and our claim
    return None


@dataclass
class _Stop:
    reason: str = "cancelled"  # cancelled | timeout | shutdown | taken-over | over-limit (guest_limits)


class _Monitor(threading.Thread):
    """Heartbeat, cancel requests, timeout and shutdown for one running job."""

    def __init__(self, app, job_id: int, timeout_seconds: int, cancel_event: threading.Event, stop: _Stop,
                 limits: guest_limits.InviteLimits | None = None):
        super().__init__(name=f"haul-monitor-{job_id}", daemon=True)
        self.app = app
        self.limits = limits
        self.job_id = job_id
        self.timeout_seconds = timeout_seconds
        self.cancel_event = cancel_event
        self.stop_info = stop
        self.finished = threading.Event()
        self.started_at = time.monotonic()

    def _cancel(self, reason: str) -> None:
        if not self.cancel_event.is_set():
            self.stop_info.reason = reason
            self.cancel_event.set()

    def run(self) -> None:
        last_beat = time.monotonic()
        tag = worker_tag()
        while not self.finished.wait(CANCEL_POLL_SECONDS):
            if SHUTDOWN.is_set():
                self._cancel("shutdown")
            if self.timeout_seconds and time.monotonic() - self.started_at > self.timeout_seconds:
                self._cancel("timeout")
            try:
                with self.app.app_context():
                    if db.session.scalar(select(Job.cancel_requested).where(Job.id == self.job_id)):
                        self._cancel("cancelled")
                    if time.monotonic() - last_beat >= HEARTBEAT_SECONDS:
                        beat = db.session.execute(
                            update(Job)
                            .where(Job.id == self.job_id, Job.worker_tag == tag, Job.status == DOWNLOADING)
                            .values(heartbeat_at=utcnow())
                        ).rowcount
                        db.session.commit()
                        last_beat = time.monotonic()
                        if beat == 0:  # recovered by a watchdog and given to another worker
                            self._cancel("taken-over")
                    if self.limits is not None:
                        self.limits.check_from_monitor()
                    db.session.remove()
            except Exception:  # a busy database must not kill the monitor
                log.exception("job %s monitor check failed", self.job_id)


class _Reporter:
    """Writes progress to the job row and the event log, at most every PROGRESS_WRITE_SECONDS.

    The first write waits one interval too: a job done in less time than that goes from
    "downloading" straight to its outcome, without progress writes nobody could have seen.
    Everything is prepared before the transaction, which is then two statements long.
    """

    def __init__(self, job: Job):
        self.job_id = job.id
        # The fields of the job that don't change while it runs, for the event snapshots.
        self.fixed = {
            "id": job.id, "submission_id": job.submission_id, "user_id": job.user_id, "url": job.url,
            "attempts": job.attempts, "title": job.title, "resource_id": job.resource_id,
            "token_id": job.token_id,
        }
        self.last_write = time.monotonic()
        self.engine: str | None = None
        self.latest: Progress | None = None  # written with the outcome even if never before

    def engine_started(self, engine: str) -> None:
        self.engine = engine

    def __call__(self, progress: Progress, force: bool = False) -> None:
        self.latest = progress
        now = time.monotonic()
        if not force and now - self.last_write < PROGRESS_WRITE_SECONDS:
            return
        self.last_write = now
        snapshot = Job(status=DOWNLOADING, engine=self.engine, **self.fixed)  # transient, never added
        apply_progress(snapshot, progress)
        values = {column: getattr(snapshot, column) for column in _PROGRESS_COLUMNS}
        if self.engine:
            values["engine"] = self.engine
        event = events.job_event_row(events.PROGRESS, snapshot)
        db.session.execute(update(Job).where(Job.id == self.job_id, Job.status == DOWNLOADING).values(**values))
        db.session.execute(insert(Event), [event])
        db.session.commit()


_PROGRESS_COLUMNS = (
    "bytes_done", "bytes_total", "speed", "eta", "items_done", "items_total", "current_file", "title", "resource_id",
)


def apply_progress(job: Job, progress: Progress) -> None:
    job.bytes_done = progress.bytes_done or 0
    job.bytes_total = progress.bytes_total
    job.speed = round(progress.speed, 1) if progress.speed else None
    job.eta = round(progress.eta, 1) if progress.eta is not None else None
    job.items_done = progress.items_done
    job.items_total = progress.items_total
    job.current_file = (progress.current_file or "")[:500] or None
    if progress.title:
        job.title = progress.title[:500]
    if progress.resource_id:
        job.resource_id = progress.resource_id[:200]


def run_job(job_id: int) -> str:
    """Download a claimed job and record how it ended; returns the final status."""
    app = current_app._get_current_object()
    # The settings in force now (the admin's, over the environment's): each job reads them anew.
    settings, effective = runtime_settings.apply(app.config["HAUL"])
    job = db.session.get(Job, job_id)
    url, requested, preset = job.url, job.requested_engine, job.preset
    requested = requested or (effective.default_engine if effective.default_engine != AUTO else None)
    preset = preset or effective.default_preset
    # A site's cookies sign in as someone: only for the jobs of those the admin shared them with.
    cookies_file = cookie_access.file_for_job(settings.data_dir, job.domain, job.submission)
    base_dir = job_directory(settings.storage_root, job.submission.post_title, job.domain)
    # Unless its submitter may reach private addresses as the policy stands now (an admin; a
    # user when the admin's setting allows it; a guest when the invite does), every connection
    # the job opens must go to a public address (jobs/net_guard.py).
    public_only = not _private_addresses_allowed(job.submission)
    reporter = _Reporter(job)
    # A guest's link job is cut off where it passes its invite's byte limits (jobs/guest_limits.py).
    limits = guest_limits.InviteLimits.for_job(job, settings.storage_root)
    db.session.rollback()  # end the read: no transaction stays open during the download

    files: list[Path] = []
    cancel_event = threading.Event()
    stop = _Stop()
    request = DownloadRequest(
        url=url,
        base_dir=base_dir,
        storage_root=settings.storage_root,
        report=reporter,
        add_file=lambda path: files.append(Path(path)) if Path(path) not in files else None,
        cancel_event=cancel_event,
        cancel_reason=lambda: stop.reason,
        gallery_dl_options=settings.gallery_dl_options,
        ytdlp_options=settings.ytdlp_options,
        preset=preset,
        cookies_file=cookies_file,
        public_only=public_only,
    )
    if limits is not None:
        limits.watch(request, files, stop)
    monitor = _Monitor(app, job_id, settings.job_timeout_seconds, cancel_event, stop, limits)
    monitor.start()
    outcome, error, transient = COMPLETED, None, False
    guard = None
    try:
        engine_name = picker.pick(url, requested)
        with net_guard.guarded(public_only) as guard:
            # The reporter learns each engine as it starts: progress writes name it, and so does
            # the outcome, failures included.
            picker.download(engine_name, request, started=reporter.engine_started)
    except Cancelled as exc:
        outcome = exc.reason
    except EngineError as exc:
        outcome, error, transient = FAILED, exc.message, exc.transient
    except Exception as exc:  # a bug or an unexpected tool error: fail this job, keep the worker
        log.exception("job %s crashed", job_id)
        outcome, error = FAILED, f"Unexpected error: {exc.__class__.__name__}: {exc}"
    finally:
        monitor.finished.set()
        monitor.join()
        db.session.rollback()
        _remove_partial_files(settings.storage_root, request.temp_paths, files)
    if outcome == FAILED and guard is not None and guard.refusal is not None:
        # The tools wrap the refusal into their own error text, often as a connection error
        # worth retrying: say what happened, and don't retry — a guest's link that leads to a
        # private address is not a passing fault.
        error, transient = str(guard.refusal), False

    status = _finish(job_id, outcome, error, transient, reporter, files, settings, limits)
    if status != "taken-over" and not SHUTDOWN.is_set():
        # This job's slot is free: a queued job refused while the pool was full has no wake-up left.
        dispatch.top_up()
    return status


def _private_addresses_allowed(submission) -> bool:
    invite_allows = False
    if submission.invite_id is not None:
        invite = db.session.get(Invite, submission.invite_id)
        invite_allows = bool(invite and invite.allow_private_urls)
    return url_policy.private_addresses_allowed(
        submission.trust, invite_allows=invite_allows,
        users_allowed=runtime_settings.users_may_reach_private_addresses())


def _remove_partial_files(storage_root: Path, temp_paths: set, finished: list[Path]) -> None:
    for temp in list(temp_paths):
        path = Path(temp)
        if path in finished:
            continue
        try:
            inside_root(storage_root, path).unlink(missing_ok=True)
        except (OSError, ValueError):
            log.warning("could not remove partial file %s", temp)


def _finish(job_id, outcome, error, transient, reporter: _Reporter, files, settings, limits=None) -> str:
    if outcome == "taken-over":
        return outcome  # a watchdog gave the row to another worker: it is not ours to write
    # Hash the files before the transaction: the write lock is held only for the writes.
    described = _describe_files(files, settings.storage_root)
    job = db.session.get(Job, job_id)
    if job is None:  # deleted while it ran
        return outcome
    if limits is not None:  # the final sizes, counted with the rest of the invite under its lock
        outcome, described = limits.settle(outcome, job, described)
    _record_files(job, described)
    if reporter.latest is not None:
        apply_progress(job, reporter.latest)
    if reporter.engine:
        job.engine = reporter.engine
    now = utcnow()
    job.worker_tag = None
    job.speed = job.eta = None
    if outcome == COMPLETED:
        job.status, job.finished_at, job.error = COMPLETED, now, None
        job.items_done = max(job.items_done, len(job.files))
        job.current_file = None
        # Done: the bytes are those of the files it wrote (a gallery's progress was per file).
        job.bytes_done = job.bytes_total = sum(f.size for f in job.files) or job.bytes_total or 0
        kind = events.COMPLETED
    elif outcome == "cancelled":
        job.status, job.finished_at, job.dedupe_key = CANCELLED, now, None
        kind = events.CANCELLED
    elif outcome == "timeout":
        job.status, job.finished_at, job.dedupe_key = FAILED, now, None
        job.error = f"Timed out after {settings.job_timeout_seconds} seconds (HAUL_JOB_TIMEOUT_SECONDS)"
        kind = events.FAILED
    elif outcome == guest_limits.OVER_LIMIT:  # its files are gone (settle); retrying cannot help
        job.status, job.finished_at, job.dedupe_key = FAILED, now, None
        job.error = limits.message
        kind = events.FAILED
    elif outcome == "shutdown":
        # Not the URL's fault: back to the queue without counting the attempt.
        job.status, job.attempts, job.heartbeat_at = QUEUED, max(0, job.attempts - 1), None
        kind = events.STATUS
    elif transient and job.attempts < MAX_ATTEMPTS:
        delay = settings.retry_backoff_seconds * (2 ** (job.attempts - 1))
        job.status, job.error = QUEUED, f"Attempt {job.attempts} of {MAX_ATTEMPTS} failed: {error}"
        job.not_before = now + timedelta(seconds=delay)
        kind = events.STATUS
    else:
        job.status, job.finished_at, job.dedupe_key = FAILED, now, None
        job.error = error if not transient else f"{error} (gave up after {job.attempts} attempts)"
        kind = events.FAILED
    extra = {"files": [f.path for f in job.files]} if kind == events.COMPLETED else {}
    events.publish_job(kind, job, **extra)
    db.session.commit()
    if kind == events.COMPLETED:
        from jobs import thumbnails  # made in the background, once per file content; never raises

        thumbnails.after_job_completed(job_id)
    if job.status == QUEUED:
        if outcome == "shutdown":
            dispatch.wake_workers(1)  # persisted by Huey; runs when a worker starts again
        else:
            dispatch.wake_workers(1, delay=(job.not_before - now).total_seconds())
    return job.status


def _describe_files(files: list[Path], storage_root: Path) -> list[dict]:
    """Path relative to the library, size, sha256 and MIME type of each finished file."""
    described = []
    for path in files:
        try:
            if not path.is_file():
                continue
            described.append({
                "path": relative_to_root(storage_root, path),
                "size": path.stat().st_size,
                "sha256": sha256_of(path),
                "mime": mimetypes.guess_type(path.name)[0],
            })
        except (OSError, ValueError):
            log.exception("could not describe file %s", path)
    return described


def _record_files(job: Job, described: list[dict]) -> None:
    known = {f.path for f in job.files}
    for info in described:
        if info["path"] not in known:
            job.files.append(JobFile(**info))
            known.add(info["path"])
