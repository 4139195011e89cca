"""The loop every live stream runs, over Server-Sent Events or a WebSocket.

Every stream does the same thing: subscribe to the process's EventHub, replay what a
reconnecting client missed (its Last-Event-ID), send each new event the client may see, put a
client that fell out of the hub's buffer right, say something when idle so a dead connection is
found, and end as soon as its holder's access ends (webapp/streams.py) or the server stops.
That is written once here. What differs between endpoints is a `LiveView`: which events are
this client's and what each becomes (`frames`, the filter and the renderer in one), plus a few
hooks whose defaults suit most streams. `sse_response` and `serve_socket` carry the frames.

    SSE        `sse_response(holder, view, last_id=...)`: a text/event-stream Response
    WebSocket  `serve_socket(ws, holder, view)`: runs until the socket or the stream ends
"""
from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from flask import Response, current_app, g, stream_with_context
from simple_websocket import ConnectionClosed

from webapp import streams
from webapp.extensions import db
from webapp.models.base import utcnow
from webapp.services.queue.events import EventRecord, Subscription

# An idle SSE stream sends a comment this often: proxies keep the connection open, and writing
# it is how the server finds out the client has gone. Views' checks (LiveView.still_open) run
# as often.
KEEPALIVE_SECONDS = 15.0
KEEPALIVE = ": keep-alive\n\n"
RETRY = "retry: 2000\n\n"  # how long an EventSource waits before it reconnects

# Why a stream ended (StreamLoop.ended).
ACCESS_ENDED = "access_ended"  # its holder's sign-ins changed, or its guest session closed
BEHIND = "behind"  # it fell out of the hub's buffer and its view cannot put it right
CLOSED = "closed"  # the server is stopping, or the view's time ran out

# How a WebSocket is closed for each reason (a client gone ends it without a word).
_SOCKET_CLOSES = {
    ACCESS_ENDED: (1008, "signed out: your sign-ins changed"),
    BEHIND: (1013, "too far behind; reconnect"),
    CLOSED: (1001, "server shutting down"),
}


def sse_frame(event: str, data, event_id: int | None = None) -> str:
    """One Server-Sent Event named `event`: `data` as it is when it is text (one `data:` line per
    line), else as compact JSON."""
    if not isinstance(data, str):
        data = json.dumps(data, separators=(",", ":"))
    lines = [f"id: {event_id}"] if event_id is not None else []
    lines.append(f"event: {event}")
    lines.extend(f"data: {line}" for line in data.splitlines() or [""])
    return "\n".join(lines) + "\n\n"


class LiveView(ABC):
    """What one client sees of the events. An endpoint subclasses it and writes `frames`; the
    other hooks have defaults that suit a stream without them. A frame is whatever the transport
    sends: SSE text for `sse_response`, a message's text for `serve_socket`."""

    # What an SSE client is told when its access ends (None: the stream just closes).
    access_ended: str | None = None
    # The stream closes, without a word, at this moment (UTC) when one is set.
    expires_at: datetime | None = None

    @abstractmethod
    def frames(self, record: EventRecord) -> list:
        """What `record` becomes for this client: nothing when it isn't theirs."""

    def missed(self, after_id: int) -> tuple[list, int]:
        """What a client that saw the events up to `after_id` missed (its Last-Event-ID), and the
        last event id that covers."""
        return [], after_id

    def behind(self, covered: int) -> tuple[list, int] | None:
        """What puts right a client that fell out of the hub's buffer after seeing the events up to
        `covered`, and the last event id that covers; None ends the stream instead."""
        return None

    def due(self, covered: int) -> list:
        """Frames held back (to send at most so often) that are due now."""
        return []

    def wait_seconds(self) -> float:
        """How long to wait for the next event before looking around again."""
        return KEEPALIVE_SECONDS

    def still_open(self) -> bool:
        """Whether the stream may go on; asked every KEEPALIVE_SECONDS, for what no event announces."""
        return True


class StreamLoop:
    """One stream's progress through the hub's events. The transport calls `step()` until
    `ended` says why it must stop; each step waits for at most one event."""

    def __init__(self, subscription: Subscription, holder: streams.Holder, view: LiveView, *,
                 covered: int = 0, keepalive: bool = False):
        self.subscription = subscription
        self.holder = holder
        self.view = view
        self.covered = covered  # the last event id the client has been given (or was told to skip)
        self.keepalive = keepalive
        self.ended: str | None = None
        self._last_sent = self._last_checked = time.monotonic()

    def step(self) -> Iterator:
        """The frames to send now (maybe none), each as soon as it is ready; sets `ended` when the
        stream must stop. Holds no database connection between steps, nor while a frame is sent."""
        subscription, view = self.subscription, self.view
        if subscription.closed or (view.expires_at is not None and utcnow() >= view.expires_at):
            self.ended = CLOSED
            return
        if time.monotonic() - self._last_checked >= KEEPALIVE_SECONDS:
            still_open = view.still_open()
            _give_back_connection()
            if not still_open:
                self.ended = ACCESS_ENDED
                return
            self._last_checked = time.monotonic()
        if subscription.overflowed:
            while subscription.get(timeout=0) is not None:  # what is left of the buffer: skip it
                pass
            subscription.overflowed = False
            caught_up = view.behind(self.covered)
            _give_back_connection()
            if caught_up is None:
                self.ended = BEHIND
                return
            frames, self.covered = caught_up
            yield from self._sent(frames)
        record = subscription.get(timeout=view.wait_seconds())
        if record is not None:
            if self.holder.ended_by(record):
                self.ended = ACCESS_ENDED
                return
            if record.id > self.covered:
                self.covered = record.id
                frames = view.frames(record)
                _give_back_connection()
                yield from self._sent(frames)
        frames = view.due(self.covered)
        if frames:
            _give_back_connection()
            yield from self._sent(frames)
        elif self.keepalive and time.monotonic() - self._last_sent >= KEEPALIVE_SECONDS:
            yield from self._sent([KEEPALIVE])

    def _sent(self, frames: Iterable) -> Iterator:
        for frame in frames:
            yield frame
            self._last_sent = time.monotonic()


def _give_back_connection() -> None:
    """Hold no database connection while sending or waiting: a thousand open streams must not hold
    the pool. Checked first because it runs for every event on every stream, and most views'
    frames need no database."""
    if db.session.registry.has():
        db.session.remove()


def _hub():
    return current_app.extensions["haul_event_hub"]


def event_stream(frames) -> Response:
    """A text/event-stream response of `frames` (a generator of SSE frames), run in the request's
    context, never cached, and passed on by nginx frame by frame instead of buffered."""
    response = Response(stream_with_context(frames), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    return response


def sse_response(holder: streams.Holder, view: LiveView, *, last_id: int | None = None,
                 opening: str = RETRY) -> Response:
    """`view`'s stream as Server-Sent Events, starting with `opening`, then what the client missed
    after `last_id` (when it gave one). Raises TooManyRequests (429) when `holder` holds its limit
    of streams already."""
    admission = streams.admit(holder)
    subscription = _hub().subscribe()  # before the replay: nothing falls between the two

    def generate():
        try:
            # The request context lives as long as the stream (stream_with_context): let go of the
            # bearer's Principal in it (its User and ApiToken ORM objects, their loaded rows), about
            # 2-3 KiB a stream; the holder and the view hold copies of what they need.
            g.pop("principal", None)
            yield opening
            frames, covered = view.missed(last_id) if last_id is not None else ([], 0)
            db.session.remove()  # hold no database connection while sending or waiting
            yield from frames
            loop = StreamLoop(subscription, holder, view, covered=covered, keepalive=True)
            while loop.ended is None:
                yield from loop.step()
            if loop.ended == ACCESS_ENDED and view.access_ended is not None:
                yield view.access_ended
        finally:
            subscription.close()
            admission.release()
            db.session.remove()

    response = event_stream(generate())
    response.call_on_close(admission.release)  # also when the stream never started
    return response


def serve_socket(ws, holder: streams.Holder, view: LiveView, *, opening: Iterable[str] = (),
                 on_message: Callable[[object], None] | None = None) -> None:
    """Run `view`'s stream over `ws` (its handshake done): send `opening`, then each frame as a
    message, until the client goes or the stream ends (closed with a code that says why).
    `on_message` answers what the client sends; without it the client is not listened to. Live
    only: a socket that falls out of the hub's buffer is closed, and the client reconnects."""
    admission = streams.admit_socket(ws, holder)
    if admission is None:
        return
    db.session.remove()  # hold no connection while the socket stays open
    try:
        with _hub().subscribe() as subscription:
            for message in opening:
                ws.send(message)
            loop = StreamLoop(subscription, holder, view)
            while ws.connected and loop.ended is None:
                if on_message is not None:
                    raw = ws.receive(timeout=0)
                    while raw is not None:
                        on_message(raw)
                        raw = ws.receive(timeout=0)
                for message in loop.step():
                    ws.send(message)
            if ws.connected:
                code, reason = _SOCKET_CLOSES[loop.ended]
                ws.close(reason=code, message=reason)
    except ConnectionClosed:
        return
    finally:
        admission.release()
        db.session.remove()
