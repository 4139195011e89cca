"""On PostgreSQL a job's lease is written and judged on the database's clock, so worker hosts
whose own clocks disagree neither take a live job over early nor leave a dead one late
(jobs/lease.py)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from jobs import lease, recovery, runner
from webapp.extensions import db
from webapp.models import Job
from webapp.services.queue.submissions import submit


@pytest.fixture
def other_host(monkeypatch):
    """This process plays a worker of another host (its tag is not judged by local pids), whose
    clock runs `skew` ahead: every clock read in Python (webapp.models.base.utcnow) is moved."""
    import webapp.models.base as base

    real = base.utcnow

    def skewed(skew: timedelta):
        for module in (base, lease, runner):
            monkeypatch.setattr(module, "utcnow", lambda: real() + skew, raising=False)

    monkeypatch.setattr(runner, "HOSTNAME", "another-host")
    return skewed


def _claimed_job() -> int:
    job_id = submit(["http://example.com/leased"], principal=None).entries[0].job_id
    assert runner.claim_next_job() == job_id
    return job_id


def test_a_host_whose_clock_runs_ahead_does_not_take_a_live_job(pg_app, other_host):
    job_id = _claimed_job()
    other_host(timedelta(minutes=5))  # the recovering host's clock is 5 minutes ahead
    assert recovery.requeue_orphans() == []
    assert db.session.get(Job, job_id).status == "downloading"


def test_a_renewal_is_stamped_by_the_database_not_the_worker(pg_app, other_host):
    job_id = _claimed_job()
    other_host(timedelta(minutes=-5))  # the renewing worker's clock is 5 minutes behind
    db.session.execute(update(Job).where(Job.id == job_id).values(heartbeat_at=lease.renewal_stamp()))
    db.session.commit()
    stamped = db.session.scalar(select(Job.heartbeat_at).where(Job.id == job_id))
    database_now = db.session.scalar(select(func.now()))
    assert abs((database_now - stamped).total_seconds()) < 5
    assert recovery.requeue_orphans() == []  # a renewal just now, whatever the worker's clock says


def test_a_lease_older_than_its_length_on_the_database_clock_is_taken_back(pg_app, other_host):
    job_id = _claimed_job()
    other_host(timedelta(minutes=-5))  # even a host whose clock lags sees the expiry
    db.session.execute(update(Job).where(Job.id == job_id)
                       .values(heartbeat_at=func.now() - timedelta(seconds=lease.lease_seconds() + 1)))
    db.session.commit()
    assert recovery.requeue_orphans() == [job_id]
    assert db.session.get(Job, job_id).status == "queued"
