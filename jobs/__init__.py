"""The Huey instance both processes share, chosen from the configuration.

Huey carries only wake-up tasks (the job rows are the queue). By default it is SqliteHuey in its
own file in the data dir, so it needs no other service; with HAUL_REDIS_URL it is RedisHuey,
shared by the web and worker processes of every host (docs/scale-out.md).
"""
import sys


def _started_as_worker() -> bool:
    """True in the process `python -m jobs.worker` started (sys.orig_argv is set before any import)."""
    argv = getattr(sys, "orig_argv", [])
    return any(arg == "-m" and argv[i + 1:i + 2] == ["jobs.worker"] for i, arg in enumerate(argv))


if _started_as_worker() and "gevent" not in sys.modules:
    # huey.consumer imports gevent whenever it is installed (for its greenlet worker type, which
    # Haul never uses: the worker runs threads or processes). The web needs gevent; the worker
    # would carry it for nothing (~4 MB). A None entry makes `import gevent` fail at once, so
    # Huey takes its no-gevent path.
    sys.modules["gevent"] = None

import contextlib  # noqa: E402


@contextlib.contextmanager
def _not_imported(*names: str):
    """Keep `names` from being imported inside the block (a None entry in sys.modules makes the
    import fail at once), then let them be imported as usual again.

    huey.storage imports redis and psycopg at its top whenever they are installed (for its own
    Redis and PostgreSQL storages). Haul installs both for the scale-out mode, and the default
    SQLite setup would carry them in the web and the worker for nothing: ~140 modules, about
    12 MB of each process (docs/benchmarks.md, issue 17). Haul never uses huey's PostgreSQL
    storage, and its Redis one only when HAUL_REDIS_URL is set; SQLAlchemy imports psycopg
    itself when the database is PostgreSQL, after this block.
    """
    blocked = [name for name in names if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None
    try:
        yield
    finally:
        for name in blocked:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]


from webapp.config import load_settings  # noqa: E402

# The settings first (the environment and .env), to know which of huey's optional back-ends this
# process needs: Redis only with HAUL_REDIS_URL, its PostgreSQL storage never.
_settings = load_settings(check_tool_args=False)
with _not_imported("psycopg", *(() if _settings.redis_url else ("redis",))):
    from huey import Huey  # noqa: E402  (after the gevent decision above)
    from huey.storage import SqliteStorage  # noqa: E402


class HaulSqliteStorage(SqliteStorage):
    """SqliteHuey's storage with synchronous=NORMAL.

    Huey offers FULL (an fsync per enqueue and per dequeue) or OFF (unsafe on power loss).
    Under WAL, NORMAL cannot corrupt the file; a power cut may forget the last few wake-up
    tasks, which the worker's top-up re-creates from the job rows on start.
    """

    def _create_connection(self):
        conn = super()._create_connection()
        conn.execute("pragma synchronous=NORMAL")
        return conn


def _make_huey():
    from webapp.database import CooperativeConnection, under_gevent

    settings = _settings
    if settings.redis_url:
        # Imported only in this mode: the embedded default never loads the Redis client.
        from huey import RedisHuey

        # blocking=True: a consumer waits on BRPOP instead of polling, so a wake-up reaches an
        # idle worker host at once; results=False as below.
        return RedisHuey("haul", url=settings.redis_url, results=False, blocking=True, read_timeout=1)
    # Written by the web (enqueue) and the worker threads (dequeue) at once: wait, don't fail.
    # In the gevent web process the wait must be cooperative (see webapp/database.py).
    # results=False: outcomes live in the job rows; Huey would keep every task's return value.
    if under_gevent():
        return Huey("haul", storage_class=HaulSqliteStorage, filename=str(settings.huey_path), results=False,
                    timeout=0, factory=CooperativeConnection)
    return Huey("haul", storage_class=HaulSqliteStorage, filename=str(settings.huey_path), results=False,
                timeout=30)


huey = _make_huey()
