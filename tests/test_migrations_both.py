"""The same migrations on SQLite and on PostgreSQL: up, down to nothing, up again, and the models
match what they built (Alembic's autogenerate comparison finds nothing but the known noise below).

Every test runs once per database: SQLite in a temporary file, PostgreSQL in a database of its
own on 127.0.0.1:5432 (tests/support/scale_out.py), dropped after the test.

What the comparison is allowed to report, and why (each item is checked, not just skipped):
- objects only the migrations make, which the models cannot describe: SQLite's FTS5 search
  tables (and their shadow tables), the partial history indexes (a WHERE written per dialect,
  c7e2f9a41d06 / c9e4a7d2b1f0) and PostgreSQL's GIN trigram indexes (f4c8a2e6b9d1). The test
  checks they exist on the side that should have them.
- server defaults that back-filled existing rows when a NOT NULL column was added; the models
  always give a value themselves, so the database's default is never used for new rows.
- SQLite only: foreign keys added by `ALTER TABLE … ADD COLUMN … REFERENCES … ON DELETE`
  (b8d2e4f6a1c3) reflect without their ON DELETE (SQLAlchemy reads ON DELETE only from table
  constraints); `PRAGMA foreign_key_list` is asked instead and must give the model's action.
- SQLite only: submissions.invite_id and guest_session_id have no foreign key there (SQLite cannot
  add one to an existing table; e5b9c3d2a7f1 leaves the references to the app, which clears
  them when an invite is deleted: tests/test_dialects.py checks that on both databases).
"""
from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import inspect, text

from support import scale_out

# Made by the migrations, not declared on the models (see the module docstring).
MIGRATION_ONLY_INDEXES = {
    "both": {"ix_jobs_history", "ix_jobs_history_domain", "ix_jobs_history_source", "ix_jobs_history_top",
             "ix_jobs_history_user"},
    "postgresql": {"ix_jobs_url_trgm", "ix_jobs_title_trgm", "ix_job_files_path_trgm",
                   "ix_job_metadata_uploader_trgm", "ix_job_metadata_tags_trgm",
                   "ix_job_metadata_description_trgm"},
}
FTS_TABLES = ("jobs_search", "job_files_search", "job_metadata_search")
BACKFILL_DEFAULTS = {("jobs", "run_now"), ("jobs", "kind"), ("submissions", "trust"), ("users", "session_version")}
APP_KEPT_REFERENCES = {("submissions", "invite_id"), ("submissions", "guest_session_id")}  # SQLite only


@pytest.fixture(params=["sqlite", "postgresql"])
def bare_app(request, settings):
    """An app on an empty database of each kind (no migration run yet)."""
    from webapp import create_app
    from webapp.extensions import db

    url = None
    if request.param == "postgresql":
        url = scale_out.create_database("haul_migrations")
        settings = dataclasses.replace(settings, database_url=url)
    app = create_app(settings, role="test", TESTING=True)
    try:
        with app.app_context():
            yield app
            db.session.remove()
            db.engine.dispose()
    finally:
        if url:
            scale_out.drop_database(url)


def _tables(db) -> set[str]:
    return set(inspect(db.engine).get_table_names())


def _head() -> str:
    from flask import current_app
    from alembic.script import ScriptDirectory

    config = current_app.extensions["migrate"].migrate.get_config()
    return ScriptDirectory.from_config(config).get_current_head()


def _current(db) -> str | None:
    with db.engine.connect() as connection:
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def test_upgrade_downgrade_to_base_and_upgrade_again(bare_app):
    from flask_migrate import downgrade, upgrade

    from webapp.extensions import db

    upgrade()
    assert _current(db) == _head()
    first = _tables(db)
    assert {"jobs", "job_files", "job_metadata", "periodic_claims", "users"} <= first

    db.session.remove()
    downgrade(revision="base")
    db.engine.dispose()
    # Everything the migrations made is gone; only Alembic's own bookkeeping table stays.
    assert _tables(db) == {"alembic_version"}
    assert _current(db) is None

    upgrade()
    assert _current(db) == _head()
    assert _tables(db) == first


def _describe(diff) -> tuple:
    """A comparison entry as plain values (kind, table, name or column …)."""
    kind = diff[0]
    if kind in ("add_index", "remove_index"):
        return kind, diff[1].table.name, diff[1].name
    if kind in ("add_fk", "remove_fk"):
        return kind, diff[1].table.name, tuple(column.name for column in diff[1].columns), diff[1].ondelete
    if kind in ("add_table", "remove_table"):
        return kind, diff[1].name
    if kind in ("add_column", "remove_column"):
        return kind, diff[2], diff[3].name
    if kind.startswith("modify_"):
        return kind, diff[2], diff[3], str(getattr(diff[5], "arg", diff[5])), str(getattr(diff[6], "arg", diff[6]))
    return tuple(str(part) for part in diff)


def _flatten(diffs) -> list:
    flat = []
    for diff in diffs:
        flat.extend(diff if isinstance(diff, list) else [diff])
    return flat


def _model_foreign_keys(db) -> dict:
    """{(table, column): (target table, ON DELETE or None)} as the models declare them."""
    found = {}
    for table in db.metadata.tables.values():
        for key in table.foreign_keys:
            found[(table.name, key.parent.name)] = (key.column.table.name, (key.ondelete or "NO ACTION").upper())
    return found


def _sqlite_foreign_keys(db, table: str) -> dict:
    with db.engine.connect() as connection:
        rows = connection.execute(text(f"PRAGMA foreign_key_list({table})")).all()
    return {(table, row[3]): (row[2], row[6].upper()) for row in rows}


def test_the_models_match_the_migrated_schema(bare_app):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from flask_migrate import upgrade

    from webapp.extensions import db

    dialect = db.engine.dialect.name
    upgrade()
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True,
                                                               "compare_server_default": True})
        diffs = [_describe(diff) for diff in _flatten(compare_metadata(context, db.metadata))]

    inspector = inspect(db.engine)
    expected_indexes = MIGRATION_ONLY_INDEXES["both"] | MIGRATION_ONLY_INDEXES.get(dialect, set())
    present = {(table, index["name"]) for table in inspector.get_table_names() for index in inspector.get_indexes(table)}
    for name in expected_indexes:  # they exist, so ignoring them below hides nothing missing
        assert any(found == name for _table, found in present), f"{name} missing on {dialect}"
    if dialect == "sqlite":
        assert set(FTS_TABLES) <= set(inspector.get_table_names())
    else:
        assert not set(FTS_TABLES) & set(inspector.get_table_names())

    models_keys = _model_foreign_keys(db)
    unexplained = []
    for diff in diffs:
        kind = diff[0]
        if kind == "remove_index" and diff[2] in expected_indexes:
            continue
        if kind == "remove_table" and dialect == "sqlite" and diff[1].startswith(FTS_TABLES):
            continue
        if kind == "modify_default" and (diff[1], diff[2]) in BACKFILL_DEFAULTS and diff[4] == "None":
            continue
        if kind in ("add_fk", "remove_fk") and dialect == "sqlite":
            table, (column,) = diff[1], diff[2]
            if (table, column) in APP_KEPT_REFERENCES and kind == "add_fk":
                continue
            # Reflection lost the ON DELETE of an inline REFERENCES: ask SQLite itself.
            if _sqlite_foreign_keys(db, table).get((table, column)) == models_keys[(table, column)]:
                continue
        unexplained.append(diff)
    assert unexplained == [], f"the models and the migrated {dialect} schema differ"

    if dialect == "sqlite":
        for table, column in APP_KEPT_REFERENCES:
            assert (table, column) not in _sqlite_foreign_keys(db, table)
    else:
        found = {(key["constrained_columns"][0], key["options"].get("ondelete"))
                 for key in inspector.get_foreign_keys("submissions")}
        assert {("invite_id", "SET NULL"), ("guest_session_id", "SET NULL")} <= found


def test_both_databases_get_the_same_tables_and_columns(settings):
    """Table by table, column by column (name and NULL-ability) the two databases agree."""
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.extensions import db

    shapes = {}
    url = scale_out.create_database("haul_migrations")
    try:
        for name, database_url in (("sqlite", settings.database_url), ("postgresql", url)):
            app = create_app(dataclasses.replace(settings, database_url=database_url), role="test", TESTING=True)
            with app.app_context():
                upgrade()
                inspector = inspect(db.engine)
                shapes[name] = {
                    table: sorted((column["name"], column["nullable"]) for column in inspector.get_columns(table))
                    for table in inspector.get_table_names() if not table.startswith(FTS_TABLES)
                }
                db.session.remove()
                db.engine.dispose()
    finally:
        scale_out.drop_database(url)
    assert shapes["sqlite"] == shapes["postgresql"]
