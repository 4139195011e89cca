"""`flask db copy --to postgresql://…`: an existing SQLite install's rows moved into an empty
PostgreSQL database, ids kept, sequences set, and checked table by table before it is kept.

The steps, each for a reason:

1. The source is read inside ONE read transaction (an explicit BEGIN on one connection, with
   `query_only` so nothing here can write it): SQLite's WAL gives that transaction one snapshot,
   so every table is read as of the same moment even if a stand-alone worker still wrote. (The
   command also refuses while `flask serve` holds the data dir's lock, webapp/stack_lock.py: a
   copy of a running install would miss whatever it writes afterwards.)
2. The source's schema revision must be this code's head (else: `flask db upgrade` first). The
   target gets the same migrations up to that revision, so both have the same tables and columns;
   the model's tables (the code's head) then describe both sides, and their column types convert
   every value: SQLite's naive datetimes become timestamptz in UTC, its 0/1 booleans booleans,
   JSON text JSON (SQL NULL and JSON null kept apart), BigInteger ids 64-bit.
3. On the target everything happens in ONE transaction, PostgreSQL's DDL being transactional: the
   migrations, the emptiness check, the copy, the sequences and the verification. Any failure or
   mismatch rolls all of it back: the target is left as it was. (setval is the one thing a rollback
   does not undo; it runs on sequences this transaction created, or on those of empty tables.)
4. Tables are copied in foreign-key order, each in primary-key order, streamed from a SQLite
   cursor into one COPY per table: a table of millions of rows passes in flat memory, and COPY
   measured 4x faster than psycopg's pipelined INSERTs (jobs: 28 s against 116 s per 100,000).
   A foreign key the order cannot satisfy (a job's parent with a higher id, a job's subscription
   run, which is copied after the jobs) is written NULL first and set after every table is in,
   from the same snapshot.
5. Every sequence is set to its table's highest id, so the next row gets the next id.
6. Verified per table: the row counts, and a SHA-256 over every row's values as the app reads them
   (through the same column types), normalised (datetimes in UTC ISO 8601, JSON with sorted keys)
   and in primary-key order (byte order for text keys on both sides), computed the same way on
   each side. The target's is read back inside the transaction, after the copy.

What is not copied is reported, never skipped silently: `alembic_version` (written by the
migrations), SQLite's full-text index tables of the history search (PostgreSQL searches with
the trigram indexes the migrations create) and SQLite's own bookkeeping tables.
"""
from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

from sqlalchemy import (JSON, BigInteger, Integer, String, bindparam, create_engine, event, func, inspect, select,
                        text, update)
from sqlalchemy import column as sql_column
from sqlalchemy import table as sql_table
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from webapp.config import POSTGRES_CONNECT_ARGS, ConfigError, check_database_driver, without_password
from webapp.errors import HaulError, Invalid
from webapp.extensions import db
from webapp.services.admin import restore

BATCH_ROWS = 2000  # rows per UPDATE batch of the late foreign keys; progress every so many rows
FETCH_ROWS = 500  # rows read at a time (the COPY streams them on: memory stays flat at any size)
ADVISORY_LOCK = 0x4855_4C43  # pg_advisory_xact_lock key: one copy into a database at a time
INT32 = 2**31 - 1
INT64 = 2**63 - 1
# SQLite's full-text tables (migrations c7e2f9a41d06, d3f8a1c6e2b7) are virtual tables plus
# shadow tables named after them.
FTS_SHADOW_SUFFIXES = ("_data", "_idx", "_content", "_docsize", "_config")
# Rows the migrations themselves write (d3f8a1c6e2b7: the built-in presets), told apart by a
# column: a target that only `flask db upgrade` touched still counts as empty, and those rows
# are replaced by the source's.
MIGRATION_ROWS = {"presets": "built_in"}


class CopyRefused(Invalid):
    """The copy cannot start (source, target or schema not as required); nothing was written."""

    error_code = "copy_refused"


class CopyFailed(HaulError):
    """The copy failed part-way; the target's transaction was rolled back."""

    status, error_code = 500, "copy_failed"


@dataclass
class TableCheck:
    name: str
    source_rows: int
    target_rows: int = -1
    source_checksum: str = ""
    target_checksum: str = ""

    @property
    def ok(self) -> bool:
        return self.source_rows == self.target_rows and self.source_checksum == self.target_checksum


@dataclass
class CopyReport:
    source: str  # URLs as shown to people (no password)
    target: str
    revision: str
    tables: list[TableCheck] = field(default_factory=list)
    sequences: dict[str, tuple[str, int]] = field(default_factory=dict)  # table -> (its sequence, the id set)
    not_copied: list[tuple[str, str]] = field(default_factory=list)  # (what, why)
    cleared: list[str] = field(default_factory=list)  # target rows the migrations wrote, replaced
    seconds: float = 0.0
    committed: bool = False

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.tables)

    @property
    def rows(self) -> int:
        return sum(check.source_rows for check in self.tables)


Progress = Callable[[str, int, int], None]  # (table, rows copied so far, rows in all)


# -- URLs -------------------------------------------------------------------------------------
def target_url(url: str) -> str:
    """The PostgreSQL URL to copy into (plain postgresql:// means psycopg 3); CopyRefused otherwise."""
    url = (url or "").strip()
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            url = "postgresql+psycopg://" + url[len(plain):]
    if not url.startswith("postgresql+psycopg://"):  # psycopg 3, Haul's driver (the COPY uses it)
        raise CopyRefused(f"--to must be a PostgreSQL URL (postgresql://user:password@host/database), "
                          f"got {without_password(url)!r}")
    try:
        check_database_driver(url)
    except ConfigError as exc:  # pragma: no cover - psycopg is in requirements.txt
        raise CopyRefused(str(exc).replace("HAUL_DATABASE_URL", "--to")) from None
    return url


def source_path(url: str) -> Path:
    """The SQLite file a sqlite:/// URL names; CopyRefused for anything else."""
    if not (url or "").startswith("sqlite:///"):
        raise CopyRefused(f"The source must be Haul's SQLite database (sqlite:///…), got {without_password(url)!r}: "
                          "the copy moves a SQLite install to PostgreSQL (between PostgreSQL servers use pg_dump)")
    path = Path(url.removeprefix("sqlite:///")).expanduser()
    if not path.is_file():
        raise CopyRefused(f"No SQLite database at {path}")
    return path


# -- the copy ---------------------------------------------------------------------------------
def copy_database(source_url: str, to_url: str, progress: Progress | None = None) -> CopyReport:
    """Copy the SQLite database at `source_url` into the empty PostgreSQL database at `to_url`.

    Returns the report; `committed` is False (and the target rolled back) when a table did not
    verify. Raises CopyRefused before anything was written, CopyFailed when writing failed."""
    started = time.monotonic()
    path = source_path(source_url)
    to_url = target_url(to_url)
    tables = list(db.metadata.sorted_tables)
    source_engine = _source_engine(path)
    target_engine = create_engine(to_url, poolclass=NullPool,
                                  connect_args={**POSTGRES_CONNECT_ARGS, "application_name": "haul-db-copy"})
    try:
        with source_engine.connect() as source, source.begin():
            try:
                revision = _check_source(source, tables)
                report = CopyReport(f"sqlite:///{path}", without_password(to_url), revision,
                                    not_copied=_not_copied(source, tables, revision))
            except SQLAlchemyError as exc:  # not a database, damaged, unreadable
                raise CopyRefused(f"The source {path} cannot be read as a SQLite database: "
                                  f"{_first_line(exc, '')}") from None
            target = _connect(target_engine, to_url)
            try:
                _copy_in_one_transaction(source, target, tables, report, to_url, progress)
            finally:
                target.close()
    finally:
        source_engine.dispose()
        target_engine.dispose()
    report.seconds = time.monotonic() - started
    return report


class _Mismatch(Exception):
    """Raised inside the target's transaction to roll it back when a table did not verify."""


def _copy_in_one_transaction(source: Connection, target: Connection, tables, report: CopyReport, to_url: str,
                             progress: Progress | None) -> None:
    total = sum(source.scalar(select(func.count()).select_from(table)) for table in tables)
    try:
        with target.begin():
            # A second copy into the same database waits here, then finds it filled.
            target.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK})
            _check_target_empty(target, tables, to_url)
            _migrate(target, report.revision, to_url)
            _lock(target, tables)
            report.cleared = _clear_migration_rows(target, tables)
            late = _late_columns(tables)
            done = 0
            for table in tables:
                check = _copy_table(source, target, table, late.get(table.name, ()), done, total, progress)
                done += check.source_rows
                report.tables.append(check)
            for table, column, condition in _fixups(tables, late):
                _fix_up(source, target, table, column, condition)
            report.sequences = _set_sequences(target, tables)
            for check in report.tables:
                table = db.metadata.tables[check.name]
                check.target_rows = target.scalar(select(func.count()).select_from(table))
                check.target_checksum = _checksum(target, table)[1]
            if not report.ok:
                raise _Mismatch()
            # Fresh statistics for the planner: right after a bulk load PostgreSQL would otherwise
            # guess, and read whole tables for a search its trigram indexes answer in a millisecond.
            target.connection.driver_connection.execute("ANALYZE")  # not through the streaming options set above
    except _Mismatch:
        return
    except HaulError:
        raise
    except SQLAlchemyError as exc:
        raise CopyFailed(f"The copy failed and was rolled back (the target is as it was): "
                         f"{_first_line(exc, to_url)}") from None
    report.committed = True


# -- the source -------------------------------------------------------------------------------
def _source_engine(path: Path):
    """An engine whose transactions are real SQLite read transactions (one snapshot), read-only."""
    engine = create_engine(f"sqlite:///{path}", poolclass=NullPool)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # no implicit BEGINs of pysqlite's: ours below
        dbapi_connection.execute("PRAGMA query_only = ON")
        dbapi_connection.execute("PRAGMA busy_timeout = 30000")

    @event.listens_for(engine, "begin")
    def _begin(connection):
        connection.exec_driver_sql("BEGIN")

    return engine


def _check_source(source: Connection, tables) -> str:
    """The source's schema revision, which must be this code's head, with every model table and column."""
    names = set(source.scalars(text("SELECT name FROM sqlite_master WHERE type = 'table'")))
    if "alembic_version" not in names:
        raise CopyRefused("The source is not a Haul database (it has no alembic_version table)")
    revision = source.scalar(text("SELECT version_num FROM alembic_version"))
    head = restore.head_revision()
    if revision != head:
        if revision in restore.known_revisions():
            raise CopyRefused(f"The source database is at schema revision {revision}, older than this Haul's "
                              f"({head}): run flask db upgrade first (`flask --app wsgi db upgrade`), then copy")
        raise CopyRefused(f"The source database's schema revision {revision} is not one of this Haul's "
                          "migrations (made by a newer Haul?): upgrade Haul first")
    for table in tables:
        if table.name not in names:
            raise CopyRefused(f"The source database has no {table.name} table although its revision is {revision}")
        columns = {row[1] for row in source.execute(text(f'PRAGMA table_info("{table.name}")'))}
        extra, missing = columns - set(table.columns.keys()), set(table.columns.keys()) - columns
        if extra or missing:
            raise CopyRefused(f"The source's {table.name} table does not match revision {revision} "
                              f"(extra columns: {sorted(extra) or 'none'}; missing: {sorted(missing) or 'none'}); "
                              "nothing was copied")
    return revision


def _not_copied(source: Connection, tables, revision: str) -> list[tuple[str, str]]:
    """The source's tables outside the models, each with why it is not copied."""
    rows = source.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name")).all()
    modelled = {table.name for table in tables}
    virtual = {name for name, sql in rows if (sql or "").upper().startswith("CREATE VIRTUAL TABLE")}
    found = [("alembic_version", f"written by the migrations on the target (revision {revision})")]
    for name, _sql in rows:
        if name in modelled or name == "alembic_version":
            continue
        if name in virtual:
            found.append((name, "SQLite's full-text index of the history search; PostgreSQL searches with "
                                "the trigram indexes its migrations create"))
        elif any(name == base + suffix for base in virtual for suffix in FTS_SHADOW_SUFFIXES):
            continue  # a virtual table's storage, reported with it
        elif name.startswith("sqlite_"):
            found.append((name, "SQLite's own bookkeeping"))
        else:
            count = source.scalar(text(f'SELECT count(*) FROM "{name}"'))
            found.append((name, f"not a table of this Haul's ({count} rows left behind)"))
    return found


# -- the target -------------------------------------------------------------------------------
def _connect(engine, url: str) -> Connection:
    try:
        return engine.connect()
    except DBAPIError as exc:
        raise CopyRefused(f"Cannot connect to {without_password(url)}: {_first_line(exc, url)}") from None


def _check_target_empty(target: Connection, tables, url: str) -> None:
    """Refuse a target where any of Haul's tables already has a row (naming them)."""
    existing = set(inspect(target).get_table_names())
    present = [table.name for table in tables if table.name in existing]
    if present:
        target.execute(text(f"LOCK TABLE {', '.join(_quoted(name) for name in present)} IN EXCLUSIVE MODE"))
    filled = []
    for name in present:
        written_by_migrations = MIGRATION_ROWS.get(name)
        where = f" WHERE NOT {written_by_migrations}" if written_by_migrations and _has_column(
            target, name, written_by_migrations) else ""
        rows = target.scalar(text(f"SELECT count(*) FROM {_quoted(name)}{where}"))
        if rows:
            filled.append(f"{name} ({rows} rows)")
    if filled:
        raise CopyRefused(f"The target database {without_password(url)} is not empty: {', '.join(filled)}. "
                          "The copy only fills an empty database (create a new one); nothing was changed")
    if "alembic_version" in existing:
        version = target.scalar(text("SELECT version_num FROM alembic_version"))
        if version is not None and version not in restore.known_revisions():
            raise CopyRefused(f"The target's schema revision {version} is not one of this Haul's migrations "
                              "(made by a newer Haul?); nothing was changed")


def _has_column(target: Connection, table: str, column: str) -> bool:
    return column in {found["name"] for found in inspect(target).get_columns(table)}


def _migrate(target: Connection, revision: str, url: str) -> None:
    """This Haul's migrations on the target, up to `revision`, inside the caller's transaction."""
    from alembic.runtime.environment import EnvironmentContext  # only for this command (~11 MB)
    from alembic.util import CommandError

    config, script = restore._script()
    try:
        with EnvironmentContext(config, script, fn=lambda rev, _context: script._upgrade_revs(revision, rev),
                                destination_rev=revision) as environment:
            environment.configure(connection=target, target_metadata=db.metadata)
            with environment.begin_transaction():
                environment.run_migrations()
    except CommandError as exc:
        raise CopyRefused(f"The migrations could not run on the target: {exc}") from None
    except DBAPIError as exc:
        raise CopyRefused(f"The migrations could not run on {without_password(url)}: {_first_line(exc, url)}; "
                          "nothing was changed") from None


def _lock(target: Connection, tables) -> None:
    """Nobody else writes these tables until the copy commits (reads go on)."""
    target.execute(text(f"LOCK TABLE {', '.join(_quoted(t.name) for t in tables)} IN EXCLUSIVE MODE"))


def _clear_migration_rows(target: Connection, tables) -> list[str]:
    """Rows the migrations themselves wrote (the built-in presets): the source has its own."""
    cleared = []
    for table in reversed(tables):
        rows = target.execute(table.delete()).rowcount
        if rows:
            cleared.append(f"{table.name} ({rows} rows)")
    return cleared


# -- one table --------------------------------------------------------------------------------
def _late_columns(tables) -> dict[str, list[tuple]]:
    """Per table, the foreign keys a copy in this order cannot write at once: (column, self_ref).

    A reference to the same table is written at once when it points to a lower id (a row already
    inserted, in this statement or an earlier one: PostgreSQL checks at the end of each statement)."""
    order = {table.name: index for index, table in enumerate(tables)}
    late: dict[str, list[tuple]] = {}
    for table in tables:
        single_int_pk = _single_int_pk(table)
        for key in table.foreign_keys:
            referred = key.column.table.name
            if referred == table.name:
                late.setdefault(table.name, []).append((key.parent, single_int_pk is not None))
            elif order[referred] > order[table.name]:
                late.setdefault(table.name, []).append((key.parent, False))
    return late


def _single_int_pk(table):
    columns = list(table.primary_key.columns)
    return columns[0] if len(columns) == 1 and isinstance(columns[0].type, Integer) else None


def _fixups(tables, late):
    """(table, column, which source rows) for the values written NULL at first."""
    for table in tables:
        pk = _single_int_pk(table)
        for column, self_ref in late.get(table.name, ()):
            if pk is None:
                raise CopyRefused(f"{table.name}.{column.name}: a late foreign key needs a single integer key")
            yield table, column, (column >= pk) if self_ref else column.is_not(None)


def _json_columns(table):
    return [column for column in table.columns if isinstance(column.type, JSON)]


def _ordered_select(table, dialect_name: str):
    """Every column (plus, for JSON columns, whether the value is SQL NULL) in primary-key order;
    text keys in byte order on PostgreSQL too (COLLATE "C"), as SQLite compares them."""
    flags = [column.is_(None).label(f"_sql_null_{column.name}") for column in _json_columns(table)]
    order = [column.collate("C") if dialect_name == "postgresql" and isinstance(column.type, String) else column
             for column in table.primary_key.columns]
    return select(*table.columns, *flags).order_by(*order)


def _plain(value):
    """json.dumps' fallback for the values that are not JSON already."""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat() if value.tzinfo else "naive " + value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (bytes, memoryview)):
        return bytes(value).hex()
    raise TypeError(f"unexpected value type {type(value).__name__}")


def _row_line(row, columns: int) -> bytes:
    """One row's values (then its JSON columns' SQL NULL flags, as booleans) as a canonical line."""
    values = list(row)
    for index in range(columns, len(values)):
        values[index] = bool(values[index])
    return json.dumps(values, default=_plain, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8", "surrogatepass") + b"\n"


def _checksum(connection: Connection, table, on_row=None) -> tuple[int, str]:
    """(rows, SHA-256) of a table read through the model's column types, in primary-key order."""
    digest, rows, columns = hashlib.sha256(), 0, len(table.columns)
    result = connection.execution_options(stream_results=True, yield_per=FETCH_ROWS).execute(
        _ordered_select(table, connection.dialect.name))
    for row in result:
        digest.update(_row_line(row, columns))
        rows += 1
        if on_row is not None:
            on_row(row)
    return rows, digest.hexdigest()


def _copy_table(source: Connection, target: Connection, table, late, done_before: int, total: int,
                progress: Progress | None) -> TableCheck:
    """One table, streamed from the source into one COPY on the target (PostgreSQL's bulk load:
    several times faster than INSERTs), its checksum taken from the same reading."""
    import psycopg  # the target's driver; a SQLite-only Haul never loads it

    columns = list(table.columns)
    count = len(columns)
    names = [column.name for column in columns]
    json_at = [index for index, column in enumerate(columns) if isinstance(column.type, JSON)]
    key_at = [names.index(column.name) for column in table.primary_key.columns]
    late_at = [(names.index(column.name), self_ref) for column, self_ref in late]
    checks = _value_checks(columns)
    copied = 0
    statement = f"COPY {_quoted(table.name)} ({', '.join(_quoted(name) for name in names)}) FROM STDIN"
    raw = target.connection.driver_connection  # psycopg's, inside the SQLAlchemy transaction

    def on_row(row):
        nonlocal copied
        values = list(row[:count])
        _check_row(table.name, names, values, key_at, checks)
        for flag, index in enumerate(json_at):
            if values[index] is not None:
                values[index] = json.dumps(values[index])
            elif not row[count + flag]:
                values[index] = "null"  # the JSON value null, not SQL NULL
        for index, self_ref in late_at:
            if values[index] is not None and (not self_ref or values[index] >= values[key_at[0]]):
                values[index] = None  # set after every table is in (_fix_up)
        copy.write_row(values)
        copied += 1
        if progress and copied % BATCH_ROWS == 0:
            progress(table.name, done_before + copied, total)

    try:
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            rows, checksum = _checksum(source, table, on_row)
    except psycopg.Error as exc:
        raise CopyFailed(f"{table.name}: its rows could not be written ({_first_line(exc, '')}); the copy was "
                         "rolled back, the target is as it was") from None
    except (ValueError, TypeError) as exc:  # a value SQLite holds that its column's type cannot read
        raise CopyFailed(f"{table.name}: a value in the source cannot be read as its column's type ({exc}); "
                         "nothing was kept in the target") from None
    if progress:
        progress(table.name, done_before + rows, total)
    return TableCheck(table.name, rows, source_checksum=checksum)


def _value_checks(columns) -> list[tuple[int, str, int | None]]:
    """(position, kind, limit) of the columns whose values PostgreSQL holds to what SQLite does not."""
    checks = []
    for index, column in enumerate(columns):
        if isinstance(column.type, String):
            checks.append((index, "text", column.type.length))
        elif isinstance(column.type, Integer):
            checks.append((index, "int", INT64 if isinstance(column.type, BigInteger) else INT32))
    return checks


def _check_row(table: str, names, values, key_at, checks) -> None:
    """What PostgreSQL would refuse (or store otherwise) but SQLite took, named by table, row and column."""
    for index, kind, limit in checks:
        value = values[index]
        if value is None:
            continue
        problem = None
        if kind == "text":
            if not isinstance(value, str):
                problem = f"holds {value!r}, not text"
            elif "\x00" in value:
                problem = "holds a NUL character, which PostgreSQL's text cannot"
            elif limit and len(value) > limit:
                problem = f"holds {len(value)} characters, more than the {limit} its column allows"
        elif not isinstance(value, int):
            problem = f"holds {value!r}, not a whole number"
        elif abs(value) > limit:
            problem = f"holds {value}, beyond the column's integer range"
        if problem:
            key = tuple(values[at] for at in key_at)
            raise CopyFailed(f"{table}.{names[index]} of the row {_key(key)} {problem}; fix that row in the "
                             "source (nothing was kept in the target)")


def _fix_up(source: Connection, target: Connection, table, column, condition) -> None:
    """Set a late foreign key's values, now that every row they refer to is in."""
    pk = _single_int_pk(table)
    # A bare table clause: the model's onupdate (updated_at = now) must not fire on a copy.
    bare = sql_table(table.name, sql_column(pk.name), sql_column(column.name))
    statement = (update(bare).where(bare.c[pk.name] == bindparam("b_key"))
                 .values({column.name: bindparam("b_value")}))
    result = source.execution_options(stream_results=True, yield_per=BATCH_ROWS).execute(
        select(pk, column).where(condition).order_by(pk))
    for rows in result.partitions(BATCH_ROWS):
        target.execute(statement, [{"b_key": key, "b_value": value} for key, value in rows])


def _set_sequences(target: Connection, tables) -> dict[str, tuple[str, int]]:
    """Each table's id sequence at its highest id (or fresh, at 1, when the table is empty)."""
    found = {}
    for table in tables:
        pk = _single_int_pk(table)
        if pk is None:
            continue
        sequence = target.scalar(text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": pk.name})
        if sequence is None:
            continue
        highest = target.scalar(select(func.max(pk)))
        target.execute(text("SELECT setval(CAST(:s AS regclass), :v, :called)"),
                       {"s": sequence, "v": highest or 1, "called": highest is not None})
        found[table.name] = (sequence, highest or 0)
    return found


# -- small helpers ----------------------------------------------------------------------------
def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _key(values: tuple) -> str:
    return str(values[0]) if len(values) == 1 else str(values)


def _first_line(exc: Exception, url: str) -> str:
    """The database's own message, one line, never with the password in it."""
    original = getattr(exc, "orig", None) or exc
    line = (str(original).strip().splitlines() or [type(original).__name__])[0]
    try:
        password = make_url(url).password
    except Exception:  # noqa: BLE001 - an unparsable URL has no password to hide
        password = None
    if password:
        line = line.replace(str(password), "***")
    return line
