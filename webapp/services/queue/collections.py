"""Collections as jobs: a parent lists a playlist, channel, feed or gallery; a child per entry downloads.

The worker claims the parent like any job and lists its URL (no media downloaded for the
listing). `expand` then queues one child per entry in one transaction with the parent's change
of kind — a crash before the commit leaves the parent to be listed again, after it nothing
is listed twice. From then on the parent occupies no download slot: its status follows its
children (`refresh_parent`, called wherever a child's status changes, and by the watchdog):
downloading while any is waiting or running, then completed, or failed when any failed (the
failed ones retriable as a group), or cancelled when every child was.

Dedupe: a child whose URL is queued, running or downloaded already (the normalised-URL rule
every submission follows), or whose item identity (extractor + id) one of the owner's jobs
already has, is recorded as a completed child pointing at that job (`duplicate_of_id`), so the
parent's count is whole and nothing is fetched twice.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath
from typing import Callable

from sqlalchemy import and_, bindparam, case, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from webapp.core.item_filters import Item
from webapp.core.listings import Listing, Options
from webapp.core.urls import UrlProblem, domain_of, normalise_url
from webapp.core.vocabulary import (
    CANCELLED,
    COLLECTION,
    COMPLETED,
    DEDUPE_STATUSES,
    DOWNLOADING,
    FAILED,
    ITEM,
    PAUSED,
    QUEUED,
)
from webapp.extensions import db
from webapp.models import Job, Subscription, SubscriptionRun
from webapp.models.base import utcnow
from webapp.models.subscription import RUN_ACTIVE, RUN_COMPLETED, RUN_DOWNLOADING, RUN_FAILED
from webapp.services.notifications import news as notification_news
from webapp.services.queue import dispatch, events

# Children's ranks sit just after their parent's, in order: they are claimed in the
# collection's order, at the place in the queue the collection was sent.
RANK_STEP = 1e-6
# The most children one collection queues (a channel of 50,000 videos is taken 10,000 at a
# time: its subscription's later runs take the rest).
MAX_CHILDREN = 10_000
ACTIVE = (QUEUED, PAUSED, DOWNLOADING)


@dataclass
class Expanded:
    """What expanding a collection queued: its children's ids in order, and the duplicates among them."""

    child_ids: list[int]
    duplicates: int


def expand(job_id: int, listing: Listing, *, base_folder: str | None, picked: list[Item] | None = None,
           url_dedupe: bool = True, within: Callable[[Job, list[dict]], None] | None = None) -> Expanded:
    """Queue `picked` (default: the entries the parent's options take) as children of job `job_id`.

    `base_folder` (relative to the storage root) is where the children write, None for the
    usual <post_title>/<domain>. `url_dedupe` False leaves URL dedupe to the caller (a
    subscription's own archive decides, so two people following one channel each get its
    items). `within(parent, children)` runs in the same transaction, after the children are
    written (a subscription's archive and run counters). A racing submission of one of the URLs
    trips the unique dedupe index: the whole expansion is tried again.
    """
    for attempt in range(3):
        try:
            return _expand_once(job_id, listing, base_folder, picked, url_dedupe, within)
        except IntegrityError:
            db.session.rollback()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _expand_once(job_id, listing, base_folder, picked, url_dedupe, within) -> Expanded:
    parent = db.session.get(Job, job_id, populate_existing=True)
    options = Options.from_json(parent.collection_options)
    entries = (picked if picked is not None else options.pick(listing.entries))[:MAX_CHILDREN]
    now = utcnow()
    children = _child_rows(parent, entries, options, base_folder, url_dedupe, now)
    created = []
    if children:
        statement = insert(Job.__table__).returning(Job.__table__.c.id, sort_by_parameter_order=True)
        created = [row.id for row in db.session.connection().execute(statement, children)]
    for child, child_id in zip(children, created):
        child["id"] = child_id
    parent.kind = COLLECTION
    parent.title = (listing.title or parent.title or "")[:500] or None
    if base_folder:
        parent.resource_id = PurePosixPath(base_folder).name[:200]
    parent.items_total, parent.items_done = len(children), 0
    parent.bytes_done, parent.bytes_total = 0, None
    parent.current_file = parent.speed = parent.eta = None
    parent.worker_tag = parent.heartbeat_at = None  # no worker holds a collection: it follows its children
    if within is not None:
        within(parent, children)
    # One event for the lot: live views redraw the parent (its count) and read its children
    # when shown; an event per child would be 1,000 rows and 1,000 frames for every open stream.
    events.publish_job(events.STATUS, parent, children=len(children))
    notification_news.new_items(parent, sum(1 for child in children if child["status"] == QUEUED))
    _follow(parent, now)
    db.session.commit()
    if any(child["status"] == QUEUED for child in children):
        dispatch.top_up()
    return Expanded(created, sum(1 for child in children if child["duplicate_of_id"] is not None))


def _child_rows(parent: Job, entries: list[Item], options: Options, base_folder, url_dedupe: bool,
                now: datetime) -> list[dict]:
    urls: list[tuple[Item, str]] = []
    seen: set[str] = set()
    for item in entries:
        try:
            url = normalise_url(item.url)
        except UrlProblem:
            continue  # an entry that is no downloadable link (a tool's internal id)
        key = item.item_key or url
        if key in seen or url in seen:
            continue  # listed twice
        seen.update((key, url))
        urls.append((item, url))
    by_url = _holders_by_url([url for _, url in urls]) if url_dedupe else {}
    by_key = _holders_by_key([item.item_key for item, _ in urls if item.item_key], parent.user_id)
    rows = []
    for position, (item, url) in enumerate(urls, start=1):
        holder = by_key.get(item.item_key) if item.item_key else None
        holder = holder or by_url.get(url)
        rows.append({
            "submission_id": parent.submission_id,
            "url": url,
            "domain": domain_of(url),
            "dedupe_key": url if (url_dedupe and holder is None) else None,
            "requested_engine": parent.requested_engine,
            "priority": parent.priority,
            "rank": parent.rank + position * RANK_STEP,
            "preset": parent.preset,
            "run_now": parent.run_now,  # a collection started "now" starts its entries now too
            "source": parent.source,
            "user_id": parent.user_id,
            "token_id": parent.token_id,
            "status": COMPLETED if holder is not None else QUEUED,
            "title": (item.title or "")[:500] or None,
            "kind": ITEM,
            "parent_id": parent.id,
            "position": position,
            "item_key": item.item_key,
            "duplicate_of_id": holder,
            "base_folder": base_folder,
            "name_prefix": options.name_prefix(position, len(urls)),
            "error": None,
            "attempts": 0,
            "bytes_done": 0,
            "items_done": 0,
            "cancel_requested": False,
            "created_at": now,
            "updated_at": now,
            "finished_at": now if holder is not None else None,
        })
    return rows


def _holders_by_url(urls: list[str]) -> dict[str, int]:
    """The job each URL is queued, running or downloaded as (the submit path's rule)."""
    found: dict[str, int] = {}
    for start in range(0, len(urls), 500):
        chunk = urls[start:start + 500]
        rows = db.session.execute(
            select(Job.url, Job.id).where(Job.url.in_(chunk), Job.status.in_(DEDUPE_STATUSES),
                                          Job.duplicate_of_id.is_(None), Job.kind == ITEM).order_by(Job.id))
        found.update({url: job_id for url, job_id in rows})
    return found


def _holders_by_key(keys: list[str], user_id: int | None) -> dict[str, int]:
    """The owner's job holding each item identity (queued, running or downloaded)."""
    found: dict[str, int] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        rows = db.session.execute(
            select(Job.item_key, Job.id).where(Job.item_key.in_(chunk), _same_owner(user_id),
                                               Job.status.in_(DEDUPE_STATUSES), Job.duplicate_of_id.is_(None))
            .order_by(Job.id))
        found.update({key: job_id for key, job_id in rows})
    return found


def _same_owner(user_id: int | None):
    return Job.user_id.is_(None) if user_id is None else Job.user_id == user_id


# -- identity of a single item, decided by the worker once the tool has extracted it -----------

def claim_identity(job_id: int, item_key: str) -> int | None:
    """Record `item_key` as job `job_id`'s identity, unless another of the owner's jobs holds it
    (queued, running or downloaded): then that job's id, and nothing is recorded.

    One UPDATE … WHERE NOT EXISTS: of two jobs of one item racing, one records it (SQLite
    writes one statement at a time), the other learns it is a duplicate.
    """
    job = db.session.get(Job, job_id)
    other = Job.__table__.alias("other")
    owner = other.c.user_id.is_(None) if job.user_id is None else other.c.user_id == job.user_id
    holder_query = (select(other.c.id)
                    .where(other.c.item_key == item_key, owner, other.c.id != job_id,
                           other.c.status.in_(DEDUPE_STATUSES), other.c.duplicate_of_id.is_(None),
                           other.c.kind == ITEM)
                    .order_by(other.c.id).limit(1))
    written = db.session.execute(
        update(Job).where(Job.id == job_id, ~holder_query.exists()).values(item_key=item_key[:300])
        .execution_options(synchronize_session=False)).rowcount
    holder = None if written else db.session.scalar(holder_query)
    db.session.commit()
    return holder


# -- the parent follows its children -------------------------------------------------------------

@functools.cache
def _counts_query():
    jobs = Job.__table__
    duplicate = case((jobs.c.duplicate_of_id.is_not(None), 1), else_=0)
    return (select(jobs.c.status, func.count(), func.coalesce(func.sum(jobs.c.bytes_done), 0), func.sum(duplicate))
            .where(jobs.c.parent_id == bindparam("parent_id")).group_by(jobs.c.status))


def refresh_parent(parent_id: int | None, now: datetime | None = None) -> Job | None:
    """Bring a collection's status and counts in line with its children (the caller commits).

    Call it in the transaction that changed a child's status; it publishes an event for the
    parent when something it shows changed.
    """
    if parent_id is None:
        return None
    parent = db.session.get(Job, parent_id)
    if parent is None or parent.kind != COLLECTION:
        return parent
    _follow(parent, now or utcnow())
    return parent


def _follow(parent: Job, now: datetime) -> None:
    db.session.flush()
    counts: dict[str, int] = {}
    size = duplicates = 0
    for status, count, bytes_done, duplicated in db.session.connection().execute(
            _counts_query(), {"parent_id": parent.id}):
        counts[status] = count
        size += bytes_done or 0
        duplicates += duplicated or 0
    before = (parent.status, parent.items_done, parent.items_total, parent.error)
    summary = parent.follow_children(counts, size, duplicates, now)
    if (parent.status, parent.items_done, parent.items_total, parent.error) != before:
        kind = {COMPLETED: events.COMPLETED, FAILED: events.FAILED, CANCELLED: events.CANCELLED}.get(
            parent.status, events.PROGRESS)
        events.publish_job(kind, parent, children=summary)
        if parent.status != before[0]:
            notification_news.job_finished(parent)  # completed or failed: its owner's targets hear of it
        if parent.subscription_run_id is not None:
            _follow_run(parent, summary, now)


def _follow_run(parent: Job, summary: dict, now: datetime) -> None:
    """A subscription's run is over when its collection is: its counts and status, from the children's."""
    run = db.session.get(SubscriptionRun, parent.subscription_run_id)
    if run is None or run.status not in RUN_ACTIVE:
        return
    run.downloaded = summary["completed"] - summary["duplicates"]
    run.failed = summary["failed"]
    if parent.status in (COMPLETED, FAILED, CANCELLED):
        run.status = RUN_FAILED if parent.status == FAILED and summary["completed"] == 0 else RUN_COMPLETED
        if parent.status == FAILED and run.error is None:
            run.error = parent.error
        run.finished_at = now
        subscription = db.session.get(Subscription, run.subscription_id)
        kind = events.RUN_FAILED if run.status == RUN_FAILED else events.RUN_FINISHED
        events.publish_queue(kind, user_id=subscription.user_id, **run.event_data(subscription))
        if run.status == RUN_FAILED:
            notification_news.subscription_failed(subscription, run)
    else:
        run.status = RUN_DOWNLOADING


def refresh_stale_parents() -> int:
    """The watchdog's safety net: collections still downloading whose children have all finished
    (a child changed by a path that did not refresh its parent). Returns how many changed."""
    children = Job.__table__.alias("child")
    stale = db.session.scalars(
        select(Job).where(Job.kind == COLLECTION, Job.status == DOWNLOADING,
                          ~select(children.c.id).where(and_(children.c.parent_id == Job.id,
                                                            children.c.status.in_(ACTIVE))).exists())
    ).all()
    for parent in stale:
        _follow(parent, utcnow())
    db.session.commit()
    return len(stale)


# -- acting on a whole collection -----------------------------------------------------------------

def children_of(parent_id: int, statuses=None) -> list[Job]:
    query = select(Job).where(Job.parent_id == parent_id)
    if statuses:
        query = query.where(Job.status.in_(statuses))
    return list(db.session.scalars(query.order_by(Job.position, Job.id)))


def cancel_children(parent: Job) -> int:
    """Cancel what has not finished: waiting children at once, running ones asked to stop (the
    caller commits). Returns how many were touched."""
    touched = 0
    for child in children_of(parent.id, ACTIVE):
        if child.status == DOWNLOADING:
            child.request_cancel()
        else:
            child.cancel()
            events.publish_job(events.CANCELLED, child)
        touched += 1
    _follow(parent, utcnow())
    return touched


def failed_children(parent: Job) -> list[Job]:
    return children_of(parent.id, (FAILED, CANCELLED))
