"""Guest invite links, the guest sessions opened through them, and files uploaded in pieces."""
from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.base import UTCDateTime, utcnow

# What a guest may upload unless the invite says otherwise: the MIME type's first part.
DEFAULT_KINDS = "image video"
KINDS = ("image", "video", "audio", "other")

# Upload states. An upload is "duplicate" when its content is in the library already.
UPLOADING, STORED, DUPLICATE, UPLOAD_FAILED = "uploading", "stored", "duplicate", "failed"


def new_key() -> str:
    """An unguessable key: 128 random bits, URL-safe."""
    return secrets.token_urlsafe(16)


class Invite(db.Model):
    """A public link through which guests upload files or send links into one post title.

    The link's token is derived from `nonce` with the server's secret key (see
    webapp/services/guests/invites.py): the table holds only the nonce and the token's SHA-256, so a
    copy of the database does not hand out working links, yet an admin can copy the link again.
    """

    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    # The folder under uploads/ that this invite's files land in: storage_root/<post_title>/uploads/<slug>/
    slug: Mapped[str] = mapped_column(String(140))
    post_title: Mapped[str | None] = mapped_column(String(300))
    nonce: Mapped[str] = mapped_column(String(64), default=new_key)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # When the password last changed: guest sessions opened before it are over.
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    max_uses: Mapped[int | None] = mapped_column(Integer)  # None: unlimited
    uses: Mapped[int] = mapped_column(Integer, default=0)
    allow_uploads: Mapped[bool] = mapped_column(Boolean, default=True)
    allow_urls: Mapped[bool] = mapped_column(Boolean, default=True)
    allow_private_urls: Mapped[bool] = mapped_column(Boolean, default=False)
    max_file_bytes: Mapped[int | None] = mapped_column(BigInteger)  # None: no limit per file
    # None: no limit for the whole invite (every session's uploads and every link job's files)
    max_total_bytes: Mapped[int | None] = mapped_column(BigInteger)
    allowed_kinds: Mapped[str] = mapped_column(String(100), default=DEFAULT_KINDS)
    # The preset the guests' links download with (a Preset's name); None: the configured default.
    preset: Mapped[str | None] = mapped_column(String(16))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Set on the one invite behind the public upload page at / (HAUL_PUBLIC_UPLOADS).
    is_public_page: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    sessions: Mapped[list[GuestSession]] = relationship(back_populates="invite", cascade="all, delete-orphan")

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple((self.allowed_kinds or "").split())


class GuestSession(db.Model):
    """One guest's visit through an invite: it stays open 24 h and sees only its own items.

    It counts as one of the invite's uses once it submits something (`counted_at`)."""

    __tablename__ = "guest_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_key)
    invite_id: Mapped[int] = mapped_column(ForeignKey("invites.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    password_ok: Mapped[bool] = mapped_column(Boolean, default=False)
    counted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    invite: Mapped[Invite] = relationship(back_populates="sessions")


class Upload(db.Model):
    """A file sent in chunks. The bytes gather in data_dir/partial/<id>.part; once complete
    and verified the file moves into the library and becomes a completed job with one file."""

    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_key)
    invite_id: Mapped[int | None] = mapped_column(ForeignKey("invites.id", ondelete="CASCADE"), index=True)
    guest_session_id: Mapped[str | None] = mapped_column(
        ForeignKey("guest_sessions.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    filename: Mapped[str] = mapped_column(String(255))
    mime: Mapped[str | None] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    chunk_size: Mapped[int] = mapped_column(Integer)
    received: Mapped[int] = mapped_column(BigInteger, default=0)  # bytes stored, always whole chunks
    status: Mapped[str] = mapped_column(String(16), default=UPLOADING)
    sha256: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(String(500))
    # The completed job that holds the stored file, or the existing one it duplicates.
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
