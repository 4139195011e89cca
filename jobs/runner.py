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
from sqlalchemy import func, insert, or_, select, true, update

from jobs import bandwidth, disk_full, guest_limits, job_log, lease, net_guard, thumbnails
from jobs.engines import picker
from jobs.engines.base import (
    AlreadyDownloaded,
    Cancelled,
    CollectionContext,
    DownloadRequest,
    EngineError,
    Progress,
)
from webapp.core import item_metadata, url_policy
from webapp.core.file_kinds import file_kind
from webapp.core.listings import Listing, Options
from webapp.core.paths import inside_root, job_directory, relative_to_root, sanitize_component
from webapp.core.vocabulary import AUTO, CANCELLED, COMPLETED, DOWNLOADING, FAILED, GUEST_TRUST, ITEM, QUEUED
from webapp.extensions import db
from webapp.models import Event, Invite, Job, JobFile, JobMetadata, SubscriptionRun
from webapp.models.base import utcnow
from webapp.models.job import Outcome
from webapp.services.admin import cookie_access, runtime_settings
from webapp.services.guests.upload_store import sha256_of
from webapp.services.library import presets
from webapp.services.notifications import news as notification_news
from webapp.services.queue import collections, dispatch, disk_guard, events
from webapp.services.queue import pause as queue_state
from webapp.services.queue import windows as download_windows
from webapp.services.subscriptions import runs as subscription_runs

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
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

    Nothing is claimed while the whole queue is paused; a paused job is never claimed. On
    SQLite, one UPDATE … WHERE id = (the next queued job) AND status = 'queued' RETURNING: of two
    workers racing for a job only one gets it back, and the write lock is held for one statement
    and one event row. On PostgreSQL, `_claim_on_postgresql`.
    """
    if queue_state.holds_claims():  # paused, or a restore under way
        db.session.rollback()
        return None  # resuming the queue (or the restore's end) wakes the workers again
    if not disk_guard.may_start():  # the storage disk is nearly full (trips the guard if it just got so)
        db.session.rollback()
        return None  # the guard wakes the workers when it clears
    # Download concurrency (a setting, changeable at any time): the consumer runs a fixed pool
    # of threads, and a claim that would exceed the limit is refused. The refused wake-up is
    # not lost: every job that ends tops the wake-ups up again (see run_job).
    limit = runtime_settings.concurrency()
    # A collection that queued its children holds no slot: only items download.
    running = select(func.count(Job.id)).where(Job.status == DOWNLOADING, Job.kind == ITEM).scalar_subquery()
    # Outside the download windows only the jobs marked "now" may start (services/queue/windows.py).
    startable = Job.run_now.is_(True) if not download_windows.may_start_any() else true()
    if db.session.get_bind().dialect.name == "postgresql":
        return _claim_on_postgresql(limit, running, startable)
    for _ in range(10):
        if db.session.scalar(select(running)) >= limit:
            db.session.rollback()
            return None
        now = utcnow()
        next_id = (
            select(Job.id)
            .where(Job.status == QUEUED, or_(Job.not_before.is_(None), Job.not_before <= now), startable)
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
            .values(**Job.claim_values(worker_tag(), now))
            .returning(Job)
            .execution_options(populate_existing=True)
        ).scalar_one_or_none()
        if job is not None:
            events.publish_job(events.STATUS, job)
            db.session.commit()
            return job.id
        db.session.rollback()  # another worker took it between our look and our claim
    return None


# The transaction-scoped advisory lock every PostgreSQL claim takes first ("HAUL" in ASCII).
CLAIM_LOCK_KEY = 0x4841554C


def _claim_on_postgresql(limit: int, running, startable) -> int | None:
    """The claim on PostgreSQL, where many workers on many hosts claim at once.

    SQLite runs one writer at a time, so the UPDATE above counts the running jobs and picks the
    next one without a race. PostgreSQL's READ COMMITTED would let two claims each count a free
    slot and both start; the advisory lock makes the count-and-claim one at a time (held for the
    few statements of the transaction). The job row itself is taken with FOR UPDATE SKIP LOCKED:
    a queued job another transaction holds this instant (a cancel, a move, a pause from the web)
    is passed over instead of waited for, and its wake-up claims the next one.
    """
    db.session.execute(select(func.pg_advisory_xact_lock(CLAIM_LOCK_KEY)))
    if db.session.scalar(select(running)) >= limit:
        db.session.rollback()
        return None
    now = lease.database_now()  # the lease starts on the clock every host reads it with
    next_id = db.session.scalar(
        select(Job.id)
        .where(Job.status == QUEUED, or_(Job.not_before.is_(None), Job.not_before <= now), startable)
        .order_by(Job.priority.desc(), Job.rank, Job.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if next_id is None:
        db.session.rollback()
        return None
    job = db.session.execute(
        update(Job).where(Job.id == next_id, Job.status == QUEUED)
        .values(**Job.claim_values(worker_tag(), now))
        .returning(Job)
        .execution_options(populate_existing=True)
    ).scalar_one()
    events.publish_job(events.STATUS, job)
    db.session.commit()
    return job.id


@dataclass
class _Stop:
    reason: Outcome = Outcome.CANCELLED  # why the job's cancel event was set


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
        self.renewed_at = self.started_at  # when the lease was last renewed (the claim renewed it)
        self._cancel_lock = threading.Lock()  # the fence and the monitor may both cancel

    def _cancel(self, reason: Outcome) -> None:
        with self._cancel_lock:
            if not self.cancel_event.is_set():
                self.stop_info.reason = reason
                self.cancel_event.set()

    def _fence(self, fence_after: float) -> None:
        """Stop the download when the lease could not be renewed for most of its life.

        The database is out of reach (a network cut): another host will take the job over when
        the lease expires, so the download must stop before then. A thread of its own, touching
        no database: the monitor's own queries hang on a cut network until the connection's TCP
        timeouts (10 s and more, webapp/config.py), past a short lease's fence. Nothing is
        written: the row may no longer be ours."""
        while not self.finished.wait(CANCEL_POLL_SECONDS):
            unrenewed = time.monotonic() - self.renewed_at
            if unrenewed > fence_after:
                log.warning("job %s: lease not renewed for %.0f s; stopping it for another worker", self.job_id,
                            unrenewed)
                self._cancel(Outcome.TAKEN_OVER)
                return

    def run(self) -> None:
        last_beat = time.monotonic()
        tag = worker_tag()
        with self.app.app_context():
            lease_length = lease.lease_seconds()
        renew_every, fence_after = lease.renew_every(lease_length), lease.fence_after(lease_length)
        threading.Thread(target=self._fence, args=(fence_after,), name=f"haul-fence-{self.job_id}",
                         daemon=True).start()
        while not self.finished.wait(CANCEL_POLL_SECONDS):
            if SHUTDOWN.is_set():
                self._cancel(Outcome.SHUTDOWN)
            if self.timeout_seconds and time.monotonic() - self.started_at > self.timeout_seconds:
                self._cancel(Outcome.TIMED_OUT)
            try:
                with self.app.app_context():
                    if db.session.scalar(select(Job.cancel_requested).where(Job.id == self.job_id)):
                        self._cancel(Outcome.CANCELLED)
                    if queue_state.is_stopped():  # the queue was stopped: back to the queue, as at a shutdown
                        self._cancel(Outcome.SHUTDOWN)
                    if time.monotonic() - last_beat >= renew_every:
                        # The lease runs from the heartbeat written below, never earlier than now.
                        renewing_at = time.monotonic()
                        beat = db.session.execute(
                            update(Job)
                            .where(Job.id == self.job_id, Job.worker_tag == tag, Job.status == DOWNLOADING)
                            .values(heartbeat_at=lease.renewal_stamp())
                        ).rowcount
                        db.session.commit()
                        last_beat = time.monotonic()
                        if beat:
                            self.renewed_at = renewing_at
                        else:  # recovered by a watchdog and given to another worker
                            self._cancel(Outcome.TAKEN_OVER)
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
        snapshot.progress(progress)
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


def run_job(job_id: int) -> Outcome:
    """Download a claimed job and record how it ended; returns how the run ended.

    SHUTDOWN, and a FAILED run worth another attempt, leave the job queued again; TAKEN_OVER
    leaves the row to whoever holds it now (see _finish)."""
    app = current_app._get_current_object()
    # The settings in force now (the admin's, over the environment's): each job reads them anew.
    settings, effective = runtime_settings.apply(app.config["HAUL"])
    job = db.session.get(Job, job_id)
    url, requested = job.url, job.requested_engine
    # This run's own log (the tools' lines, the runner's): saved to the job's JobLog row at the end.
    capture = job_log.Capture.start(job_id, job.attempts, MAX_ATTEMPTS, url)
    requested = requested or (effective.default_engine if effective.default_engine != AUTO else None)
    # Read now, not when the job was queued: an admin's edit applies to every job not yet started.
    preset = presets.spec_for(job.preset, effective.default_preset)
    # A site's cookies sign in as someone: only for the jobs of those the admin shared them with.
    cookies_file = cookie_access.file_for_job(settings.data_dir, job.domain, job.submission)
    base_dir = job_directory(settings.storage_root, job.submission.post_title, job.domain)
    if job.base_folder:  # a child of a collection with a folder of its own
        base_dir = inside_root(settings.storage_root, settings.storage_root / job.base_folder)
    expansion = _Expansion(job, base_dir, settings.storage_root)
    # Unless its submitter may reach private addresses as the policy stands now (an admin; a
    # user when the admin's setting allows it; a guest when the invite does), every connection
    # the job opens must go to a public address (jobs/net_guard.py).
    public_only = not _private_addresses_allowed(job.submission)
    reporter = _Reporter(job)
    # A guest's link job is cut off where it passes its invite's byte limits (jobs/guest_limits.py).
    limits = guest_limits.InviteLimits.for_job(job, settings.storage_root)
    job_parent, name_prefix = job.parent_id, job.name_prefix or ""
    collection = _collection_context(job)
    guest_link = job.submission.trust == GUEST_TRUST
    # "Download again" (forced: no dedupe key) fetches even an item another job has.
    checks_identity = job.dedupe_key is not None or job.parent_id is not None
    db.session.rollback()  # end the read: no transaction stays open during the download

    files: list[Path] = []
    described: dict = {}
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
        # A child is never a collection itself; a subscription's run only lists. A guest's link
        # stays one job, held by its invite's byte limits: expanded, one link could queue a
        # channel's thousands of jobs in the host's queue.
        on_collection=expansion if job_parent is None and not guest_link else None,
        list_only=expansion.for_run,
        identify=(lambda key: _identify(job_id, key)) if checks_identity else None,
        name_prefix=name_prefix,
        collection=collection,
        # The first item's: a page with several videos, or a gallery, is described by its first.
        describe=lambda fields: None if described else described.update(fields),
        # The bandwidth limits, shared by every download of this process (jobs/bandwidth.py).
        throttle=bandwidth.throttle_for(app, cancel_event, effective),
    )
    if limits is not None:
        limits.watch(request, files, stop)
    monitor = _Monitor(app, job_id, settings.job_timeout_seconds, cancel_event, stop, limits)
    monitor.start()
    outcome, error, transient = Outcome.COMPLETED, None, False
    guard = None
    duplicate_of = None
    disk_filled = False  # the download met a full disk (jobs/disk_full.py)
    try:
        engine_name = picker.pick(url, requested)
        with net_guard.guarded(public_only) as guard:
            # The reporter learns each engine as it starts: progress writes name it, and so does
            # the outcome, failures included.
            picker.download(engine_name, request, started=capture.engine_started(reporter.engine_started))
    except AlreadyDownloaded as exc:
        outcome, duplicate_of = Outcome.DUPLICATE, exc.job_id
    except Cancelled as exc:
        outcome = Outcome(exc.reason)
    except EngineError as exc:
        outcome, error, transient = Outcome.FAILED, exc.message, exc.transient
        disk_filled = disk_full.caused_by_full_disk(exc)
    except Exception as exc:  # a bug or an unexpected tool error: fail this job, keep the worker
        disk_filled = disk_full.caused_by_full_disk(exc)
        if not disk_filled:
            log.exception("job %s crashed", job_id)
        outcome, error = Outcome.FAILED, f"Unexpected error: {exc.__class__.__name__}: {exc}"
    finally:
        monitor.finished.set()
        monitor.join()
        db.session.rollback()
        # Taken over (the lease lapsed: fenced, or found given away): the job is another
        # worker's now, whatever the engine ended with — a download stuck on a cut network may
        # fail with a timeout long after the fence. Its partial files are left alone: the new
        # holder writes the same paths, and removing them would break its download.
        taken_over = cancel_event.is_set() and stop.reason is Outcome.TAKEN_OVER
        if not taken_over:
            _remove_partial_files(settings.storage_root, request.temp_paths, files)
    if taken_over:
        outcome, error = Outcome.TAKEN_OVER, None
    if expansion.done:
        # Its children are queued and it follows them now (collections.expand committed it all);
        # whatever stopped the job after that is theirs to meet.
        outcome, error = Outcome.EXPANDED, None
    elif expansion.for_run and outcome is Outcome.COMPLETED:
        outcome, error = Outcome.FAILED, "The source listed nothing to follow"
    if outcome is Outcome.FAILED and guard is not None and guard.refusal is not None:
        # The tools wrap the refusal into their own error text, often as a connection error
        # worth retrying: say what happened, and don't retry — a guest's link that leads to a
        # private address is not a passing fault.
        error, transient = str(guard.refusal), False
    if outcome is Outcome.FAILED and disk_filled:
        # Not retried: another attempt would fill the disk again. Its partial files are gone
        # (above); the guard holds new jobs until space is freed.
        error, transient = disk_full.MESSAGE, False
        disk_guard.trip_disk_full()

    outcome = _finish(job_id, outcome, error, transient, reporter, files, settings, limits, duplicate_of,
                      described, request.file_hashes)
    capture.finish(outcome.value, error)
    if outcome is not Outcome.TAKEN_OVER and not SHUTDOWN.is_set():
        # This job's slot is free: a queued job refused while the pool was full has no wake-up left.
        dispatch.top_up()
    return outcome


class _Expansion:
    """The engine's `on_collection`: queue the listing's entries as children of this job."""

    def __init__(self, job: Job, base_dir: Path, storage_root: Path):
        self.job_id = job.id
        self.for_run = job.subscription_run_id is not None
        # A subscription's folder carries its id: two people following one channel under the
        # same name each get files of their own, and every run writes to the same folder.
        self.folder_suffix = ""
        if self.for_run:
            run = db.session.get(SubscriptionRun, job.subscription_run_id)
            self.folder_suffix = f" [{run.subscription_id}]" if run is not None else ""
        self.options = Options.from_json(job.collection_options)
        self.base_dir, self.storage_root = base_dir, storage_root
        self.done = False

    def __call__(self, listing: Listing) -> None:
        folder = None
        if self.options.folder:  # <post_title>/<domain>/<collection-id>
            name = listing.collection_id
            if not name or "://" in name:  # a feed's id is its URL: its title names it better
                name = listing.title or f"collection-{self.job_id}"
            component = sanitize_component(str(name)[:100] + self.folder_suffix)
            folder = relative_to_root(self.storage_root, inside_root(self.storage_root, self.base_dir / component))
        if self.for_run:
            subscription_runs.expand_run(self.job_id, listing, folder)
        else:
            collections.expand(self.job_id, listing, base_folder=folder)
        self.done = True


def _collection_context(job: Job) -> CollectionContext | None:
    """A child's place in its collection (its title, the child's position, whether it has a
    folder of its own), for the tags and names the engines give the child's files."""
    if job.parent_id is None:
        return None
    parent = db.session.get(Job, job.parent_id)
    return CollectionContext(title=parent.title if parent is not None else None, position=job.position,
                             own_folder=job.base_folder is not None)


def _identify(job_id: int, item_key: str) -> None:
    holder = collections.claim_identity(job_id, item_key)
    if holder is not None:
        raise AlreadyDownloaded(holder)


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


# The event each status a run leaves the job in publishes.
_EVENT_OF_STATUS = {COMPLETED: events.COMPLETED, CANCELLED: events.CANCELLED, FAILED: events.FAILED,
                    QUEUED: events.STATUS}


def _finish(job_id, outcome: Outcome, error, transient, reporter: _Reporter, files, settings,
            limits=None, duplicate_of: int | None = None, metadata: dict | None = None,
            file_hashes: dict | None = None) -> Outcome:
    """Record how the run ended; returns the outcome (OVER_LIMIT when the invite's limits say so)."""
    if outcome in (Outcome.TAKEN_OVER, Outcome.EXPANDED):
        return outcome  # the row is another worker's, or the collection's expansion wrote it
    # Hash the files before the transaction: the write lock is held only for the writes.
    described = _describe_files(files, settings.storage_root, file_hashes)
    job = db.session.get(Job, job_id)
    if job is None:  # deleted while it ran
        return outcome
    if job.status != DOWNLOADING:  # queued again by a watchdog before the monitor noticed
        db.session.rollback()
        return Outcome.TAKEN_OVER
    if limits is not None:  # the final sizes, counted with the rest of the invite under its lock
        outcome, described = limits.settle(outcome, job, described)
    _record_files(job, described)
    if reporter.latest is not None:
        job.progress(reporter.latest)
    if reporter.engine:
        job.engine = reporter.engine
    now = utcnow()
    job.speed = job.eta = None
    if outcome is Outcome.DUPLICATE:
        job.current_file = None
        job.duplicate_of_id = duplicate_of
        job.finish(outcome, now=now)
    elif outcome is Outcome.COMPLETED:
        job.items_done = max(job.items_done, len(job.files))
        job.current_file = None
        # Done: the bytes are those of the files it wrote (a gallery's progress was per file).
        job.bytes_done = job.bytes_total = sum(f.size for f in job.files) or job.bytes_total or 0
        if metadata:
            _record_metadata(job, metadata)
        job.finish(outcome, now=now)
    elif outcome is Outcome.CANCELLED:
        job.finish(outcome, now=now)
    elif outcome is Outcome.TIMED_OUT:
        job.finish(outcome, f"Timed out after {settings.job_timeout_seconds} seconds (HAUL_JOB_TIMEOUT_SECONDS)",
                   now=now)
    elif outcome is Outcome.OVER_LIMIT:  # its files are gone (settle); retrying cannot help
        job.finish(outcome, limits.message, now=now)
    elif outcome is Outcome.SHUTDOWN:
        job.requeue(refund_attempt=True)  # not the URL's fault: the attempt does not count
    elif transient and job.attempts < MAX_ATTEMPTS:
        delay = settings.retry_backoff_seconds * (2 ** (job.attempts - 1))
        job.requeue(f"Attempt {job.attempts} of {MAX_ATTEMPTS} failed: {error}",
                    not_before=now + timedelta(seconds=delay))
    else:
        job.finish(Outcome.FAILED, error if not transient else f"{error} (gave up after {job.attempts} attempts)",
                   now=now)
    kind = _EVENT_OF_STATUS[job.status]
    extra = {"files": [f.path for f in job.files]} if kind == events.COMPLETED else {}
    if job.duplicate_of_id is not None:
        extra["duplicate_of"] = job.duplicate_of_id
    events.publish_job(kind, job, **extra)
    if job.is_finished:
        collections.refresh_parent(job.parent_id, now)
        subscription_runs.listing_ended(job)
        notification_news.job_finished(job)  # sent by the notifier after this commit (jobs/notify.py)
    job_log.stage(job, outcome.value, error)  # this run's own log, in the outcome's transaction
    db.session.commit()
    if kind == events.COMPLETED:
        thumbnails.after_job_completed(job_id)
    if job.status == QUEUED:
        if outcome is Outcome.SHUTDOWN:
            dispatch.wake_workers(1)  # persisted by Huey; runs when a worker starts again
        else:
            dispatch.wake_workers(1, delay=(job.not_before - now).total_seconds())
    return outcome


def _describe_files(files: list[Path], storage_root: Path, hashed: dict | None = None) -> list[dict]:
    """Path relative to the library, size, sha256 and MIME type of each finished file.

    `hashed` (DownloadRequest.file_hashes): digests the engine computed as it wrote; one is
    used only while the file still has the size that was hashed, else the file is read."""
    described = []
    for path in files:
        try:
            if not path.is_file():
                continue
            size = path.stat().st_size
            known = (hashed or {}).get(str(path))
            described.append({
                "path": relative_to_root(storage_root, path),
                "size": size,
                "sha256": known[1] if known is not None and known[0] == size else sha256_of(path),
                "mime": mimetypes.guess_type(path.name)[0],
            })
        except (OSError, ValueError):
            log.exception("could not describe file %s", path)
    return described


def _record_files(job: Job, described: list[dict]) -> None:
    known = {f.path for f in job.files}
    # What each file is (the media, its subtitles, its poster …) reads from its name and the
    # names of the job's other files in the same folder.
    folders: dict[str, list[str]] = {}
    for info in described:
        folder, _, name = info["path"].rpartition("/")
        folders.setdefault(folder, []).append(name)
    for info in described:
        if info["path"] not in known:
            folder, _, name = info["path"].rpartition("/")
            job.files.append(JobFile(**info, kind=file_kind(name, folders[folder])))
            known.add(info["path"])


# The text columns' sizes: what a tool says is trimmed to them (a description has no limit).
_METADATA_LENGTHS = {column.name: column.type.length for column in JobMetadata.__table__.columns
                     if getattr(column.type, "length", None)}
_METADATA_TEXT = ("uploader", "channel", "upload_date", "description", "webpage_url", "extractor", "vcodec",
                  "acodec", "container", "gallery_title", "item_date")
_METADATA_NUMBERS = ("duration", "view_count", "width", "height")


def _record_metadata(job: Job, fields: dict) -> None:
    """What the tool knew about the item (webapp/core/item_metadata.py's fields), trimmed to the
    columns; a job downloaded again keeps one row, with what the last run learnt."""
    values = {name: None for name in (*_METADATA_TEXT, *_METADATA_NUMBERS)}
    for name in _METADATA_TEXT:
        if isinstance(fields.get(name), str):
            values[name] = fields[name][:_METADATA_LENGTHS.get(name)]
    for name in _METADATA_NUMBERS:
        if isinstance(fields.get(name), (int, float)) and not isinstance(fields.get(name), bool):
            values[name] = fields[name]
    values["tags"] = item_metadata.tags_text(fields.get("tags"))
    values["extra"] = fields.get("extra") or None
    if job.metadata_row is None:
        job.metadata_row = JobMetadata(**values)
    else:
        for name, value in values.items():
            setattr(job.metadata_row, name, value)
    if not job.title and isinstance(fields.get("title"), str):
        job.title = fields["title"][:500]
