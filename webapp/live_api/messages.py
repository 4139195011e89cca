"""Shaping event records into /api/v1's live messages: SSE frames and WebSocket messages.

Both carry {"type", "timestamp", "data"}. SSE names each frame after the event type
("progress", "completed", "queued", "reordered", "run_started", …); the WebSocket groups them
into six message types a client can switch on:

    download_progress   a running job's progress
    download_completed  a job finished with its files
    download_failed     a job failed for good
    queue_updated       submissions, status changes (started, paused, cancelled, requeued,
                        cleared) and queue-wide changes (reorder, clear, pause, resume)
    subscription_run    a subscription's run started, found its new items, finished, failed or
                        was skipped (data.event: run_started, run_found, run_finished, run_failed,
                        run_skipped; with the run's figures): told to the subscription's owner and
                        admins, never to a submit-only token (it has no business with subscriptions)
    notification        the server talking to this client (connected, joined, left)
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from webapp.models.base import isoformat, utcnow
from webapp.services.queue import events
from webapp.services.queue.events import EventRecord
from webapp.stream_loop import sse_frame

DOWNLOADS_ROOM = "downloads"
WS_RUN_TYPE = "subscription_run"
JOB_ROOM_PREFIX = "job:"

_WS_JOB_TYPES = {
    events.PROGRESS: "download_progress",
    events.COMPLETED: "download_completed",
    events.FAILED: "download_failed",
}


@dataclass(frozen=True)
class Viewer:
    """Who a stream belongs to, copied out of the Principal so no ORM object outlives the request."""

    user_id: int | None
    is_admin: bool
    # A token without `read` (submit only) sees just the jobs it submitted itself.
    token_id: int | None = None
    own_submissions_only: bool = False

    @classmethod
    def of(cls, principal) -> "Viewer":
        return cls(principal.user_id, principal.is_admin, principal.token_id, principal.own_submissions_only)

    def can_see(self, owner_id: int | None) -> bool:
        """As Principal.can_see: admins see everything, a user their own jobs."""
        return self.is_admin or (self.user_id is not None and owner_id == self.user_id)

    def may_see(self, record: EventRecord) -> bool:
        """As Principal.reaches, for an event: its job's (or submission's) owner and token."""
        if record.type in events.INTERNAL_EVENTS:
            return False
        if record.job_id is None and record.type in events.QUEUE_EVENTS and record.user_id is None:
            return True  # queue-wide changes for everyone (pause, resume, an admin's reorder)
        if not self.can_see(record.user_id):
            return False
        return not self.own_submissions_only or (self.token_id is not None and record.token_id == self.token_id)


def now() -> str:
    return isoformat(utcnow())


def message(kind: str, data: dict, timestamp: str | None = None) -> dict:
    return {"type": kind, "timestamp": timestamp or now(), "data": data}


def record_data(record: EventRecord) -> dict:
    """The event's payload (a job snapshot for job events) with its id and job/download ids."""
    data = {"event_id": record.id, **(record.data or {})}
    if record.job_id is not None:
        data.setdefault("job_id", record.job_id)
    if record.submission_id is not None:
        data.setdefault("download_id", record.submission_id)
    return data


def event_message(record: EventRecord) -> dict:
    """The SSE payload of an event: its own type."""
    return message(record.type, record_data(record), record.created_at)


def ws_message(record: EventRecord) -> dict:
    """The WebSocket message of an event."""
    kind = _WS_JOB_TYPES.get(record.type)
    if kind is not None:
        return message(kind, record_data(record), record.created_at)
    if record.type in events.RUN_EVENTS:
        return message(WS_RUN_TYPE, {"event": record.type, **record_data(record)}, record.created_at)
    return message("queue_updated", {"event": record.type, **record_data(record)}, record.created_at)


def rooms_of(record: EventRecord) -> set[str] | None:
    """The rooms an event belongs to; None for queue-wide events, which every client gets."""
    if record.job_id is not None:
        return {DOWNLOADS_ROOM, f"{JOB_ROOM_PREFIX}{record.job_id}"}
    job_ids = (record.data or {}).get("job_ids")
    if record.type == events.QUEUED:
        return {DOWNLOADS_ROOM, *(f"{JOB_ROOM_PREFIX}{job_id}" for job_id in job_ids or ())}
    return None


def for_rooms(record: EventRecord, rooms: set[str]) -> bool:
    wanted = rooms_of(record)
    return wanted is None or bool(wanted & rooms)


def valid_room(room) -> bool:
    if room == DOWNLOADS_ROOM:
        return True
    if isinstance(room, str) and room.startswith(JOB_ROOM_PREFIX):
        rest = room[len(JOB_ROOM_PREFIX):]
        return rest.isdigit() and len(rest) < 19
    return False


def sse_event(record: EventRecord) -> str:
    """The record's SSE frame, rendered once however many streams send it."""
    return record.render("api-sse", lambda r: sse_frame(r.type, event_message(r), r.id))


def gap_frame(after_id: int, oldest_available_id: int | None, reason: str) -> str:
    """Told to a client whose missed events are partly gone: what it got back starts later."""
    return sse_frame("gap", message("gap", {
        "last_event_id": after_id,
        "oldest_available_id": oldest_available_id,
        "reason": reason,
    }))


class BadMessage(ValueError):
    pass


def parse_client_message(raw) -> dict:
    """A client's WebSocket message as {"action", "room"?}; BadMessage when it isn't one."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode()
        except UnicodeDecodeError:
            raise BadMessage("messages must be UTF-8 JSON text") from None
    try:
        body = json.loads(raw)
    except (TypeError, ValueError):
        raise BadMessage("messages must be JSON objects") from None
    if not isinstance(body, dict):
        raise BadMessage("messages must be JSON objects")
    action = body.get("action")
    if action == "ping":
        return {"action": "ping"}
    if action in ("join", "leave"):
        room = body.get("room")
        if not valid_room(room):
            raise BadMessage('room must be "downloads" or "job:<id>"')
        return {"action": action, "room": room}
    raise BadMessage('action must be "ping", "join" or "leave"')
