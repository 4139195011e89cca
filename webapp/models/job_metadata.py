"""What the extractor knew about a job's item: searchable and shown in the history."""
from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db


class JobMetadata(db.Model):
    """One row per job that learnt anything: the tool's fields, trimmed to their columns.

    A table of its own rather than columns of `jobs`: most jobs are written many times while
    they run (progress), and this text is written once, when the job finishes. On SQLite an
    FTS5 table (`job_metadata_search`) indexes uploader, tags and description for the history's
    search."""

    __tablename__ = "job_metadata"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    uploader: Mapped[str | None] = mapped_column(String(300), index=True)
    channel: Mapped[str | None] = mapped_column(String(300))
    upload_date: Mapped[str | None] = mapped_column(String(10), index=True)  # YYYY-MM-DD
    duration: Mapped[float | None] = mapped_column(Float)  # seconds
    description: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[str | None] = mapped_column(Text)  # one tag per line
    view_count: Mapped[int | None] = mapped_column(BigInteger)
    webpage_url: Mapped[str | None] = mapped_column(String(2000))
    extractor: Mapped[str | None] = mapped_column(String(60))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    vcodec: Mapped[str | None] = mapped_column(String(60))
    acodec: Mapped[str | None] = mapped_column(String(60))
    container: Mapped[str | None] = mapped_column(String(20))
    gallery_title: Mapped[str | None] = mapped_column(String(500))  # a gallery item's gallery
    item_date: Mapped[str | None] = mapped_column(String(25))  # a gallery item's own date (ISO 8601)
    extra: Mapped[dict | None] = mapped_column(JSON)  # album, artist, track, chapters … as the tool said

    @property
    def tag_list(self) -> list[str]:
        return [tag for tag in (self.tags or "").split("\n") if tag]
