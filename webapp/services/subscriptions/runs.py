"""Running subscriptions: the scheduler's pass, one run's start, and what a run queues.

A run is a collection job (webapp/services/queue/collections.py) with the run's id on it: the
worker lists the source, `expand_run` keeps the items the subscription has never seen that
pass its filters (up to its maximum per run), queues them as the job's children and records
every item it looked at in the subscription's archive, all in one transaction. When the
children are done the collection is, and with it the run (collections._follow_run).

The schedule lives in the database. `fire_due` claims each due subscription with a
compare-and-set of its next_run_at, so two workers (or two hosts) passing at once start a run
once; the next time is counted from now, so a run missed while Haul was down runs once, not
once per missed slot. A run falling due while the previous one still lists or downloads is
recorded as skipped.
"""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import delete, insert, select, update

from webapp.core.item_filters import Filters, Item
from webapp.core.listings import Listing
from webapp.core.schedules import Schedule, ScheduleProblem, schedule_from_columns
from webapp.core.urls import UrlProblem, normalise_url
from webapp.core.vocabulary import ADMIN_TRUST, COLLECTION, FAILED, QUEUED, SUBSCRIPTION, USER_TRUST
from webapp.extensions import db
from webapp.models import Job, Submission, Subscription, SubscriptionItem, SubscriptionRun, User
from webapp.models.base import utcnow
from webapp.models.subscription import (
    FIRST_RUN_ALL,
    FIRST_RUN_NEWEST,
    FIRST_RUN_ONLY_NEW,
    RUN_ACTIVE,
    RUN_DOWNLOADING,
    RUN_FAILED,
    RUN_LISTING,
    RUN_SKIPPED,
    TRIGGER_MANUAL,
    TRIGGER_SCHEDULE,
)
from webapp.services.notifications import news as notification_news
from webapp.services.queue import collections, dispatch, events

log = logging.getLogger(__name__)

# Subscriptions' jobs wait behind what people send by hand (priority 0): a channel's backlog
# never holds up a link someone is waiting for.
RUN_PRIORITY = -5
# A new subscription told to fetch "the newest N" without saying N.
DEFAULT_FIRST_RUN_COUNT = 5
# The most subscriptions one scheduler pass starts; the rest are still due at the next pass.
PASS_LIMIT = 1000


def schedule_of(subscription: Subscription) -> Schedule:
    return schedule_from_columns(subscription.schedule_kind, subscription.cron, subscription.interval_seconds)


def filters_of(subscription: Subscription) -> Filters:
    return Filters(
        published_after=subscription.published_after, within_days=subscription.within_days,
        title_include=subscription.title_include, title_exclude=subscription.title_exclude,
        min_duration=subscription.min_duration, max_duration=subscription.max_duration,
        skip_live=subscription.skip_live, skip_shorts=subscription.skip_shorts,
    )


def item_identity(item: Item) -> str | None:
    """The archive's key of an item: its identity, or its normalised URL when the listing gave none."""
    if item.item_key:
        return item.item_key[:300]
    try:
        return ("url:" + normalise_url(item.url))[:300]
    except UrlProblem:
        return None


# -- the scheduler --------------------------------------------------------------------------------

def fire_due(now: datetime | None = None) -> list[int]:
    """Start a run of every enabled subscription whose time has come; returns the runs' ids.

    Each subscription is claimed by moving its next_run_at on only if it still holds the value
    read (compare-and-set), in the transaction that starts its run: whoever else passes at the
    same moment finds nothing to claim.
    """
    now = now or utcnow()
    due = db.session.execute(
        select(Subscription.id, Subscription.next_run_at)
        .where(Subscription.enabled.is_(True), Subscription.next_run_at <= now)
        .order_by(Subscription.next_run_at, Subscription.id).limit(PASS_LIMIT)
    ).all()
    db.session.rollback()
    started = []
    for subscription_id, due_at in due:
        subscription = db.session.get(Subscription, subscription_id)
        try:
            following = schedule_of(subscription).next_after(now)
        except (ScheduleProblem, ValueError) as exc:  # a stored schedule that no longer parses
            log.error("subscription %s has a broken schedule (%s): disabled", subscription_id, exc)
            subscription.enabled = False
            db.session.commit()
            continue
        claimed = db.session.execute(
            update(Subscription)
            .where(Subscription.id == subscription_id, Subscription.next_run_at == due_at,
                   Subscription.enabled.is_(True))
            .values(next_run_at=following)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not claimed:
            db.session.rollback()  # another worker started this one
            continue
        run = _start(subscription, TRIGGER_SCHEDULE, now)
        db.session.commit()
        started.append(run.id)
    if started:
        dispatch.top_up()
    return started


def next_due() -> datetime | None:
    """When the next enabled subscription falls due (the dashboard's "next scheduled run")."""
    return db.session.scalar(select(Subscription.next_run_at).where(Subscription.enabled.is_(True))
                             .order_by(Subscription.next_run_at).limit(1))


# -- one run --------------------------------------------------------------------------------------

def run_now(subscription: Subscription, trigger: str = TRIGGER_MANUAL) -> SubscriptionRun:
    """Start a run at once ("check now"), or record it as skipped while one is going; commits."""
    run = _start(subscription, trigger, utcnow())
    db.session.commit()
    if run.status != RUN_SKIPPED:
        dispatch.top_up()
    return run


def active_run(subscription_id: int) -> SubscriptionRun | None:
    return db.session.scalar(select(SubscriptionRun).where(
        SubscriptionRun.subscription_id == subscription_id, SubscriptionRun.status.in_(RUN_ACTIVE))
        .order_by(SubscriptionRun.id.desc()).limit(1))


def _start(subscription: Subscription, trigger: str, now: datetime) -> SubscriptionRun:
    """A run of `subscription` (uncommitted): skipped while another is active, else listing with
    its collection job queued."""
    subscription.last_run_at = now
    running = active_run(subscription.id)
    if running is not None:
        run = SubscriptionRun(subscription_id=subscription.id, trigger=trigger, status=RUN_SKIPPED,
                              started_at=now, finished_at=now,
                              error=f"Run {running.id} was still {running.status}: this one was skipped")
        db.session.add(run)
        db.session.flush()
        _publish(events.RUN_SKIPPED, subscription, run)
        return run
    run = SubscriptionRun(subscription_id=subscription.id, trigger=trigger, status=RUN_LISTING, started_at=now)
    db.session.add(run)
    owner = db.session.get(User, subscription.user_id) if subscription.user_id is not None else None
    submission = Submission(
        post_title=subscription.post_title or subscription.name, label=f"Subscription: {subscription.name}"[:300],
        source=SUBSCRIPTION, user_id=subscription.user_id, submitted_via=SUBSCRIPTION,
        requested_engine=subscription.engine,
        trust=ADMIN_TRUST if owner is None or owner.role == "admin" else USER_TRUST,
        items=[{"url": subscription.url}], created_at=now,
    )
    db.session.add(submission)
    db.session.flush()
    job = Job(
        submission_id=submission.id, url=subscription.url, domain=subscription.domain,
        dedupe_key=None,  # a run lists again whatever ran before: its archive decides what is new
        requested_engine=subscription.engine, preset=subscription.preset, source=SUBSCRIPTION,
        user_id=subscription.user_id, status=QUEUED, priority=RUN_PRIORITY, title=subscription.name[:500],
        subscription_run_id=run.id, collection_options={"folder": True}, created_at=now, updated_at=now,
    )
    db.session.add(job)
    db.session.flush()
    run.job_id = job.id
    events.publish_submitted([events.submitted_event_row(
        submission_id=submission.id, user_id=submission.user_id, token_id=None, post_title=submission.post_title,
        label=submission.label, urls=[job.url], queued_at=now, job_ids=[job.id])])
    _publish(events.RUN_STARTED, subscription, run)
    return run


def expand_run(job_id: int, listing: Listing, base_folder: str | None) -> collections.Expanded:
    """The worker listed a run's source: queue what is new, record what was seen (one transaction)."""
    job = db.session.get(Job, job_id)
    run = db.session.get(SubscriptionRun, job.subscription_run_id)
    subscription = db.session.get(Subscription, run.subscription_id)
    now = utcnow()
    plan = plan_items(subscription, listing.entries, now, first=_is_first_run(subscription, run))
    run.found, run.new, run.queued = plan.found, len(plan.new), len(plan.queue)
    run.status = RUN_DOWNLOADING

    def record(parent: Job, children: list[dict]) -> None:
        by_url = {child["url"]: child for child in children}
        rows = []
        for item in plan.queue:
            child = _child_for(item, by_url)
            job_of_item = None
            if child is not None:
                job_of_item = child["duplicate_of_id"] or child["id"]
            rows.append(_archive_row(subscription.id, item, job_of_item, now))
        rows.extend(_archive_row(subscription.id, item, None, now) for item in plan.seen_only)
        _write_archive(subscription.id, rows)
        _publish(events.RUN_FOUND, subscription, run)

    return collections.expand(job_id, listing, base_folder=base_folder, picked=plan.queue, url_dedupe=False, within=record)


def _child_for(item: Item, by_url: dict[str, dict]) -> dict | None:
    try:
        return by_url.get(normalise_url(item.url))
    except UrlProblem:
        return None


def _archive_row(subscription_id: int, item: Item, job_id: int | None, now: datetime) -> dict:
    return {"subscription_id": subscription_id, "item_key": item_identity(item), "url": item.url[:2000],
            "title": (item.title or "")[:500] or None, "job_id": job_id, "seen_at": now, "error": None}


def _write_archive(subscription_id: int, rows: list[dict]) -> None:
    """Insert or refresh archive rows (an item retried after its job failed gets the new job)."""
    if not rows:
        return
    keys = [row["item_key"] for row in rows]
    db.session.execute(delete(SubscriptionItem).where(SubscriptionItem.subscription_id == subscription_id,
                                                      SubscriptionItem.item_key.in_(keys)))
    db.session.execute(insert(SubscriptionItem), rows)


class Plan:
    """What one run does with a listing: found, new (unseen and passing the filters), what it
    queues (new, up to the maximum), and what it only marks as seen (a first run's backlog)."""

    def __init__(self, found: int, new: list[Item], queue: list[Item], seen_only: list[Item], skipped: dict):
        self.found, self.new, self.queue, self.seen_only, self.skipped = found, new, queue, seen_only, skipped


def plan_items(subscription: Subscription, entries: list[Item], now: datetime, *, first: bool) -> Plan:
    """Decide, without writing, what a run of `subscription` does with these listed entries.

    Also the preview's answer ("this would fetch 12 items now"). Items whose earlier job
    failed count as never downloaded: they are new again.
    """
    filters = filters_of(subscription)
    unique: list[tuple[str, Item]] = []
    seen_keys: set[str] = set()
    for item in entries:
        key = item_identity(item)
        if key is None or key in seen_keys:
            continue
        seen_keys.add(key)
        unique.append((key, item))
    archived = _archived(subscription.id, [key for key, _ in unique]) if subscription.id else set()
    new, skipped = [], {}
    for key, item in unique:
        if key in archived:
            continue
        reason = filters.check(item, now)
        if reason is not None:
            skipped[item.url] = reason
            continue
        new.append(item)
    seen_only: list[Item] = []
    limit = subscription.max_items
    if first and subscription.first_run == FIRST_RUN_ONLY_NEW:
        queue, seen_only = [], [item for key, item in unique if key not in archived]
    elif first and subscription.first_run == FIRST_RUN_NEWEST:
        count = subscription.first_run_count or limit or DEFAULT_FIRST_RUN_COUNT
        queue = new[:count]
        queued = {id(item) for item in queue}
        seen_only = [item for key, item in unique if key not in archived and id(item) not in queued]
    else:  # a later run, or a first run told to fetch everything
        queue = new[:limit] if limit else list(new)
    return Plan(len(unique), new, queue, seen_only, skipped)


def _archived(subscription_id: int, keys: list[str]) -> set[str]:
    """The keys this subscription has seen, except those whose job failed (never downloaded)."""
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        rows = db.session.execute(
            select(SubscriptionItem.item_key, Job.status)
            .outerjoin(Job, Job.id == SubscriptionItem.job_id)
            .where(SubscriptionItem.subscription_id == subscription_id, SubscriptionItem.item_key.in_(chunk)))
        found.update(key for key, status in rows if status != FAILED)
    return found


def _is_first_run(subscription: Subscription, run: SubscriptionRun) -> bool:
    """No earlier run got as far as listing, and nothing is in the archive yet."""
    if subscription.first_run == FIRST_RUN_ALL:
        return False
    earlier = db.session.scalar(select(SubscriptionRun.id).where(
        SubscriptionRun.subscription_id == subscription.id, SubscriptionRun.id != run.id,
        SubscriptionRun.status.not_in((RUN_SKIPPED, RUN_LISTING, RUN_FAILED))).limit(1))
    if earlier is not None:
        return False
    return db.session.scalar(select(SubscriptionItem.id).where(
        SubscriptionItem.subscription_id == subscription.id).limit(1)) is None


def listing_ended(job: Job) -> None:
    """A run's job ended before its listing queued anything (it failed or was cancelled while
    listing): the run failed, with the job's error (the caller commits)."""
    if job.subscription_run_id is None or job.kind == COLLECTION:
        return
    run = db.session.get(SubscriptionRun, job.subscription_run_id)
    if run is None or run.status not in RUN_ACTIVE:
        return
    run.status, run.finished_at = RUN_FAILED, utcnow()
    run.error = job.error or f"The run's listing was {job.status}"
    subscription = db.session.get(Subscription, run.subscription_id)
    _publish(events.RUN_FAILED, subscription, run)
    notification_news.subscription_failed(subscription, run)


def _publish(kind: str, subscription: Subscription, run: SubscriptionRun) -> None:
    events.publish_queue(kind, user_id=subscription.user_id, **run.event_data(subscription))


def forget(subscription: Subscription, item_keys: list[str] | None = None) -> int:
    """Forget seen items (all when `item_keys` is None): the next run may fetch them again. Commits."""
    query = delete(SubscriptionItem).where(SubscriptionItem.subscription_id == subscription.id)
    if item_keys is not None:
        query = query.where(SubscriptionItem.item_key.in_(item_keys))
    count = db.session.execute(query).rowcount or 0
    db.session.commit()
    return count
