"""Submissions (the links sent together), jobs (one URL each) and the files a job wrote."""
from __future__ import annotations

import time
import uuid
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.core.vocabulary import (
    API,
    MEDIA_FILE,
    CANCELLED,
    COMPLETED,
    DOWNLOADING,
    FAILED,
    FINISHED_STATUSES,
    ITEM,
    PAUSED,
    QUEUED,
    USER_TRUST,
)
from webapp.extensions import db
from webapp.models.base import UTCDateTime, utcnow

if TYPE_CHECKING:
    from webapp.models.job_metadata import JobMetadata
    from webapp.models.user import ApiToken, User


class Outcome(StrEnum):
    """How one run of a job ended: the worker's stop reasons and the results it records.

    The values are the reasons an engine's `Cancelled` carries (jobs/engines/base.py), so a
    reason converts with `Outcome(reason)`.
    """

    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"  # a person asked the running job to stop
    TIMED_OUT = "timeout"  # ran longer than HAUL_JOB_TIMEOUT_SECONDS
    OVER_LIMIT = "over-limit"  # passed its invite's byte limits (jobs/guest_limits.py)
    SHUTDOWN = "shutdown"  # the worker is stopping: the job waits for the next one
    DUPLICATE = "duplicate"  # the item (extractor + id) is another job's already: nothing downloaded
    EXPANDED = "expanded"  # the URL was a collection: its entries were queued as child jobs
    TAKEN_OVER = "taken-over"  # a watchdog took the job back for another worker: the row is not ours

    @property
    def status(self) -> str | None:
        """The status a job finished this way gets; None when the run does not finish it."""
        return _FINAL_STATUS.get(self)


_FINAL_STATUS = {
    Outcome.COMPLETED: COMPLETED,
    Outcome.DUPLICATE: COMPLETED,
    Outcome.FAILED: FAILED,
    Outcome.CANCELLED: CANCELLED,
    Outcome.TIMED_OUT: FAILED,
    Outcome.OVER_LIMIT: FAILED,
}


class IllegalTransition(RuntimeError):
    """A job was asked for a change its status does not allow: a bug in the caller, which
    should have checked (the services answer such requests with a Conflict of their own)."""

    def __init__(self, job: Job, change: str, allowed: tuple[str, ...]):
        super().__init__(f"Job {job.id} is {job.status}: it cannot be {change} "
                         f"(only a job that is {' or '.join(allowed)})")
        self.job_id, self.status, self.change, self.allowed = job.id, job.status, change, allowed


def new_submission_id() -> str:
    return str(uuid.uuid4())


class Submission(db.Model):
    """The URLs sent together, with their post title and label (the seed API's "download")."""

    __tablename__ = "submissions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_submission_id)
    post_title: Mapped[str | None] = mapped_column(String(300))
    label: Mapped[str | None] = mapped_column(String(300))
    source: Mapped[str] = mapped_column(String(16), default=API)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    # Indexed: a submit-only token lists just what it submitted (Principal.reaches).
    token_id: Mapped[int | None] = mapped_column(ForeignKey("api_tokens.id", ondelete="SET NULL"), index=True)
    # How the submitter proved who they are: session, token (personal), static-token, cli, invite.
    submitted_via: Mapped[str] = mapped_column(String(16), default="token")
    requested_engine: Mapped[str | None] = mapped_column(String(16))
    # Sent by a guest through an invite link: which invite and which guest session.
    invite_id: Mapped[int | None] = mapped_column(ForeignKey("invites.id", ondelete="SET NULL"), index=True)
    guest_session_id: Mapped[str | None] = mapped_column(
        ForeignKey("guest_sessions.id", ondelete="SET NULL"), index=True)
    # Who stood behind it, for the network policy (webapp/core/url_policy.py): an admin's
    # jobs may reach private addresses; a user's only when the admin allows it (a setting), a
    # guest's only when the invite does. Decided again by the worker when the job runs.
    trust: Mapped[str] = mapped_column(String(8), default=USER_TRUST)
    # Every URL as sent (normalised) in order, and which were answered by an existing job:
    # [{"url": ..., "job_id": ..., "duplicate_of": ... | None}]
    items: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    jobs: Mapped[list[Job]] = relationship(back_populates="submission", order_by="Job.id")
    user: Mapped["User | None"] = relationship()
    token: Mapped["ApiToken | None"] = relationship()


class Job(db.Model):
    """One URL to download. The row is the truth; events only say it changed."""

    __tablename__ = "jobs"
    __table_args__ = (
        # The worker claims the next job in this order.
        Index("ix_jobs_claim", "status", "priority", "rank"),
        # Guards dedupe against two submissions racing: one active job per normalised URL.
        Index(
            "uq_jobs_dedupe_key",
            "dedupe_key",
            unique=True,
            sqlite_where=text("dedupe_key IS NOT NULL"),
            postgresql_where=text("dedupe_key IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2000), index=True)
    domain: Mapped[str] = mapped_column(String(255), index=True)
    dedupe_key: Mapped[str | None] = mapped_column(String(2000))
    requested_engine: Mapped[str | None] = mapped_column(String(16))
    engine: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=QUEUED, index=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    # Order among jobs of the same priority: the submission time as a number, so "then age"
    # holds by default; moving a job up or down swaps it with its neighbour's.
    rank: Mapped[float] = mapped_column(Float, default=time.time)
    preset: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16), default=API)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    # The personal token it was submitted with (its submission's): a submit-only token's
    # streams show just the jobs it sent itself, so every event of the job carries it.
    token_id: Mapped[int | None] = mapped_column(Integer)

    title: Mapped[str | None] = mapped_column(String(500))
    resource_id: Mapped[str | None] = mapped_column(String(200))

    bytes_done: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_total: Mapped[int | None] = mapped_column(BigInteger)
    speed: Mapped[float | None] = mapped_column(Float)
    eta: Mapped[float | None] = mapped_column(Float)
    items_done: Mapped[int] = mapped_column(Integer, default=0)
    items_total: Mapped[int | None] = mapped_column(Integer)
    current_file: Mapped[str | None] = mapped_column(String(500))

    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # Starts even outside the download windows ("now"); the disk guard and the queue's pause still hold.
    run_now: Mapped[bool] = mapped_column(Boolean, default=False)
    # "host:pid:boot-id" of the consumer running it, and when that consumer last said so.
    worker_tag: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set by "clear completed/failed": the job leaves the queue page but stays in history.
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    # -- collections (a playlist, channel, feed or gallery listing): a parent and its children --
    # "item" downloads its URL; a "collection" listed its URL and queued one child per entry,
    # and its status follows theirs (webapp/services/queue/collections.py).
    kind: Mapped[str] = mapped_column(String(12), default=ITEM)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    position: Mapped[int | None] = mapped_column(Integer)  # 1-based, in the collection's chosen order
    # The item's identity, "<extractor>:<id>" (yt-dlp's extractor_key + id, gallery-dl's category
    # + id): the same video through a playlist, a short link and its watch page is one job.
    item_key: Mapped[str | None] = mapped_column(String(300), index=True)
    # Set when the worker found the item already downloaded (or queued) as that job.
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    # A collection's options (range/limit, order, numbered names, own folder): collections.Options.
    collection_options: Mapped[dict | None] = mapped_column(JSON)
    # Where a child writes: relative to the storage root, instead of <post_title>/<domain>.
    base_folder: Mapped[str | None] = mapped_column(String(1000))
    # Put before each file name of a child in a numbered collection ("007 - ").
    name_prefix: Mapped[str | None] = mapped_column(String(16))
    # The parent job of a subscription's run (its listing and its new items).
    subscription_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscription_runs.id", ondelete="SET NULL", use_alter=True), index=True)

    submission: Mapped[Submission] = relationship(back_populates="jobs")
    files: Mapped[list[JobFile]] = relationship(back_populates="job", cascade="all, delete-orphan", order_by="JobFile.id")
    # What the extractor knew (uploader, date, tags …); None until the job finishes with some.
    metadata_row: Mapped["JobMetadata | None"] = relationship(cascade="all, delete-orphan", uselist=False,
                                                              lazy="select")

    # -- the lifecycle: every change of status goes through these --------------------------------
    #
    #   queued ⇄ paused;  queued → downloading (claim);  downloading → queued (requeue);
    #   downloading → completed | failed | cancelled (finish);  queued | paused → cancelled;
    #   failed | cancelled → queued (retry).
    #
    # A job that finishes other than completed gives up its dedupe key, so its URL can be
    # queued again; a completed one keeps it (the URL is downloaded already). Each change
    # checks the status it leaves and raises IllegalTransition otherwise.

    def _leaving(self, allowed: tuple[str, ...], change: str) -> None:
        if self.status not in allowed:
            raise IllegalTransition(self, change, allowed)

    @classmethod
    def claim_values(cls, worker: str, now: datetime) -> dict:
        """The columns a claim sets, for the worker's one atomic UPDATE of a queued row
        (jobs/runner.py claim_next_job); `attempts` is a SQL expression: one more than the row's."""
        return {"status": DOWNLOADING, "worker_tag": worker, "heartbeat_at": now, "started_at": now,
                "attempts": cls.attempts + 1, "cancel_requested": False, "not_before": None}

    def claim(self, worker: str, now: datetime | None = None) -> None:
        """Queued → downloading by `worker`, as claim_values says, on this object."""
        self._leaving((QUEUED,), "claimed")
        values = self.claim_values(worker, now or utcnow())
        values["attempts"] = (self.attempts or 0) + 1
        for column, value in values.items():
            setattr(self, column, value)

    def progress(self, report) -> None:
        """Record a running job's progress; `report` has the fields of jobs.engines.base.Progress."""
        self._leaving((DOWNLOADING,), "given progress")
        self.bytes_done = report.bytes_done or 0
        self.bytes_total = report.bytes_total
        self.speed = round(report.speed, 1) if report.speed else None
        self.eta = round(report.eta, 1) if report.eta is not None else None
        self.items_done = report.items_done
        self.items_total = report.items_total
        self.current_file = (report.current_file or "")[:500] or None
        if report.title:
            self.title = report.title[:500]
        if report.resource_id:
            self.resource_id = report.resource_id[:200]

    def finish(self, outcome: Outcome, error: str | None = None, now: datetime | None = None) -> None:
        """Downloading → the status `outcome` gives (completed, failed or cancelled).

        Completed clears the error; otherwise `error`, when given, says why (a cancelled job
        keeps the error an earlier attempt left)."""
        self._leaving((DOWNLOADING,), "finished")
        if outcome.status is None:
            raise ValueError(f"{outcome!r} does not finish a job")
        self.status, self.finished_at = outcome.status, now or utcnow()
        self.worker_tag = self.heartbeat_at = None
        if outcome is Outcome.COMPLETED:
            self.error = None
        else:
            self.dedupe_key = None
            if error is not None:
                self.error = error

    def requeue(self, error: str | None = None, *, not_before: datetime | None = None,
                refund_attempt: bool = False) -> None:
        """Downloading → queued: its worker stopped or the attempt failed in a way worth another.

        `error` (when given) says why, `not_before` delays the next attempt, and `refund_attempt`
        takes back the attempt the claim counted (the stop was not the URL's fault)."""
        self._leaving((DOWNLOADING,), "queued again")
        self.status = QUEUED
        self.worker_tag = self.heartbeat_at = None
        if error is not None:
            self.error = error
        if not_before is not None:
            self.not_before = not_before
        if refund_attempt:
            self.attempts = max(0, self.attempts - 1)

    def request_cancel(self) -> None:
        """Ask the worker running this job to stop it; the worker finishes it as cancelled."""
        self._leaving((DOWNLOADING,), "asked to stop")
        self.cancel_requested = True

    def cancel(self, now: datetime | None = None) -> None:
        """Queued or paused → cancelled, at once (a running job: request_cancel)."""
        self._leaving((QUEUED, PAUSED), "cancelled")
        self.status, self.dedupe_key, self.finished_at = CANCELLED, None, now or utcnow()

    def pause(self) -> None:
        """Queued → paused: it keeps its place but no worker claims it."""
        self._leaving((QUEUED,), "paused")
        self.status = PAUSED

    def resume(self) -> None:
        """Paused → queued, in its old place."""
        self._leaving((PAUSED,), "resumed")
        self.status = QUEUED

    def retry(self) -> None:
        """Failed or cancelled → queued, from scratch: its URL's dedupe key taken back, no
        attempts, no progress, back on the queue page."""
        self._leaving((FAILED, CANCELLED), "retried")
        self.status, self.dedupe_key = QUEUED, self.url
        self.error, self.attempts, self.not_before, self.cancel_requested, self.finished_at = None, 0, None, False, None
        self.bytes_done, self.bytes_total, self.speed, self.eta = 0, None, None, None
        self.items_done, self.items_total, self.current_file = 0, None, None
        self.cleared_at = None

    def follow_children(self, counts: dict[str, int], size: int, duplicates: int, now: datetime) -> dict:
        """A collection's status and counts from its children's (`counts`: children per status,
        `size`: their bytes so far). Downloading while any child waits or runs; then failed when
        any failed, cancelled when all were, else completed. Returns the summary live views show."""
        total = sum(counts.values())
        completed, failed, cancelled = (counts.get(s, 0) for s in (COMPLETED, FAILED, CANCELLED))
        active = total - completed - failed - cancelled
        self.items_total, self.items_done, self.bytes_done = total, completed, size
        if active:
            if self.status != DOWNLOADING:  # failed children retried: the collection runs again
                self.status, self.finished_at, self.error = DOWNLOADING, None, None
        else:
            status = FAILED if failed else CANCELLED if total and cancelled == total else COMPLETED
            if self.status != status or self.finished_at is None:
                self.finished_at = now
            self.status = status
            self.error = f"{failed} of {total} items failed" if failed else None
            if status != COMPLETED:
                self.dedupe_key = None  # as any job that did not complete: its URL may be sent again
        return {"total": total, "completed": completed, "failed": failed, "cancelled": cancelled,
                "active": active, "duplicates": duplicates}

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def percent(self) -> float | None:
        """Progress as 0..100: bytes when the size is known, else items."""
        if self.status == COMPLETED:
            return 100.0
        if self.bytes_total:
            return round(min(100.0, 100.0 * self.bytes_done / self.bytes_total), 1)
        if self.items_total:
            return round(min(100.0, 100.0 * self.items_done / self.items_total), 1)
        return None


class JobFile(db.Model):
    """A file a job wrote, with its path relative to the storage root."""

    __tablename__ = "job_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(String(1000))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    mime: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # What the file is to its job (vocabulary.FILE_KINDS): the media, its subtitles, poster, NFO …
    kind: Mapped[str] = mapped_column(String(16), default=MEDIA_FILE, server_default=MEDIA_FILE)
    # Set by a library rescan that found the file missing from disk; cleared when it is back.
    gone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    job: Mapped[Job] = relationship(back_populates="files")
