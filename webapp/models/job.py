"""Submissions (the links sent together), jobs (one URL each) and the files a job wrote."""
from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.base import UTCDateTime, utcnow

# The words of the columns below (statuses, sources, engines, presets, trust) are defined in
# webapp/vocabulary.py; these names stay importable from here, next to the model they describe.
from webapp.vocabulary import (  # noqa: F401
    ACTIVE_STATUSES,
    ADMIN_TRUST,
    API,
    CANCELLED,
    COMPLETED,
    DEDUPE_STATUSES,
    DOWNLOADING,
    ENGINES,
    FAILED,
    FINISHED_STATUSES,
    GUEST_TRUST,
    PAUSED,
    PRESETS,
    QUEUED,
    SOURCES,
    STATUSES,
    TRUSTS,
    UPLOAD_ENGINE,
    USER_TRUST,
)

if TYPE_CHECKING:
    from webapp.models.user import ApiToken, User


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
    # Who stood behind it, for the network policy (webapp/services/url_policy.py): an admin's
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
    # "host:pid:boot-id" of the consumer running it, and when that consumer last said so.
    worker_tag: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set by "clear completed/failed": the job leaves the queue page but stays in history.
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    submission: Mapped[Submission] = relationship(back_populates="jobs")
    files: Mapped[list[JobFile]] = relationship(back_populates="job", cascade="all, delete-orphan", order_by="JobFile.id")

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

    job: Mapped[Job] = relationship(back_populates="files")
