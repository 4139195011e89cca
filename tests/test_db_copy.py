"""`flask --app wsgi db copy --to postgresql://…` (webapp/services/admin/db_copy.py), through the real CLI.

The source is a SQLite database the real migrations built and the app's own services filled, every
table non-empty; the target a new PostgreSQL database on 127.0.0.1:5432 (the `postgres_url`
fixture). The copy runs as a subprocess, as a self-hoster runs it.
"""
from __future__ import annotations

import dataclasses
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, func, select

from webapp.extensions import db

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "copy-password-0123"
CHANNEL = "https://media.example/channel/news"


def run_copy(tmp_path: Path, database_url: str, *args: str) -> subprocess.CompletedProcess:
    """`flask --app wsgi db copy …` in a subprocess, on a data dir of the test's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAUL_")}
    data_dir = tmp_path / "copy-data"
    data_dir.mkdir(exist_ok=True)
    env.update(HAUL_DATA_DIR=str(data_dir), HAUL_DATABASE_URL=database_url, HAUL_SECRET_KEY="copy-test")
    return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "copy", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)


def fill(settings) -> dict:
    """Every table of Haul's, filled through the app's services (and, for what only the worker
    writes, the models' own methods as the worker uses them)."""
    from webapp.core.item_filters import Item
    from webapp.core.listings import Listing
    from webapp.models import Job, JobFile, JobLog, JobMetadata
    from webapp.models.job import Outcome
    from webapp.services.accounts import identity as accounts
    from webapp.services.accounts.identity import Principal
    from webapp.services.admin import cookie_access, periodic, runtime_settings
    from webapp.services.guests import chunked_uploads, invites
    from webapp.services.library import presets
    from webapp.services.notifications import outbox, targets
    from webapp.services.queue.submissions import submit
    from webapp.services.subscriptions import manage, runs

    admin = accounts.create_user("admin", PASSWORD, role="admin")
    alice = accounts.create_user("alice", PASSWORD)
    token_row, token = accounts.create_token(alice, "phone")
    facts = {"token": token, "alice_id": alice.id, "admin_id": admin.id}
    accounts.open_login_session(alice)
    runtime_settings.save({runtime_settings.MAX_STREAMS: 7})
    presets.create({"name": "podcast", "label": "Podcast", "kind": "audio", "audio_codec": "opus"}, Principal(admin))
    cookie_access.store(settings.data_dir, b".media.example\tTRUE\t/\tFALSE\t0\tsid\tabc\n", "media.example")
    cookie_access.set_access(settings.data_dir, "media.example", cookie_access.CHOSEN, [alice.id])
    targets.create_target(Principal(alice), {"name": "Hook", "kind": "webhook", "url": "https://93.184.216.34/hook",
                                             "events": ["job_completed"]})

    # Downloads: a finished one with files, metadata and a log; a failed one; one still queued.
    result = submit(["https://media.example/v/1", "https://media.example/v/2", "https://media.example/v/3"],
                    principal=Principal(alice, token=token_row), source="api", post_title="Holiday 🏖")
    done, failed, _queued = (db.session.get(Job, entry.job_id) for entry in result.entries)
    facts["done_id"] = done.id
    done.claim("worker-1")
    done.title = "Sunset over the bay — 4K 🌅"
    done.bytes_total = done.bytes_done = 5_000_000_000  # beyond 32 bits
    done.speed = 1234567.5
    done.files.append(JobFile(path="Holiday/sunset.mp4", size=5_000_000_000, sha256="a" * 64, mime="video/mp4"))
    done.files.append(JobFile(path="Holiday/sunset.en.vtt", size=1200, sha256="b" * 64, kind="subtitle"))
    done.metadata_row = JobMetadata(uploader="Bay Films", duration=3600.25, tags="sea\nsunset", view_count=2**40,
                                    extra={"chapters": [{"title": "Intro", "start": 0.0}], "album": None})
    db.session.add(JobLog(job_id=done.id, text="── attempt 1 ──\n[download] 100%", truncated=False))
    done.finish(Outcome("completed"))
    outbox.announce("job_completed", {"job_id": done.id, "title": done.title}, user_id=alice.id)
    failed.claim("worker-1")
    failed.finish(Outcome("failed"), "HTTP Error 404: Not Found")
    db.session.commit()

    # Guests: an invite, a guest's session through it, an upload started there.
    invite = invites.create_invite(admin.id, {"name": "Party", "post_title": "Summer party"})
    guest = invites.open_session(invite, None)
    db.session.commit()
    chunked_uploads.start(guest, {"filename": "cake.jpg", "size": 2048, "mime": "image/jpeg"})

    # A subscription whose run listed two items: the run's listing job points at the run and
    # the run at its job (a cycle), its children at the listing job (their parent).
    subscription = manage.create({"name": "News", "url": CHANNEL, "schedule": "every 6 hours", "first_run": "all",
                                  "published_after": "2026-01-02"}, Principal(alice))
    run = runs.run_now(subscription)
    listing_job = db.session.get(Job, run.job_id)
    listing_job.claim("worker-1")
    db.session.commit()
    now = datetime.now(UTC)
    runs.expand_run(listing_job.id, Listing("news", "News", "generic", [
        Item("https://media.example/v/10", "Episode 2", now - timedelta(days=1), 600.0, item_key="x:10"),
        Item("https://media.example/v/11", "Episode 1", now - timedelta(days=2), 620.0, item_key="x:11"),
    ]), None)
    db.session.commit()

    periodic.claim("daily-backup", periodic.period_of(86400), "host-a")
    db.session.commit()
    return facts


def table_rows(engine) -> dict[str, list[tuple]]:
    """Every table's rows as the app reads them (its column types), in primary-key order; text
    keys in byte order on both sides."""
    rows = {}
    with engine.connect() as connection:
        for table in db.metadata.sorted_tables:
            order = [column.collate("C") if engine.dialect.name == "postgresql" and column.type.python_type is str
                     else column for column in table.primary_key.columns]
            rows[table.name] = [tuple(row) for row in connection.execute(select(table).order_by(*order))]
    return rows


def pg_engine(url: str):
    return create_engine(url)


@pytest.fixture
def filled(app, settings):
    facts = fill(settings)
    db.session.remove()
    return facts


def test_every_table_is_copied_verified_and_the_app_on_postgresql_reads_the_same(app, settings, filled, postgres_url,
                                                                                 tmp_path):
    source = create_engine(settings.database_url)
    before = table_rows(source)
    empty = sorted(name for name, rows in before.items() if not rows)
    assert not empty, f"the fixture must fill every table; empty: {empty}"

    copied = run_copy(tmp_path, settings.database_url, "--to", postgres_url.replace("postgresql+psycopg", "postgresql"))
    assert copied.returncode == 0, copied.stdout + copied.stderr
    lines = copied.stdout.splitlines()
    for name, rows in before.items():
        line = next(line for line in lines if line.split()[:1] == [name])
        assert line.split()[1] == f"{len(rows):,}" and line.endswith("ok"), line
    assert "not copied: alembic_version" in copied.stdout
    assert "not copied: jobs_search: SQLite's full-text index" in copied.stdout

    # The same values, read through the models' types on each side (datetimes, booleans, JSON).
    target = pg_engine(postgres_url)
    after = table_rows(target)
    for name in before:
        assert after[name] == before[name], name
    # SQL NULL and JSON null kept apart in JSON columns.
    with source.connect() as s, target.connect() as t:
        from webapp.models import Job
        for column in (Job.collection_options,):
            assert (s.scalar(select(func.count()).where(column.is_(None)))
                    == t.scalar(select(func.count()).where(column.is_(None))))
    source.dispose()
    target.dispose()

    # An app on PostgreSQL: the same users, tokens, history; new rows get ids above the copied ones.
    from webapp import create_app
    from webapp.models import Event, Job, User
    from webapp.services.accounts import identity as accounts
    from webapp.services.accounts.identity import Principal
    from webapp.services.library import history
    from webapp.services.queue.submissions import submit

    with app.app_context():
        sqlite_history = [(e.job.id, e.job.title) for e in history.list_history(
            history.Filters(), Principal(db.session.get(User, filled["admin_id"]))).entries]
        highest = {"jobs": db.session.scalar(select(func.max(Job.id))),
                   "events": db.session.scalar(select(func.max(Event.id)))}
        db.session.remove()
    pg_app = create_app(dataclasses.replace(settings, database_url=postgres_url), role="test", TESTING=True)
    with pg_app.app_context():
        try:
            assert accounts.authenticate("alice", PASSWORD).id == filled["alice_id"]
            assert accounts.resolve_bearer(filled["token"], None).user.username == "alice"
            admin = db.session.get(User, filled["admin_id"])
            assert [(e.job.id, e.job.title) for e in history.list_history(
                history.Filters(), Principal(admin)).entries] == sqlite_history
            assert "Sunset over the bay — 4K 🌅" in [title for _id, title in sqlite_history]
            made = submit(["https://media.example/v/new"], principal=Principal(admin), source="api")
            assert made.entries[0].job_id > highest["jobs"]
            assert db.session.scalar(select(func.max(Event.id))) > highest["events"]
            assert accounts.create_user("bob", PASSWORD).id > filled["alice_id"]
        finally:
            db.session.remove()
            db.engine.dispose()


def _target_state(url: str) -> list:
    """What a database holds: its tables and each one's rows, for a before/after comparison."""
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
        names = [name for (name,) in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name")]
        return [(name, conn.execute(f'SELECT * FROM "{name}" ORDER BY 1').fetchall()) for name in names]


def test_a_target_that_is_not_empty_is_refused_and_left_unchanged(app, settings, filled, postgres_url, tmp_path):
    assert run_copy(tmp_path, settings.database_url, "--to", postgres_url).returncode == 0
    with psycopg.connect(postgres_url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute("UPDATE settings SET value = '9' WHERE key = 'max_streams'")  # changed there since
    state = _target_state(postgres_url)

    again = run_copy(tmp_path, settings.database_url, "--to", postgres_url)
    assert again.returncode == 1
    assert "is not empty: " in again.stderr and "users (2 rows)" in again.stderr and "jobs (" in again.stderr
    assert "Traceback" not in again.stderr
    assert _target_state(postgres_url) == state


def test_a_target_holding_only_what_its_migrations_wrote_counts_as_empty(app, settings, filled, postgres_url,
                                                                          tmp_path):
    """`flask db upgrade` run on the new database first writes the built-in presets: still empty."""
    _migrate_target(tmp_path, postgres_url)
    copied = run_copy(tmp_path, settings.database_url, "--to", postgres_url)
    assert copied.returncode == 0, copied.stderr
    assert "presets" in copied.stdout and "replaced: the target's presets" in copied.stdout


@pytest.mark.parametrize("to", ["mysql://haul:s3cret-pw@db.example/haul", "sqlite:////tmp/elsewhere.db",
                                "postgresql://haul:s3cret-pw@127.0.0.1:1/haul"])
def test_a_target_that_is_not_postgresql_or_cannot_be_reached_is_refused_in_one_line(app, settings, tmp_path, to):
    refused = run_copy(tmp_path, settings.database_url, "--to", to)
    assert refused.returncode == 1
    errors = [line for line in refused.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, refused.stderr
    assert "Traceback" not in refused.stderr and "s3cret-pw" not in refused.stderr + refused.stdout
    if to.startswith("postgresql"):
        assert "Cannot connect to postgresql+psycopg://haul:***@127.0.0.1:1/haul" in errors[0]
    else:
        assert "--to must be a PostgreSQL URL" in errors[0]


def test_an_outdated_source_is_refused_until_it_is_upgraded(settings, postgres_url, tmp_path):
    source = tmp_path / "old.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAUL_")}
    env.update(HAUL_DATA_DIR=str(tmp_path), HAUL_DATABASE_URL=f"sqlite:///{source}")
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade", "e8b2c4f6a1d3"], cwd=ROOT,
                   env=env, check=True, capture_output=True)
    refused = run_copy(tmp_path, f"sqlite:///{source}", "--to", postgres_url)
    assert refused.returncode == 1
    assert "older than this Haul's" in refused.stderr and "run flask db upgrade first" in refused.stderr
    assert _target_state(postgres_url) == []  # no table made there


def test_a_source_that_is_not_sqlite_is_refused(settings, postgres_url, tmp_path):
    refused = run_copy(tmp_path, postgres_url, "--to", postgres_url)
    assert refused.returncode == 1
    assert "The source must be Haul's SQLite database" in refused.stderr


def test_the_copy_refuses_while_haul_runs_on_the_data_dir(app, settings, filled, postgres_url, tmp_path):
    from webapp import stack_lock

    (tmp_path / "copy-data").mkdir()
    held = stack_lock.hold(tmp_path / "copy-data")  # as `flask serve` holds it
    try:
        refused = run_copy(tmp_path, settings.database_url, "--to", postgres_url)
    finally:
        os.close(held)
    assert refused.returncode == 1
    assert f"Haul is running on {tmp_path / 'copy-data'} (pid {os.getpid()}): stop it first" in refused.stderr
    assert _target_state(postgres_url) == []
    assert run_copy(tmp_path, settings.database_url, "--to", postgres_url).returncode == 0  # once it stopped


def test_a_value_postgresql_cannot_hold_is_named_and_nothing_is_kept(app, settings, filled, postgres_url, tmp_path):
    """SQLite keeps 1.5 in an INTEGER column (its type affinity allows it); PostgreSQL cannot."""
    path = settings.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE jobs SET priority = 1.5 WHERE id = ?", (filled["done_id"],))
    refused = run_copy(tmp_path, settings.database_url, "--to", postgres_url)
    assert refused.returncode == 1
    assert f"jobs.priority of the row {filled['done_id']} holds 1.5, not a whole number" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert _target_state(postgres_url) == []


def _migrate_target(tmp_path: Path, url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAUL_")}
    env.update(HAUL_DATA_DIR=str(tmp_path), HAUL_DATABASE_URL=url)
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                   capture_output=True)


def test_a_target_that_stores_other_values_fails_the_verification_and_is_left_as_it_was(
        app, settings, filled, postgres_url, tmp_path):
    """A trigger on the target (an admin's, say) that changes what is written: the jobs' checksums
    differ, the command says MISMATCH and exits 1, and the whole transaction is rolled back."""
    _migrate_target(tmp_path, postgres_url)
    with psycopg.connect(postgres_url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute("CREATE FUNCTION shout() RETURNS trigger AS $$ BEGIN NEW.title := upper(NEW.title); "
                     "RETURN NEW; END $$ LANGUAGE plpgsql")
        conn.execute("CREATE TRIGGER shout BEFORE INSERT ON jobs FOR EACH ROW EXECUTE FUNCTION shout()")
    state = _target_state(postgres_url)

    copied = run_copy(tmp_path, settings.database_url, "--to", postgres_url)
    assert copied.returncode == 1
    lines = copied.stdout.splitlines()
    jobs_line = next(line for line in lines if line.startswith("jobs "))
    assert "MISMATCH: the target's checksum is" in jobs_line
    assert next(line for line in lines if line.startswith("users ")).endswith(" ok")
    assert "did not verify" in copied.stderr and "rolled back" in copied.stderr
    assert _target_state(postgres_url) == state  # the migrations' presets are back, nothing else is there


def test_rows_with_references_the_order_cannot_satisfy_keep_them(app, settings, filled, postgres_url, tmp_path):
    """A job whose duplicate_of points at a later job, and the run ↔ listing job cycle."""
    from webapp.models import Job, SubscriptionRun

    first, last = db.session.scalar(select(func.min(Job.id))), db.session.scalar(select(func.max(Job.id)))
    db.session.get(Job, first).duplicate_of_id = last
    db.session.commit()
    db.session.remove()
    assert run_copy(tmp_path, settings.database_url, "--to", postgres_url).returncode == 0
    target = pg_engine(postgres_url)
    with target.connect() as conn:
        assert conn.scalar(select(Job.duplicate_of_id).where(Job.id == first)) == last
        run_id, job_id = conn.execute(select(SubscriptionRun.id, SubscriptionRun.job_id)).one()
        assert conn.scalar(select(Job.subscription_run_id).where(Job.id == job_id)) == run_id
        assert conn.scalar(select(func.count()).where(Job.parent_id == job_id)) == 2
        # a date column too
        from webapp.models import Subscription
        assert conn.scalar(select(Subscription.published_after)) == date(2026, 1, 2)
    target.dispose()
