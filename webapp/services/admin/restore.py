"""Restoring a backup into the running Haul, whatever runs it (`flask serve`, or web and worker apart).

The steps, each for a reason:

1. The backup is checked before anything changes: a SQLite file whose integrity check passes,
   with Haul's tables and a schema revision of Haul's migrations (so never newer than this Haul).
2. It is copied aside and migrated forward there (in-process, with Alembic on that file): the live
   database never holds an old schema the running code cannot read.
3. The queue goes into maintenance (a row in `settings` that every claim honours,
   webapp/services/queue/pause.py): no job starts. The live database is copied beside the backups
   (haul-before-restore-<stamp>.db).
4. Running downloads are asked to stop (as a cancel would), and the restore waits until their
   workers have stopped, so no runner writes into the restored database.
5. The migrated copy is written INTO the live database with SQLite's backup API. The file is not
   replaced: every process's open connections stay valid and simply read the new pages (replacing
   a WAL database's file under open connections would corrupt it).
   In the copy, before that: the jobs it holds as downloading are queued again (nobody runs them
   now), its maintenance flag is absent (the swap lifts the live one), and a queue-wide event
   with an id above every id the live pages have seen tells them to redraw their lists (the
   event hubs read ids in order and would skip lower ones).
6. The workers are woken for the queued jobs.

The secret key stays the current one: sessions keep working, while users' sign-ins from the
backup's time may end (their session_version is the backup's). PostgreSQL: pg_dump/pg_restore.
"""
from __future__ import annotations

import logging
import shutil
import sqlite3
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from webapp.config import Settings
from webapp.core.vocabulary import CANCELLED, DOWNLOADING, ITEM
from webapp.errors import Conflict, HaulError, Invalid
from webapp.extensions import db
from webapp.models import Event, Job, Setting
from webapp.models.base import utcnow
from webapp.services.admin import backup as backups
from webapp.services.queue import dispatch, events
from webapp.services.queue import pause as queue_state

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parents[3] / "migrations"
# Tables every Haul database has had since its first migration.
HAUL_TABLES = frozenset({"alembic_version", "users", "jobs", "submissions", "settings", "events"})
SQLITE_HEADER = b"SQLite format 3\x00"
# The restored event log's first id is this far above the live one's last: events written by the
# running jobs between reading that id and the swap are still below it.
EVENT_ID_MARGIN = 10_000
STOP_TIMEOUT_SECONDS = 60.0  # how long running downloads get to stop
_one_at_a_time = threading.Lock()


class RestoreRefused(Invalid):
    """The file is not a restorable Haul backup; nothing was changed."""

    error_code = "invalid_backup"


class RestoreFailed(HaulError):
    """The restore could not be completed; nothing was changed."""

    status, error_code = 503, "restore_failed"


@dataclass(frozen=True)
class RestoreResult:
    restored: str  # the backup's name
    revision_restored: str  # the schema revision it had
    revision_now: str  # after migrating it forward
    kept_as: str  # the previous database, beside the backups
    requeued: int  # jobs queued again (running now, or running when the backup was made)

    def as_dict(self) -> dict:
        return {"restored": self.restored, "revision_restored": self.revision_restored,
                "revision_now": self.revision_now, "kept_as": self.kept_as, "requeued": self.requeued,
                "message": f"Restored {self.restored}; the previous database is kept as {self.kept_as}."}


def _script():
    # Alembic only when restoring (the web process does not load it otherwise, ~11 MB).
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config, ScriptDirectory.from_config(config)


def known_revisions() -> set[str]:
    return {script.revision for script in _script()[1].walk_revisions()}


def head_revision() -> str:
    return _script()[1].get_current_head()


def check(path: Path) -> str:
    """The schema revision of a restorable backup at `path`; RestoreRefused saying what is wrong."""
    path = Path(path)
    if path.is_symlink() or not path.is_file():
        raise RestoreRefused("The backup is not a regular file")
    with open(path, "rb") as head:
        if head.read(16) != SQLITE_HEADER:
            raise RestoreRefused("The file is not a SQLite database, so not a Haul backup")
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        raise RestoreRefused("The file cannot be opened as a database") from None
    try:
        verdict = connection.execute("PRAGMA integrity_check").fetchone()[0]
        if verdict != "ok":
            raise RestoreRefused("The backup is damaged: its integrity check failed")
        tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = sorted(HAUL_TABLES - tables)
        if missing:
            raise RestoreRefused(f"Not a Haul database: it has no {', '.join(missing)} table")
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError:
        raise RestoreRefused("The backup is damaged or not a database") from None
    finally:
        connection.close()
    if row is None or row[0] not in known_revisions():
        raise RestoreRefused("The backup's schema revision is not one of this Haul's migrations "
                             "(made by a newer Haul?): upgrade Haul first")
    return row[0]


def _migrate(path: Path) -> str:
    """Run the migrations forward on the database at `path`; returns the revision it is at then."""
    from alembic.runtime.environment import EnvironmentContext  # only when restoring (see _script)

    config, script = _script()
    engine = create_engine(f"sqlite:///{path}")
    try:
        with EnvironmentContext(config, script, fn=lambda rev, context: script._upgrade_revs("head", rev),
                                destination_rev="head") as environment, engine.connect() as connection:
            environment.configure(connection=connection, target_metadata=db.metadata)
            with environment.begin_transaction():
                environment.run_migrations()
            connection.commit()
    finally:
        engine.dispose()
    return backups.schema_revision(path)


def _copy(source: Path, target: Path) -> None:
    connection = sqlite3.connect(target)
    try:
        backups.copy_database_into(source, connection)
        connection.execute("PRAGMA journal_mode=DELETE")
    finally:
        connection.close()


def _enter_maintenance() -> None:
    """The flag that holds every claim; Conflict when another restore holds it."""
    row = db.session.get(Setting, queue_state.MAINTENANCE_KEY)
    if row is not None and queue_state.in_maintenance(row.value):
        db.session.rollback()
        raise Conflict("A restore is already under way", error_code="restore_running")
    if row is None:
        db.session.add(Setting(key=queue_state.MAINTENANCE_KEY, value=time.time()))
    else:
        row.value = time.time()
    db.session.commit()


def _leave_maintenance() -> None:
    row = db.session.get(Setting, queue_state.MAINTENANCE_KEY)
    if row is not None:
        db.session.delete(row)
    db.session.commit()


def _requeue_running(session) -> int:
    """Put the downloading items of `session`'s database back in the queue, with their events."""
    # Items only, as the recovery does (jobs/recovery.py): a collection that queued its children follows them.
    jobs = list(session.scalars(select(Job).where(Job.status == DOWNLOADING, Job.kind == ITEM)))
    for job in jobs:
        job.requeue("Queued again: the database was restored while it ran", refund_attempt=True)
        session.add(Event(**events.job_event_row(events.STATUS, job)))
    return len(jobs)


def _running_items():
    return select(Job.id).where(Job.status == DOWNLOADING, Job.kind == ITEM)


def _stop_running_downloads(timeout: float) -> list[int]:
    """Ask every running download to stop, and wait (up to `timeout`) until their workers did.

    The live database is about to be replaced, so how they end in it does not matter; what matters
    is that no runner still writes files or rows when the restored database, in which these jobs
    are queued (or not there), goes live. Their runners see the request within a second."""
    ids = list(db.session.scalars(_running_items()))
    for job in db.session.scalars(select(Job).where(Job.id.in_(ids))):
        job.request_cancel()
    db.session.commit()
    deadline = time.monotonic() + timeout
    while ids and time.monotonic() < deadline:
        db.session.remove()
        if not db.session.scalar(_running_items().where(Job.id.in_(ids)).limit(1)):
            return ids
        time.sleep(0.2)
    if ids:
        log.warning("restore: downloads still running after %.0f s; their jobs are queued again in the restored "
                    "database, and their workers notice at the next heartbeat", timeout)
    return ids


def _give_back(ids: list[int]) -> None:
    """The restore failed after stopping these downloads: queue them again in the database that stays."""
    try:
        for job in db.session.scalars(select(Job).where(Job.id.in_(ids), Job.status == CANCELLED)):
            job.retry()
            events.publish_job(events.STATUS, job)
        db.session.commit()
    except Exception:  # noqa: BLE001  the restore's own error is the one to report
        db.session.rollback()
        log.exception("restore failed, and queueing the stopped downloads again failed too: %s", ids)


def _prepare(work: Path, first_event_id: int) -> int:
    """Make the migrated copy ready to go live; returns how many of its jobs were queued again."""
    engine = create_engine(f"sqlite:///{work}")
    try:
        with Session(engine) as session:
            requeued = _requeue_running(session)
            flag = session.get(Setting, queue_state.MAINTENANCE_KEY)
            if flag is not None:
                session.delete(flag)
            last = session.scalar(select(func.max(Event.id))) or 0
            session.add(Event(id=max(first_event_id, last + 1), type=events.CLEARED_MANY, user_id=None,
                              data={"reason": "restored"}, created_at=utcnow()))
            session.commit()
    finally:
        engine.dispose()
    return requeued


def restore(settings: Settings, source: Path, name: str | None = None,
            stop_timeout: float = STOP_TIMEOUT_SECONDS) -> RestoreResult:
    """Restore the backup at `source` into the live database (see the module's docstring)."""
    live = backups.ensure_sqlite(settings)
    if not _one_at_a_time.acquire(blocking=False):
        raise Conflict("A restore is already under way", error_code="restore_running")
    try:
        return _restore(settings, live, Path(source), name or Path(source).name, stop_timeout)
    except (OSError, sqlite3.Error) as exc:
        # A full disk, a database locked beyond the wait: the live database was not changed (the
        # backup API writes in one transaction), and the stopped downloads are queued again.
        log.exception("restoring %s failed", name or Path(source).name)
        raise RestoreFailed(f"The restore failed ({getattr(exc, 'strerror', None) or type(exc).__name__}); "
                            "the database was not changed") from None
    finally:
        _one_at_a_time.release()


def _restore(settings: Settings, live: Path, source: Path, name: str, stop_timeout: float) -> RestoreResult:
    revision = check(source)
    folder = backups.backup_folder(settings)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    work = folder / f".restore-{stamp}.db"  # not a backup's name: never listed
    try:
        _copy(source, work)
        try:
            now_revision = _migrate(work)
        except Exception as exc:  # a migration that fails on this data: nothing live was touched
            log.exception("migrating the backup %s failed", name)
            raise RestoreRefused(f"The backup could not be migrated to this Haul's schema: {type(exc).__name__}") \
                from None
        _enter_maintenance()
        stopped: list[int] = []
        try:
            kept = backups._free_name(folder, f"{backups.BEFORE_RESTORE_PREFIX}{stamp}", ".db")
            backups.online_copy(live, kept)
            stopped = _stop_running_downloads(stop_timeout)
            first_event_id = (db.session.scalar(select(func.max(Event.id))) or 0) + EVENT_ID_MARGIN
            db.session.remove()
            requeued = _prepare(work, first_event_id)
            target = sqlite3.connect(live, timeout=60)
            try:
                backups.copy_database_into(work, target)
            finally:
                target.close()
        except BaseException:
            db.session.rollback()
            _give_back(stopped)
            _leave_maintenance()
            raise
    finally:
        work.unlink(missing_ok=True)
        for suffix in ("-journal", "-wal", "-shm"):
            work.with_name(work.name + suffix).unlink(missing_ok=True)
    db.session.remove()
    dispatch.top_up()
    log.warning("restored the database from %s (schema %s → %s); the previous one is %s",
                name, revision, now_revision, kept.name)
    return RestoreResult(restored=name, revision_restored=revision, revision_now=now_revision,
                         kept_as=kept.name, requeued=requeued)


def restore_named(settings: Settings, name) -> RestoreResult:
    """Restore the backup called `name` in the backup folder."""
    backup = backups.find(settings, name)
    return restore(settings, backup.path, backup.name)


def restore_file(settings: Settings, path: Path) -> RestoreResult:
    """Restore from any file: a backup's .db, or the .tar a download gave (its .db is read out of it,
    never extracted by the names inside)."""
    path = Path(path)
    if not path.is_file():
        raise RestoreRefused(f"There is no file at {path}")
    if not tarfile.is_tarfile(path):
        return restore(settings, path, path.name)
    folder = backups.backup_folder(settings)
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path) as tar:
        members = [m for m in tar.getmembers() if m.isfile() and m.name.endswith(".db")]
        if len(members) != 1:
            raise RestoreRefused("The archive does not hold exactly one database (.db)")
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".upload-", suffix=".db", delete=False) as out:
            shutil.copyfileobj(tar.extractfile(members[0]), out)
    try:
        return restore(settings, Path(out.name), Path(members[0].name).name)
    finally:
        Path(out.name).unlink(missing_ok=True)
