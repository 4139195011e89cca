"""The bandwidth limits: one budget shared by every download of the worker process.

`bandwidth_limit` (bytes/s, 0 = none) holds for all running downloads together: they draw
from one `Bucket`, so three downloads under a 1 MiB/s limit get about 1/3 MiB/s each and
1 MiB/s between them — never the limit times the number of jobs. `per_job_bandwidth_limit`
(0 = none) adds a bucket of each download's own, within the global one.

How it works: every engine calls `request.throttle(n)` for each chunk of `n` bytes as it
arrives (the direct engine's read loop, yt-dlp's progress hook — called for every block its
HTTP downloader reads —, gallery-dl's receive loop). The bucket keeps a "paid until" time
(GCRA, a token bucket written as a schedule): each chunk moves it on by n / rate, and the
caller sleeps until its turn, minus a small burst allowance. Each download books a QUANTUM at
a time and spends it on its chunks before booking the next, so every waiting download gets
one quantum per turn whatever sizes its tool reads (fair: a download reading 1 MiB blocks gets
no more than one reading 16 KiB ones). Sleeping blocks the download's own read, so TCP slows
the sender down: the limit is on the wire, not only on the disk.

A job starts under the limits the runner read as it began (`throttle_for(..., effective)`);
after that they are read from the settings at most every REFRESH_SECONDS by whichever download
asks next, so a change applies to running downloads within a few seconds. Until the process
has read them once, downloads wait for that reading: no byte goes unlimited by mistake.

With HAUL_WORKER_TYPE=process each worker process has its own bucket: each gets the limit
divided by the number of processes (HAUL_WORKERS), so together they keep to it (an idle
process's share is not lent to the others).
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from webapp.services.admin import limits_settings

log = logging.getLogger(__name__)

REFRESH_SECONDS = 2.0
BURST_SECONDS = 0.1  # how far ahead of its schedule a bucket lets a download run
QUANTUM = 64 * 1024  # a chunk is charged in pieces of at most this many bytes (fair turns)


class Bucket:
    """A thread-safe rate limiter: `reserve(n)` says how long to wait before n more bytes."""

    def __init__(self, rate: float = 0, burst_seconds: float = BURST_SECONDS, clock=time.monotonic):
        self.rate = float(rate)
        self.burst = burst_seconds
        self.clock = clock
        self._paid_until = 0.0
        self._lock = threading.Lock()

    def set_rate(self, rate: float) -> None:
        with self._lock:
            self.rate = float(rate)

    def reserve(self, n: int) -> float:
        """Book `n` bytes; returns the seconds the caller must wait before using them (0 when free)."""
        with self._lock:
            if self.rate <= 0:
                return 0.0
            now = self.clock()
            start = max(self._paid_until, now - self.burst)
            self._paid_until = start + n / self.rate
            return max(0.0, start - now)


class Limits:
    """The worker process's limits: the shared bucket, the per-download rate, refreshed from the settings."""

    def __init__(self, read_settings: Callable[[], dict] | None = None, processes: int = 1):
        self.shared = Bucket()
        self.per_job_rate = 0.0
        self.processes = max(1, processes)
        self.read_settings = read_settings
        self._next_refresh = 0.0
        self._refresh_lock = threading.Lock()
        self.configured = False

    def configure(self, limit: int, per_job: int) -> None:
        """Apply the settings' values (this process's share of the global limit); the next
        read of the settings is due REFRESH_SECONDS later."""
        self.shared.set_rate(limit / self.processes if limit else 0)
        self.per_job_rate = float(per_job or 0)
        self._next_refresh = time.monotonic() + REFRESH_SECONDS
        self.configured = True

    def refresh(self, force: bool = False) -> None:
        """Read the settings again when REFRESH_SECONDS have passed (one download does it for all)."""
        if self.read_settings is None:
            return
        now = time.monotonic()
        if not force and self.configured and now < self._next_refresh:
            return
        # Never configured yet: wait for whoever is reading them (no byte goes unlimited);
        # else one download reads them for all and the others go on under the limits in force.
        if not self._refresh_lock.acquire(blocking=not self.configured):
            return
        try:
            if not force and self.configured and time.monotonic() < self._next_refresh:
                return  # read by another download while this one waited
            self._next_refresh = now + REFRESH_SECONDS
            values = self.read_settings()
            self.configure(values[limits_settings.BANDWIDTH_LIMIT], values[limits_settings.PER_JOB_BANDWIDTH_LIMIT])
        except Exception:  # a busy database: keep the limits in force, try again soon
            self._next_refresh = time.monotonic() + 0.2
            log.warning("could not read the bandwidth limits", exc_info=True)
        finally:
            self._refresh_lock.release()

    def for_download(self, cancel_event: threading.Event | None = None) -> "Throttle":
        return Throttle(self, cancel_event)


class Throttle:
    """One download's side: `throttle(n)` after each chunk of n bytes waits for its turn."""

    def __init__(self, limits: Limits, cancel_event: threading.Event | None = None):
        self.limits = limits
        self.own = Bucket()
        self.cancel_event = cancel_event or threading.Event()
        self.credit = 0  # bytes booked and not yet used

    def __call__(self, n: int) -> None:
        limits = self.limits
        limits.refresh()
        if limits.shared.rate <= 0 and limits.per_job_rate <= 0:
            return
        self.own.set_rate(limits.per_job_rate)
        while self.credit < n and not self.cancel_event.is_set():
            self._wait(self.own.reserve(QUANTUM))  # its own limit first, then its turn in the shared one
            self._wait(limits.shared.reserve(QUANTUM))
            self.credit += QUANTUM
        self.credit = max(0, self.credit - n)

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self.cancel_event.wait(seconds)  # a cancelled download stops waiting at once


_limits_lock = threading.Lock()


def process_limits(app) -> Limits:
    """This worker process's limits for `app` (made on first use, kept in app.extensions)."""
    with _limits_lock:
        limits = app.extensions.get("haul_bandwidth")
        if limits is None:
            settings = app.config["HAUL"]
            processes = settings.workers if settings.worker_type == "process" else 1

            def read_settings() -> dict:
                # A context (and session) of its own: the download's thread keeps no transaction open.
                with app.app_context():
                    return limits_settings.current_values()

            limits = app.extensions["haul_bandwidth"] = Limits(read_settings, processes)
    return limits


def throttle_for(app, cancel_event: threading.Event, effective=None) -> Throttle:
    """The `throttle` callback of one download (DownloadRequest.throttle). `effective`: the
    settings the runner read as the job started (runtime_settings.Effective), applied at once so
    the job's first bytes already count under the limits in force."""
    limits = process_limits(app)
    if effective is not None:
        limits.configure(effective.bandwidth_limit, effective.per_job_bandwidth_limit)
    return limits.for_download(cancel_event)
