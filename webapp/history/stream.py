"""The history page's Server-Sent Events: finished jobs appear, entries change, as the queue page's.

One SSE event name, "history", carries htmx out-of-band fragments rendered from the page's own
entry partial:

| event                                  | what the page receives                                  |
|----------------------------------------|---------------------------------------------------------|
| a top-level job completed/failed/...   | its entry, first in the list (only on the unfiltered    |
|                                        | first page); elsewhere it replaces the entry if shown   |
| thumbnails made (the worker)           | the entry again, replacing the one shown (with images)  |
| deleted, or retried (back in the queue)| a delete of the entry                                   |

Only the unfiltered first page takes new entries: a search, a filter or a later page would need
each new job checked against it, and getting that wrong shows people what they did not ask for.
An entry the page does not show ignores its replacement (htmx finds no target). Who sees what is
the history's rule: a user their own jobs, an admin everyone's.

The page's stream is opened by its results (templates/history/_results.html), so a new search
opens a new stream for the new view. Reconnecting with `Last-Event-ID` (or `last_event_id`)
replays what was missed; when that is gone (pruned) or too much, the results are drawn again.
"""
from __future__ import annotations

from flask import Response, render_template

from webapp import stream_loop, streams
from webapp.extensions import db
from webapp.models import Job, User
from webapp.services.accounts.identity import Principal
from webapp.services.library import history
from webapp.services.queue import events
from webapp.services.queue.events import EventRecord
from webapp.stream_loop import sse_frame

EVENT = "history"  # the one SSE event name the page listens to
REPLAY_LIMIT = 2000  # a page further behind than this is drawn again instead
SIGNED_OUT = sse_frame("signed-out", "")
_FINISHED = (events.COMPLETED, events.FAILED, events.CANCELLED)
# What can change the history; everything else (progress above all) costs a type check.
_RELEVANT = frozenset((*_FINISHED, events.THUMBNAILS, history.DELETED, events.STATUS))


class HistoryView(stream_loop.LiveView):
    """What one open history page shows, and how an event changes it."""

    access_ended = SIGNED_OUT

    def __init__(self, user_id: int, is_admin: bool, filters: history.Filters):
        self.user_id = user_id
        self.is_admin = is_admin
        self.filters = filters
        # New entries go first only where they belong for sure: the whole history, page one.
        self.takes_new = not filters.narrowed and filters.page == 1

    def _principal(self) -> Principal | None:
        user = db.session.get(User, self.user_id)
        return Principal(user=user) if user is not None else None

    def _may_see(self, owner: int | None) -> bool:
        return self.is_admin or owner == self.user_id

    def fragments(self, record: EventRecord) -> str:
        """The out-of-band HTML for one event ('' when the page is not concerned)."""
        if record.type not in _RELEVANT or record.job_id is None or not self._may_see(record.user_id):
            return ""
        if record.type == history.DELETED:
            return self._removed(record.job_id)
        if record.type == events.STATUS and not record.data.get("requeued"):
            return ""  # a job starting or pausing is not in the history
        if record.data.get("parent_id") is not None:
            return ""  # a collection's item is listed in its collection's entry, not as one
        job = db.session.get(Job, record.job_id)
        if job is None or not job.is_finished:
            return self._removed(record.job_id)  # deleted since, or retried: it left the history
        principal = self._principal()
        if principal is None or not principal.can_see(job.user_id):
            return ""
        entry = history.entries_of([job], principal)[0]
        if record.type in _FINISHED and self.takes_new:
            return self._removed(job.id) + render_template("history/_entry_insert.html", entry=entry)
        return render_template("history/_entry.html", entry=entry, entry_oob=True)

    def _removed(self, job_id: int) -> str:
        return render_template("history/_entry_removed.html", job_id=job_id)

    def everything(self) -> str:
        """The results drawn again for this page's view (they open a new stream from there)."""
        principal = self._principal()
        if principal is None:
            return ""
        latest = events.latest_event_id()
        return render_template("history/_results.html", result=history.list_history(self.filters, principal),
                               filters=self.filters, last_event_id=latest, results_oob=True)

    # -- as a live view (webapp/stream_loop.py) --

    def frames(self, record: EventRecord) -> list[str]:
        html = self.fragments(record)
        return [sse_frame(EVENT, html, record.id)] if html else []

    def missed(self, after_id: int) -> tuple[list[str], int]:
        replay = events.replayable_since(after_id, REPLAY_LIMIT)
        if replay is None:
            return self.behind(after_id)
        records, newest = replay
        messages = []
        for record in records:
            html = self.fragments(record)
            if html:
                messages.append(sse_frame(EVENT, html, record.id))
        return messages, newest

    def behind(self, covered: int) -> tuple[list[str], int]:
        latest = events.latest_event_id()
        html = self.everything()
        return ([sse_frame(EVENT, html, latest)] if html else []), latest


def history_event_stream(user, filters: history.Filters, last_id: int | None) -> Response:
    return stream_loop.sse_response(streams.Holder.of_browser(user), HistoryView(user.id, user.is_admin, filters),
                                    last_id=last_id)
