"""Workers claiming jobs from the rows (priority, then age) and recovering jobs of dead workers."""
from __future__ import annotations

import os
import subprocess
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from jobs import recovery, runner
from webapp.extensions import db
from webapp.models import Event, Job
from webapp.models.base import utcnow
from webapp.models.job import Outcome
from webapp.services.queue.submissions import submit


def new_job(url: str, **kwargs) -> int:
    """Queue one URL through the real submission path; returns the job id."""
    return submit([url], principal=None, **kwargs).entries[0].job_id


def job(job_id: int) -> Job:
    row = db.session.get(Job, job_id)
    db.session.refresh(row)
    return row


# Claiming ------------------------------------------------------------------------------------


def test_claim_marks_the_job_downloading(app):
    """A claimed job is downloading, tagged with this worker, on its first attempt."""
    job_id = new_job("http://example.com/one")
    before = utcnow()
    assert runner.claim_next_job() == job_id
    claimed = job(job_id)
    assert claimed.status == "downloading"
    assert claimed.worker_tag == runner.worker_tag()
    assert claimed.attempts == 1
    assert claimed.heartbeat_at >= before - timedelta(seconds=1)
    assert claimed.started_at is not None
    statuses = db.session.scalars(
        select(Event.data).where(Event.job_id == job_id, Event.type == "status").order_by(Event.id)
    ).all()
    assert [data["status"] for data in statuses] == ["downloading"]
    # Its submission was announced once, naming the job.
    queued = db.session.scalars(select(Event.data).where(Event.type == "queued")).all()
    assert [data["job_ids"] for data in queued] == [[job_id]]


def test_worker_tag_names_host_pid_and_boot(app):
    """The tag is host:pid:boot-id of this process."""
    host, pid, boot = runner.worker_tag().split(":")
    assert host == runner.HOSTNAME
    assert int(pid) == os.getpid()
    assert boot == runner.BOOT_ID


def test_claim_order_is_priority_then_age(app):
    """Higher priority first; among equal priorities, the oldest first."""
    old_low = new_job("http://example.com/old-low", priority=0)
    old_high = new_job("http://example.com/old-high", priority=5)
    new_low = new_job("http://example.com/new-low", priority=0)
    new_high = new_job("http://example.com/new-high", priority=5)
    top = new_job("http://example.com/top", priority=10)
    # Make the ages unambiguous whatever the clock resolution (rank is the submission time).
    base = time.time() - 600
    for offset, job_id in enumerate([old_low, old_high, new_low, new_high, top]):
        db.session.get(Job, job_id).rank = base + offset
    db.session.commit()

    claimed = [runner.claim_next_job() for _ in range(5)]
    assert claimed == [top, old_high, new_high, old_low, new_low]
    assert runner.claim_next_job() is None


def test_age_beats_id_order(app):
    """Age is the rank (submission time unless moved), not the id: an older row with a higher id goes first."""
    first = new_job("http://example.com/first")
    second = new_job("http://example.com/second")
    db.session.get(Job, second).rank = time.time() - 3600
    db.session.commit()
    assert runner.claim_next_job() == second
    assert runner.claim_next_job() == first


def test_claim_skips_jobs_not_yet_due(app):
    """A job whose not_before is in the future waits; one whose time has come is taken."""
    later = new_job("http://example.com/later", priority=10)
    now_job = new_job("http://example.com/now")
    db.session.get(Job, later).not_before = utcnow() + timedelta(minutes=5)
    db.session.commit()
    assert runner.claim_next_job() == now_job
    assert runner.claim_next_job() is None
    assert job(later).status == "queued"

    db.session.get(Job, later).not_before = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert runner.claim_next_job() == later
    assert job(later).not_before is None


def test_a_claimed_job_cannot_be_claimed_again(app):
    """Claiming again takes the next job, never the one already running."""
    first = new_job("http://example.com/a")
    second = new_job("http://example.com/b")
    taken = {runner.claim_next_job(), runner.claim_next_job()}
    assert taken == {first, second}
    assert runner.claim_next_job() is None
    assert job(first).attempts == 1 and job(second).attempts == 1


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled"])
def test_finished_jobs_are_not_claimed(app, status):
    """Only queued jobs are claimed."""
    job_id = new_job("http://example.com/done")
    finished = db.session.get(Job, job_id)
    finished.claim("tests")
    finished.finish(Outcome(status))
    db.session.commit()
    assert runner.claim_next_job() is None


def test_empty_queue_claims_nothing(app):
    """No jobs: nothing to claim."""
    assert runner.claim_next_job() is None


# Orphans -------------------------------------------------------------------------------------


@pytest.fixture
def running(app):
    """A job claimed by this process (downloading, fresh heartbeat, our tag)."""
    job_id = new_job("http://example.com/running")
    assert runner.claim_next_job() == job_id
    return job(job_id)


def finished_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen(["sleep", "0"])
    proc.wait()
    return proc.pid


def test_fresh_heartbeat_of_this_process_is_not_orphaned(running):
    """Our own running job, heartbeat fresh: not orphaned."""
    assert not recovery.is_orphaned(running, utcnow())


def test_stale_heartbeat_is_orphaned(running):
    """A heartbeat older than 30 s means the worker is gone, even with our tag."""
    now = utcnow()
    running.heartbeat_at = now - timedelta(seconds=31)
    assert recovery.is_orphaned(running, now)
    running.heartbeat_at = now - timedelta(seconds=29)
    assert not recovery.is_orphaned(running, now)


def test_missing_heartbeat_is_orphaned(running):
    """A downloading job with no heartbeat at all is orphaned."""
    running.heartbeat_at = None
    assert recovery.is_orphaned(running, utcnow())


def test_dead_pid_on_this_host_is_orphaned(running):
    """Fresh heartbeat, but the tagged process on this host no longer exists: orphaned."""
    running.worker_tag = f"{runner.HOSTNAME}:{finished_pid()}:someboot"
    assert recovery.is_orphaned(running, utcnow())


def test_zombie_pid_on_this_host_is_orphaned(running):
    """A killed worker nobody reaped yet (a zombie) counts as dead."""
    proc = subprocess.Popen(["sleep", "30"])
    try:
        proc.kill()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with open(f"/proc/{proc.pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break
            time.sleep(0.01)
        running.worker_tag = f"{runner.HOSTNAME}:{proc.pid}:someboot"
        assert recovery.is_orphaned(running, utcnow())
    finally:
        proc.wait()


def test_live_pid_on_this_host_is_not_orphaned(running):
    """Fresh heartbeat and the tagged process is alive: not orphaned."""
    proc = subprocess.Popen(["sleep", "30"])
    try:
        running.worker_tag = f"{runner.HOSTNAME}:{proc.pid}:someboot"
        assert not recovery.is_orphaned(running, utcnow())
    finally:
        proc.kill()
        proc.wait()


def test_other_host_with_fresh_heartbeat_is_not_orphaned(running):
    """Another machine's worker can only be judged by its heartbeat."""
    running.worker_tag = f"not-{runner.HOSTNAME}:{finished_pid()}:someboot"
    assert not recovery.is_orphaned(running, utcnow())


def test_same_pid_different_boot_is_orphaned(running):
    """Our pid but another boot id is an earlier life of this pid (e.g. pid 1 in a container)."""
    running.worker_tag = f"{runner.HOSTNAME}:{os.getpid()}:an-earlier-boot"
    assert recovery.is_orphaned(running, utcnow())


# requeue_orphans -----------------------------------------------------------------------------


def test_requeue_orphans_puts_the_job_back(running):
    """An orphaned job goes back to queued, untagged, with a status event, and can be claimed again."""
    running.heartbeat_at = utcnow() - timedelta(minutes=5)
    db.session.commit()
    assert recovery.requeue_orphans() == [running.id]
    back = job(running.id)
    assert back.status == "queued"
    assert back.worker_tag is None and back.heartbeat_at is None
    assert "queued again" in back.error
    event = db.session.scalars(
        select(Event).where(Event.job_id == running.id, Event.type == "status").order_by(Event.id.desc())
    ).first()
    assert event.data["status"] == "queued"

    assert runner.claim_next_job() == running.id
    assert job(running.id).attempts == 2


def test_requeue_orphans_leaves_healthy_jobs_alone(running):
    """A job whose worker is alive is not touched."""
    assert recovery.requeue_orphans() == []
    still = job(running.id)
    assert still.status == "downloading"
    assert still.worker_tag == runner.worker_tag()


def test_requeue_orphans_fails_a_job_after_three_attempts(running):
    """A job whose worker died on each of 3 attempts fails instead of looping forever."""
    running.attempts = runner.MAX_ATTEMPTS
    running.heartbeat_at = utcnow() - timedelta(minutes=5)
    db.session.commit()
    assert recovery.requeue_orphans() == []
    failed = job(running.id)
    assert failed.status == "failed"
    assert failed.finished_at is not None
    assert failed.dedupe_key is None  # the URL may be sent again
    assert "3 attempts" in failed.error
    assert db.session.scalar(select(Event).where(Event.job_id == running.id, Event.type == "failed")) is not None
    assert runner.claim_next_job() is None


def test_requeue_orphans_handles_several_jobs(app):
    """Only the orphaned among several running jobs are re-queued."""
    ids = [new_job(f"http://example.com/many-{i}") for i in range(3)]
    assert {runner.claim_next_job() for _ in ids} == set(ids)
    stale, healthy, dead = (db.session.get(Job, i) for i in ids)
    stale.heartbeat_at = utcnow() - timedelta(minutes=1)
    dead.worker_tag = f"{runner.HOSTNAME}:{finished_pid()}:someboot"
    db.session.commit()
    assert sorted(recovery.requeue_orphans()) == sorted([stale.id, dead.id])
    assert job(healthy.id).status == "downloading"
