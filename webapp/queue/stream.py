"""The queue page's Server-Sent Events: every job change, rendered as the partial it changes.

One SSE event name, "queue", carries htmx out-of-band fragments: a changed row replaces the
row with the same id (a row the page doesn't show is ignored), a new job's row is appended, a
finished one moves to the finished list, and queue-wide changes redraw the lists or the
toolbar. A collection's child only ever replaces its own line under its expanded parent; the
parent's events redraw the parent's head (its counts), never the children under it. One name means one listener per page, whatever the number of jobs — per-row event
names would leave a listener behind for every row that ever left the page.

Events come from the process's EventHub through the loop every live stream runs
(webapp/stream_loop.py), which this page's `_QueueView` tells what to send. A reconnecting page
sends `Last-Event-ID` (or `last_event_id`, which the page's script adds when the browser
opens a new EventSource): the events it missed are replayed from the events table, and when
they are no longer there the page is told to redraw everything instead.
"""
from __future__ import annotations

import time

from flask import Response, render_template
from sqlalchemy import select

from webapp import stream_loop, streams
from webapp.extensions import db
from webapp.models import Job
from webapp.services.queue import disk_guard, events, job_control
from webapp.services.queue import listing as queue_listing
from webapp.services.queue import pause as queue_state
from webapp.services.queue.events import EventRecord
from webapp.stream_loop import sse_frame

TOOLBAR_EVERY_SECONDS = 0.5  # counts are redrawn at most this often while jobs change
REPLAY_LIMIT = 2000  # a page further behind than this redraws everything instead
_FINISHED_KINDS = (events.COMPLETED, events.FAILED, events.CANCELLED)
EVENT = "queue"  # the one SSE event name the page listens to

# Told to a page whose sign-in ended (a new password, role, or the account deleted): it goes to
# the sign-in page instead of reconnecting.
SIGNED_OUT = sse_frame("signed-out", "")


class _QueueView(stream_loop.LiveView):
    """What one open page shows, and how an event changes it."""

    access_ended = SIGNED_OUT

    def __init__(self, user_id: int, is_admin: bool, owner: int | None):
        self.user_id = user_id
        self.is_admin = is_admin
        self.owner = owner  # whose jobs the page lists (None: everyone's, admins only)
        self.toolbar_due = False  # the counts changed since the toolbar was last sent
        self.last_toolbar = 0.0

    def shows(self, job_owner: int | None) -> bool:
        if not self.is_admin and job_owner != self.user_id:
            return False
        return self.owner is None or job_owner == self.owner

    def context(self) -> dict:
        return {
            "active": queue_listing.active_jobs(self.owner),
            "finished": queue_listing.finished_jobs(self.owner),
            "counts": job_control.status_counts(self.owner),
            "queue_paused": queue_state.is_paused(),
            "disk_guard": disk_guard.state(),  # its banner while the storage disk is nearly full
            "owner": self.owner,
            "finished_shown": queue_listing.FINISHED_SHOWN,
        }

    def everything(self) -> str:
        context = self.context()
        return (render_template("queue/_lists.html", oob=True, **context)
                + render_template("queue/_toolbar.html", oob=True, **context))

    def toolbar(self) -> str:
        return render_template("queue/_toolbar.html", oob=True, **self.context())

    def _row(self, job: Job, whole: bool = False) -> str:
        # A collection: only its head, so the children a person expanded stay open — unless it
        # has just become one (`whole`): its row was drawn as a single job's until then.
        return render_template("queue/_job_row.html", job=job, row_oob=True, head_only=not whole)

    def _removed(self, job_id: int) -> str:
        return render_template("queue/_job_removed.html", job_id=job_id)

    def _insert(self, job: Job, into: str) -> str:
        # Drop a copy the page may already have (a replayed event), then add it to the list.
        return self._removed(job.id) + render_template("queue/_job_insert.html", job=job, into=into)

    def fragments(self, record: EventRecord) -> tuple[str, bool]:
        """The out-of-band HTML for one event, and whether the counts changed."""
        if record.type in events.QUEUE_EVENTS:
            if record.user_id is not None and not self.shows(record.user_id):
                return "", False
            if record.type in (events.REORDERED, events.CLEARED_MANY):
                return render_template("queue/_lists.html", oob=True, **self.context()), True
            return "", True
        if record.type == events.QUEUED:
            job_ids = record.data.get("job_ids") or []
            if not job_ids or not self.shows(record.user_id):
                return "", False
            jobs = db.session.scalars(select(Job).where(Job.id.in_(job_ids)).order_by(Job.id))
            return "".join(self._insert(job, "active-jobs") for job in jobs
                           if job.cleared_at is None and job.parent_id is None), True
        if record.job_id is None or record.type == events.THUMBNAILS:  # the queue shows no thumbnails
            return "", False
        job = db.session.get(Job, record.job_id)
        if job is None:
            return self._removed(record.job_id), True
        if not self.shows(job.user_id):
            return "", False
        if job.cleared_at is not None or record.type == events.CLEARED:
            return self._removed(job.id), True
        if job.parent_id is not None:
            # A child is never a row of the lists: its line under an expanded parent is
            # replaced (a page that has not expanded the parent ignores it).
            return self._row(job), record.type != events.PROGRESS
        if record.type in _FINISHED_KINDS and job.is_finished:
            return self._insert(job, "finished-jobs"), True
        if record.data.get("requeued") and not job.is_finished:
            return self._insert(job, "active-jobs"), True
        # The listing's event carries the number of children queued (later ones, a summary).
        listed = isinstance(record.data.get("children"), int)
        return self._row(job, whole=listed), record.type != events.PROGRESS

    # -- as a live view (webapp/stream_loop.py) --

    def frames(self, record: EventRecord) -> list[str]:
        html, counts_changed = self.fragments(record)
        self.toolbar_due = self.toolbar_due or counts_changed
        return [sse_frame(EVENT, html, record.id)] if html else []

    def due(self, covered: int) -> list[str]:
        """The toolbar, when the counts changed and it was not redrawn in the last half second."""
        now = time.monotonic()
        if not self.toolbar_due or now - self.last_toolbar < TOOLBAR_EVERY_SECONDS:
            return []
        self.toolbar_due, self.last_toolbar = False, now
        return [sse_frame(EVENT, self.toolbar(), covered or None)]

    def wait_seconds(self) -> float:
        return TOOLBAR_EVERY_SECONDS if self.toolbar_due else stream_loop.KEEPALIVE_SECONDS

    def missed(self, after_id: int) -> tuple[list[str], int]:
        """The messages a page that saw events up to `after_id` missed, and the last id covered."""
        replay = events.replayable_since(after_id, REPLAY_LIMIT)
        if replay is None:
            # Some of what the page missed is gone (pruned) or too much: redraw it all.
            return self.behind(after_id)
        records, newest = replay
        messages = []
        for record in records:
            html, _ = self.fragments(record)
            if html:
                messages.append(sse_frame(EVENT, html, record.id))
        if records:
            messages.append(sse_frame(EVENT, self.toolbar(), newest))
        return messages, newest

    def behind(self, covered: int) -> tuple[list[str], int]:
        """This page fell too far behind the hub: redraw everything."""
        latest = events.latest_event_id()
        return [sse_frame(EVENT, self.everything(), latest)], latest


def queue_event_stream(user, owner: int | None, last_id: int | None) -> Response:
    return stream_loop.sse_response(streams.Holder.of_browser(user), _QueueView(user.id, user.is_admin, owner),
                                    last_id=last_id)
