"""One subscription's page, live: a "run" Server-Sent Event each time one of its runs changes.

The run events (webapp/services/queue/events.py RUN_EVENTS) are queue-wide rows told to the
subscription's owner. This view passes on only those of the one subscription the page shows
(its visibility was checked when the stream opened), as a bare signal: the page asks for its
summary and run table again (webapp/subscriptions/routes.py run_history), so the table an
event redraws is the same one the page renders. The queue page's stream is not used here: it
renders a job row for every job event, which this page would only throw away.
"""
from __future__ import annotations

from flask import Response
from sqlalchemy import select

from webapp import stream_loop, streams
from webapp.extensions import db
from webapp.models import Event
from webapp.services.queue import events
from webapp.services.queue.events import EventRecord
from webapp.stream_loop import sse_frame

EVENT = "run"  # the SSE event name the page listens to
REPLAY_LIMIT = 2000  # run events looked at when a page reconnects
SIGNED_OUT = sse_frame("signed-out", "")


class _SubscriptionView(stream_loop.LiveView):
    access_ended = SIGNED_OUT

    def __init__(self, subscription_id: int):
        self.subscription_id = subscription_id

    def _ours(self, record_type: str, data: dict | None) -> bool:
        return record_type in events.RUN_EVENTS and (data or {}).get("subscription_id") == self.subscription_id

    def frames(self, record: EventRecord) -> list[str]:
        if not self._ours(record.type, record.data):
            return []
        # The data is only a signal (an SSE event without data is never dispatched).
        return [sse_frame(EVENT, str(record.data.get("run_id") or ""), record.id)]

    def missed(self, after_id: int) -> tuple[list[str], int]:
        """One redraw when any run of this subscription changed while the page was away."""
        rows = db.session.execute(
            select(Event.id, Event.type, Event.data).where(Event.id > after_id, Event.type.in_(events.RUN_EVENTS))
            .order_by(Event.id).limit(REPLAY_LIMIT)).all()
        ours = [row for row in rows if self._ours(row.type, row.data)]
        latest = events.latest_event_id()
        if not ours and len(rows) < REPLAY_LIMIT:
            return [], latest
        return [sse_frame(EVENT, "missed", latest)], latest

    def behind(self, covered: int) -> tuple[list[str], int]:
        latest = events.latest_event_id()
        return [sse_frame(EVENT, "behind", latest)], latest


def subscription_event_stream(user, subscription_id: int, last_id: int | None) -> Response:
    return stream_loop.sse_response(streams.Holder.of_browser(user), _SubscriptionView(subscription_id),
                                    last_id=last_id)
