"""How many bytes an invite's guests have used of its limits: counted here, and only here.

An invite's total (`max_total_bytes`) holds for the whole invite, however many guest sessions
(browsers, cookie jars) its guests open. It counts:

* every upload through the invite that was not given up: a file still arriving counts with its
  whole announced size, reserved when it starts, so two parallel uploads cannot both squeeze
  under the limit; stored files and duplicates (their bytes reached the server) count too;
* every file the invite's link jobs wrote (job_files), and what its link jobs downloading now
  have fetched so far (jobs.bytes_done, a running job's files are recorded when it ends).

Whoever adds to the total — an upload's start, a link job's end — first takes the invite's row
(`lock`), then counts, then writes, in one transaction. The database lets one such writer in
at a time: SQLite has one writer at all, PostgreSQL queues on the row lock (and under READ
COMMITTED each later statement sees what the writer before committed). So ten guests starting
uploads at the same moment are counted one after another, never all against the same total.

The public upload page's invite takes its limits from the configuration
(HAUL_PUBLIC_UPLOAD_MAX_FILE_BYTES, HAUL_PUBLIC_UPLOAD_MAX_BYTES_PER_DAY): anyone can reach it,
so its total counts what arrived in the last 24 hours rather than for ever.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select, update

from webapp.core.readable import human_bytes
from webapp.core.vocabulary import DOWNLOADING, UPLOAD_ENGINE
from webapp.extensions import db
from webapp.models import Invite, Job, JobFile, Submission, Upload
from webapp.models.base import utcnow
from webapp.models.invite import DUPLICATE, STORED, UPLOADING

PUBLIC_PAGE_WINDOW = timedelta(days=1)
# Uploads in these states hold bytes: arriving (reserved), stored, or found in the library already.
_COUNTED_UPLOADS = (UPLOADING, STORED, DUPLICATE)


@dataclass(frozen=True)
class Limits:
    """An invite's byte limits as they apply now (None: no limit)."""

    max_file_bytes: int | None
    max_total_bytes: int | None
    window: timedelta | None = None  # the total counts what came in within this; None: ever

    def since(self, now: datetime | None = None) -> datetime | None:
        """The start of the window the total counts (None: everything)."""
        return None if self.window is None else (now or utcnow()) - self.window

    def total_words(self) -> str:
        """The total as a guest reads it: "2.0 GB in all", "1.0 GB a day in all"."""
        every = " a day" if self.window == PUBLIC_PAGE_WINDOW else ""
        return f"{human_bytes(self.max_total_bytes)}{every} in all"


def limits_for(invite: Invite) -> Limits:
    """The limits of this invite: its own columns, or the configuration's for the public page."""
    if invite.is_public_page:
        settings = current_app.config["HAUL"]
        return Limits(settings.public_upload_max_file_bytes or None,
                      settings.public_upload_max_bytes_per_day or None, PUBLIC_PAGE_WINDOW)
    return Limits(invite.max_file_bytes, invite.max_total_bytes)


def lock(invite_id: int) -> None:
    """Take the invite's row until this transaction ends (a write that changes nothing), so the
    next writer of this invite waits: call it as the transaction's first write, then count."""
    db.session.execute(update(Invite).where(Invite.id == invite_id).values(uses=Invite.uses))


def bytes_used(invite_id: int, *, since: datetime | None = None, excluding_job: int | None = None) -> int:
    """Everything the invite's guests have used: uploads not given up, the files of its link
    jobs and what its running link jobs fetched so far (`since`: only what came in after it;
    `excluding_job`: without that job, for the worker that measures it itself)."""
    uploads = select(func.coalesce(func.sum(Upload.size), 0)).where(
        Upload.invite_id == invite_id, Upload.status.in_(_COUNTED_UPLOADS))
    # Upload jobs hold the files of stored uploads, which the uploads above count already.
    link_jobs = [Submission.invite_id == invite_id, Job.engine.is_distinct_from(UPLOAD_ENGINE)]
    if since is not None:
        uploads = uploads.where(Upload.created_at >= since)
        link_jobs.append(Job.created_at >= since)
    if excluding_job is not None:
        link_jobs.append(Job.id != excluding_job)
    files = (select(func.coalesce(func.sum(JobFile.size), 0))
             .join(Job, JobFile.job_id == Job.id).join(Submission, Job.submission_id == Submission.id)
             .where(*link_jobs))
    running = (select(func.coalesce(func.sum(Job.bytes_done), 0))
               .join(Submission, Job.submission_id == Submission.id)
               .where(Job.status == DOWNLOADING, *link_jobs))
    return sum(int(db.session.scalar(query) or 0) for query in (uploads, files, running))


def bytes_left(invite: Invite, limits: Limits | None = None) -> int | None:
    """What the invite still takes in all (None: no total), as of now, without a lock."""
    limits = limits or limits_for(invite)
    if limits.max_total_bytes is None:
        return None
    return max(0, limits.max_total_bytes - bytes_used(invite.id, since=limits.since()))
