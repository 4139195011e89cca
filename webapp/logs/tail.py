"""The /logs page's live tail over Server-Sent Events: new records of the application log, as the
table's rows, as they are written.

It runs the loop every live stream runs (webapp/stream_loop.py): admitted against the admin's
stream cap (webapp/streams.py), ended when their sign-ins change or they stop being an admin,
kept alive when idle. The events it waits on only wake it; what it sends comes from the log
files, which `due()` polls every POLL_SECONDS (webapp/services/admin/app_logs.Follower).
"""
from __future__ import annotations

import time

from flask import render_template

from webapp import stream_loop, streams
from webapp.extensions import db
from webapp.models import User
from webapp.services.admin import app_logs
from webapp.services.queue.events import EventRecord
from webapp.stream_loop import sse_frame

EVENT = "log"  # the SSE event name the table's body swaps in
POLL_SECONDS = 0.5
MAX_ROWS_PER_FRAME = 200  # a burst is cut to its latest rows: the page is a view, not an archive
SIGNED_OUT = sse_frame("signed-out", "")


class LogTailView(stream_loop.LiveView):
    """What one open /logs page gets: each poll's new matching records, newest first, as rows."""

    access_ended = SIGNED_OUT

    def __init__(self, user_id: int, follower: app_logs.Follower):
        self.user_id = user_id
        self.follower = follower
        self._next_poll = 0.0

    def frames(self, record: EventRecord) -> list:
        return []  # events only wake the loop; the rows come from the files

    def wait_seconds(self) -> float:
        return POLL_SECONDS

    def due(self, covered: int) -> list:
        now = time.monotonic()
        if now < self._next_poll:
            return []
        self._next_poll = now + POLL_SECONDS
        records = self.follower.poll()
        if not records:
            return []
        rows = list(reversed(records[-MAX_ROWS_PER_FRAME:]))
        return [sse_frame(EVENT, render_template("logs/_rows.html", records=rows, live=True))]

    def still_open(self) -> bool:
        user = db.session.get(User, self.user_id)
        return user is not None and user.is_admin


def log_tail_stream(user: User, follower: app_logs.Follower):
    """The text/event-stream response of the tail (429 when the admin holds their limit of streams)."""
    return stream_loop.sse_response(streams.Holder.of_browser(user), LogTailView(user.id, follower))
