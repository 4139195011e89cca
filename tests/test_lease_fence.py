"""A worker that cannot renew its lease stops its download before the lease runs out, even while
its own renewal hangs on the database (jobs/runner.py `_Monitor._fence`).

The cluster test (tests/test_cluster.py) shows it on a real network cut, as root; this one needs
nothing but SQLite: another connection holds the write lock, so the monitor's renewal waits on
SQLite's busy timeout (30 s) as it would on a cut network's TCP timeouts."""
from __future__ import annotations

import dataclasses
import sqlite3
import threading
import time

import pytest

from jobs import lease, runner
from webapp.extensions import db
from webapp.models import Job
from webapp.models.job import Outcome
from webapp.services.queue.submissions import submit

LEASE = 6  # the shortest HAUL_JOB_LEASE_SECONDS allows: renewed every 1 s, fenced after 4 s


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, job_lease_seconds=LEASE)


def test_the_fence_stops_the_download_while_the_renewal_hangs_on_the_database(app):
    job_id = submit(["http://example.com/fence"], principal=None).entries[0].job_id
    assert runner.claim_next_job() == job_id
    db.session.remove()
    database = app.config["HAUL"].database_url.removeprefix("sqlite:///")
    blocker = sqlite3.connect(database, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # the write lock: every UPDATE of the monitor waits for it
    cancel, stop = threading.Event(), runner._Stop()
    monitor = runner._Monitor(app, job_id, 0, cancel, stop)
    started = time.monotonic()
    monitor.start()
    try:
        assert cancel.wait(lease.fence_after(LEASE) + 3), "the download was not stopped"
        stopped_after = time.monotonic() - started
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        monitor.finished.set()
        monitor.join(35)
    assert stop.reason is Outcome.TAKEN_OVER
    # After the fence (4 s), before the lease (6 s) could let another worker take the job.
    assert lease.fence_after(LEASE) <= stopped_after < LEASE, stopped_after
    assert db.session.get(Job, job_id).status == "downloading"  # nothing written: the row may be another's
