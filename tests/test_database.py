"""The web process's SQLite connections wait for locks cooperatively and queue their writes."""
from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from webapp.database import CooperativeConnection


@pytest.fixture
def db_path(tmp_path):
    path = tmp_path / "t.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (x INTEGER)")
    conn.commit()
    conn.close()
    return path


def hold_write_lock(path, seconds: float) -> threading.Thread:
    """Another connection (the worker) holds SQLite's write lock for `seconds`."""
    locked = threading.Event()

    def holder():
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t VALUES (1)")
        locked.set()
        time.sleep(seconds)
        conn.execute("COMMIT")
        conn.close()

    thread = threading.Thread(target=holder)
    thread.start()
    locked.wait(5)
    return thread


def test_a_busy_database_is_waited_for_not_an_error(db_path):
    """With busy_timeout 0 a plain connection fails at once; the cooperative one waits it out."""
    holder = hold_write_lock(db_path, 0.4)
    plain = sqlite3.connect(db_path, timeout=0)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        plain.execute("INSERT INTO t VALUES (2)")
    plain.close()
    cooperative = sqlite3.connect(db_path, timeout=0, factory=CooperativeConnection)
    began = time.monotonic()
    cooperative.execute("INSERT INTO t VALUES (3)")
    cooperative.commit()
    assert time.monotonic() - began >= 0.2  # it really waited for the holder
    holder.join()
    assert sorted(x for (x,) in cooperative.execute("SELECT x FROM t")) == [1, 3]
    cooperative.close()


def test_writers_of_one_process_take_turns_through_the_gate(db_path):
    """Two cooperative connections: the second writer waits for the first one's commit."""
    first = sqlite3.connect(db_path, timeout=0, factory=CooperativeConnection, check_same_thread=False)
    second = sqlite3.connect(db_path, timeout=0, factory=CooperativeConnection, check_same_thread=False)
    first.execute("INSERT INTO t VALUES (10)")  # holds the gate until commit
    order = []

    def second_writer():
        second.execute("INSERT INTO t VALUES (20)")
        order.append("second wrote")
        second.commit()

    thread = threading.Thread(target=second_writer)
    thread.start()
    time.sleep(0.2)
    assert order == []  # still waiting at the gate
    order.append("first commits")
    first.commit()
    thread.join(5)
    assert order == ["first commits", "second wrote"]
    first.close()
    second.close()


def test_a_rollback_opens_the_gate_too(db_path):
    first = sqlite3.connect(db_path, timeout=0, factory=CooperativeConnection, check_same_thread=False)
    first.execute("INSERT INTO t VALUES (1)")
    first.rollback()
    second = sqlite3.connect(db_path, timeout=0, factory=CooperativeConnection)
    second.execute("INSERT INTO t VALUES (2)")  # would block forever if the gate were still held
    second.commit()
    assert [x for (x,) in second.execute("SELECT x FROM t")] == [2]
    first.close()
    second.close()


def test_the_workers_checkpoint_copies_the_whole_log_back(app):
    """The web leaves checkpoints to the worker; its once-a-second pass must copy everything
    the web logged (no reader holds it back here), so the log never grows into one big stall."""
    from jobs.worker import checkpoint_once
    from webapp.services.queue.submissions import submit

    for i in range(20):
        submit([f"http://example.com/wal/{i}"], principal=None)
    busy, logged, copied = checkpoint_once()
    assert busy == 0 and logged > 0 and copied == logged


def test_postgresql_sums_and_averages_come_back_as_sqlite_gives_them(pg_app):
    """sum() over a bigint column is `numeric` on PostgreSQL; Haul reads it as int (float when not
    whole), so totals fit in JSON (an event, a collection's progress) as they do on SQLite."""
    import json

    from sqlalchemy import BigInteger, Numeric, cast, func, literal, select

    from webapp.extensions import db

    total, average, fraction = db.session.execute(select(
        func.sum(cast(literal(5), BigInteger)), func.avg(cast(literal(7), BigInteger)),
        cast(literal(2.5), Numeric))).one()
    assert (total, average, fraction) == (5, 7, 2.5)
    assert type(total) is int and type(average) is int and type(fraction) is float
    assert json.dumps({"total": total}) == '{"total": 5}'
