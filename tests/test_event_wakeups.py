"""Every web process's live streams see every event, in id order, at once, on PostgreSQL (+ Redis).

The hub's in-order delivery (webapp/services/queue/events.py: transactions committing out of id
order, rolled-back ids, replays) and the cross-process wake-ups (event_wakeups.py: Redis pub/sub
and LISTEN/NOTIFY, the writer's hook, the listener's reconnection), against the real PostgreSQL
and Redis on this machine. Each test has its own database and Redis database number.
"""
from __future__ import annotations

import dataclasses
import time

import pytest
from sqlalchemy import insert, text

from support import scale_out

def until(predicate, timeout: float = 10.0, message: str = "condition"):
    """Wait for a state, with a deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {message}")


def _row(kind="status", user_id=None):
    from webapp.models.base import utcnow

    return {"type": kind, "user_id": user_id, "data": {"n": kind}, "created_at": utcnow()}


def _insert(conn, kind="status") -> int:
    from webapp.models import Event

    table = Event.__table__
    return conn.execute(insert(table).returning(table.c.id), [_row(kind)]).scalar_one()


def _make_app(settings, database_url, redis_url=None, mode=None, monkeypatch=None):
    from webapp import create_app

    settings = dataclasses.replace(settings, database_url=database_url, redis_url=redis_url)
    if mode is not None:
        settings = dataclasses.replace(settings, event_wakeups=mode)
    return create_app(settings, role="test", TESTING=True)


@pytest.fixture
def hub_app(pg_app):
    """pg_app, its hub's poller stopped before the database is dropped."""
    yield pg_app
    _stop_hub(pg_app)


def _stop_hub(app):
    hub = app.extensions["haul_event_hub"]
    listener = app.extensions.get("haul_event_listener")
    if listener is not None:
        listener.stop()
    hub.stop()
    if hub._thread is not None:
        hub._thread.join(10)


@pytest.fixture
def redis_db():
    database = scale_out.RedisDatabase()
    yield database
    database.release()


def _receive(sub, count, timeout=10.0):
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        record = sub.get(timeout=0.2)
        if record is not None:
            got.append(record)
    return got


# -- in-order delivery on PostgreSQL -------------------------------------------------------

def test_out_of_order_commits_are_both_delivered_in_id_order(hub_app):
    """Tx A takes id n, tx B id n+1 and commits first: the hub passes n+1 but still delivers n
    when A commits, and before n+1 (held back meanwhile)."""
    from webapp.extensions import db

    hub = hub_app.extensions["haul_event_hub"]
    assert hub.ordered
    sub = hub.subscribe()
    engine = db.engine
    with engine.connect() as conn_a, engine.connect() as conn_b:
        id_a = _insert(conn_a, "a")
        id_b = _insert(conn_b, "b")
        assert id_b > id_a
        conn_b.commit()
        until(lambda: hub.last_id >= id_b, message="the poll to read B")
        assert sub.get(timeout=0) is None, "B must wait for A, which holds a lower id"
        assert hub.safe_id < id_a
        conn_a.commit()
        got = _receive(sub, 2)
    assert [r.id for r in got] == [id_a, id_b]
    assert [r.type for r in got] == ["a", "b"]
    assert hub.safe_id >= id_b
    sub.close()


def test_a_rolled_back_id_stops_holding_back_once_its_transaction_ends(hub_app):
    from webapp.extensions import db

    hub = hub_app.extensions["haul_event_hub"]
    sub = hub.subscribe()
    with db.engine.connect() as conn_a, db.engine.connect() as conn_b:
        id_a = _insert(conn_a, "a")
        id_b = _insert(conn_b, "b")
        conn_b.commit()
        until(lambda: hub.last_id >= id_b, message="the poll to read B")
        started = time.monotonic()
        conn_a.rollback()
        got = _receive(sub, 1)
        waited = time.monotonic() - started
    assert [r.id for r in got] == [id_b]
    assert id_a not in [r.id for r in got]
    # Closed by the writers' check (pg_locks), within a few polls, not by the 10 s limit.
    assert waited < 2, waited
    assert hub.gaps_expired >= 1
    sub.close()


def test_many_concurrent_writers_none_missed_none_doubled(hub_app):
    """Ten transactions committing in shuffled order, some rolled back: every committed event
    comes exactly once, in increasing id order."""
    import random

    from webapp.extensions import db

    hub = hub_app.extensions["haul_event_hub"]
    sub = hub.subscribe()
    conns = [db.engine.connect() for _ in range(10)]
    try:
        ids = [_insert(conn, f"e{i}") for i, conn in enumerate(conns)]
        order = list(range(10))
        random.Random(17).shuffle(order)
        committed = []
        for i in order:
            if i % 4 == 3:
                conns[i].rollback()
            else:
                conns[i].commit()
                committed.append(ids[i])
        got = _receive(sub, len(committed))
    finally:
        for conn in conns:
            conn.close()
    assert [r.id for r in got] == sorted(committed)
    assert sub.get(timeout=0.3) is None  # nothing more, nothing twice
    sub.close()


def test_replay_never_runs_ahead_of_an_open_transaction(hub_app):
    """A reconnecting client's replay stops at the hub's in-order position: B (committed above
    A's open id) comes live after A, not in the replay, where the stream would then skip A."""
    from webapp.extensions import db
    from webapp.services.queue import events

    hub = hub_app.extensions["haul_event_hub"]
    sub = hub.subscribe()
    before = events.latest_event_id()
    with db.engine.connect() as conn_a, db.engine.connect() as conn_b:
        id_a = _insert(conn_a, "a")
        id_b = _insert(conn_b, "b")
        conn_b.commit()
        until(lambda: hub.last_id >= id_b, message="the poll to read B")
        assert events.latest_event_id() < id_a  # a page drawn now says it has not seen A
        records, newest = events.replayable_since(before, 100)
        db.session.remove()
        assert id_b not in [r.id for r in records]
        assert newest < id_a
        conn_a.commit()
    got = _receive(sub, 2)
    assert [r.id for r in got] == [id_a, id_b]
    records, newest = events.replayable_since(before, 100)
    db.session.remove()
    assert [r.id for r in records] == [id_a, id_b] and newest == id_b
    sub.close()


def test_a_hub_starting_while_a_lower_id_is_open_still_delivers_it(hub_app):
    from webapp.extensions import db

    hub = hub_app.extensions["haul_event_hub"]
    with db.engine.connect() as conn_a, db.engine.connect() as conn_b:
        id_a = _insert(conn_a, "a")
        id_b = _insert(conn_b, "b")
        conn_b.commit()
        sub = hub.subscribe()  # the hub starts now: B is already there, A not yet
        conn_a.commit()
        got = _receive(sub, 1)
    assert [r.id for r in got] == [id_a]
    assert sub.get(timeout=0.3) is None  # B was there before the stream: not sent
    assert hub.safe_id >= id_b
    sub.close()


# -- the writer's hook ----------------------------------------------------------------------

def test_notify_is_sent_on_commit_of_events_only(settings, postgres_url, monkeypatch):
    """One NOTIFY per committed transaction that wrote events, whatever wrote them (ORM, Core,
    a raw connection of the engine); none for a rollback or a commit without events."""
    import psycopg

    from webapp.extensions import db
    from webapp.models import Event
    from webapp.services.queue import event_wakeups, events

    app = _make_app(settings, postgres_url, mode="notify", monkeypatch=monkeypatch)
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        assert app.extensions["haul_event_wakeups"] == "notify"
        plain = postgres_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(plain, autocommit=True) as listener:
            listener.execute(f"LISTEN {event_wakeups.NOTIFY_CHANNEL}")

            def notified(timeout):
                return len(list(listener.notifies(timeout=timeout)))

            events.publish_queue(events.QUEUE_PAUSED)  # ORM
            events.publish_queue(events.QUEUE_RESUMED)
            db.session.commit()
            assert notified(2) == 1  # one per transaction
            events.publish_submitted([events.submitted_event_row(  # Core on the session's connection
                submission_id="s1", user_id=None, token_id=None, post_title="t", label=None, urls=["u"],
                queued_at=events.utcnow(), job_ids=[])])
            db.session.commit()
            assert notified(2) == 1
            db.session.execute(insert(Event), [_row("progress")])  # as the worker's runner writes progress
            db.session.commit()
            assert notified(2) == 1
            events.publish_queue(events.QUEUE_PAUSED)
            db.session.rollback()
            db.session.execute(text("SELECT 1"))
            db.session.commit()
            assert notified(0.5) == 0  # rolled back, or nothing written: no wake-up
        db.session.remove()
        db.engine.dispose()


def test_redis_wakeup_is_published_after_commit(settings, postgres_url, redis_db, monkeypatch):
    import redis

    from webapp.extensions import db
    from webapp.services.queue import event_wakeups, events

    app = _make_app(settings, postgres_url, redis_url=redis_db.url, monkeypatch=monkeypatch)
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        assert app.extensions["haul_event_wakeups"] == "redis"  # auto, with Redis set
        pubsub = redis.Redis.from_url(redis_db.url).pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(event_wakeups.redis_channel(postgres_url))
        pubsub.get_message(timeout=1)  # the subscription's confirmation: listening from here

        def messages(timeout):
            got, deadline = 0, time.monotonic() + timeout
            while time.monotonic() < deadline:
                if pubsub.get_message(timeout=0.05) is not None:
                    got += 1
            return got

        events.publish_queue(events.QUEUE_PAUSED)
        db.session.commit()
        assert messages(1) == 1
        events.publish_queue(events.QUEUE_PAUSED)
        db.session.rollback()
        assert messages(0.5) == 0
        pubsub.close()
        db.session.remove()
        db.engine.dispose()


def test_the_mode_is_checked(settings):
    from webapp.config import ConfigError
    from webapp.services.queue.event_wakeups import chosen_mode

    sqlite = settings
    pg = dataclasses.replace(settings, database_url="postgresql+psycopg://u:secret@db/haul")
    assert chosen_mode(sqlite, "auto") == "poll"
    assert chosen_mode(pg, "auto") == "notify"
    assert chosen_mode(dataclasses.replace(pg, redis_url="redis://r/1"), "auto") == "redis"
    with pytest.raises(ConfigError, match="needs HAUL_REDIS_URL"):
        chosen_mode(pg, "redis")
    with pytest.raises(ConfigError, match="needs PostgreSQL"):
        chosen_mode(sqlite, "notify")
    with pytest.raises(ConfigError, match="expected one of"):
        chosen_mode(pg, "carrier-pigeon")


# -- across processes: a second app on the same database is "another process" ---------------

@pytest.mark.parametrize("mode", ["redis", "notify"])
def test_another_process_commit_wakes_this_hub_at_once_and_after_the_listener_reconnects(
        settings, postgres_url, redis_db, monkeypatch, mode):
    """With the fallback poll made 30 s long, only a wake-up can bring another app's (process's)
    event within 2 s; the same after the listener's connection is killed on the server."""
    import redis

    from webapp.extensions import db
    from webapp.services.queue import event_wakeups, events

    web = _make_app(settings, postgres_url, redis_url=redis_db.url, mode=mode, monkeypatch=monkeypatch)
    with web.app_context():
        from flask_migrate import upgrade

        upgrade()
    other = _make_app(settings, postgres_url, redis_url=redis_db.url, mode=mode, monkeypatch=monkeypatch)
    hub = web.extensions["haul_event_hub"]
    listener = web.extensions["haul_event_listener"]
    hub.interval = 30.0
    sub = hub.subscribe()
    assert listener.connected.wait(10)

    def write_elsewhere(kind):
        with other.app_context():
            events.publish_queue(kind)
            db.session.commit()
            db.session.remove()

    def delivered_within(kind, seconds):
        started = time.monotonic()
        write_elsewhere(kind)
        record = sub.get(timeout=seconds)
        assert record is not None, f"{mode}: not woken within {seconds}s"
        assert record.type == kind
        return time.monotonic() - started

    # The hub's first poll after it started may still be sleeping its 30 s: wake-ups end it.
    assert delivered_within(events.QUEUE_PAUSED, 2) < 2
    assert delivered_within(events.QUEUE_RESUMED, 2) < 2

    # Kill the listener's connection on the server (as a restart would): it listens again.
    connects = listener.connects
    if mode == "redis":
        admin = redis.Redis.from_url(redis_db.url)
        name = listener.client_name
        ids = [c["id"] for c in admin.client_list() if c.get("name") == name]
        assert ids, "the listener's Redis connection is not to be seen"
        for client_id in ids:
            admin.client_kill_filter(_id=client_id)
    else:
        import psycopg

        plain = postgres_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(plain, autocommit=True) as admin:
            killed = admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                   "WHERE datname = current_database() AND application_name = %s",
                                   [event_wakeups.LISTENER_NAME]).fetchall()
            assert killed
    until(lambda: listener.connects > connects and listener.connected.is_set(), 20, "the listener to reconnect")
    assert delivered_within(events.QUEUE_PAUSED, 2) < 2
    sub.close()
    for app in (web, other):
        _stop_hub(app)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
