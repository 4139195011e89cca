"""Backing up what Haul cannot rebuild: the SQLite database and the generated secret key.

The database is copied with SQLite's online backup API, so it is safe while the web server and
the worker keep writing: the copy is the database as of one moment (a read transaction, which
WAL lets writers work beside), checked with `PRAGMA integrity_check` before it takes its final
name. The secret key signs sessions and derives every invite link (webapp/services/guests/invites.py):
without it a restored Haul works, but every invite link handed out stops working.

Not copied: the Huey queue (data/huey.db) only holds wake-ups, which the worker makes again
from the jobs on start, and the library, which is plain files for the usual tools.

The Settings → Backups tab and /api/v1/config/backups list, make, download and delete the
backups in one folder (HAUL_BACKUP_DIR, default DATA_DIR/backups); a name from a request is
only ever matched against that folder's listing, never joined into a path. Restoring one is
webapp/services/admin/restore.py.
"""
from __future__ import annotations

import os
import re
import shutil
import sqlite3
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from sqlalchemy.engine import make_url

from webapp.config import Settings
from webapp.errors import HaulError, NotFound


class BackupError(Exception):
    """The backup cannot be made; str(exc) says why, for the command to print."""


@dataclass(frozen=True)
class Backup:
    database: Path
    database_bytes: int
    secret_key: Path | None  # None when the key comes from HAUL_SECRET_KEY


def database_file(settings: Settings) -> Path:
    """The SQLite file behind HAUL_DATABASE_URL; a BackupError for anything else."""
    if not settings.is_sqlite:
        raise BackupError("The database is PostgreSQL: back it up with pg_dump (see docs/scale-out.md, Backups).")
    name = make_url(settings.database_url).database
    if not name or name == ":memory:":
        raise BackupError("The database is in memory: there is nothing to back up.")
    path = Path(name)
    if not path.is_file():
        raise BackupError(f"There is no database at {path}: has `flask --app wsgi db upgrade` run?")
    return path


def back_up(settings: Settings, destination: Path, now: datetime | None = None) -> Backup:
    """Copy the database and the generated secret key into `destination` (created if needed)."""
    source_path = database_file(settings)
    destination = Path(destination).expanduser().resolve()
    try:
        destination.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupError(f"Cannot create {destination}: {exc.strerror}") from None
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%d-%H%M%S")
    target = _free_name(destination, f"haul-{stamp}", ".db")
    partial = target.with_name(target.name + ".part")
    try:
        _copy_database(source_path, partial)
        os.replace(partial, target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"Cannot write to {destination}: {exc.strerror}") from None
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"The copy of the database failed: {exc}") from None
    return Backup(database=target, database_bytes=target.stat().st_size,
                  secret_key=_copy_secret_key(settings, target.with_name(target.stem + ".secret_key")))


def _free_name(folder: Path, stem: str, suffix: str) -> Path:
    """folder/stem+suffix, or stem-2, stem-3 … when a backup of the same second exists."""
    candidate, number = folder / f"{stem}{suffix}", 2
    while candidate.exists():
        candidate, number = folder / f"{stem}-{number}{suffix}", number + 1
    return candidate


def _copy_database(source_path: Path, target: Path) -> None:
    # The same lock wait as Haul's own connections (webapp/database.py): a checkpoint in progress
    # is waited for, not failed on.
    source = sqlite3.connect(source_path, timeout=30)
    try:
        copy = sqlite3.connect(target)
        try:
            # All pages in one step: one read transaction, so the copy is one moment's database.
            # (In smaller steps, every write by Haul in between would restart the copy.)
            source.backup(copy)
            verdict = copy.execute("PRAGMA integrity_check").fetchone()[0]
            if verdict != "ok":
                raise sqlite3.DatabaseError(f"integrity check of the copy: {verdict}")
            # A self-contained file: no -wal beside it to lose when it is moved.
            copy.execute("PRAGMA journal_mode=DELETE")
        finally:
            copy.close()
    finally:
        source.close()


def _copy_secret_key(settings: Settings, target: Path) -> Path | None:
    key_file = settings.data_dir / "secret_key"
    try:
        generated = key_file.read_text().strip() == settings.secret_key
    except FileNotFoundError:
        generated = False
    if not generated:
        return None  # set by HAUL_SECRET_KEY: its owner keeps it
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out, open(key_file) as source:
        shutil.copyfileobj(source, out)
    return target


# The backup folder: list, make, delete, download ------------------------------------------------

# What a backup's file is called: haul-<stamp>[-n].db (back_up) or haul-before-restore-<stamp>.db.
_NAME = re.compile(r"^haul-[0-9A-Za-z-]{1,80}\.db$")
_SCHEDULED = re.compile(r"^haul-\d{8}-\d{6}(-\d+)?\.db$")
BEFORE_RESTORE_PREFIX = "haul-before-restore-"


class BackupUnavailable(HaulError):
    """Backups cannot be made here (PostgreSQL, an in-memory database, a folder not writable)."""

    status, error_code = 409, "backup_unavailable"


@dataclass(frozen=True)
class BackupInfo:
    name: str
    path: Path
    size: int
    created: datetime
    has_secret_key: bool
    revision: str | None  # the schema revision (alembic) inside; None when unreadable
    before_restore: bool  # the database as it was before a restore, kept by the restore

    def as_dict(self) -> dict:
        return {"name": self.name, "size": self.size, "created": self.created.isoformat().replace("+00:00", "Z"),
                "has_secret_key": self.has_secret_key, "revision": self.revision,
                "before_restore": self.before_restore}


def backup_folder(settings: Settings) -> Path:
    """Where backups are kept: HAUL_BACKUP_DIR, else DATA_DIR/backups."""
    return settings.backup_dir or settings.data_dir / "backups"


def secret_key_file(database: Path) -> Path:
    """The secret key copied beside a backup (haul-….secret_key)."""
    return database.with_name(database.stem + ".secret_key")


def schema_revision(path: Path) -> str | None:
    """The alembic revision inside a SQLite file, read-only; None when there is none or it is not a database."""
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        return row[0] if row else None
    except sqlite3.Error:
        return None
    finally:
        connection.close()


def _info(path: Path, stat_result) -> BackupInfo:
    return BackupInfo(name=path.name, path=path, size=stat_result.st_size,
                      created=datetime.fromtimestamp(stat_result.st_mtime, timezone.utc),
                      has_secret_key=secret_key_file(path).is_file(), revision=schema_revision(path),
                      before_restore=path.name.startswith(BEFORE_RESTORE_PREFIX))


def list_backups(settings: Settings) -> list[BackupInfo]:
    """The backups in the folder, newest first: regular files named like a backup (never a link)."""
    folder = backup_folder(settings)
    found = []
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise BackupUnavailable(f"Cannot read the backup folder: {exc.strerror}") from None
    for entry in entries:
        if not _NAME.match(entry.name) or not entry.is_file(follow_symlinks=False):
            continue
        try:
            found.append(_info(Path(entry.path), entry.stat(follow_symlinks=False)))
        except OSError:
            continue  # deleted while listed
    return sorted(found, key=lambda b: (b.created, b.name), reverse=True)


def find(settings: Settings, name) -> BackupInfo:
    """The backup called `name`, matched against the listing (so no name reaches outside the folder)."""
    if isinstance(name, str) and _NAME.match(name):
        for backup in list_backups(settings):
            if backup.name == name:
                return backup
    raise NotFound("No backup with that name", error_code="backup_not_found")


def create(settings: Settings) -> BackupInfo:
    """A new backup in the folder (the online copy of back_up); BackupUnavailable when none can be made."""
    try:
        made = back_up(settings, backup_folder(settings))
    except BackupError as exc:
        raise BackupUnavailable(str(exc)) from None
    return _info(made.database, made.database.stat())


def delete(settings: Settings, name) -> BackupInfo:
    """Remove a backup and the secret key beside it."""
    backup = find(settings, name)
    backup.path.unlink(missing_ok=True)
    secret_key_file(backup.path).unlink(missing_ok=True)
    return backup


def prune(settings: Settings, keep: int) -> list[str]:
    """Delete the oldest regular backups beyond the newest `keep` (copies kept by a restore are
    left alone: the admin deletes those); returns the names deleted."""
    regular = [b for b in list_backups(settings) if _SCHEDULED.match(b.name)]
    removed = []
    for backup in regular[max(keep, 1):]:
        delete(settings, backup.name)
        removed.append(backup.name)
    return removed


def latest(settings: Settings) -> dict | None:
    """The newest backup for /health/detailed: {name, size, created, has_secret_key, revision, age_seconds},
    or None when there is none (or backups cannot be listed)."""
    try:
        backups = list_backups(settings)
    except HaulError:
        return None
    if not backups:
        return None
    newest = backups[0]
    age = (datetime.now(timezone.utc) - newest.created).total_seconds()
    return {**newest.as_dict(), "age_seconds": max(0, int(age))}


def archive(settings: Settings, name) -> tuple[str, IO[bytes]]:
    """A .tar of the backup's database and its secret key (when copied), for the download:
    (file name, an open file at position 0). One file to keep, and both parts a restore needs."""
    backup = find(settings, name)
    out = tempfile.TemporaryFile()
    try:
        with tarfile.open(fileobj=out, mode="w") as tar:
            tar.add(backup.path, arcname=backup.name, recursive=False)
            key = secret_key_file(backup.path)
            if key.is_file() and not key.is_symlink():
                tar.add(key, arcname=key.name, recursive=False)
    except OSError:
        out.close()
        raise NotFound("The backup could not be read", error_code="backup_not_found") from None
    out.seek(0)
    return backup.path.stem + ".tar", out


def ensure_sqlite(settings: Settings) -> Path:
    """The live SQLite file, or BackupUnavailable (PostgreSQL: pg_dump and pg_restore are the way)."""
    try:
        return database_file(settings)
    except BackupError as exc:
        raise BackupUnavailable(str(exc)) from None


def copy_database_into(source_path: Path, target: sqlite3.Connection) -> None:
    """Copy a database file INTO an open connection's database, page by page (SQLite's backup API):
    the target file is never replaced, so other processes' connections stay valid."""
    source = sqlite3.connect(f"{source_path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        source.backup(target)
    finally:
        source.close()


def online_copy(source_path: Path, target: Path) -> None:
    """The integrity-checked online copy back_up makes, to a name of the caller's."""
    partial = target.with_name(target.name + ".part")
    try:
        _copy_database(source_path, partial)
        os.replace(partial, target)
    except (OSError, sqlite3.Error):
        partial.unlink(missing_ok=True)
        raise
