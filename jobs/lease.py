"""A running job's lease: how long a worker may go without renewing it before another takes it.

The worker running a job renews the job row's `heartbeat_at` every `renew_every` seconds (its
monitor, jobs/runner.py). Any host's watchdog takes back a job whose lease is older than
`lease_seconds` (jobs/recovery.py). A monitor that could not renew for `fence_after` seconds —
the database out of reach, a network cut — stops its download itself, so the old holder has
stopped before the lease expires and the job can be claimed again: a job is never downloaded by
two workers at once. HAUL_JOB_LEASE_SECONDS sets it (30 s by default): shorter takes over sooner
after a host dies, at more renewals a second.

The lease is read on the database's clock: on PostgreSQL the renewal writes the server's now()
and the watchdog compares with the server's now(), so the hosts' own clocks do not enter into it
(the fence counts seconds on the worker's monotonic clock, which no clock setting moves). SQLite
serves one host, whose clock is the only one.
"""
from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models.base import utcnow


def lease_seconds() -> float:
    return float(current_app.config["HAUL"].job_lease_seconds)


def stale_after() -> timedelta:
    return timedelta(seconds=lease_seconds())


def _on_postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def database_now():
    """Now on the clock every host's leases are written and read with (the database's)."""
    return db.session.scalar(select(func.now())) if _on_postgresql() else utcnow()


def renewal_stamp():
    """What a renewal writes into `heartbeat_at`: the database's now() on PostgreSQL (evaluated by
    the server in the UPDATE itself), this host's on SQLite."""
    return func.now() if _on_postgresql() else utcnow()


def renew_every(lease: float) -> float:
    return lease / 6


def fence_after(lease: float) -> float:
    return lease * 2 / 3
