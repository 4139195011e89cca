"""Events: one row per change, written in the same transaction as the change.

Writers call `publish()` before they commit. Each web process runs one `EventHub`: a single
poller that reads new rows in id order and hands them to every subscriber (WebSocket and
SSE clients), so a thousand open streams cost one query every poll interval. A commit in the
web process wakes the poller at once (`EventHub.wake`), so what the web itself changed reaches
the streams without waiting out the interval; other processes' and hosts' commits wake it
through Redis or LISTEN/NOTIFY (event_wakeups.py), and the poll finds them anyway. On
PostgreSQL the hub delivers in id order even though transactions commit out of it (EventHub).
"""
from __future__ import annotations

import functools
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app, has_app_context
from sqlalchemy import bindparam, delete, func, insert, select, text
from sqlalchemy import event as orm_event

from webapp.extensions import db
from webapp.models import Event, Job
from webapp.models.base import isoformat, utcnow

log = logging.getLogger(__name__)

# Event types
QUEUED = "queued"  # a submission was accepted
PROGRESS = "progress"
STATUS = "status"  # a job changed status (downloading, queued again for a retry, …)
COMPLETED, FAILED, CANCELLED = "completed", "failed", "cancelled"
CLEARED = "cleared"  # a job left the queue page (history keeps it)
# Queue-wide changes (no job_id): live views redraw the list and the counts.
REORDERED, CLEARED_MANY = "reordered", "cleared_many"
QUEUE_PAUSED, QUEUE_RESUMED = "queue_paused", "queue_resumed"
QUEUE_EVENTS = (REORDERED, CLEARED_MANY, QUEUE_PAUSED, QUEUE_RESUMED)
# The disk guard (services/queue/disk_guard.py) stopped new jobs, or let them start again: queue-wide,
# the queue page's toolbar shows or drops its banner. Data: tripped, reason, free_bytes, threshold_bytes, message.
DISK_GUARD_TRIPPED, DISK_GUARD_CLEARED = "disk_guard_tripped", "disk_guard_cleared"
QUEUE_EVENTS += (DISK_GUARD_TRIPPED, DISK_GUARD_CLEARED)
# A subscription's run: started, found its new items (queued as children), finished, failed, or
# skipped because the previous one was still going. Told to the subscription's owner (and admins).
RUN_STARTED, RUN_FOUND, RUN_FINISHED = "run_started", "run_found", "run_finished"
RUN_FAILED, RUN_SKIPPED = "run_failed", "run_skipped"
RUN_EVENTS = (RUN_STARTED, RUN_FOUND, RUN_FINISHED, RUN_FAILED, RUN_SKIPPED)
# A user's sign-ins changed (password, reset, role, deletion): their open streams check whether
# they may go on (webapp/streams.py). Never shown to a client.
ACCESS_CHANGED = "access_changed"
INTERNAL_EVENTS = (ACCESS_CHANGED,)
# A library rescan (webapp/services/library/rescan.py) was asked for, made progress or finished:
# the data is the rescan's status and counts. Admins' streams only (no user_id: no user's view
# passes it), and the Settings page's library section shows it live.
RESCAN_PROGRESS, RESCAN_FINISHED = "rescan_progress", "rescan_finished"
RESCAN_EVENTS = (RESCAN_PROGRESS, RESCAN_FINISHED)

# -- the library's events --
# The worker made a finished job's thumbnails: the history page redraws the job's entry with them
# (its placeholders become images). Published after the job's own events, in a short transaction.
THUMBNAILS = "thumbnails"


def job_snapshot(job: Job) -> dict:
    """What live views need to redraw a job without asking again."""
    return {
        "job_id": job.id,
        "download_id": job.submission_id,
        "url": job.url,
        "status": job.status,
        "engine": job.engine,
        "title": job.title,
        "progress": progress_of(job),
        "error": job.error,
        "attempts": job.attempts,
        # A child of a collection: live views show it inside its parent's row.
        "parent_id": job.parent_id,
    }


def progress_of(job: Job) -> dict:
    return {
        "percent": job.percent,
        "bytes_done": job.bytes_done,
        "bytes_total": job.bytes_total,
        "speed": job.speed,
        "eta": job.eta,
        "items_done": job.items_done,
        "items_total": job.items_total,
        "current_file": job.current_file,
    }


def job_event_row(kind: str, job: Job, **extra) -> dict:
    """The events row recording a change of `job`, for a Core INSERT."""
    data = job_snapshot(job)
    data.update(extra)
    return {"type": kind, "job_id": job.id, "submission_id": job.submission_id, "user_id": job.user_id,
            "token_id": job.token_id, "data": data, "created_at": utcnow()}


def publish_job(kind: str, job: Job, **extra) -> Event:
    """Record a change of `job` (the caller commits)."""
    event = Event(**job_event_row(kind, job, **extra))
    db.session.add(event)
    return event


def publish_queue(kind: str, user_id: int | None = None, **data) -> None:
    """Record a queue-wide change (the caller commits); `user_id` limits who is told."""
    db.session.add(Event(type=kind, user_id=user_id, data=data, created_at=utcnow()))


def publish_access_changed(user_id: int) -> None:
    """Record that `user_id`'s sign-ins changed (the caller commits)."""
    db.session.add(Event(type=ACCESS_CHANGED, user_id=user_id, data={}, created_at=utcnow()))


@functools.cache
def _insert_event():
    return insert(Event.__table__)  # built once: the hot submit path (see submissions._statements)


def submitted_event_row(*, submission_id, user_id, token_id, post_title, label, urls, queued_at, job_ids) -> dict:
    """The events row saying a submission was queued, naming its new jobs.

    One row for the whole submission, however many links: live views learn the new jobs from
    `job_ids`, and each job's own events start when a worker claims it.
    """
    return {
        "type": QUEUED,
        "submission_id": submission_id,
        "job_id": None,
        "user_id": user_id,
        "token_id": token_id,
        "data": {
            "download_id": submission_id,
            "post_title": post_title,
            "label": label,
            "urls": urls,
            "queued_at": isoformat(queued_at),
            "job_ids": job_ids,
        },
        "created_at": queued_at,
    }


def publish_submitted(rows: list[dict]) -> None:
    """Record submissions (rows from submitted_event_row; the caller commits), in Core with
    bound parameters: one cached statement on the hot submit path."""
    db.session.connection().execute(_insert_event(), rows)


def newest_event_id() -> int:
    """The highest event id committed so far (on PostgreSQL some lower ids may still commit)."""
    return db.session.scalar(select(func.max(Event.id))) or 0


def latest_event_id() -> int:
    """The position a page drawn now has seen: events after it reach it through its stream.

    On PostgreSQL that is the web process's hub's in-order position (everything up to it has
    been delivered or will never come; see EventHub), not max(id): a lower id may still be in
    an open transaction, and a page starting after max(id) would never be sent it."""
    hub = _current_hub()
    if hub is not None and hub.ordered:
        hub.start()
        return hub.safe_id
    return newest_event_id()


def replay_ceiling() -> int | None:
    """The highest id a replay (Last-Event-ID) may send: the hub's in-order position on
    PostgreSQL, so that a replay never runs ahead of an event still to come live (the stream
    would then drop that event as already covered); None: no limit (SQLite has one writer)."""
    hub = _current_hub()
    if hub is not None and hub.ordered:
        hub.start()
        return hub.safe_id
    return None


def _current_hub() -> "EventHub | None":
    return current_app.extensions.get("haul_event_hub") if has_app_context() else None


def prune_events(keep: timedelta = timedelta(days=2), keep_rows: int = 100_000) -> int:
    """Drop old events; live views only need the recent window."""
    cutoff_id = newest_event_id() - keep_rows
    result = db.session.execute(
        delete(Event).where((Event.created_at < utcnow() - keep) | (Event.id <= cutoff_id))
    )
    db.session.commit()
    return result.rowcount or 0


@dataclass
class EventRecord:
    """A plain copy of an Event row, safe to hand across threads."""

    id: int
    type: str
    submission_id: str | None
    job_id: int | None
    user_id: int | None
    data: dict
    created_at: str | None = None
    token_id: int | None = None  # the personal token behind the job or submission
    # Frames rendered once per event and shared by every stream that sends it (a thousand
    # clients must not each serialise the same JSON): kind -> text.
    rendered: dict = field(default_factory=dict, compare=False, repr=False)

    def render(self, kind: str, make) -> str:
        """`make(self)`, computed once per record and kind."""
        text = self.rendered.get(kind)
        if text is None:
            text = self.rendered[kind] = make(self)
        return text


def replayable_since(after_id: int, limit: int) -> tuple[list[EventRecord], int] | None:
    """What a page that saw events up to `after_id` missed (oldest first) and the last id they
    cover; None when it cannot be replayed — some of it is gone (pruned) or it is more than
    `limit` events — and the page must be drawn anew instead."""
    oldest = db.session.scalar(select(func.min(Event.id)))
    query = select(Event).where(Event.id > after_id)
    ceiling = replay_ceiling()
    if ceiling is not None:
        query = query.where(Event.id <= ceiling)
    rows = db.session.scalars(query.order_by(Event.id).limit(limit + 1)).all()
    if (oldest is not None and oldest > after_id + 1 and rows) or len(rows) > limit:
        return None
    records = [EventRecord(row.id, row.type, row.submission_id, row.job_id, row.user_id, row.data or {},
                           token_id=row.token_id) for row in rows]
    return records, (rows[-1].id if rows else after_id)


class Subscription:
    """One live stream's place in its hub's shared buffer of recent events.

    Every subscriber reads the same records (nothing is copied per client); each keeps only its
    own position. One that reads too slowly for the buffer is marked `overflowed` and skips to
    the newest records: it must fetch what it missed from the events table (the streams do).
    """

    def __init__(self, hub: "EventHub", position: int, closed: bool = False):
        self.hub = hub
        self.position = position  # the absolute index of the next record this subscriber reads
        self.overflowed = False
        self.closed = closed  # the process is shutting down: end the stream

    def get(self, timeout: float | None = None) -> EventRecord | None:
        """The next record, waiting up to `timeout` seconds (None: until one comes or the hub closes)."""
        return self.hub._next_for(self, timeout)

    def close(self) -> None:
        self.hub.unsubscribe(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@functools.cache
def _poll_query():
    """The hub's poll, in Core and built once: it runs 20+ times a second in every web process."""
    events = Event.__table__
    return (select(*_poll_columns())
            .where(events.c.id > bindparam("after")).order_by(events.c.id).limit(POLL_LIMIT))


@functools.cache
def _poll_with_gaps_query():
    """The poll while some ids below the cursor are still missing (PostgreSQL): those too."""
    events = Event.__table__
    return (select(*_poll_columns())
            .where((events.c.id > bindparam("after")) | events.c.id.in_(bindparam("gaps", expanding=True)))
            .order_by(events.c.id).limit(POLL_LIMIT))


def _poll_columns():
    events = Event.__table__
    return (events.c.id, events.c.type, events.c.submission_id, events.c.job_id, events.c.user_id,
            events.c.data, events.c.created_at, events.c.token_id)


# The transactions that may hold an event id not yet committed: any that inserts into `events`
# takes this lock before the id is drawn from the sequence, and keeps it until it ends.
_EVENT_WRITERS = text(
    "SELECT virtualtransaction FROM pg_locks WHERE locktype = 'relation' AND relation = 'events'::regclass "
    "AND mode = 'RowExclusiveLock' AND pid <> pg_backend_pid()"
)

POLL_LIMIT = 500


def _wake_current_hub(session) -> None:
    hub = _current_hub()
    if hub is not None:
        hub.wake()


def wake_hub_after_commits() -> None:
    """What a web process commits reaches its own live streams at once, not at the next poll."""
    if not orm_event.contains(db.session, "after_commit", _wake_current_hub):
        orm_event.listen(db.session, "after_commit", _wake_current_hub)


@dataclass
class _Gap:
    """An id below the hub's cursor that has not been read: an open transaction's, or never to
    come (rolled back, or an insert that failed). `writers` are the transactions that could hold
    it (None until first asked, after the poll that found the gap)."""

    seen: float
    writers: set | None = None


class EventHub:
    """One poller per process fanning new events out to subscribers.

    New records go into one buffer shared by every subscriber, and setting one Event wakes
    them all: a thousand open streams cost one append per event, not a thousand queue puts, and
    readers take no lock (a Condition's notify_all made 1,000 woken greenlets queue for its lock
    one by one; measured in tests/bench/bench_api.py). The buffer keeps the newest BUFFER..2*BUFFER.

    Readers need no lock because the buffer is `_window = (base, records)`: the poller only
    appends to `records`, and trims by assigning a new tuple, so any (base, records) a reader
    holds stays consistent.

    In id order, none missed, on PostgreSQL too (`ordered`). Ids come from a sequence, but
    transactions commit in their own order: B may commit id 101 while A still holds 100. The
    poll's cursor (`last_id`) passes 101, so 100 is remembered as a gap and asked for again by
    every poll; the records above it are held back, so every stream still gets the events in
    increasing id order (a stream drops an id at or below one it has sent, webapp/stream_loop.py,
    and a client's Last-Event-ID means "everything up to here"). A gap is closed when its row
    comes, or when every transaction that was writing events once it was seen (pg_locks) has
    ended and the row still is not there — rolled back: nothing is held longer than the slowest
    such transaction, a rollback costs one poll — or after GAP_MAX_SECONDS whatever happens
    (logged: an event transaction open that long is a bug). `safe_id` is the position up to
    which everything is settled: pages and replays (latest_event_id, replay_ceiling) use it.
    SQLite has one writer at a time, ids are given in commit order: none of this runs there.
    """

    BUFFER = 2000
    GAP_MAX_SECONDS = 10.0
    MAX_GAPS = 5000  # more missing ids at once than this: a sequence jump (failed bulk insert), not open transactions
    STARTUP_WINDOW = 500  # ids below the newest one, looked at for gaps when the hub starts

    def __init__(self, app, interval: float = 0.05):
        self.app = app
        self.interval = interval
        self._subscribers: set[Subscription] = set()
        self._lock = threading.Lock()
        self._window: tuple[int, list[EventRecord]] = (0, [])  # (absolute index of records[0], records)
        self._arrival = threading.Event()  # set, and replaced, whenever records arrive
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._closing = False
        self.last_id = 0  # the poll's cursor: the highest id read
        self._safe_id = 0
        with app.app_context():
            self.ordered = db.engine.dialect.name == "postgresql"
        self._gaps: dict[int, _Gap] = {}
        self._held: list[EventRecord] = []  # read, but above an open gap
        self.on_start: list = []  # called (with the hub) when its poller starts: the cross-process wake-ups
        self.polls = 0  # for the benchmarks: queries this hub ran
        self.gaps_expired = self.gaps_filled = 0

    @property
    def safe_id(self) -> int:
        """Every event up to this id has been delivered or will never exist (read from any thread:
        a plain int the poller replaces, never the gaps it is changing)."""
        return self._safe_id

    def _settle(self) -> None:
        self._safe_id = min(self._gaps) - 1 if self._gaps else self.last_id

    def subscribe(self) -> Subscription:
        """A subscription to every record that arrives from now on."""
        with self._lock:
            base, records = self._window
            sub = Subscription(self, base + len(records), closed=self._closing)
            self._subscribers.add(sub)
            self._ensure_running()
        return sub

    def start(self) -> None:
        """Start polling (a page is about to ask for its position, or a stream for its events)."""
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                self._ensure_running()

    def _next_for(self, sub: Subscription, timeout: float | None) -> EventRecord | None:
        waited = False
        while True:
            base, records = self._window
            if sub.position < base:  # fell out of the buffer: skip to the newest records
                sub.overflowed = True
                sub.position = base + len(records)
                return None
            if sub.position < base + len(records):
                record = records[sub.position - base]
                sub.position += 1
                return record
            if waited or sub.closed or timeout == 0:
                return None
            arrival = self._arrival
            base, records = self._window  # again: records may have come before that Event was taken
            if sub.position >= base + len(records):
                arrival.wait(timeout)
            waited = True

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subscribers.discard(sub)

    def _ensure_running(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self.app.app_context():
                self.last_id = newest_event_id()
                self._gaps.clear()
                self._held.clear()
                if self.ordered:
                    self._startup_gaps()
                self._settle()
                db.session.remove()
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="haul-event-hub", daemon=True)
            self._thread.start()
            for start in self.on_start:
                start(self)

    def _startup_gaps(self) -> None:
        """Ids missing just below the newest one when the hub starts may be open transactions':
        watched like any gap, so that their events still come (the rows already there are not
        sent: they are older than every stream)."""
        events = Event.__table__
        low = self.last_id - self.STARTUP_WINDOW
        present = set(db.session.scalars(select(events.c.id).where(events.c.id > low)))
        now = time.monotonic()
        for missing in range(max(low + 1, 1), self.last_id):
            if missing not in present:
                self._gaps[missing] = _Gap(now)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def wake(self) -> None:
        """Poll now: this process or another has just committed (maybe events). Cheap when nobody listens."""
        if self._subscribers:
            self._wake.set()

    def close(self) -> None:
        """The server is shutting down: every stream ends, so a graceful stop isn't held open."""
        self._closing = True
        with self._lock:
            for sub in self._subscribers:
                sub.closed = True
        self._announce()
        self.stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                batch, read = self._poll()
            except Exception:  # a dropped database connection must not end live updates
                log.exception("event hub poll failed")
                batch, read = [], 0
            if batch:
                self._fan_out(batch)
            if read < POLL_LIMIT:
                self._wake.wait(self.interval)
                self._wake.clear()

    def _poll(self) -> tuple[list[EventRecord], int]:
        """The records to deliver now, in id order, and how many rows the poll read."""
        with self.app.app_context():
            connection = db.session.connection()
            writers = None
            if self._gaps:
                # Who may still hold a missing id — asked before the rows are read, so that a gap
                # whose writers have all gone and whose row is not in the read below never will be.
                writers = set(connection.execute(_EVENT_WRITERS).scalars())
                self.polls += 1
                rows = connection.execute(_poll_with_gaps_query(), {"after": self.last_id,
                                                                    "gaps": list(self._gaps)}).all()
            else:
                rows = connection.execute(_poll_query(), {"after": self.last_id}).all()
            self.polls += 1
            records = [
                EventRecord(r.id, r.type, r.submission_id, r.job_id, r.user_id, r.data or {}, isoformat(r.created_at),
                            r.token_id)
                for r in rows
            ]
            db.session.remove()
        if not self.ordered:
            if records:
                self.last_id = records[-1].id
            self._settle()
            return records, len(records)
        ready = self._in_order(records, writers)
        self._settle()
        return ready, len(records)

    def _in_order(self, records: list[EventRecord], writers: set | None) -> list[EventRecord]:
        """PostgreSQL: note the gaps `records` leave, close the settled ones, and release what
        lies below every gap still open."""
        gaps, now = self._gaps, time.monotonic()
        if writers is not None:
            for gap in gaps.values():
                gap.writers = set(writers) if gap.writers is None else gap.writers & writers
        filled = set()
        for record in records:
            if record.id in gaps:
                del gaps[record.id]
                filled.add(record.id)
                self.gaps_filled += 1
            elif record.id > self.last_id:
                missing = record.id - self.last_id - 1
                if 0 < missing <= self.MAX_GAPS - len(gaps):
                    for gap_id in range(self.last_id + 1, record.id):
                        gaps[gap_id] = _Gap(now)
                elif missing:
                    log.warning("event ids %d-%d skipped: too many missing at once to wait for",
                                self.last_id + 1, record.id - 1)
                self.last_id = record.id
            else:
                continue  # neither new nor awaited (read twice): already delivered
            self._held.append(record)
        for gap_id, gap in list(gaps.items()):
            if gap.writers is not None and not gap.writers and gap_id not in filled:
                del gaps[gap_id]  # every transaction that could hold it has ended: rolled back
                self.gaps_expired += 1
            elif now - gap.seen > self.GAP_MAX_SECONDS:
                del gaps[gap_id]
                self.gaps_expired += 1
                log.warning("event id %d given up after %.0f s: a transaction writing events stays open",
                            gap_id, self.GAP_MAX_SECONDS)
        if not self._held:
            return []
        self._held.sort(key=lambda record: record.id)
        if not gaps:
            ready, self._held = self._held, []
            return ready
        lowest_gap = min(gaps)
        cut = 0
        while cut < len(self._held) and self._held[cut].id < lowest_gap:
            cut += 1
        ready, self._held = self._held[:cut], self._held[cut:]
        return ready

    def _fan_out(self, batch: list[EventRecord]) -> None:
        base, records = self._window
        records.extend(batch)
        if len(records) > 2 * self.BUFFER:
            drop = len(records) - self.BUFFER
            self._window = (base + drop, records[drop:])
        self._announce()

    def _announce(self) -> None:
        """Wake every waiting reader: they waited on the Event replaced here (under the lock, so
        two announcements at once cannot leave a reader waiting on an Event nobody sets)."""
        with self._lock:
            arrival, self._arrival = self._arrival, threading.Event()
        arrival.set()
