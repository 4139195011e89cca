"""Per-connection database settings.

SQLite is shared by the web process and the worker threads: WAL lets readers and one writer
work at once, busy_timeout makes a writer wait instead of failing with "database is locked",
and synchronous=NORMAL is safe under WAL while saving an fsync per commit.
"""
from sqlalchemy import event
from sqlalchemy.engine import Engine


def configure_sqlite(engine: Engine) -> None:
    """Set Haul's pragmas on every new SQLite connection of this engine."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _set_pragmas(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
