"""`flask --app wsgi backup`: a consistent copy of the live SQLite database and the secret key."""
from __future__ import annotations

import sqlite3
import stat
from datetime import datetime, timezone

import pytest

from webapp.config import load_settings
from webapp.services.admin.backup import BackupError, back_up


def submit_jobs(urls):
    from webapp.services.accounts import identity as accounts
    from webapp.services.queue.submissions import submit

    owner = accounts.create_user(f"owner{len(urls)}", "ownerpassword")
    submit(urls, principal=accounts.Principal(user=owner), source="gui")


def job_urls(database) -> list[str]:
    with sqlite3.connect(database) as connection:
        return sorted(url for (url,) in connection.execute("SELECT url FROM jobs"))


def test_a_backup_is_one_moments_database_even_while_a_write_is_under_way(app, settings, tmp_path):
    submit_jobs(["https://example.com/one", "https://example.com/two"])
    database = tmp_path / "haul.db"
    # Another process in the middle of a write transaction, as the worker often is.
    writer = sqlite3.connect(database, timeout=1)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE jobs SET url = 'https://example.com/half-written'")
    try:
        made = back_up(settings, tmp_path / "backups", now=datetime(2026, 12, 2, 8, 30, tzinfo=timezone.utc))
    finally:
        writer.rollback()
        writer.close()

    assert made.database == (tmp_path / "backups" / "haul-20261202-083000.db")
    assert made.database_bytes == made.database.stat().st_size > 0
    assert job_urls(made.database) == ["https://example.com/one", "https://example.com/two"]
    assert not list((tmp_path / "backups").glob("*.part"))
    # A file that stands alone: no write-ahead log to lose beside it.
    with sqlite3.connect(made.database) as copy:
        assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # The key came from HAUL_SECRET_KEY (the fixture): not Haul's to copy.
    assert made.secret_key is None


def test_two_backups_in_one_second_keep_both(app, settings, tmp_path):
    moment = datetime(2026, 12, 2, 8, 30, tzinfo=timezone.utc)
    first = back_up(settings, tmp_path / "b", now=moment)
    submit_jobs(["https://example.com/later"])
    second = back_up(settings, tmp_path / "b", now=moment)
    assert first.database.name == "haul-20261202-083000.db"
    assert second.database.name == "haul-20261202-083000-2.db"
    assert job_urls(first.database) == [] and job_urls(second.database) == ["https://example.com/later"]


def test_the_command_copies_the_generated_key_privately_and_a_restore_opens(tmp_path):
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.extensions import db
    from webapp.models import Job

    data = tmp_path / "data"
    settings = load_settings({"HAUL_DATA_DIR": str(data)}, env_file=None, check_tool_args=False)
    assert (data / "secret_key").read_text().strip() == settings.secret_key  # generated
    app = create_app(settings, role="test", TESTING=True)
    with app.app_context():
        upgrade()
        submit_jobs(["https://example.com/kept"])
        db.session.remove()
    result = app.test_cli_runner().invoke(args=["backup"])
    assert result.exit_code == 0, result.output
    copies = sorted((data / "backups").iterdir())
    database = next(path for path in copies if path.suffix == ".db")
    key = next(path for path in copies if path.name.endswith(".secret_key"))
    assert f"Database: {database}" in result.output and f"Secret key: {key}" in result.output
    assert key.read_text() == (data / "secret_key").read_text()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    with app.app_context():
        db.engine.dispose()

    # Restoring: the copy as the database of a new data dir, with the key beside it.
    restored = tmp_path / "restored"
    restored.mkdir()
    (restored / "haul.db").write_bytes(database.read_bytes())
    (restored / "secret_key").write_text(key.read_text())
    again = load_settings({"HAUL_DATA_DIR": str(restored)}, env_file=None, check_tool_args=False)
    assert again.secret_key == settings.secret_key
    app = create_app(again, role="test", TESTING=True)
    with app.app_context():
        upgrade()  # already current: nothing to do
        assert [job.url for job in db.session.query(Job)] == ["https://example.com/kept"]
        db.session.remove()
        db.engine.dispose()


def test_what_cannot_be_backed_up_is_said_in_one_line(app, settings, tmp_path):
    import dataclasses

    postgres = dataclasses.replace(settings, database_url="postgresql://haul@127.0.0.1/haul")
    with pytest.raises(BackupError, match="PostgreSQL: back it up with pg_dump"):
        back_up(postgres, tmp_path / "b")
    missing = dataclasses.replace(settings, database_url=f"sqlite:///{tmp_path / 'nothing.db'}")
    with pytest.raises(BackupError, match="There is no database at"):
        back_up(missing, tmp_path / "b")
    (tmp_path / "a-file").write_text("")
    with pytest.raises(BackupError, match="Cannot create"):
        back_up(settings, tmp_path / "a-file" / "backups")
    result = app.test_cli_runner().invoke(args=["backup", str(tmp_path / "a-file" / "x")])
    assert result.exit_code == 1 and "Error: Cannot create" in result.output
    assert "Traceback" not in result.output
