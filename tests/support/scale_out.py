"""The scale-out mode's servers for tests: a PostgreSQL database and a Redis database of one's own.

`make test` runs the end-to-end suite a second time with `--scale-out` (tests/conftest.py): every
live stack then runs on PostgreSQL (127.0.0.1:5432, trust auth; a database created for the stack
and dropped after it) and Redis (127.0.0.1:6379; a database number held for the stack and
flushed before and after). `python -m support.scale_out` (from tests/) checks that both answer
and says how to start them when they do not.
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import uuid
from pathlib import Path

from support.slots import hold_first_free

POSTGRES_URL = os.environ.get("TESTS_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TESTS_REDIS_URL", "redis://127.0.0.1:6379")
ENABLED_VARIABLE = "TESTS_SCALE_OUT"  # set by `pytest --scale-out`, read by HaulStack
REDIS_DATABASES = range(1, 16)  # 0 is left to whoever else uses this Redis
_LOCK_DIR = Path(tempfile.gettempdir()) / "haul-tests-redis-dbs"


def enabled() -> bool:
    return os.environ.get(ENABLED_VARIABLE) == "1"


def _admin_connection():
    import psycopg

    return psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5)


def create_database(prefix: str = "haul_test") -> str:
    """A new empty PostgreSQL database; returns its SQLAlchemy URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with _admin_connection() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{name}"


def drop_database(url: str) -> None:
    """Drop a database `create_database` made, closing what is still connected to it."""
    name = url.rsplit("/", 1)[1]
    with _admin_connection() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class RedisDatabase:
    """A Redis database number held (under a file lock, across pytest-xdist's processes) until
    released; empty when taken and emptied when given back."""

    def __init__(self):
        import redis

        held = hold_first_free(_LOCK_DIR, REDIS_DATABASES)
        if held is None:
            raise RuntimeError(f"all Redis databases {REDIS_DATABASES.start}-{REDIS_DATABASES.stop - 1} are held "
                               "by other stacks of this test run")
        self.number, self._lock = held
        self.url = f"{REDIS_URL}/{self.number}"
        self._client = redis.Redis.from_url(self.url)
        self._client.flushdb()

    def release(self) -> None:
        with contextlib.suppress(Exception):
            self._client.flushdb()
            self._client.close()
        self._lock.close()


class ScaleOutServers:
    """What one stack needs in scale-out mode: its own PostgreSQL database and Redis database.
    `env` holds the settings to start Haul with."""

    def __init__(self, with_redis: bool = True):
        self.database_url = create_database()
        self.redis = RedisDatabase() if with_redis else None
        self.env = {"HAUL_DATABASE_URL": self.database_url}
        if self.redis:
            self.env["HAUL_REDIS_URL"] = self.redis.url

    def close(self) -> None:
        with contextlib.suppress(Exception):
            drop_database(self.database_url)
        if self.redis:
            self.redis.release()


def check() -> list[str]:
    """What is wrong with the servers the scale-out tests need (an empty list when both answer)."""
    problems = []
    try:
        with _admin_connection() as conn:
            conn.execute("SELECT 1")
            if conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'").fetchone() is None:
                problems.append("PostgreSQL lacks the pg_trgm extension (Debian: apt-get install postgresql-contrib)")
    except Exception as exc:  # noqa: BLE001 - any failure is reported as it is
        problems.append(f"PostgreSQL at {POSTGRES_URL} does not answer ({str(exc).strip().splitlines()[0]}); "
                        "start it with `service postgresql start` (Debian: apt-get install postgresql), "
                        "with trust authentication for 127.0.0.1 and a database named test")
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except Exception as exc:  # noqa: BLE001
        problems.append(f"Redis at {REDIS_URL} does not answer ({exc}); start it with `service redis-server start` "
                        "(Debian: apt-get install redis-server)")
    return problems


if __name__ == "__main__":
    found = check()
    for problem in found:
        print(f"make test: {problem}", file=sys.stderr)
    sys.exit(1 if found else 0)
