"""The web process's EventHub: one poller fanning events out, woken at once by the web's own
commits, rendering each event's frame once for every stream."""
from __future__ import annotations

import time

from webapp.extensions import db
from webapp.live_api import messages
from webapp.services.queue import events
from webapp.services.queue.events import EventHub


def publish_pause_and_commit():
    events.publish_queue(events.QUEUE_PAUSED)
    db.session.commit()


def test_a_commit_in_this_process_wakes_the_poller(app):
    hub = app.extensions["haul_event_hub"]
    hub.close()  # the app's own hub, replaced by one that would otherwise poll only every 30 s
    slow = app.extensions["haul_event_hub"] = EventHub(app, interval=30.0)
    try:
        with slow.subscribe() as subscription:
            time.sleep(0.2)  # the poller is now waiting out its interval
            began = time.monotonic()
            publish_pause_and_commit()
            record = subscription.get(timeout=5)
            assert record is not None and record.type == events.QUEUE_PAUSED
            assert time.monotonic() - began < 2, "the commit did not wake the poller"
    finally:
        slow.close()


def test_without_a_wake_the_poll_interval_finds_it(app):
    """Events written elsewhere (the worker) are found by the poll alone."""
    hub = app.extensions["haul_event_hub"]
    with hub.subscribe() as subscription:
        time.sleep(0.2)
        events.publish_queue(events.QUEUE_RESUMED)
        db.session.commit()
        hub._wake.clear()  # as if another process had committed it: no wake-up
        record = subscription.get(timeout=5)
        assert record is not None and record.type == events.QUEUE_RESUMED


def test_each_records_frame_is_rendered_once(app, monkeypatch):
    hub = app.extensions["haul_event_hub"]
    calls = []
    real = messages.event_message
    monkeypatch.setattr(messages, "event_message", lambda record: calls.append(record.id) or real(record))
    with hub.subscribe() as first, hub.subscribe() as second:
        time.sleep(0.2)
        publish_pause_and_commit()
        a, b = first.get(timeout=5), second.get(timeout=5)
        assert a is b  # the same record object reaches every subscriber
        assert messages.sse_event(a) == messages.sse_event(b)
        assert calls == [a.id]


def record(event_id: int) -> events.EventRecord:
    return events.EventRecord(event_id, events.PROGRESS, None, event_id, None, {})


def test_a_subscriber_too_slow_for_the_buffer_is_told_and_skips_ahead(app):
    hub = EventHub(app)
    hub.BUFFER = 3
    slow, keeping_up = hub.subscribe(), hub.subscribe()
    hub._fan_out([record(1), record(2)])
    assert keeping_up.get(timeout=0).id == 1 and keeping_up.get(timeout=0).id == 2
    for i in range(3, 9):  # 8 records in all: the buffer (3 to 6 of them) drops the oldest
        hub._fan_out([record(i)])
        assert keeping_up.get(timeout=0).id == i
    assert not keeping_up.overflowed
    assert slow.get(timeout=0) is None and slow.overflowed  # it missed 1–5: fetch them from the table
    hub._fan_out([record(9)])
    assert slow.get(timeout=0).id == 9  # and goes on from the newest


def test_closing_the_hub_wakes_every_waiting_stream(app):
    import threading

    hub = EventHub(app)
    sub = hub.subscribe()
    answers = []
    waiter = threading.Thread(target=lambda: answers.append(sub.get(timeout=30)))
    waiter.start()
    time.sleep(0.1)
    began = time.monotonic()
    hub.close()
    waiter.join(5)
    assert answers == [None] and sub.closed
    assert time.monotonic() - began < 2
