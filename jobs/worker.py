"""The worker process: `python -m jobs.worker` runs the Huey consumer with Haul's recovery.

On start it re-queues jobs a dead worker left behind, then runs a pool of download threads:
8, or HAUL_WORKERS when higher, so the download concurrency set in the GUI can rise without a
restart; the claim keeps no more jobs downloading than that setting (runtime_settings). A
watchdog thread repeats the recovery every few seconds. SIGINT or SIGTERM stop it
within a few seconds: running downloads are interrupted and their jobs go back to the queue
(Huey's own graceful stop would wait for every download to finish).
"""
from __future__ import annotations

import logging
import sys
import threading
import time

from huey.consumer import Consumer

from webapp.config import ConfigError

log = logging.getLogger("haul.worker")
WATCHDOG_SECONDS = 5.0
PRUNE_EVERY_SECONDS = 600.0


class HaulConsumer(Consumer):
    def stop(self, graceful=False):
        from jobs import runner

        # Interrupt downloads first, so the graceful join below takes a second, not an hour.
        runner.SHUTDOWN.set()
        super().stop(graceful=True)


def _watchdog(app, stop: threading.Event) -> None:
    from jobs import recovery
    from webapp.services import events

    last_prune = 0.0
    while not stop.wait(WATCHDOG_SECONDS):
        try:
            with app.app_context():
                recovery.recover()
                if time.monotonic() - last_prune > PRUNE_EVERY_SECONDS:
                    events.prune_events()
                    last_prune = time.monotonic()
        except Exception:  # keep watching through a busy or briefly missing database
            log.exception("watchdog pass failed")


def main() -> int:
    try:
        from jobs import huey, recovery
        from jobs.engines import picker
        from jobs.tasks import worker_app

        app = worker_app()
    except ConfigError as exc:
        print(f"haul: {exc}", file=sys.stderr)
        return 2
    settings = app.config["HAUL"]
    from webapp.services import runtime_settings

    pool = runtime_settings.pool_size(settings)
    logging.getLogger("huey").setLevel(logging.WARNING if settings.log_level != "DEBUG" else logging.DEBUG)

    picker.warm_up()
    with app.app_context():
        recovery.recover()

    consumer = HaulConsumer(
        huey,
        workers=pool,
        worker_type=settings.worker_type,
        # Poll often and never back off far: pickup of a new job stays well under a second.
        initial_delay=0.05,
        backoff=1.2,
        max_delay=0.25,
        periodic=False,
        check_worker_health=True,
        shutdown_timeout=15,
    )
    stop = threading.Event()
    watchdog = threading.Thread(target=_watchdog, args=(app, stop), name="haul-watchdog", daemon=True)
    watchdog.start()
    log.info("worker started: %d %s worker(s), storage %s", pool, settings.worker_type, settings.storage_root)
    try:
        consumer.run()
    finally:
        stop.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
