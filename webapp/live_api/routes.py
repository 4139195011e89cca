"""GET /api/v1/events (SSE) and the /api/v1/ws WebSocket.

Both read the process's EventHub (one poller for every stream) and show a client only the
events of jobs it may see. The SSE stream resumes after a dropped connection from
`Last-Event-ID` (or `last_event_id`), replaying from the events table; the WebSocket is live
only, with rooms: "downloads" (every visible job, joined by default) and "job:<id>".
"""
from __future__ import annotations

import json
import time

from flask import current_app, request
from simple_websocket import ConnectionClosed

from webapp import streams
from webapp.bearer import accepts_query_token, current_principal, require
from webapp.errors import BadRequest
from webapp.extensions import db, sock
from webapp.live_api import bp, messages, replay
from webapp.views import event_stream

KEEPALIVE_SECONDS = 15.0
WS_POLL_SECONDS = 0.1  # how often the socket loop looks for client messages between events


def _last_event_id() -> int | None:
    raw = request.headers.get("Last-Event-ID") or request.args.get("last_event_id")
    if raw is None or raw == "":
        return None
    if not raw.strip().isdigit():
        raise BadRequest("Last-Event-ID must be an event id", error_code="invalid_last_event_id")
    return int(raw)


def _replayed(viewer: messages.Viewer, after_id: int):
    """SSE frames for what the client missed, and the last id they cover."""
    records, gap = replay.missed_since(after_id)
    frames = []
    if gap is not None:
        frames.append(messages.gap_frame(after_id, gap["oldest_available_id"], gap["reason"]))
    frames.extend(messages.sse_event(r) for r in records if viewer.may_see(r))
    return frames, (records[-1].id if records else after_id)


SIGNED_OUT = messages.sse_frame("signed_out", messages.message("signed_out", {
    "detail": "Your sign-ins changed (a new password, role or a revoked token): sign in again",
    "error_code": "session_ended"}))


@bp.get("/events")
@require(scope=("read", "submit"))
@accepts_query_token
def events_stream():
    """Every job and queue event you may see, as Server-Sent Events (a submit-only token: the jobs
    it submitted itself); resume with Last-Event-ID."""
    principal = current_principal()
    viewer = messages.Viewer.of(principal)
    holder = streams.Holder.of_principal(principal)
    last_id = _last_event_id()
    admission = streams.admit(holder)
    hub = current_app.extensions["haul_event_hub"]
    subscription = hub.subscribe()  # before the replay: nothing falls between the two

    def generate():
        try:
            yield "retry: 2000\n\n"
            covered = 0
            if last_id is not None:
                frames, covered = _replayed(viewer, last_id)
                yield from frames
            db.session.remove()  # hold no database connection while waiting
            last_sent = time.monotonic()
            while not subscription.closed:
                if subscription.overflowed:
                    # The client read too slowly for the hub's buffer: fetch what it lost from the table.
                    while subscription.get(timeout=0) is not None:
                        pass
                    subscription.overflowed = False
                    frames, covered = _replayed(viewer, covered)
                    db.session.remove()
                    yield from frames
                    last_sent = time.monotonic()
                record = subscription.get(timeout=1.0)
                if record is not None and holder.ended_by(record):
                    yield SIGNED_OUT
                    return
                if record is not None and record.id > covered:
                    covered = record.id
                    if viewer.may_see(record):
                        yield messages.sse_event(record)
                        last_sent = time.monotonic()
                if time.monotonic() - last_sent >= KEEPALIVE_SECONDS:
                    yield ": keep-alive\n\n"  # also finds out when the client has gone
                    last_sent = time.monotonic()
        finally:
            subscription.close()
            admission.release()
            db.session.remove()

    response = event_stream(generate())
    response.call_on_close(admission.release)  # also when the stream never started
    return response


class _Client:
    """One WebSocket client: who it is, which rooms it joined, and its answers to its own messages."""

    def __init__(self, ws, viewer: messages.Viewer):
        self.ws = ws
        self.viewer = viewer
        self.rooms = {messages.DOWNLOADS_ROOM}

    def send(self, message: dict) -> None:
        self.ws.send(json.dumps(message, separators=(",", ":")))

    def handle(self, raw) -> None:
        try:
            command = messages.parse_client_message(raw)
        except messages.BadMessage as exc:
            self.send(messages.message("error", {"detail": str(exc), "error_code": "bad_message"}))
            return
        action = command["action"]
        if action == "ping":
            self.send(messages.message("pong", {}))
            return
        if action == "join":
            self.rooms.add(command["room"])
        else:
            self.rooms.discard(command["room"])
        self.send(messages.message("notification", {
            "event": "joined" if action == "join" else "left",
            "room": command["room"],
            "rooms": sorted(self.rooms),
        }))

    def wants(self, record) -> bool:
        return self.viewer.may_see(record) and messages.for_rooms(record, self.rooms)


@sock.route("/ws", bp=bp)
@accepts_query_token
def live_socket(ws):
    """The WebSocket of live events, with rooms (downloads, job:<id>) and ping/pong (scope: read,
    or submit for the jobs the token submitted itself)."""
    principal = current_principal()
    if principal is None:
        ws.close(reason=1008, message="invalid or missing token")
        return
    if not principal.scopes.intersection(("read", "submit")):
        ws.close(reason=1008, message="this needs a token with the read or submit scope")
        return
    holder = streams.Holder.of_principal(principal)
    admission = streams.admit_socket(ws, holder)
    if admission is None:
        return
    client = _Client(ws, messages.Viewer.of(principal))
    hub = current_app.extensions["haul_event_hub"]
    db.session.remove()  # hold no connection while the socket stays open
    try:
        with hub.subscribe() as subscription:
            client.send(messages.message("notification", {"event": "connected", "rooms": sorted(client.rooms)}))
            while ws.connected and not subscription.closed:
                if subscription.overflowed:
                    ws.close(reason=1013, message="too far behind; reconnect")
                    return
                raw = ws.receive(timeout=0)
                while raw is not None:
                    client.handle(raw)
                    raw = ws.receive(timeout=0)
                record = subscription.get(timeout=WS_POLL_SECONDS)
                if record is not None and holder.ended_by(record):
                    ws.close(reason=1008, message="signed out: your sign-ins changed")
                    return
                if record is not None and client.wants(record):
                    client.send(messages.ws_message(record))
    except ConnectionClosed:
        return
    finally:
        admission.release()
        db.session.remove()
    if ws.connected:
        ws.close(reason=1001, message="server shutting down")
