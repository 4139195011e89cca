"""A running job's lease: how long a worker may go without renewing it before another takes it.

The worker running a job renews the job row's `heartbeat_at` every `renew_every` seconds (its
monitor, jobs/runner.py). Any host's watchdog takes back a job whose lease is older than
`lease_seconds` (jobs/recovery.py). A monitor that could not renew for `fence_after` seconds —
the database out of reach, a network cut — stops its download itself, so the old holder has
stopped before the lease expires and the job can be claimed again: a job is never downloaded by
two workers at once, provided the hosts' clocks agree within the margin (a third of the lease;
run NTP). HAUL_JOB_LEASE_SECONDS sets it (30 s by default): shorter takes over sooner after a
host dies, at more renewals a second.
"""
from __future__ import annotations

from datetime import timedelta

from flask import current_app


def lease_seconds() -> float:
    return float(current_app.config["HAUL"].job_lease_seconds)


def stale_after() -> timedelta:
    return timedelta(seconds=lease_seconds())


def renew_every(lease: float) -> float:
    return lease / 6


def fence_after(lease: float) -> float:
    return lease * 2 / 3
