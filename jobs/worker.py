"""The worker process: `python -m jobs.worker` runs the Huey consumer with Haul's recovery.

On start it re-queues jobs a dead worker left behind, then runs a pool of download threads:
HAUL_WORKERS, or the download concurrency set in the GUI when higher; the pool grows when that
setting rises, and the claim keeps no more jobs downloading than it allows (runtime_settings).
A watchdog thread repeats the recovery every few seconds. SIGINT or SIGTERM stop it
within a few seconds: running downloads are interrupted and their jobs go back to the queue
(Huey's own graceful stop would wait for every download to finish).
"""
from __future__ import annotations

import ctypes
import logging
import os
import sys
import threading
import time

from huey.consumer import Consumer

from jobs import notify, recovery, runner
from webapp.config import ConfigError
from webapp.extensions import db
from webapp.services.admin import periodic, runtime_settings
from webapp.services.queue import disk_guard, events
from webapp.services.queue import heartbeat as worker_heartbeat

log = logging.getLogger("haul.worker")
WATCHDOG_SECONDS = 5.0
PRUNE_EVERY_SECONDS = 600.0


class HaulConsumer(Consumer):
    """Huey's consumer, with an interrupting stop and a thread pool that can grow."""

    GROW_CHECK_SECONDS = 2.0

    def __init__(self, *args, app=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.app = app
        self._next_grow_check = 0.0

    def loop(self, health_check_ts=None):
        health_check_ts = super().loop(health_check_ts)
        now = time.monotonic()
        if (self.app is not None and self.worker_type == "thread" and now >= self._next_grow_check
                and not runtime_settings.shared_by_hosts(self.app.config["HAUL"])):
            self._next_grow_check = now + self.GROW_CHECK_SECONDS
            self._grow_to_setting()
        return health_check_ts

    def _grow_to_setting(self) -> None:
        try:
            with self.app.app_context():
                wanted = runtime_settings.concurrency()
                db.session.remove()
        except Exception:  # a busy database: ask again next time
            log.exception("could not read the download concurrency")
            return
        self.grow_to(wanted)

    def grow_to(self, size: int) -> int:
        """Start download threads until there are `size` (never fewer); returns how many were added.

        Runs in the consumer's main loop, like Huey's own check_worker_health, which rebuilds
        the same list: the two never run at once.
        """
        added = 0
        while len(self.worker_threads) < size:
            worker = self._create_worker()
            thread = self._create_process(worker, "Worker-%d" % (len(self.worker_threads) + 1))
            thread.start()
            self.worker_threads.append((worker, thread))
            added += 1
        if added:
            self.workers = len(self.worker_threads)
            log.info("download threads: %d (the download concurrency setting rose)", self.workers)
        return added

    def stop(self, graceful=False):
        # Interrupt downloads first, so the graceful join below takes a second, not an hour.
        runner.SHUTDOWN.set()
        super().stop(graceful=True)


def _watchdog(app, stop: threading.Event) -> None:
    """Every few seconds: this worker's own checks, then the queue-wide ones, which one worker of
    all (on every host) runs per period (webapp/services/admin/periodic.py)."""
    tag = runner.worker_tag()
    while not stop.wait(WATCHDOG_SECONDS):
        try:
            with app.app_context():
                disk_guard.check()  # first: on a full disk the writes below may fail
                worker_heartbeat.beat()  # /health/detailed's sign that the worker is alive
                if periodic.claim("watchdog", periodic.period_of(WATCHDOG_SECONDS), tag):
                    recovery.recover()
                if periodic.claim("prune_events", periodic.period_of(PRUNE_EVERY_SECONDS), tag):
                    events.prune_events()
        except Exception:  # keep watching through a busy or briefly missing database
            log.exception("watchdog pass failed")


CHECKPOINT_SECONDS = 1.0


def _checkpointer(app, stop: threading.Event) -> None:
    """Copy SQLite's write-ahead log back into the database every second, a little at a time.

    The web process leaves checkpoints to the worker (webapp/database.py). SQLite's automatic
    one runs only in a commit of the worker's own, and with the queue idle the worker commits
    every few seconds: by then the web may have logged thousands of submissions, and one big
    checkpoint (copy and fsync) is a stall the web's requests and streams feel. PASSIVE never
    waits for readers or writers.
    """
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            return
    while not stop.wait(CHECKPOINT_SECONDS):
        try:
            with app.app_context():
                checkpoint_once()
        except Exception:  # a busy database: the next pass tries again
            log.debug("checkpoint failed", exc_info=True)


def checkpoint_once() -> tuple[int, int, int]:
    """One PASSIVE checkpoint: (busy, frames in the log, frames copied back)."""
    try:
        return tuple(db.session.connection().exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one())
    finally:
        db.session.remove()


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Cap glibc's malloc arenas for this process (before the download threads start).

    glibc gives each thread that allocates concurrently an arena of its own (up to 8 per
    core); download threads allocate a lot, and memory freed in one arena can't serve
    another, so the worker's footprint grows with its thread count. Two arenas is the usual
    remedy (MALLOC_ARENA_MAX=2), set here so `make run`, the container and the tests all get
    it. Does nothing on other C libraries.
    """
    try:
        libc = ctypes.CDLL(None)
        M_ARENA_MAX, M_MMAP_THRESHOLD = -8, -3
        libc.mallopt(M_ARENA_MAX, arenas)
        libc.mallopt(M_MMAP_THRESHOLD, 256 * 1024)
    except (OSError, AttributeError):
        pass


def lower_cpu_priority(nice: int) -> None:
    """Run the downloads at a lower CPU priority than the web server (HAUL_WORKER_NICE).

    On a 2-core box a busy worker (yt-dlp parsing pages, hashing files, ffmpeg) competes with
    the web for the CPU, and every page and API answer waits its turn. Linux's autogroup
    scheduler shares the CPU between sessions first: the web puts itself in a session of its
    own (webapp/gunicorn_conf.py), and `serve` starts the worker in one of its own, whose
    priority this lowers (/proc/self/autogroup takes a nice value). os.nice covers systems
    without autogroup, such as a container's cgroup. Idle CPU is still the worker's: nice only
    decides who waits when both want it. Measured: the benchmark's submit p95 with the worker
    downloading fell by about a tenth at nice 5 (docs/benchmarks.md). ffmpeg and other
    children inherit it. Raising a nice value needs no privileges; anything refused is skipped.

    The worker never leaves its session itself: started by hand in a terminal it must still
    stop on Ctrl-C, and there the autogroup is the terminal's (the user's shell would be
    niced with it), so it is only touched when the worker leads its session.
    """
    if nice <= 0:
        return
    try:
        os.nice(nice)
    except OSError:
        pass
    if os.getsid(0) != os.getpid():
        return
    try:
        with open("/proc/self/autogroup", "w") as autogroup:
            autogroup.write(str(nice))
    except OSError:  # no autogroup here
        pass


# How long a download thread may keep the GIL while another wants it (CPython's default: 5 ms).
# sqlite3 lets the GIL go around every statement; a thread inside a write transaction then
# waits for it behind threads busy in yt-dlp or gallery-dl, up to 5 ms each time, and holds
# SQLite's write lock all the while, so the web's submissions wait on that lock. At 0.5 ms
# the benchmark's submit p95 (10 clients, the worker downloading) was ~1.5 ms lower in three
# interleaved pairs of runs, and 50 links took no longer (docs/benchmarks.md).
GIL_SWITCH_INTERVAL_SECONDS = 0.0005


def main() -> int:
    limit_malloc_arenas()
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_SECONDS)
    try:
        from jobs import huey, recovery
        from jobs.engines import picker
        from jobs.tasks import worker_app

        app = worker_app()
    except ConfigError as exc:
        print(f"haul: {exc}", file=sys.stderr)
        return 2
    settings = app.config["HAUL"]
    lower_cpu_priority(settings.worker_nice)

    logging.getLogger("huey").setLevel(logging.WARNING if settings.log_level != "DEBUG" else logging.DEBUG)

    picker.warm_up(settings.data_dir)
    with app.app_context():
        recovery.recover()
        pool = runtime_settings.pool_size(settings)
    # Runs missed while Haul was down start now (once each), not at the scheduler's next minute.
    from jobs.tasks import check_subscriptions

    check_subscriptions()

    consumer = HaulConsumer(
        huey,
        app=app,
        workers=pool,
        worker_type=settings.worker_type,
        # Poll often and never back off far: pickup of a new job stays well under a second.
        initial_delay=0.05,
        backoff=1.2,
        max_delay=0.25,
        periodic=True,  # the subscriptions' scheduler (jobs/tasks.py fire_subscriptions)
        check_worker_health=True,
        shutdown_timeout=15,
    )
    stop = threading.Event()
    watchdog = threading.Thread(target=_watchdog, args=(app, stop), name="haul-watchdog", daemon=True)
    watchdog.start()
    threading.Thread(target=_checkpointer, args=(app, stop), name="haul-checkpoint", daemon=True).start()
    # Notifications are sent on threads of their own, never the download threads (jobs/notify.py).
    notify.Notifier(app, stop).start()
    log.info("worker started: %d %s worker(s), storage %s", pool, settings.worker_type, settings.storage_root)
    try:
        consumer.run()
    finally:
        stop.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
