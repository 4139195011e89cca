"""Subscriptions: a collection followed on a schedule, its runs, and the items it has seen."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.base import UTCDateTime, utcnow

# What a new subscription's first run does with the items the source already has.
FIRST_RUN_ONLY_NEW = "only_new"  # mark them all as seen: only items published later are fetched
FIRST_RUN_NEWEST = "newest"  # fetch the newest N (first_run_count), mark the rest as seen
FIRST_RUN_ALL = "all"  # fetch everything (within the filters and the per-run maximum)
FIRST_RUN_CHOICES = (FIRST_RUN_ONLY_NEW, FIRST_RUN_NEWEST, FIRST_RUN_ALL)

# How a run was started.
TRIGGER_SCHEDULE, TRIGGER_MANUAL = "schedule", "manual"
TRIGGERS = (TRIGGER_SCHEDULE, TRIGGER_MANUAL)

# A run's life: listing (its parent job lists the source) → downloading (children queued) →
# completed | failed; or skipped (fell due while the previous run was still going).
RUN_LISTING, RUN_DOWNLOADING = "listing", "downloading"
RUN_COMPLETED, RUN_FAILED, RUN_SKIPPED = "completed", "failed", "skipped"
RUN_ACTIVE = (RUN_LISTING, RUN_DOWNLOADING)
RUN_STATUSES = (RUN_LISTING, RUN_DOWNLOADING, RUN_COMPLETED, RUN_FAILED, RUN_SKIPPED)


class Subscription(db.Model):
    """A channel, playlist, profile, gallery or feed followed on a schedule."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        # The scheduler's one query: the enabled subscriptions whose time has come.
        Index("ix_subscriptions_due", "enabled", "next_run_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(2000))
    domain: Mapped[str] = mapped_column(String(255))
    # The schedule: a cron expression (UTC) or a fixed interval (webapp/core/schedules.py).
    schedule_kind: Mapped[str] = mapped_column(String(8))
    cron: Mapped[str | None] = mapped_column(String(120))
    interval_seconds: Mapped[int | None] = mapped_column(Integer)
    engine: Mapped[str | None] = mapped_column(String(16))
    preset: Mapped[str | None] = mapped_column(String(16))
    post_title: Mapped[str | None] = mapped_column(String(300))
    # Filters (webapp/core/item_filters.py) and the most new items one run queues.
    max_items: Mapped[int | None] = mapped_column(Integer)
    published_after: Mapped[date | None] = mapped_column(Date)
    within_days: Mapped[int | None] = mapped_column(Integer)
    title_include: Mapped[str | None] = mapped_column(String(200))
    title_exclude: Mapped[str | None] = mapped_column(String(200))
    min_duration: Mapped[int | None] = mapped_column(Integer)
    max_duration: Mapped[int | None] = mapped_column(Integer)
    skip_live: Mapped[bool] = mapped_column(Boolean, default=True)
    skip_shorts: Mapped[bool] = mapped_column(Boolean, default=False)
    first_run: Mapped[str] = mapped_column(String(12), default=FIRST_RUN_NEWEST)
    first_run_count: Mapped[int | None] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # When the scheduler starts the next run; claimed by compare-and-set so it starts once.
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    runs: Mapped[list[SubscriptionRun]] = relationship(
        back_populates="subscription", cascade="all, delete-orphan", passive_deletes=True,
        order_by="SubscriptionRun.id.desc()")


class SubscriptionRun(db.Model):
    """One check of a subscription: what it found, queued and downloaded, or why it stopped."""

    __tablename__ = "subscription_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True)
    trigger: Mapped[str] = mapped_column(String(12), default=TRIGGER_SCHEDULE)
    status: Mapped[str] = mapped_column(String(12), default=RUN_LISTING, index=True)
    # The collection job that lists the source and parents the new items (none when skipped).
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    found: Mapped[int] = mapped_column(Integer, default=0)  # items the listing had
    new: Mapped[int] = mapped_column(Integer, default=0)  # never seen before and passing the filters
    queued: Mapped[int] = mapped_column(Integer, default=0)  # queued as jobs (new, up to the maximum)
    downloaded: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)

    subscription: Mapped[Subscription] = relationship(back_populates="runs")

    def event_data(self, subscription: Subscription) -> dict:
        """What the run's live events carry (webapp/services/queue/events.py RUN_EVENTS)."""
        return {"subscription_id": subscription.id, "subscription": subscription.name, "run_id": self.id,
                "status": self.status, "trigger": self.trigger, "job_id": self.job_id, "found": self.found,
                "new": self.new, "queued": self.queued, "downloaded": self.downloaded, "failed": self.failed,
                "error": self.error}


class SubscriptionItem(db.Model):
    """An item a subscription has seen: the archive that keeps a run from fetching it again.

    Kept in the database, not a text file, and apart from the files: deleting a download does
    not bring its item back; forgetting the item (or all of them) does.
    """

    __tablename__ = "subscription_items"
    __table_args__ = (UniqueConstraint("subscription_id", "item_key", name="uq_subscription_items_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    item_key: Mapped[str] = mapped_column(String(300))
    url: Mapped[str] = mapped_column(String(2000))
    title: Mapped[str | None] = mapped_column(String(500))
    # The job that fetched it; None when it was only marked as seen (a first run's older items).
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), index=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    error: Mapped[str | None] = mapped_column(Text)
