"""The event log: one row per change, read in id order by every live view."""
from datetime import datetime

from sqlalchemy import JSON, BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.models.base import UTCDateTime, utcnow


class Event(db.Model):
    __tablename__ = "events"

    # BigInteger on PostgreSQL, INTEGER PRIMARY KEY (the rowid, monotonic) on SQLite.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    type: Mapped[str] = mapped_column(String(32))
    submission_id: Mapped[str | None] = mapped_column(String(36))
    job_id: Mapped[int | None] = mapped_column()
    user_id: Mapped[int | None] = mapped_column()
    # The personal token behind the job or submission (see Job.token_id); None otherwise.
    token_id: Mapped[int | None] = mapped_column()
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
