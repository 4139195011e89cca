"""The one loop behind every live stream (webapp/stream_loop.py), on the app's real EventHub:
replay from Last-Event-ID without repeats, keep-alives when idle, catching up after falling
behind, and the end of a stream whose holder's access ended — over SSE and a WebSocket."""
from __future__ import annotations

import threading
import time

import pytest

from webapp import stream_loop
from webapp.extensions import db
from webapp.live_api import replay
from webapp.models import User
from webapp.services.accounts import identity as accounts
from webapp.services.accounts import user_admin as users
from webapp.services.queue import events
from webapp.stream_loop import KEEPALIVE, RETRY, sse_frame
from webapp.streams import Holder

PASSWORD = "a-long-password-1"


class EchoView(stream_loop.LiveView):
    """Every event, as a frame named after its type; what was missed comes from the events table."""

    access_ended = sse_frame("bye", "")

    def frames(self, record):
        return [sse_frame(record.type, "", record.id)]

    def missed(self, after_id):
        records, _ = replay.missed_since(after_id)
        return [frame for r in records for frame in self.frames(r)], (records[-1].id if records else after_id)

    def behind(self, covered):
        return [sse_frame("behind", str(covered))], covered


def publish(kind=events.QUEUE_PAUSED) -> int:
    events.publish_queue(kind)
    db.session.commit()
    return events.latest_event_id()


def frame_id(frame: str) -> int | None:
    first = frame.split("\n", 1)[0]
    return int(first[4:]) if first.startswith("id: ") else None


class Frames:
    """An SSE response's frames, read as the client would."""

    def __init__(self, response):
        assert response.mimetype == "text/event-stream"
        assert response.headers["Cache-Control"] == "no-cache"
        self._frames = iter(response.response)

    def next(self) -> str:
        frame = next(self._frames)
        return frame.decode() if isinstance(frame, bytes) else frame

    def until(self, done, seconds: float = 10) -> list[str]:
        """Frames other than keep-alives up to the one `done` is true of."""
        seen, deadline = [], time.monotonic() + seconds
        while time.monotonic() < deadline:
            frame = self.next()
            if frame != KEEPALIVE:
                seen.append(frame)
                if done(frame):
                    return seen
        raise AssertionError(f"not seen in {seconds} s: {seen}")

    def rest(self) -> list[str]:
        return [frame for frame in self._frames if frame != KEEPALIVE]


@pytest.fixture
def short_keepalive(monkeypatch):
    monkeypatch.setattr(stream_loop, "KEEPALIVE_SECONDS", 0.2)


@pytest.fixture
def hub(app):
    return app.extensions["haul_event_hub"]


def test_one_sse_frame_formatter_for_text_and_json():
    assert sse_frame("queue", "<li>a</li>\n<li>b</li>", 7) == "id: 7\nevent: queue\ndata: <li>a</li>\ndata: <li>b</li>\n\n"
    assert sse_frame("signed-out", "") == "event: signed-out\ndata: \n\n"
    assert sse_frame("item", {"id": "job-1", "text": "two\nlines"}, 3) == (
        'id: 3\nevent: item\ndata: {"id":"job-1","text":"two\\nlines"}\n\n')


def test_sse_replays_from_last_event_id_then_goes_on_live_without_repeats(app, short_keepalive):
    seen_before = publish()
    missed = publish(events.QUEUE_RESUMED)
    with app.test_request_context():
        response = stream_loop.sse_response(Holder.of_guest("g"), EchoView(), last_id=seen_before)
        # After the subscription, before the replay: the hub and the table both have it.
        both = publish(events.REORDERED)
        frames = Frames(response)
        assert frames.next() == RETRY
        replayed = frames.until(lambda f: frame_id(f) == both)
        live = publish(events.CLEARED_MANY)
        sent = replayed + frames.until(lambda f: frame_id(f) == live)
        assert [frame_id(f) for f in sent] == [missed, both, live]
        assert sent[0] == sse_frame(events.QUEUE_RESUMED, "", missed)


def test_an_idle_sse_stream_sends_keep_alives(app, short_keepalive):
    with app.test_request_context():
        frames = Frames(stream_loop.sse_response(Holder.of_guest("g"), EchoView()))
        assert frames.next() == RETRY
        began = time.monotonic()
        assert frames.next() == KEEPALIVE
        assert frames.next() == KEEPALIVE
        assert time.monotonic() - began >= 0.3  # one every 0.2 s of silence, not a stream of them


def test_a_stream_that_fell_out_of_the_hubs_buffer_is_put_right_by_its_view(app, hub, short_keepalive):
    hub.BUFFER = 2
    with app.test_request_context():
        frames = Frames(stream_loop.sse_response(Holder.of_guest("g"), EchoView()))
        assert frames.next() == RETRY  # subscribed; reads nothing until asked for the next frame
        for _ in range(6):
            events.publish_queue(events.QUEUE_PAUSED)
        db.session.commit()
        last = events.latest_event_id()
        deadline = time.monotonic() + 5
        while hub.last_id < last and time.monotonic() < deadline:
            time.sleep(0.02)
        assert frames.next() == sse_frame("behind", "0")
        newer = publish(events.QUEUE_RESUMED)
        assert frames.until(lambda f: frame_id(f) == newer) == [sse_frame(events.QUEUE_RESUMED, "", newer)]


def test_an_sse_stream_ends_when_its_holders_access_ends_and_not_before(app, short_keepalive):
    carol = accounts.create_user("carol", PASSWORD)
    dave_id = accounts.create_user("dave", PASSWORD).id
    holder = Holder.of_browser(carol)
    with app.test_request_context():
        frames = Frames(stream_loop.sse_response(holder, EchoView()))
        assert frames.next() == RETRY
        users.reset_password(db.session.get(User, dave_id), "another-password-1")  # someone else's
        after = publish()
        assert frames.until(lambda f: frame_id(f) == after)[-1] == sse_frame(events.QUEUE_PAUSED, "", after)
        users.reset_password(db.session.get(User, holder.user_id), "another-password-1")
        assert frames.until(lambda f: f.startswith("event: bye")) == [EchoView.access_ended]
        assert frames.rest() == []


def test_a_view_may_end_its_stream_at_a_keep_alive_or_when_its_time_is_up(app, short_keepalive):
    from webapp.models.base import utcnow

    class Closing(EchoView):
        open = True

        def still_open(self):
            return self.open

    view = Closing()
    with app.test_request_context():
        frames = Frames(stream_loop.sse_response(Holder.of_guest("g"), view))
        assert frames.next() == RETRY
        assert frames.next() == KEEPALIVE
        view.open = False
        assert frames.rest() == [EchoView.access_ended]

        expiring = EchoView()
        expiring.expires_at = utcnow()
        frames = Frames(stream_loop.sse_response(Holder.of_guest("h"), expiring))
        assert frames.next() == RETRY
        assert frames.rest() == []  # closed without a word


class FakeSocket:
    """A WebSocket past its handshake, as simple_websocket's Server looks to a handler."""

    def __init__(self):
        self.connected = True
        self.sent: list[str] = []
        self.inbox: list[str] = []
        self.closed_with = None

    def send(self, text):
        self.sent.append(text)

    def receive(self, timeout=None):
        return self.inbox.pop(0) if self.inbox else None

    def close(self, reason=None, message=None):
        self.closed_with = (reason, message)
        self.connected = False


class SocketView(stream_loop.LiveView):
    def __init__(self):
        self.hold = threading.Event()
        self.hold.set()

    def frames(self, record):
        self.hold.wait(10)
        return [f"{record.type}:{record.id}"]

    def wait_seconds(self):
        return 0.05


def serve_in_thread(app, ws, holder, view, **options) -> threading.Thread:
    def run():
        with app.app_context():
            stream_loop.serve_socket(ws, holder, view, **options)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def wait_for(condition, seconds: float = 10):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_socket_gets_its_opening_each_event_and_answers_then_closes_when_access_ends(app):
    holder = Holder.of_browser(accounts.create_user("carol", PASSWORD))
    ws, heard = FakeSocket(), []
    thread = serve_in_thread(app, ws, holder, SocketView(), opening=["hello"],
                             on_message=heard.append)
    wait_for(lambda: ws.sent == ["hello"])
    time.sleep(0.1)  # subscribed
    paused = publish()
    wait_for(lambda: len(ws.sent) == 2)
    assert ws.sent[1] == f"{events.QUEUE_PAUSED}:{paused}"
    ws.inbox.append('{"action":"ping"}')
    wait_for(lambda: heard == ['{"action":"ping"}'])
    users.reset_password(db.session.get(User, holder.user_id), "another-password-1")
    thread.join(10)
    assert not thread.is_alive()
    assert ws.closed_with == (1008, "signed out: your sign-ins changed")


def test_a_socket_too_far_behind_is_told_to_reconnect_and_the_server_stopping_closes_it(app, hub):
    view, ws = SocketView(), FakeSocket()
    thread = serve_in_thread(app, ws, Holder.of_guest("g"), view)
    time.sleep(0.2)  # subscribed
    view.hold.clear()  # the socket is stuck sending the first event while more come
    publish()
    hub.BUFFER = 2
    time.sleep(0.2)
    for _ in range(6):
        events.publish_queue(events.QUEUE_PAUSED)
    db.session.commit()
    wait_for(lambda: hub.last_id == events.latest_event_id())
    view.hold.set()
    thread.join(10)
    assert ws.closed_with == (1013, "too far behind; reconnect")

    ws = FakeSocket()
    thread = serve_in_thread(app, ws, Holder.of_guest("g"), SocketView())
    time.sleep(0.2)
    hub.close()
    thread.join(10)
    assert not thread.is_alive()
    assert ws.closed_with == (1001, "server shutting down")


def test_a_socket_past_the_stream_limit_is_closed_before_it_starts(app):
    from webapp.services.admin import runtime_settings

    runtime_settings.save({runtime_settings.MAX_STREAMS: 1})
    first, second = FakeSocket(), FakeSocket()
    thread = serve_in_thread(app, first, Holder.of_guest("g"), SocketView())
    time.sleep(0.2)
    serve_in_thread(app, second, Holder.of_guest("g"), SocketView()).join(10)
    assert second.closed_with[0] == 1013 and second.sent == []
    first.connected = False  # the client went
    thread.join(10)
    assert not thread.is_alive()
    serve_in_thread(app, third := FakeSocket(), Holder.of_guest("g"), SocketView())
    time.sleep(0.2)
    assert third.closed_with is None  # its place was given back
    third.connected = False
