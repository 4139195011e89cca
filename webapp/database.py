"""Settings for every database connection: SQLite's, with lock waits that don't stall the web
process, and PostgreSQL's number loader (`configure_postgresql`, at the end).

SQLite is shared by the web process and the worker threads: WAL lets readers and one writer
work at once, busy_timeout makes a writer wait instead of failing with "database is locked",
and synchronous=NORMAL is safe under WAL while saving an fsync per commit.

The web process runs on gevent: SQLite's own busy handler sleeps inside C, which would freeze
every request of the process (measured: 300 ms stalls under a busy worker). There, connections
are made with `CooperativeConnection`, which gets "busy" at once and waits with time.sleep —
patched by gevent, so other requests run meanwhile.
"""
from __future__ import annotations

import sqlite3
import sys
import time

from sqlalchemy import event
from sqlalchemy.engine import Engine

SQLITE_BUSY = 5  # BUSY_SNAPSHOT (517) cannot succeed by waiting, so it is not retried
LOCK_WAIT_SECONDS = 30.0


def under_gevent() -> bool:
    """True in a process whose time.sleep gevent has made cooperative (the web server)."""
    monkey = sys.modules.get("gevent.monkey")
    return bool(monkey and monkey.is_module_patched("time"))


def _retry_while_busy(call, *args):
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    delay = 0.0002
    while True:
        try:
            return call(*args)
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", None) != SQLITE_BUSY or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.001)


_WRITE_STATEMENTS = ("INSERT", "UPDATE", "DELETE", "REPLACE")


class _CooperativeCursor(sqlite3.Cursor):
    def execute(self, sql, *args):
        self.connection._enter_write(sql)
        return _retry_while_busy(super().execute, sql, *args)

    def executemany(self, sql, *args):
        self.connection._enter_write(sql)
        return _retry_while_busy(super().executemany, sql, *args)


class CooperativeConnection(sqlite3.Connection):
    """A sqlite3 connection that waits for locks by sleeping in Python (see the module doc).

    It also leaves WAL checkpoints to the worker's connections (wal_autocheckpoint=0): a
    checkpoint copies and fsyncs pages inside the COMMIT that triggers it, which would again
    stall every request of the web process.
    """

    _gates: dict = {}  # database path -> the lock its writers in this process queue on
    _holds_gate = False

    def __init__(self, database, *args, **kwargs):
        super().__init__(database, *args, **kwargs)
        self._database = str(database)
        super().execute("PRAGMA wal_autocheckpoint=0")

    def cursor(self, factory=_CooperativeCursor):
        return super().cursor(factory)

    def execute(self, *args):
        return self.cursor().execute(*args)

    def _enter_write(self, sql: str) -> None:
        """Before a transaction's first write, take this database's write gate in this process.

        Without it, every request waiting for SQLite's lock polls for it, and an unlucky one
        keeps missing it (measured: 600 ms tails). With it, at most one request per process
        polls against the worker; the rest wait in line without polling.
        """
        if self._holds_gate or self.in_transaction or not sql.lstrip()[:7].upper().startswith(_WRITE_STATEMENTS):
            return
        gate = self._gates.get(self._database)
        if gate is None:
            import threading  # patched by gevent in the web process: a cooperative lock

            gate = self._gates.setdefault(self._database, threading.Lock())
        gate.acquire()
        self._holds_gate = True

    def _leave_write(self) -> None:
        if self._holds_gate:
            self._holds_gate = False
            self._gates[self._database].release()

    def commit(self):
        try:
            return _retry_while_busy(super().commit)
        finally:
            if not self.in_transaction:
                self._leave_write()

    def rollback(self):
        try:
            return super().rollback()
        finally:
            self._leave_write()

    def close(self):
        try:
            return super().close()
        finally:
            self._leave_write()


def sqlite_connect_args() -> dict:
    """sqlite3.connect() arguments for this process: cooperative waits under gevent."""
    if under_gevent():
        return {"factory": CooperativeConnection, "timeout": 0}
    return {"timeout": LOCK_WAIT_SECONDS}


def icontains(haystack: str | None, folded_needle: str) -> int:
    """1 when `folded_needle` (already lower-case) occurs in `haystack` with case ignored, as
    PostgreSQL's ILIKE '%…%' would say; NULL holds nothing."""
    return int(haystack is not None and folded_needle in haystack.lower())


def configure_sqlite(engine: Engine) -> None:
    """Set Haul's pragmas on every new SQLite connection of this engine."""
    if engine.dialect.name != "sqlite":
        return
    cooperative = under_gevent()

    @event.listens_for(engine, "connect")
    def _set_pragmas(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # 0 under gevent: CooperativeConnection does the waiting.
        cursor.execute(f"PRAGMA busy_timeout={0 if cooperative else int(LOCK_WAIT_SECONDS * 1000)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
        # The history's search of a non-ASCII term (SQLite's LIKE folds only ASCII letters).
        dbapi_connection.create_function("haul_icontains", 2, icontains, deterministic=True)


def configure_postgresql(engine: Engine) -> None:
    """Have every PostgreSQL connection of this engine read `numeric` as SQLite would answer.

    No Haul column is numeric: the type only appears as the result of sum() over a bigint column
    and of avg(), which psycopg would hand back as Decimal — a type JSON cannot carry (an event's
    or a collection's totals) and SQLite never returns. Whole values become int, others float.
    """
    if engine.dialect.name != "postgresql":
        return
    from psycopg.types.numeric import NumericLoader  # only in this mode: psycopg is loaded by the engine anyway

    class IntegralNumericLoader(NumericLoader):
        def load(self, data):
            value = super().load(data)
            return int(value) if value == value.to_integral_value() else float(value)

    @event.listens_for(engine, "connect")
    def _register_loaders(dbapi_connection, _record):
        dbapi_connection.adapters.register_loader("numeric", IntegralNumericLoader)
