"""GET /api/v1/events (SSE) and the /api/v1/ws WebSocket.

Both read the process's EventHub (one poller for every stream) and show a client only the
events of jobs it may see. The SSE stream resumes after a dropped connection from
`Last-Event-ID` (or `last_event_id`), replaying from the events table; the WebSocket is live
only, with rooms: "downloads" (every visible job, joined by default) and "job:<id>".
"""
from __future__ import annotations

import json

from flask import request

from webapp import stream_loop, streams
from webapp.bearer import accepts_query_token, current_principal, require
from webapp.errors import BadRequest
from webapp.extensions import sock
from webapp.live_api import bp, messages, replay
from webapp.stream_loop import sse_frame

WS_POLL_SECONDS = 0.1  # how often the socket loop looks for client messages between events


def _last_event_id() -> int | None:
    raw = request.headers.get("Last-Event-ID") or request.args.get("last_event_id")
    if raw is None or raw == "":
        return None
    if not raw.strip().isdigit():
        raise BadRequest("Last-Event-ID must be an event id", error_code="invalid_last_event_id")
    return int(raw)


SIGNED_OUT = sse_frame("signed_out", messages.message("signed_out", {
    "detail": "Your sign-ins changed (a new password, role or a revoked token): sign in again",
    "error_code": "session_ended"}))


class _EventsView(stream_loop.LiveView):
    """The SSE stream's client: the events its principal may see, each named after its type."""

    access_ended = SIGNED_OUT

    def __init__(self, viewer: messages.Viewer):
        self.viewer = viewer

    def frames(self, record) -> list[str]:
        return [messages.sse_event(record)] if self.viewer.may_see(record) else []

    def wait_seconds(self) -> float:
        return 1.0

    def missed(self, after_id: int) -> tuple[list[str], int]:
        """SSE frames for what the client missed (a "gap" first when some of it is gone), and the
        last id they cover."""
        records, gap = replay.missed_since(after_id)
        frames = []
        if gap is not None:
            frames.append(messages.gap_frame(after_id, gap["oldest_available_id"], gap["reason"]))
        frames.extend(messages.sse_event(r) for r in records if self.viewer.may_see(r))
        return frames, (records[-1].id if records else after_id)

    def behind(self, covered: int) -> tuple[list[str], int]:
        """The client read too slowly for the hub's buffer: fetch what it lost from the table."""
        return self.missed(covered)


@bp.get("/events")
@require(scope=("read", "submit"))
@accepts_query_token
def events_stream():
    """Every job and queue event you may see, as Server-Sent Events (a submit-only token: the jobs
    it submitted itself); resume with Last-Event-ID."""
    principal = current_principal()
    view = _EventsView(messages.Viewer.of(principal))
    holder = streams.Holder.of_principal(principal)
    return stream_loop.sse_response(holder, view, last_id=_last_event_id())


class _Client(stream_loop.LiveView):
    """One WebSocket client: who it is, which rooms it joined, and its answers to its own messages."""

    def __init__(self, ws, viewer: messages.Viewer):
        self.ws = ws
        self.viewer = viewer
        self.rooms = {messages.DOWNLOADS_ROOM}

    @staticmethod
    def text(message: dict) -> str:
        return json.dumps(message, separators=(",", ":"))

    def send(self, message: dict) -> None:
        self.ws.send(self.text(message))

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

    # -- as a live view (webapp/stream_loop.py) --

    def frames(self, record) -> list[str]:
        return [self.text(messages.ws_message(record))] if self.wants(record) else []

    def wait_seconds(self) -> float:
        return WS_POLL_SECONDS


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
    client = _Client(ws, messages.Viewer.of(principal))
    connected = client.text(messages.message("notification", {"event": "connected", "rooms": sorted(client.rooms)}))
    stream_loop.serve_socket(ws, streams.Holder.of_principal(principal), client, opening=[connected],
                             on_message=client.handle)
