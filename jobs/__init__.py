"""The Huey instance both processes share, chosen from the configuration.

Embedded default: SqliteHuey in its own file in the data dir. HAUL_REDIS_URL is reserved for
the scale-out mode (RedisHuey) that a later issue completes.
"""
from huey import SqliteHuey

from webapp.config import load_settings


def _make_huey():
    settings = load_settings(check_tool_args=False)
    # The Huey file is written by the web (enqueue) and the worker threads (dequeue) at once.
    return SqliteHuey("haul", filename=str(settings.huey_path), timeout=30, journal_mode="wal")


huey = _make_huey()
