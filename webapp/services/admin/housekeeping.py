"""The daily housekeeping the worker runs (jobs/tasks.py): the scheduled backup and the history cleanup.

Every worker calls `run_due` every few minutes; each part claims its day first
(webapp/services/admin/periodic.py), so it runs once a day however many workers and hosts there are.
The backup waits for the admin's hour (UTC); the cleanup runs at the first pass of each day.
A failure is logged and not retried until the next day: the claim is already made, and an
hourly retry of a backup that fails for lack of space would fill the log, not the disk.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone

from webapp.errors import HaulError
from webapp.services.admin import backup, periodic
from webapp.services.admin import housekeeping_settings as configured
from webapp.services.library import retention

log = logging.getLogger(__name__)

BACKUP_DAY = "daily_backup"  # the periodic claims of the scheduled backup and the cleanup, per UTC day
CLEANUP_DAY = "daily_cleanup"


def run_due(settings, now: datetime | None = None) -> dict:
    """Run what is due now; returns {"backup": name | None, "cleanup": report dict | None}."""
    now = now or datetime.now(timezone.utc)
    today = now.date().toordinal()
    values = configured.current()
    done = {"backup": None, "cleanup": None}
    if (values[configured.BACKUP_ENABLED] and settings.is_sqlite and now.hour >= values[configured.BACKUP_HOUR]
            and periodic.claim(BACKUP_DAY, today)):
        try:
            made = backup.create(settings)
            backup.prune(settings, values[configured.BACKUP_KEEP])
            done["backup"] = made.name
            log.info("scheduled backup %s made", made.name)
        except HaulError as exc:
            log.error("the scheduled backup failed: %s", exc.detail)
    if periodic.claim(CLEANUP_DAY, today):
        report = retention.clean_up(settings, retention_days=values[configured.RETENTION_DAYS],
                                    delete_files=values[configured.RETENTION_DELETE_FILES], dry_run=False)
        done["cleanup"] = report.as_dict()
    return done
