"""Waking every web process's event poller as soon as any process, on any host, commits events.

Each web process's EventHub (events.py) polls the events table every 50 ms; that poll stays, as
the fallback that always works. On top of it, a commit that wrote events tells every web process
to poll at once, one of two ways (HAUL_EVENT_WAKEUPS):

    redis   the committing process PUBLISHes on a Redis channel after its commit (HAUL_REDIS_URL)
    notify  it issues PostgreSQL's NOTIFY inside its transaction: delivered on commit, never
            for a rollback, and one per transaction however many events it wrote
    poll    no wake-ups: the 50 ms poll only (SQLite always: one host, and the web wakes its
            own hub after its own commits)
    auto    (the default) redis when HAUL_REDIS_URL is set, else notify on PostgreSQL, else
            poll — chosen from tests/bench/bench_event_wakeups.py's figures (docs)

The writer's side is one hook on the database engine of every process (web, worker, commands),
so no publishing function has to remember it: a statement inserting into `events` marks the
connection; the transaction's commit sends the wake-up. The listener's side is one thread (a
greenlet under gevent: psycopg 3 and redis-py both cooperate with its patching) per web process,
started with the hub's poller: it calls hub.wake() for every message, reconnects after a
restart of Redis or PostgreSQL (waking the hub once then: a message may have been lost), and
never stops the poll.
"""
from __future__ import annotations

import hashlib
import logging
import threading
import time

from sqlalchemy import event as sa_event

from webapp.config import ConfigError, POSTGRES_CONNECT_ARGS, without_password
from webapp.extensions import db

log = logging.getLogger(__name__)

MODES = ("auto", "redis", "notify", "poll")
NOTIFY_CHANNEL = "haul_events"
_WRITTEN, _COMMITTED = "haul_events_written", "haul_events_committed"  # flags in a connection's info
RECONNECT_SECONDS = (0.5, 1, 2, 5)  # waits between attempts to listen again; the last one repeats
IDLE_CHECK_SECONDS = 5.0
LISTENER_NAME = "haul-event-wakeups"  # a silent PostgreSQL listener checks its connection this often


def chosen_mode(settings, requested: str | None = None) -> str:
    """The wake-up mode for these settings: HAUL_EVENT_WAKEUPS, `auto` resolved."""
    requested = (requested or settings.event_wakeups or "auto").strip().lower()
    if requested not in MODES:
        raise ConfigError(f"HAUL_EVENT_WAKEUPS: expected one of {', '.join(MODES)}, got {requested!r}")
    postgres = settings.database_url.startswith("postgresql")
    if requested == "auto":
        return "redis" if settings.redis_url else ("notify" if postgres else "poll")
    if requested == "redis" and not settings.redis_url:
        raise ConfigError("HAUL_EVENT_WAKEUPS=redis needs HAUL_REDIS_URL")
    if requested == "notify" and not postgres:
        raise ConfigError("HAUL_EVENT_WAKEUPS=notify needs PostgreSQL (HAUL_DATABASE_URL=postgresql+psycopg://…)")
    return requested


def redis_channel(database_url: str) -> str:
    """The Redis channel of one installation. Pub/sub ignores Redis's database numbers, so the
    channel names the database the processes share: two installs on one Redis never wake each other."""
    digest = hashlib.sha256(without_password(database_url).encode()).hexdigest()[:16]
    return f"haul:events:{digest}"


def install(app) -> str:
    """Connect the writer's side to `app`'s engine (every role) and, for a process that serves
    live streams, the listener to its hub. Returns the mode."""
    settings = app.config["HAUL"]
    mode = chosen_mode(settings)
    app.extensions["haul_event_wakeups"] = mode
    if mode == "poll":
        return mode
    with app.app_context():
        engine = db.engine
    writer = _Writer(mode, settings)
    sa_event.listen(engine, "after_cursor_execute", writer.after_execute)
    sa_event.listen(engine, "commit", writer.before_commit)
    sa_event.listen(engine, "rollback", writer.rolled_back)
    if mode == "redis":
        sa_event.listen(engine.pool, "checkin", writer.checked_in)
    hub = app.extensions.get("haul_event_hub")
    if hub is not None:
        listener = Listener(mode, settings)
        app.extensions["haul_event_listener"] = listener
        hub.on_start.append(listener.start)
    return mode


def _inserts_events(context, statement: str) -> bool:
    if not context.isinsert:
        return False
    compiled = context.compiled
    table = getattr(getattr(compiled, "statement", None), "table", None)
    if table is not None:
        return getattr(table, "name", None) == "events"
    return statement.lstrip().upper().startswith("INSERT INTO EVENTS")


class _Writer:
    """The engine hooks of a process that may write events."""

    def __init__(self, mode: str, settings):
        self.mode = mode
        self.channel = redis_channel(settings.database_url)
        self._redis_url = settings.redis_url
        self._redis = None
        self._failed_at = 0.0
        self.sent = 0  # wake-ups sent (for tests and the benchmark)

    def after_execute(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if _inserts_events(context, statement):
            conn.info[_WRITTEN] = True

    def before_commit(self, conn) -> None:
        """Just before the transaction commits. NOTIFY goes inside it (PostgreSQL delivers it on
        commit, never for a rollback); Redis must wait until the commit is done (`checked_in`):
        a listener woken earlier could poll before the rows are visible."""
        if not conn.info.pop(_WRITTEN, False):
            return
        if self.mode == "notify":
            cursor = conn.connection.dbapi_connection.cursor()
            try:
                cursor.execute(f"NOTIFY {NOTIFY_CHANNEL}")
            finally:
                cursor.close()
            self.sent += 1
        else:
            conn.info[_COMMITTED] = True

    def rolled_back(self, conn) -> None:
        conn.info.pop(_WRITTEN, None)

    def checked_in(self, dbapi_connection, record) -> None:
        """The connection went back to the pool, its transaction committed: publish. (Sessions
        give their connection back at every commit; nothing here holds one across commits.)"""
        if record.info.pop(_COMMITTED, False):
            self.publish()

    def publish(self) -> None:
        if time.monotonic() - self._failed_at < 5:  # Redis is down: the poll carries on, don't wait on it each commit
            return
        try:
            if self._redis is None:
                import redis

                self._redis = redis.Redis.from_url(self._redis_url, socket_connect_timeout=1, socket_timeout=1)
            self._redis.publish(self.channel, b"")
            self.sent += 1
        except Exception as exc:  # noqa: BLE001 - a wake-up is an optimisation: never fail the commit's caller
            self._failed_at = time.monotonic()
            log.warning("event wake-up not published (Redis %s): %s; live views fall back to polling",
                        without_password(self._redis_url), exc)


class Listener:
    """One per web process: wakes the hub whenever another process says it committed events."""

    def __init__(self, mode: str, settings):
        self.mode = mode
        self._redis_url = settings.redis_url
        self._database_url = settings.database_url
        self.channel = redis_channel(settings.database_url)
        self.client_name = "haul-wakeups-" + self.channel.rsplit(":", 1)[1]  # seen in CLIENT LIST
        self._thread: threading.Thread | None = None
        self._hub = None
        self._stopped = threading.Event()
        self.connected = threading.Event()  # set while listening (tests wait on it)
        self.received = 0
        self.connects = 0

    def start(self, hub) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._hub = hub
        self._stopped.clear()
        self._thread = threading.Thread(target=self._run, name="haul-event-wakeups", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()

    def _run(self) -> None:
        attempt = 0
        listen = self._listen_redis if self.mode == "redis" else self._listen_postgres
        while not self._stopped.is_set() and not self._hub._closing:
            try:
                listen()
                attempt = 0
            except Exception as exc:  # noqa: BLE001 - any failure: the poll goes on, listen again
                where = self._redis_url if self.mode == "redis" else self._database_url
                log.warning("event wake-ups (%s at %s) lost: %s; polling meanwhile, reconnecting",
                            self.mode, without_password(where), str(exc).strip().splitlines()[0] if str(exc) else exc)
            self.connected.clear()
            self._stopped.wait(RECONNECT_SECONDS[min(attempt, len(RECONNECT_SECONDS) - 1)])
            attempt += 1

    def _woken(self) -> None:
        self.received += 1
        self._hub.wake()

    def _listening(self) -> None:
        self.connects += 1
        self.connected.set()
        self._hub.wake()  # a message may have been lost while not listening: look now

    def _listen_redis(self) -> None:
        import redis

        client = redis.Redis.from_url(self._redis_url, socket_connect_timeout=3, socket_keepalive=True,
                                      health_check_interval=10, client_name=self.client_name)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(self.channel)
            self._listening()
            while not self._stopped.is_set() and not self._hub._closing:
                # Returns at the timeout without a message; raises once the server is gone.
                if pubsub.get_message(timeout=IDLE_CHECK_SECONDS) is not None:
                    self._woken()
        finally:
            pubsub.close()
            client.close()

    def _listen_postgres(self) -> None:
        import psycopg
        from sqlalchemy.engine import make_url

        url = make_url(self._database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        connect_args = {**POSTGRES_CONNECT_ARGS, "application_name": LISTENER_NAME}  # seen in pg_stat_activity
        with psycopg.connect(url, autocommit=True, **connect_args) as conn:
            conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
            self._listening()
            while not self._stopped.is_set() and not self._hub._closing:
                for _ in conn.notifies(timeout=IDLE_CHECK_SECONDS):
                    self._woken()
                conn.execute("SELECT 1")  # silent for a while: is the server still there?
