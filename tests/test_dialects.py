"""Each dialect branch and dialect-sensitive query answers alike on SQLite and on PostgreSQL.

The audit behind this list is in the issue-17 notes (docs-dialects): every test here runs once on
the `app` fixture (SQLite) and once on `pg_app` (PostgreSQL, a database of its own), or fills
both and compares. Claims are also raced from several threads, each with its own session, as
several workers on several hosts would. (periodic.claim and the subscriptions' due query are
raced on both databases in tests/test_periodic_claims.py.)
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from webapp.extensions import db

T0 = datetime(2026, 3, 2, 23, 30, tzinfo=timezone.utc)  # a Monday, late: buckets cross midnight


@pytest.fixture(params=["sqlite", "postgresql"])
def any_app(request):
    """The SQLite app or the PostgreSQL one (each test runs on both)."""
    return request.getfixturevalue("app" if request.param == "sqlite" else "pg_app")


def _people():
    from webapp.services.accounts import identity as accounts

    return (accounts.create_user("admin", "admin-password-0123", role="admin"),
            accounts.create_user("alice", "alice-password-0123", role="user"))


def _finished(user, url, *, created, started=None, finished=None, status="completed", sizes=(), domain_title=None):
    """A finished job made through the services and the Job's own status changes."""
    from webapp.models import Job, JobFile
    from webapp.models.job import Outcome
    from webapp.services.accounts.identity import Principal
    from webapp.services.queue.submissions import submit

    result = submit([url], principal=Principal(user=user), source="api", force=True)
    job = db.session.get(Job, result.entries[0].job_id)
    for number, size in enumerate(sizes):
        job.files.append(JobFile(path=f"x/{job.id}/{number}.bin", size=size, sha256="0" * 64))
    job.claim("tests")
    job.finish(Outcome(status), None if status == "completed" else "boom")
    job.created_at = created
    job.started_at = started or created + timedelta(seconds=30)
    job.finished_at = finished or job.started_at + timedelta(seconds=90)
    job.title = domain_title
    db.session.commit()
    return job


def _library():
    admin, alice = _people()
    made = []
    for n in range(12):
        made.append(_finished(
            alice if n % 3 == 0 else admin, f"https://{'a' if n % 2 else 'b'}.example.com/v/{n}",
            created=T0 + timedelta(hours=7 * n), status=("completed", "failed", "cancelled")[n % 3],
            sizes=[1000 * (n + 1), 7] if n % 4 else [], domain_title=f"Clip {n}"))
    return admin, alice, made


def _on_both(app, pg_app, work):
    """work() inside each app's context: {dialect: its answer}."""
    answers = {}
    for name, one in (("sqlite", app), ("postgresql", pg_app)):
        with one.app_context():
            answers[name] = work()
            db.session.remove()
    return answers


# -- stats and dashboard: buckets, days, durations -------------------------------------------------


def test_timeline_buckets_are_the_same_on_both(app, pg_app):
    """Hour, day, week (from Monday) and month buckets, the admin's and a user's."""
    from webapp.services.accounts.identity import Principal
    from webapp.services.library import stats

    groupings = ("hour", "day", "week", "month")

    def work():
        admin, alice, _made = _library()
        now = T0 + timedelta(days=5)
        return {group_by: [stats.timeline("month", group_by, Principal(user=who), now=now) for who in (admin, alice)]
                for group_by in groupings}

    answers = _on_both(app, pg_app, work)
    for group_by in groupings:
        assert answers["sqlite"][group_by] == answers["postgresql"][group_by], group_by
        buckets = answers["sqlite"][group_by][0]["timeline"]
        assert sum(b["downloads"] for b in buckets) == 12 and any(b["total_size_bytes"] for b in buckets)
    weeks = answers["sqlite"]["week"][0]["timeline"]
    assert all(datetime.fromisoformat(b["timestamp"].replace("Z", "+00:00")).weekday() == 0 for b in weeks)
    assert len(answers["sqlite"]["hour"][0]["timeline"]) > len(answers["sqlite"]["day"][0]["timeline"])


def test_download_stats_and_dashboard_timings_are_the_same_on_both(app, pg_app):
    from webapp.services.accounts.identity import Principal
    from webapp.services.library import dashboard, stats

    def work():
        admin, _alice, _made = _library()
        return (stats.download_stats("all", Principal(user=admin)),
                dashboard.timings(None, None), dashboard.timings(None, T0 + timedelta(days=2)),
                stats.platforms("all", Principal(user=admin)))

    answers = _on_both(app, pg_app, work)
    assert answers["sqlite"] == answers["postgresql"]
    timings = answers["sqlite"][1]
    assert (timings["average_wait_seconds"], timings["average_download_seconds"]) == (30.0, 90.0)


# -- the history's listing, filters and order ------------------------------------------------------


def test_history_filters_and_order_are_the_same_on_both(app, pg_app):
    from webapp.services.accounts.identity import Principal
    from webapp.services.library import history

    views = [{}, {"status": "failed"}, {"domain": "a.example.com"}, {"source": "api"},
             {"from": "2026-03-03", "to": "2026-03-04"}, {"from": "2026-03-03", "tz": "America/New_York"},
             {"status": "completed", "domain": "b.example.com"}]

    def work():
        admin, alice, _made = _library()
        found = []
        for who in (admin, alice):
            for args in views:
                filters, errors = history.parse_filters(args, Principal(user=who))
                assert not errors, errors
                page = history.list_history(filters, Principal(user=who))
                found.append(([entry.job.id for entry in page.entries], page.total))
        return found

    answers = _on_both(app, pg_app, work)
    assert answers["sqlite"] == answers["postgresql"]
    assert answers["sqlite"][0][1] == 12 and answers["sqlite"][0][0] == sorted(answers["sqlite"][0][0], reverse=True)


def test_retention_removes_the_same_jobs_on_both(app, pg_app):
    from webapp.services.library import retention

    def work():
        _library()
        report = retention.CleanupReport(retention_days=3, delete_files=False, dry_run=False)
        retention.remove_old_jobs(report, now=T0 + timedelta(days=5))
        return sorted(report.job_ids)

    answers = _on_both(app, pg_app, work)
    assert answers["sqlite"] == answers["postgresql"] and answers["sqlite"]


# -- claims raced from several threads -------------------------------------------------------------


def _race(app, threads: int, work) -> list:
    """work() in `threads` threads at once, each in its own app context (its own session)."""
    barrier = threading.Barrier(threads)
    results, errors = [], []

    def run():
        with app.app_context():
            try:
                barrier.wait(timeout=30)
                results.append(work())
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                db.session.remove()

    started = [threading.Thread(target=run) for _ in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join(timeout=60)
    assert not errors, errors
    assert len(results) == threads
    return results


def test_claim_next_job_never_exceeds_the_limit_nor_claims_twice(any_app):
    from sqlalchemy import func, select

    from jobs import runner
    from webapp.models import Job
    from webapp.services.accounts.identity import Principal
    from webapp.services.admin import runtime_settings
    from webapp.services.queue.submissions import submit

    admin, _alice = _people()
    submit([f"https://example.com/q/{n}" for n in range(20)], principal=Principal(user=admin), source="api")
    runtime_settings.save({runtime_settings.CONCURRENCY: "3"})
    db.session.commit()
    db.session.remove()

    def claim_all():
        mine = []
        for _ in range(4):
            claimed = runner.claim_next_job()
            if claimed is not None:
                mine.append(claimed)
        return mine

    claimed = [job_id for batch in _race(any_app, 6, claim_all) for job_id in batch]
    assert len(claimed) == 3 and len(set(claimed)) == 3  # the limit, each job once
    downloading = db.session.scalar(select(func.count()).select_from(Job).where(Job.status == "downloading"))
    assert downloading == 3
    # The first three in queue order were taken.
    first = list(db.session.scalars(select(Job.id).order_by(Job.priority.desc(), Job.rank, Job.id).limit(3)))
    assert sorted(claimed) == sorted(first)


def test_claims_with_room_for_all_take_every_job_once(any_app):
    from jobs import runner
    from webapp.services.accounts.identity import Principal
    from webapp.services.admin import runtime_settings
    from webapp.services.queue.submissions import submit

    admin, _alice = _people()
    submit([f"https://example.com/r/{n}" for n in range(16)], principal=Principal(user=admin), source="api")
    runtime_settings.save({runtime_settings.CONCURRENCY: "16"})
    db.session.commit()
    db.session.remove()

    def claim_until_none():
        mine = []
        while (claimed := runner.claim_next_job()) is not None:
            mine.append(claimed)
        return mine

    claimed = [job_id for batch in _race(any_app, 5, claim_until_none) for job_id in batch]
    assert len(claimed) == 16 and len(set(claimed)) == 16


def test_the_postgresql_claim_takes_the_advisory_lock_and_skips_locked_rows(pg_app):
    """A queued job another transaction holds (FOR UPDATE) is passed over, not waited for."""
    from sqlalchemy import select

    from jobs import runner
    from webapp.models import Job
    from webapp.services.accounts.identity import Principal
    from webapp.services.queue.submissions import submit

    admin, _alice = _people()
    result = submit(["https://example.com/s/1", "https://example.com/s/2"], principal=Principal(user=admin),
                    source="api")
    first, second = (entry.job_id for entry in result.entries)
    db.session.commit()
    holder = db.engine.connect()
    transaction = holder.begin()
    holder.execute(select(Job.id).where(Job.id == first).with_for_update())
    try:
        assert runner.claim_next_job() == second
    finally:
        transaction.rollback()
        holder.close()
    assert runner.claim_next_job() == first


def test_notification_deliveries_are_claimed_once_across_racing_workers(any_app):
    from jobs import notify
    from webapp.models.notification import NotificationDelivery, NotificationTarget
    from webapp.models.base import utcnow

    admin, _alice = _people()
    target = NotificationTarget(owner_id=admin.id, name="hook", kind="webhook", url="https://example.com/hook",
                                events=["job_finished"])
    db.session.add(target)
    db.session.flush()
    for n in range(30):
        db.session.add(NotificationDelivery(target_id=target.id, event="job_finished", payload={"n": n},
                                            status="pending", attempts=0, next_attempt_at=utcnow(),
                                            created_at=utcnow()))
    db.session.commit()
    db.session.remove()
    def claim_until_none():
        mine, empty = [], 0
        while empty < 3:  # a pass may find only rows others took; three empty ones in a row: all gone
            taken = notify.claim_due(5)
            mine.extend(taken)
            empty = 0 if taken else empty + 1
        return mine

    claimed = [i for batch in _race(any_app, 6, claim_until_none) for i in batch]
    assert len(claimed) == 30 and len(set(claimed)) == 30


def test_deleting_an_invite_clears_its_submissions_references_on_both(any_app):
    """SQLite has no foreign key on submissions.invite_id (e5b9c3d2a7f1): the app clears it;
    PostgreSQL's SET NULL would. Either way no submission names a deleted invite."""
    from sqlalchemy import select

    from webapp.models import Submission
    from webapp.services.guests import invites

    admin, _alice = _people()
    invite = invites.create_invite(admin.id, {"name": "Party"})
    submission = Submission(id="s-invite", source="api", submitted_via="invite", items=[], created_at=T0,
                            invite_id=invite.id)
    db.session.add(submission)
    db.session.commit()
    invites.delete_invite(invite)
    db.session.commit()
    assert db.session.scalar(select(Submission.invite_id).where(Submission.id == "s-invite")) is None


# -- the queue's listing -----------------------------------------------------------------------------


def test_the_queue_listing_orders_alike_on_both(app, pg_app):
    """Downloading, then waiting by priority and rank, then finished newest first; a finished row
    without finished_at (old data) last on both (PostgreSQL alone would put it first)."""
    from sqlalchemy import update

    from webapp.core.vocabulary import STATUSES
    from webapp.models import Job
    from webapp.services.accounts.identity import Principal
    from webapp.services.queue import listing
    from webapp.services.queue.submissions import submit

    def work():
        admin, _alice, made = _library()
        db.session.execute(update(Job).where(Job.id == made[5].id).values(finished_at=None))
        result = submit([f"https://example.com/w/{n}" for n in range(4)], principal=Principal(user=admin),
                        source="api", priority=1)
        submit(["https://example.com/w/low"], principal=Principal(user=admin), source="api")
        running = db.session.get(Job, result.entries[2].job_id)
        running.claim("tests")
        db.session.commit()
        jobs, total = listing.queue_page(Principal(user=admin), statuses=STATUSES, limit=100)
        return [job.id for job in jobs], total, made[5].id, running.id

    answers = _on_both(app, pg_app, work)
    assert answers["sqlite"] == answers["postgresql"]
    order, total, no_finish, running = answers["sqlite"]
    assert total == 17 and order[0] == running and order[-1] == no_finish


def test_usernames_are_found_in_any_case_on_both(any_app):
    """lower() folds only ASCII on SQLite, every letter on PostgreSQL: usernames are ASCII
    (identity.USERNAME_RE), so both find the same person."""
    from webapp.services.accounts import identity

    _people()
    assert identity.USERNAME_RE.pattern.isascii() and not identity.USERNAME_RE.match("älice")
    from sqlalchemy import func, select

    from webapp.models import User
    assert db.session.scalar(select(User.id).where(func.lower(User.username) == "ALICE".lower())) is not None
