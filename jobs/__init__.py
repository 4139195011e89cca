"""The Huey instance both processes share, chosen from the configuration.

Embedded default: Huey on SQLite in its own file in the data dir. HAUL_REDIS_URL is reserved
for the scale-out mode (RedisHuey) that a later issue completes.
"""
from huey import Huey
from huey.storage import SqliteStorage

from webapp.config import load_settings


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

    settings = load_settings(check_tool_args=False)
    # Written by the web (enqueue) and the worker threads (dequeue) at once: wait, don't fail.
    # In the gevent web process the wait must be cooperative (see webapp/database.py).
    # results=False: outcomes live in the job rows; Huey would keep every task's return value.
    if under_gevent():
        return Huey("haul", storage_class=HaulSqliteStorage, filename=str(settings.huey_path), results=False,
                    timeout=0, factory=CooperativeConnection)
    return Huey("haul", storage_class=HaulSqliteStorage, filename=str(settings.huey_path), results=False,
                timeout=30)


huey = _make_huey()
