"""The live API's message shaping (webapp/live_api/messages.py) and its bounded replay, in-process."""
from __future__ import annotations

import json

import pytest

from webapp.live_api import messages
from webapp.services.queue import events
from webapp.services.queue.events import EventRecord

ADMIN = messages.Viewer(user_id=None, is_admin=True)
ALICE = messages.Viewer(user_id=1, is_admin=False)


def job_record(kind=events.PROGRESS, job_id=7, user_id=1, event_id=42) -> EventRecord:
    data = {"job_id": job_id, "download_id": "sub-1", "status": "downloading", "progress": {"percent": 50.0}}
    return EventRecord(event_id, kind, "sub-1", job_id, user_id, data, "2026-01-01T00:00:00.000Z")


def parse_sse(frame: str) -> dict:
    fields = dict(line.split(": ", 1) for line in frame.strip().splitlines())
    fields["data"] = json.loads(fields["data"])
    return fields


def test_an_sse_frame_names_the_event_and_carries_the_job_snapshot():
    frame = parse_sse(messages.sse_event(job_record()))
    assert frame["id"] == "42" and frame["event"] == "progress"
    assert frame["data"] == {
        "type": "progress",
        "timestamp": "2026-01-01T00:00:00.000Z",
        "data": {"event_id": 42, "job_id": 7, "download_id": "sub-1", "status": "downloading",
                 "progress": {"percent": 50.0}},
    }


@pytest.mark.parametrize("kind, ws_type", [
    (events.PROGRESS, "download_progress"),
    (events.COMPLETED, "download_completed"),
    (events.FAILED, "download_failed"),
    (events.STATUS, "queue_updated"),
    (events.CANCELLED, "queue_updated"),
    (events.CLEARED, "queue_updated"),
])
def test_websocket_types_of_job_events(kind, ws_type):
    message = messages.ws_message(job_record(kind))
    assert message["type"] == ws_type and message["data"]["job_id"] == 7
    if ws_type == "queue_updated":
        assert message["data"]["event"] == kind


def test_queue_wide_events_become_queue_updated_for_every_room():
    record = EventRecord(5, events.QUEUE_PAUSED, None, None, None, {}, None)
    assert messages.ws_message(record)["data"] == {"event": "queue_paused", "event_id": 5}
    assert messages.rooms_of(record) is None
    assert messages.for_rooms(record, set())
    assert ALICE.may_see(record)


def test_a_submission_belongs_to_the_rooms_of_its_jobs():
    record = EventRecord(6, events.QUEUED, "sub-2", None, 1, {"job_ids": [3, 4]}, None)
    assert messages.rooms_of(record) == {"downloads", "job:3", "job:4"}
    assert messages.ws_message(record)["type"] == "queue_updated"
    assert messages.for_rooms(record, {"job:4"}) and not messages.for_rooms(record, {"job:9"})


def test_job_rooms_and_visibility():
    record = job_record(job_id=7, user_id=2)
    assert messages.for_rooms(record, {"job:7"}) and not messages.for_rooms(record, {"job:8"})
    assert ADMIN.may_see(record) and not ALICE.may_see(record)
    assert ALICE.may_see(job_record(user_id=1))
    # A reorder by a user is only for those who may see that user's jobs.
    assert not ALICE.may_see(EventRecord(9, events.REORDERED, None, None, 2, {}, None))


@pytest.mark.parametrize("raw, expected", [
    ('{"action": "ping"}', {"action": "ping"}),
    ('{"action": "join", "room": "job:12"}', {"action": "join", "room": "job:12"}),
    (b'{"action": "leave", "room": "downloads"}', {"action": "leave", "room": "downloads"}),
])
def test_client_messages(raw, expected):
    assert messages.parse_client_message(raw) == expected


@pytest.mark.parametrize("raw", [
    "not json", "[1, 2]", '{"action": "dance"}', '{"action": "join"}', '{"action": "join", "room": "job:x"}',
    '{"action": "join", "room": "everything"}', b"\xff\xfe",
])
def test_bad_client_messages(raw):
    with pytest.raises(messages.BadMessage):
        messages.parse_client_message(raw)


def test_gap_frame():
    frame = parse_sse(messages.gap_frame(10, 50, "pruned"))
    assert frame["event"] == "gap" and "id" not in frame
    assert frame["data"]["data"] == {"last_event_id": 10, "oldest_available_id": 50, "reason": "pruned"}


# -- replay from the events table ---------------------------------------------------------
def _add_events(count: int) -> list[int]:
    from webapp.extensions import db
    from webapp.models import Event
    from webapp.models.base import utcnow

    rows = [Event(type=events.QUEUE_PAUSED, data={"n": n}, created_at=utcnow()) for n in range(count)]
    db.session.add_all(rows)
    db.session.commit()
    return [row.id for row in rows]


def test_replay_returns_what_was_missed(app):
    from webapp.live_api import replay

    ids = _add_events(5)
    records, gap = replay.missed_since(ids[1])
    assert [r.id for r in records] == ids[2:] and gap is None
    assert records[0].created_at.endswith("Z")


def test_replay_reports_a_gap_when_events_were_pruned(app):
    from sqlalchemy import delete

    from webapp.extensions import db
    from webapp.live_api import replay
    from webapp.models import Event

    ids = _add_events(6)
    db.session.execute(delete(Event).where(Event.id <= ids[3]))
    db.session.commit()
    records, gap = replay.missed_since(ids[0])
    assert [r.id for r in records] == ids[4:]
    assert gap == {"oldest_available_id": ids[4], "reason": "pruned"}


def test_replay_is_bounded(app):
    from webapp.live_api import replay

    ids = _add_events(10)
    records, gap = replay.missed_since(ids[0] - 1, limit=4)
    assert [r.id for r in records] == ids[-4:]
    assert gap == {"oldest_available_id": ids[-4], "reason": "too_many"}


def test_the_sse_route_replays_with_a_gap_notice_in_process(app, client):
    from conftest import API_TOKEN
    from sqlalchemy import delete

    from webapp.extensions import db
    from webapp.models import Event

    ids = _add_events(4)
    db.session.execute(delete(Event).where(Event.id <= ids[1]))
    db.session.commit()
    app.extensions["haul_event_hub"].close()  # the stream ends after the replay
    response = client.get(f"/api/v1/events?token={API_TOKEN}", headers={"Last-Event-ID": str(ids[0])})
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    body = response.get_data(as_text=True)
    frames = [parse_sse(f) for f in body.split("\n\n") if f.startswith(("id:", "event:"))]
    assert [f["event"] for f in frames] == ["gap", "queue_paused", "queue_paused"]
    assert frames[0]["data"]["data"]["oldest_available_id"] == ids[2]
    assert [int(f["id"]) for f in frames[1:]] == ids[2:]


def test_the_sse_route_needs_a_token_and_a_numeric_last_event_id(client):
    from conftest import API_TOKEN

    assert client.get("/api/v1/events").status_code == 401
    response = client.get("/api/v1/events", headers={"Authorization": f"Bearer {API_TOKEN}", "Last-Event-ID": "abc"})
    assert response.status_code == 400


def test_the_sse_route_needs_the_read_or_submit_scope(app, client):
    from webapp.services.accounts.identity import create_token, create_user

    user = create_user("submitter", "a-long-password-123")
    tokens_only = create_token(user, "manager", scopes="tokens")[1]
    response = client.get("/api/v1/events", headers={"Authorization": f"Bearer {tokens_only}"})
    assert response.status_code == 403 and response.get_json()["error_code"] == "insufficient_scope"
