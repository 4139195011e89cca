"""Backing up what Haul cannot rebuild: the SQLite database and the generated secret key.

The database is copied with SQLite's online backup API, so it is safe while the web server and
the worker keep writing: the copy is the database as of one moment (a read transaction, which
WAL lets writers work beside), checked with `PRAGMA integrity_check` before it takes its final
name. The secret key signs sessions and derives every invite link (webapp/services/guests/invites.py):
without it a restored Haul works, but every invite link handed out stops working.

Not copied: the Huey queue (data/huey.db) only holds wake-ups, which the worker makes again
from the jobs on start, and the library, which is plain files for the usual tools.
"""
from __future__ import annotations

import os
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy.engine import make_url

from webapp.config import Settings


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
        raise BackupError("The database is PostgreSQL: back it up with pg_dump (see docs/deployment.md).")
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
