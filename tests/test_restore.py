"""Restoring a backup into the live database: checks first, the old database kept, event ids go on rising."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import _unit_settings


@pytest.fixture
def settings(tmp_path):
    """As conftest's, with the backups in this test's own folder (the data dir is the session's)."""
    import dataclasses

    return dataclasses.replace(_unit_settings(tmp_path), backup_dir=tmp_path / "backups")


def add_preset(name):
    from webapp.services.library import presets
    from webapp.services.accounts.identity import Principal
    from webapp.models import User

    admin = User(username="x", role="admin")
    return presets.create({"name": name, "label": name.title()}, Principal(admin))


def test_restore_brings_back_the_old_state_and_keeps_the_previous_database(app, admin, settings):
    from webapp.extensions import db
    from webapp.models import Event, Job, Preset
    from webapp.services.accounts.identity import Principal
    from webapp.services.admin import backup, restore, runtime_settings
    from webapp.services.queue.submissions import submit

    submit(["https://example.com/before"], principal=Principal(admin), source="gui")
    made = backup.create(settings)
    add_preset("later")
    submit(["https://example.com/after"], principal=Principal(admin), source="gui")
    runtime_settings.save({"max_streams": 7}, settings)
    events_before = db.session.scalar(select(func.max(Event.id)))

    result = restore.restore_named(settings, made.name)

    db.session.remove()
    assert db.session.scalar(select(Preset).where(Preset.name == "later")) is None
    assert sorted(db.session.scalars(select(Job.url))) == ["https://example.com/before"]
    assert runtime_settings.current(settings).max_streams == runtime_settings.DEFAULT_MAX_STREAMS
    kept = settings.backup_dir / result.kept_as
    assert kept.is_file() and result.kept_as.startswith("haul-before-restore-")
    with sqlite3.connect(kept) as old:
        assert {url for (url,) in old.execute("SELECT url FROM jobs")} == {"https://example.com/before",
                                                                           "https://example.com/after"}
    newest = db.session.scalar(select(Event).order_by(Event.id.desc()).limit(1))
    assert newest.id > events_before and newest.type == "cleared_many"
    assert [b.name for b in backup.list_backups(settings)] and not list(settings.backup_dir.glob(".restore-*"))


def build_database_at(path: Path, revision: str) -> None:
    """A Haul database built by the real migrations up to `revision` (an older Haul's backup)."""
    from alembic.runtime.environment import EnvironmentContext
    from sqlalchemy import create_engine

    from webapp.services.admin import restore

    config, script = restore._script()
    engine = create_engine(f"sqlite:///{path}")
    with EnvironmentContext(config, script, fn=lambda rev, context: script._upgrade_revs(revision, rev),
                            destination_rev=revision) as environment, engine.connect() as connection:
        environment.configure(connection=connection)
        with environment.begin_transaction():
            environment.run_migrations()
        connection.commit()
    engine.dispose()


def test_a_backup_from_an_older_schema_is_migrated_forward(app, admin, settings, tmp_path):
    from webapp.extensions import db
    from webapp.models import User
    from webapp.services.admin import backup, restore

    old = tmp_path / "old.db"
    build_database_at(old, "d3f8a1c6e2b7")  # the revision before the operations migration
    with sqlite3.connect(old) as connection:
        connection.execute("INSERT INTO users (username, password_hash, role, created_at, session_version) "
                           "VALUES ('oldtimer', 'x', 'admin', '2026-01-01 00:00:00.000000', 0)")
    result = restore.restore_file(settings, old)
    assert result.revision_restored == "d3f8a1c6e2b7" and result.revision_now == restore.head_revision()
    db.session.remove()
    assert [u.username for u in db.session.scalars(select(User))] == ["oldtimer"]
    # The tables the newer migration adds are there now.
    from webapp.models.notification import NotificationTarget

    assert db.session.scalar(select(func.count(NotificationTarget.id))) == 0
    assert backup.schema_revision(Path(settings.database_url.removeprefix("sqlite:///"))) == restore.head_revision()


def test_a_backup_newer_than_this_haul_is_refused_and_nothing_changes(app, admin, settings, tmp_path):
    from webapp.services.admin import backup, restore

    made = backup.create(settings)
    with sqlite3.connect(made.path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
    with pytest.raises(restore.RestoreRefused, match="newer Haul"):
        restore.restore_named(settings, made.name)
    from webapp.extensions import db
    from webapp.models import User

    assert db.session.scalar(select(User.username)) == admin.username
    assert not list(settings.backup_dir.glob("haul-before-restore-*"))


def test_the_restore_and_config_commands(app, admin, settings, tmp_path):
    import json

    from webapp.services.admin import backup

    made = backup.create(settings)
    add_preset("later")
    runner = app.test_cli_runner()
    out = runner.invoke(args=["restore", str(made.path), "--yes"])
    assert out.exit_code == 0, out.output
    assert "Restored" in out.output
    from webapp.extensions import db
    from webapp.models import Preset

    db.session.remove()
    assert db.session.scalar(select(Preset).where(Preset.name == "later")) is None

    exported = runner.invoke(args=["config", "export"])
    assert exported.exit_code == 0, exported.output
    document = json.loads(exported.output)
    assert "password_hash" not in exported.output
    document["presets"].append({"name": "clips", "label": "Clips"})
    source = tmp_path / "config.json"
    source.write_text(json.dumps(document))
    dry = runner.invoke(args=["config", "import", str(source)])
    assert dry.exit_code == 0 and "presets: 1 created" in dry.output and "Dry run" in dry.output, dry.output
    applied = runner.invoke(args=["config", "import", str(source), "--apply"])
    assert applied.exit_code == 0 and "Applied." in applied.output, applied.output
    db.session.remove()
    assert db.session.scalar(select(Preset).where(Preset.name == "clips")) is not None

    refused = runner.invoke(args=["restore", str(source), "--yes"])
    assert refused.exit_code != 0 and "not a SQLite database" in refused.output


def test_no_job_is_claimed_while_a_restore_holds_the_queue_and_a_stale_hold_lapses(app, admin):
    import time as clock

    from jobs import runner
    from webapp.extensions import db
    from webapp.models import Setting
    from webapp.services.accounts.identity import Principal
    from webapp.services.queue import pause
    from webapp.services.queue.submissions import submit

    submit(["https://example.com/held"], principal=Principal(admin), source="gui")
    db.session.add(Setting(key=pause.MAINTENANCE_KEY, value=clock.time()))
    db.session.commit()
    assert runner.claim_next_job() is None
    db.session.get(Setting, pause.MAINTENANCE_KEY).value = clock.time() - pause.MAINTENANCE_LAPSES_AFTER - 1
    db.session.commit()
    assert runner.claim_next_job() is not None


def test_a_second_restore_while_one_runs_is_refused(app, admin, settings):
    import time as clock

    from webapp.errors import Conflict
    from webapp.extensions import db
    from webapp.models import Setting
    from webapp.services.admin import backup, restore
    from webapp.services.queue import pause

    made = backup.create(settings)
    db.session.add(Setting(key=pause.MAINTENANCE_KEY, value=clock.time()))  # another process's restore
    db.session.commit()
    with pytest.raises(Conflict, match="already under way"):
        restore.restore_named(settings, made.name)
    assert not list(settings.backup_dir.glob("haul-before-restore-*"))


def test_a_restore_that_fails_half_way_changes_nothing_and_gives_the_downloads_back(app, admin, settings,
                                                                                     monkeypatch):
    from webapp.extensions import db
    from webapp.models import Job, Preset, Setting
    from webapp.models.job import Outcome
    from webapp.services.accounts.identity import Principal
    from webapp.services.admin import backup, restore
    from webapp.services.queue import pause
    from webapp.services.queue.submissions import submit

    made = backup.create(settings)
    add_preset("later")
    submit(["https://example.com/running"], principal=Principal(admin), source="gui")
    job = db.session.scalar(select(Job))
    job.claim("elsewhere")
    db.session.commit()

    def stopped_by_its_worker(timeout):
        job = db.session.scalar(select(Job))
        job.finish(Outcome.CANCELLED)
        db.session.commit()
        return [job.id]

    copy_into = backup.copy_database_into
    calls = []

    def disk_full(*args):  # the copy aside works; the write into the live database meets a full disk
        calls.append(args)
        if len(calls) == 1:
            return copy_into(*args)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(restore, "_stop_running_downloads", stopped_by_its_worker)
    monkeypatch.setattr(backup, "copy_database_into", disk_full)
    with pytest.raises(restore.RestoreFailed, match="No space left"):
        restore.restore_named(settings, made.name)
    db.session.remove()
    assert db.session.scalar(select(Preset).where(Preset.name == "later")) is not None
    assert db.session.scalar(select(Job)).status == "queued"
    assert db.session.get(Setting, pause.MAINTENANCE_KEY) is None
