"""Periodic work runs once per period across every worker and host (webapp/services/admin/periodic.py).

Checked on SQLite and on PostgreSQL, with threads and with processes racing for the same
periods, and through the work that uses it: the daily cleanup, the subscriptions' scheduler.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone

import pytest
from support.stack import ROOT

RACERS = 6
PERIODS = 15


@pytest.fixture(params=["sqlite", "postgresql"])
def any_app(request):
    """The in-process app on SQLite, then on PostgreSQL."""
    return request.getfixturevalue("app" if request.param == "sqlite" else "pg_app")


def test_a_period_is_claimed_once_and_never_again_after_a_later_one(any_app):
    from webapp.services.admin import periodic

    assert periodic.claim("task", 10, "host-a:1") is True
    assert periodic.claim("task", 10, "host-b:2") is False
    assert periodic.claim("task", 9, "host-b:2") is False  # a host whose clock lags
    assert periodic.claim("task", 11, "host-b:2") is True
    assert periodic.last_claimed("task").holder == "host-b:2"
    assert periodic.claim("other-task", 10) is True  # each task has its own periods


def test_threads_racing_for_each_period_claim_it_once(any_app):
    from webapp.extensions import db
    from webapp.services.admin import periodic

    wins: dict[int, list[str]] = {period: [] for period in range(PERIODS)}
    start = threading.Barrier(RACERS)
    errors = []

    def race(name: str) -> None:
        try:
            with any_app.app_context():
                start.wait()
                for period in range(PERIODS):
                    if periodic.claim("watchdog", period, name):
                        wins[period].append(name)
                db.session.remove()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=race, args=(f"racer-{n}",)) for n in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert {period: len(names) for period, names in wins.items()} == {period: 1 for period in range(PERIODS)}


RACER = """
import json, sys
from webapp import create_app
from webapp.config import load_settings
from webapp.services.admin import periodic
settings = load_settings({"HAUL_DATA_DIR": sys.argv[1], "HAUL_DATABASE_URL": sys.argv[2]}, env_file=None)
app = create_app(settings, role="test")
won = []
with app.app_context():
    for period in range(int(sys.argv[3])):
        if periodic.claim("daily_cleanup", period, sys.argv[4]):
            won.append(period)
print(json.dumps(won))
"""


def test_processes_on_postgresql_claim_each_period_once(pg_app, tmp_path):
    """Hosts are processes of their own: each races through the same periods on the same database."""
    url = pg_app.config["HAUL"].database_url
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAUL_")}
    racers = [subprocess.Popen([sys.executable, "-c", RACER, str(tmp_path / f"host{n}"), url, str(PERIODS * 4),
                                f"host{n}"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True) for n in range(3)]
    won = []
    for racer in racers:
        out, err = racer.communicate(timeout=120)
        assert racer.returncode == 0, err
        won.extend(json.loads(out.strip().splitlines()[-1]))
    assert sorted(won) == list(range(PERIODS * 4))


def test_the_daily_cleanup_runs_once_a_day_whoever_passes(any_app):
    from webapp.services.admin import housekeeping

    settings = any_app.config["HAUL"]
    noon = datetime(2026, 12, 5, 12, 0, tzinfo=timezone.utc)
    first = housekeeping.run_due(settings, now=noon)
    assert first["cleanup"] is not None
    assert housekeeping.run_due(settings, now=noon + timedelta(hours=3))["cleanup"] is None  # the same day
    assert housekeeping.run_due(settings, now=noon - timedelta(days=1))["cleanup"] is None  # a lagging clock
    assert housekeeping.run_due(settings, now=noon + timedelta(days=1))["cleanup"] is not None


def test_schedulers_passing_at_once_start_a_due_subscription_once(any_app, monkeypatch):
    """Several workers (hosts) run the scheduler every minute: a due subscription gets one run."""
    from webapp.extensions import db
    from webapp.models import SubscriptionRun
    from webapp.services.accounts import identity as accounts
    from webapp.services.accounts.identity import Principal
    from webapp.services.queue import dispatch
    from webapp.services.subscriptions import manage, runs

    class Quiet:  # the workers' wake-ups go nowhere: only the rows are looked at
        def __getattr__(self, name):
            return lambda *args, **kwargs: 0

    monkeypatch.setattr(dispatch, "_worker_queue", Quiet())
    owner = accounts.create_user("scheduler-owner", "a-long-password", role="admin")
    subscription = manage.create({"name": "News", "url": "https://example.com/feed.xml", "schedule": "every 6 hours",
                                  "first_run": "all"}, Principal(user=owner))
    subscription.next_run_at = datetime.now(timezone.utc) - timedelta(minutes=1)  # due a minute ago
    db.session.commit()
    start = threading.Barrier(RACERS)
    started, errors = [], []

    def scheduler():
        try:
            with any_app.app_context():
                start.wait()
                started.extend(runs.fire_due())
                db.session.remove()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=scheduler) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert len(started) == 1
    assert db.session.query(SubscriptionRun).filter_by(subscription_id=subscription.id).count() == 1
