"""History: finished jobs, searched and filtered a page at a time; download again; delete.

Listing. Finished jobs newest first (by id). Partial indexes over the finished jobs
(migration c7e2f9a41d06) serve the list and its submitter, domain and source filters in
index order, so a page costs ~PER_PAGE index reads however long the history is.

Search: webapp/services/library/history_search.py.

Metadata. What the extractor said of a job (JobMetadata: uploader, upload date, duration, tags …)
is shown in its entry's details, searched with the rest, and narrows the list by uploader (exact),
duration and upload date: each such filter is one IN over job_metadata, whose uploader and
upload_date columns are indexed.

Collections: only top-level jobs are entries; a collection's children show in its entry and
its page (webapp/services/queue/children.py), and deleting it deletes them and their files. The
partial index over the finished top-level jobs (ix_jobs_history_top, migration c9e4a7d2b1f0)
keeps the unfiltered list and its count to index reads.
"""
from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app
from sqlalchemy import func, literal_column, select, text
from sqlalchemy.orm import load_only, selectinload

from webapp.core.numbers import is_whole_number
from webapp.core.paths import UnsafePath
from webapp.core.readable import human_duration
from webapp.core.vocabulary import (
    AUDIO_FILE,
    FILE_KINDS,
    FINISHED_STATUSES,
    GUI,
    INFO_JSON_FILE,
    MEDIA_FILE,
    NFO_FILE,
    OTHER_FILE,
    POSTER_FILE,
    SOURCES,
    SUBTITLE_FILE,
)
from webapp.errors import Conflict, Invalid
from webapp.extensions import db
from webapp.models import Job, JobFile, JobMetadata, Submission, User
from webapp.services.accounts.identity import Principal
from webapp.services.library import files as file_service
from webapp.services.library.history_search import plan_search, search_terms
from webapp.services.queue import collections, events
from webapp.services.queue.submissions import SubmitResult, submit

log = logging.getLogger(__name__)

PER_PAGE = 25
FILES_PER_ENTRY = 12  # previews per entry in the list; the entry's own page shows them all
# The page counts its entries up to here and says "10,000+" past it: an exact count reads every
# finished job (a quarter of a second at 1,000,000 on either database) while the page itself
# reads 26 rows. The API keeps exact totals (its clients asked for them; see downloads.py).
COUNT_LIMIT = 10_000
MAX_FILES_SHOWN = 2000  # an entry's page shows at most this many files
MAX_PAGE = 100_000
DELETED = "deleted"  # event type: a job's record was deleted from the history

# Written exactly like the partial indexes' WHERE clause: SQLite uses a partial index only
# for a query whose WHERE implies the index's, literally (a bound parameter would not do).
# On SQLite the unary + keeps the planner from using ix_jobs_status for it instead.
FINISHED_SQL = "jobs.status IN ('completed', 'failed', 'cancelled')"
assert tuple(re.findall(r"'(\w+)'", FINISHED_SQL)) == FINISHED_STATUSES

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
MAX_DURATION_SECONDS = 10**7  # ~115 days: longer than any recording, small enough for every column
MAX_UPLOADERS_OFFERED = 50  # the uploader filter's suggestions (a datalist shows no more)


# -- filters ----------------------------------------------------------------------------------


@dataclass
class Filters:
    """One view of the history, as it appears in the URL (so it can be bookmarked)."""

    q: str = ""
    status: str = ""
    domain: str = ""
    source: str = ""
    user: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    tz: str = ""
    # What the extractor said (JobMetadata): exact uploader, duration in seconds, upload day.
    uploader: str = ""
    duration_min: int | None = None
    duration_max: int | None = None
    uploaded_from: date | None = None
    uploaded_to: date | None = None
    page: int = 1

    def args(self, **changes) -> dict:
        """The query arguments of this view (empty ones left out), with `changes` applied."""
        values = {
            "q": self.q, "status": self.status, "domain": self.domain, "source": self.source, "user": self.user,
            "from": self.date_from.isoformat() if self.date_from else None,
            "to": self.date_to.isoformat() if self.date_to else None,
            "tz": self.tz if (self.date_from or self.date_to) else None,
            "uploader": self.uploader,
            "duration_min": readable_duration(self.duration_min),
            "duration_max": readable_duration(self.duration_max),
            "uploaded_from": self.uploaded_from.isoformat() if self.uploaded_from else None,
            "uploaded_to": self.uploaded_to.isoformat() if self.uploaded_to else None,
            "page": self.page,
        }
        values.update(changes)
        if values.get("page") == 1:
            values["page"] = None
        return {key: value for key, value in values.items() if value not in (None, "")}

    @property
    def narrowed(self) -> bool:
        """Whether anything but the page number narrows the list."""
        return bool(self.q or self.status or self.domain or self.source or self.user
                    or self.date_from or self.date_to or self.by_metadata)

    @property
    def by_metadata(self) -> bool:
        """Whether a filter on the extractor's metadata narrows the list."""
        return bool(self.uploader or self.duration_min is not None or self.duration_max is not None
                    or self.uploaded_from or self.uploaded_to)

    @property
    def terms(self) -> list[str]:
        return search_terms(self.q)

    def window(self) -> tuple[datetime | None, datetime | None]:
        """The date range as UTC instants: from the start of `date_from` to the end of `date_to`."""
        zone = _zone(self.tz)
        start = end = None
        # A bound at the very edge of the calendar (year 1 or 9999) cannot be moved to UTC or
        # past its day: it bounds nothing, so it is left open rather than failing the request.
        if self.date_from:
            try:
                start = datetime.combine(self.date_from, time.min, tzinfo=zone).astimezone(UTC)
            except OverflowError:
                start = None
        if self.date_to:
            try:
                end = datetime.combine(self.date_to + timedelta(days=1), time.min, tzinfo=zone).astimezone(UTC)
            except OverflowError:
                end = None
        return start, end


def _zone(name: str):
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return UTC


def _date(value: str, label: str, errors: dict, key: str) -> date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors[key] = f"{label} must be a date like 2026-11-23"
        return None


def readable_duration(seconds: int | None) -> str | None:
    """Seconds as the filter form and the entries show them: 90 → "1:30", 3725 → "1:02:05"."""
    return None if seconds is None else human_duration(seconds)


def parse_duration(value: str) -> int | None:
    """Seconds from "90", "1:30" or "1:02:05"; ValueError for anything else (or too long)."""
    parts = value.split(":")
    if len(parts) > 3 or not all(part.isdigit() and part.isascii() and len(part) <= 8 for part in parts):
        raise ValueError(value)
    if len(parts) > 1 and any(int(part) >= 60 for part in parts[1:]):
        raise ValueError(value)
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + int(part)
    if seconds > MAX_DURATION_SECONDS:
        raise ValueError(value)
    return seconds


def _duration(value: str, label: str, errors: dict, key: str) -> int | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return parse_duration(value)
    except ValueError:
        errors[key] = f"{label} must be seconds or minutes:seconds, like 90 or 1:30"
        return None


def parse_filters(args, principal: Principal) -> tuple[Filters, dict[str, str]]:
    """Filters from request arguments; a bad value is left out and explained in `errors`."""
    errors: dict[str, str] = {}
    filters = Filters()
    filters.q = _CONTROL_RE.sub(" ", args.get("q", "") or "").strip()[:500]
    status = (args.get("status") or "").strip().lower()
    if status in FINISHED_STATUSES:
        filters.status = status
    elif status:
        errors["status"] = "Status must be completed, failed or cancelled"
    source = (args.get("source") or "").strip().lower()
    if source in SOURCES:
        filters.source = source
    elif source:
        errors["source"] = f"Source must be one of {', '.join(SOURCES)}"
    domain = (args.get("domain") or "").strip().lower()
    filters.domain = domain.removeprefix("www.")[:255]
    user = (args.get("user") or "").strip()
    if user and principal.is_admin:
        if is_whole_number(user, 12):
            filters.user = int(user)
        else:
            errors["user"] = "Choose a submitter from the list"
    filters.date_from = _date(args.get("from"), "From", errors, "from")
    filters.date_to = _date(args.get("to"), "To", errors, "to")
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        errors["to"] = "To must not be before From"
        filters.date_to = None
    filters.uploader = _CONTROL_RE.sub(" ", args.get("uploader", "") or "").strip()[:300]
    filters.duration_min = _duration(args.get("duration_min"), "Shortest", errors, "duration_min")
    filters.duration_max = _duration(args.get("duration_max"), "Longest", errors, "duration_max")
    if filters.duration_min is not None and filters.duration_max is not None \
            and filters.duration_min > filters.duration_max:
        errors["duration_max"] = "Longest must not be shorter than Shortest"
        filters.duration_max = None
    filters.uploaded_from = _date(args.get("uploaded_from"), "Uploaded from", errors, "uploaded_from")
    filters.uploaded_to = _date(args.get("uploaded_to"), "Uploaded to", errors, "uploaded_to")
    if filters.uploaded_from and filters.uploaded_to and filters.uploaded_from > filters.uploaded_to:
        errors["uploaded_to"] = "Uploaded to must not be before Uploaded from"
        filters.uploaded_to = None
    tz = (args.get("tz") or "").strip()
    if tz and _zone(tz) is not UTC:
        filters.tz = tz
    page = (args.get("page") or "1").strip()
    filters.page = min(int(page), MAX_PAGE) if is_whole_number(page, 12) and int(page) > 0 else 1
    return filters, errors


# -- listing ----------------------------------------------------------------------------------


@dataclass
class FileView:
    """A file as an entry shows it; name and preview worked out once (a page shows ~300).

    `kind` is what the file is to its job (vocabulary.FILE_KINDS: the media, its subtitles,
    poster, info.json, NFO), `preview` what the in-page viewer can do with it (image, video,
    audio or other), and `gone` whether a library rescan found it missing from disk."""

    id: int
    job_id: int
    path: str
    size: int
    mime: str | None
    sha256: str
    has_thumbnail: bool = False
    kind: str = MEDIA_FILE
    gone: bool = False
    name: str = ""
    preview: str = "other"

    def __post_init__(self):
        self.name = self.path.rsplit("/", 1)[-1] or self.path
        self.preview = file_service.preview_kind(self.path, self.mime)


# The details panel's groups of files, in this order, with their headings.
KIND_LABELS = {
    MEDIA_FILE: "Media", AUDIO_FILE: "Audio", SUBTITLE_FILE: "Subtitles", POSTER_FILE: "Poster",
    INFO_JSON_FILE: "Info JSON", NFO_FILE: "NFO", OTHER_FILE: "Other files",
}
assert tuple(KIND_LABELS) == FILE_KINDS


@dataclass
class Entry:
    job: Job
    files: list[FileView]
    file_count: int
    owner: str | None = None
    total_bytes: int = 0  # of all the job's files, not only those shown
    metadata: JobMetadata | None = None

    @property
    def hidden_files(self) -> int:
        return max(0, self.file_count - len(self.files))

    @property
    def files_by_kind(self) -> list[tuple[str, str, list[FileView]]]:
        """(kind, heading, files) of the files shown, grouped by kind in FILE_KINDS order."""
        groups: dict[str, list[FileView]] = {}
        for view in self.files:
            groups.setdefault(view.kind if view.kind in KIND_LABELS else OTHER_FILE, []).append(view)
        return [(kind, label, groups[kind]) for kind, label in KIND_LABELS.items() if kind in groups]


@dataclass
class HistoryPage:
    filters: Filters
    entries: list[Entry]
    total: int | None  # None when not counted (a search for very common terms) or past more_than
    has_next: bool
    strategy: str = "none"
    more_than: int | None = None  # set when counting stopped there ("10,000+ entries")

    @property
    def page(self) -> int:
        return self.filters.page

    @property
    def pages(self) -> int | None:
        if self.total is None:
            return None
        return max(1, math.ceil(self.total / PER_PAGE))

    @property
    def first_index(self) -> int:
        return (self.page - 1) * PER_PAGE + 1


def _base_conditions(filters: Filters, principal: Principal, dialect: str) -> list:
    sqlite = dialect == "sqlite"
    # A collection's children are listed in its entry, not as entries of their own.
    # The unary + (as on the status) keeps SQLite's planner off ix_jobs_parent_id, which would
    # read nearly every job for "IS NULL" and then sort them.
    conditions = [text(("+" if sqlite else "") + FINISHED_SQL),
                  literal_column("+jobs.parent_id").is_(None) if sqlite else Job.parent_id.is_(None)]
    if not principal.is_admin:
        conditions.append(Job.user_id == principal.user_id)
    elif filters.user:
        conditions.append(Job.user_id == filters.user)
    if filters.status:
        # On SQLite, not through ix_jobs_status: the partial index gives the order, no sort.
        conditions.append((literal_column("+jobs.status") if sqlite else Job.status) == filters.status)
    if filters.domain:
        conditions.append(Job.domain == filters.domain)
    if filters.source:
        conditions.append(Job.source == filters.source)
    start, end = filters.window()
    if start:
        conditions.append(Job.created_at >= start)
    if end:
        conditions.append(Job.created_at < end)
    if filters.by_metadata:
        conditions.append(Job.id.in_(_metadata_ids(filters)))
    return conditions


def _metadata_ids(filters: Filters):
    """The ids of the jobs whose metadata passes the metadata filters (one IN-able select)."""
    wanted = []
    if filters.uploader:
        wanted.append(JobMetadata.uploader == filters.uploader)
    # Whole seconds as the entries show them (rounded): 90.4 s is 1:30 and 90.6 s is 1:31.
    if filters.duration_min is not None:
        wanted.append(JobMetadata.duration >= filters.duration_min - 0.5)
    if filters.duration_max is not None:
        wanted.append(JobMetadata.duration < filters.duration_max + 0.5)
    if filters.uploaded_from:
        wanted.append(JobMetadata.upload_date >= filters.uploaded_from.isoformat())
    if filters.uploaded_to:
        wanted.append(JobMetadata.upload_date <= filters.uploaded_to.isoformat())
    return select(JobMetadata.job_id).where(*wanted)


def finished_job_conditions(filters: Filters, principal: Principal) -> list:
    """The WHERE of the jobs `filters` shows `principal`, search left out: aggregates over the
    same jobs as the list (the API's stats) use it, so both agree on what is in the library."""
    return _base_conditions(filters, principal, db.engine.dialect.name)


def history_query(filters: Filters, principal: Principal, dialect: str, per_page: int = PER_PAGE,
                  count_limit: int | None = COUNT_LIMIT):
    """(the page's SELECT, the SELECT counting the matches or None, the search plan) for a dialect.

    With a count_limit the count stops at count_limit + 1 matches, reading them newest first as
    the page does (the same partial index, so it costs what the first 400 pages would)."""
    plan = plan_search(filters.terms, dialect)
    conditions = _base_conditions(filters, principal, dialect) + plan.conditions
    if not plan.countable:
        count = None
    elif count_limit is None:
        count = select(func.count()).select_from(Job).where(*conditions)
    else:
        newest = select(Job.id).where(*conditions).order_by(Job.id.desc()).limit(count_limit + 1)
        count = select(func.count()).select_from(newest.subquery())
    page = (
        select(Job)
        .where(*conditions)
        .options(selectinload(Job.submission).options(load_only(Submission.post_title, Submission.label)))
        .order_by(Job.id.desc())
        .limit(per_page + 1)
        .offset((filters.page - 1) * per_page)
    )
    return page, count, plan


def list_history(filters: Filters, principal: Principal, per_page: int = PER_PAGE,
                 count_limit: int | None = COUNT_LIMIT) -> HistoryPage:
    """One page of the finished jobs `principal` may see, newest first, with file previews.

    Its total is exact up to count_limit (None: always exact); past it `total` is None and
    `more_than` says how many were counted."""
    page, count, plan = history_query(filters, principal, db.engine.dialect.name, per_page, count_limit)
    total = (db.session.scalar(count) or 0) if count is not None else None
    more_than = None
    if total is not None and count_limit is not None and total > count_limit:
        total, more_than = None, count_limit
    jobs = list(db.session.scalars(page))
    has_next = len(jobs) > per_page
    jobs = jobs[:per_page]
    return HistoryPage(filters, _entries(jobs, principal, FILES_PER_ENTRY), total, has_next, plan.strategy,
                       more_than)


def _entries(jobs: list[Job], principal: Principal, files_per_entry: int) -> list[Entry]:
    """Entries for jobs, each with its first files (one query for all of them) and owner's name."""
    if not jobs:
        return []
    ids = [job.id for job in jobs]
    number = func.row_number().over(partition_by=JobFile.job_id, order_by=JobFile.id).label("number")
    count = func.count().over(partition_by=JobFile.job_id).label("count")
    total_bytes = func.sum(JobFile.size).over(partition_by=JobFile.job_id).label("total_bytes")
    ranked = (
        select(JobFile.id, JobFile.job_id, JobFile.path, JobFile.size, JobFile.mime, JobFile.sha256, JobFile.kind,
               JobFile.gone_at, number, count, total_bytes)
        .where(JobFile.job_id.in_(ids))
        .subquery()
    )
    rows = db.session.execute(
        select(ranked).where(ranked.c.number <= files_per_entry).order_by(ranked.c.job_id, ranked.c.number)
    ).all()
    thumbnails = file_service.ThumbnailCheck(_settings().thumbnail_dir)
    files: dict[int, list[FileView]] = {job_id: [] for job_id in ids}
    counts: dict[int, int] = {}
    sizes: dict[int, int] = {}
    for row in rows:
        files[row.job_id].append(FileView(row.id, row.job_id, row.path, row.size, row.mime, row.sha256,
                                          thumbnails.exists(row.sha256), row.kind or MEDIA_FILE,
                                          row.gone_at is not None))
        counts[row.job_id] = row.count
        sizes[row.job_id] = row.total_bytes or 0
    owners = {}
    if principal.is_admin:
        user_ids = {job.user_id for job in jobs if job.user_id}
        if user_ids:
            owners = dict(db.session.execute(select(User.id, User.username).where(User.id.in_(user_ids))).all())
    metadata = {row.job_id: row for row in db.session.scalars(select(JobMetadata).where(JobMetadata.job_id.in_(ids)))}
    return [Entry(job, files[job.id], counts.get(job.id, 0), owners.get(job.user_id), sizes.get(job.id, 0),
                  metadata.get(job.id))
            for job in jobs]


def entries_of(jobs: list[Job], principal: Principal) -> list[Entry]:
    """Entries for these jobs with their first files, as a page of the history shows them."""
    return _entries(jobs, principal, FILES_PER_ENTRY)


def get_entry(job: Job, principal: Principal) -> Entry:
    """One entry with all its files (up to MAX_FILES_SHOWN)."""
    return _entries([job], principal, MAX_FILES_SHOWN)[0]


def uploaders(principal: Principal, typed: str = "") -> list[str]:
    """Uploaders of the finished downloads `principal` may see whose name starts with `typed`
    (any case), by name, at most MAX_UPLOADERS_OFFERED: the uploader filter's suggestions.

    Asked for as the person types (the page does not list them up front: with 100,000 jobs the
    distinct uploaders of everyone's downloads cost more than the rest of the page)."""
    typed = _CONTROL_RE.sub(" ", typed or "").strip()[:300]
    query = (select(JobMetadata.uploader).distinct()
             .join(Job, Job.id == JobMetadata.job_id)
             .where(JobMetadata.uploader.is_not(None), JobMetadata.uploader != "", Job.status.in_(FINISHED_STATUSES),
                    Job.parent_id.is_(None))
             .order_by(JobMetadata.uploader).limit(MAX_UPLOADERS_OFFERED))
    if typed:
        escaped = typed.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(JobMetadata.uploader.ilike(escaped + "%", escape="\\"))
    if not principal.is_admin:
        query = query.where(Job.user_id == principal.user_id)
    return list(db.session.scalars(query))


def submitters() -> list[tuple[int, str]]:
    """(id, username) of every user, for the admin's submitter filter."""
    return list(db.session.execute(select(User.id, User.username).order_by(func.lower(User.username))).all())


def _settings():
    return current_app.config["HAUL"]


# -- files ------------------------------------------------------------------------------------


def visible_file(file_id: int, principal: Principal) -> JobFile | None:
    """The file record if it exists and `principal` may see its job, else None."""
    record = db.session.get(JobFile, file_id)
    if record is None or not principal.can_see(record.job.user_id):
        return None
    return record


# -- actions ----------------------------------------------------------------------------------


def has_link(job: Job) -> bool:
    """Whether the job came from a link that can be fetched again (an upload or a file a rescan
    imported without its page's address has none)."""
    return job.url.startswith(("http://", "https://"))


def download_again(job: Job, principal: Principal) -> SubmitResult:
    """Queue the job's URL again as a new job (forced past the dedupe), with its original options."""
    if not has_link(job):
        raise Invalid("This entry has no link to download again: its files were uploaded or found on disk",
                      error_code="no_link")
    submission = job.submission
    return submit(
        [job.url],
        principal=principal,
        source=GUI,
        force=True,
        post_title=submission.post_title if submission else None,
        label=submission.label if submission else None,
        engine=job.requested_engine,
        preset=job.preset,
        collection=job.collection_options,  # a playlist again with the items and layout chosen first
    )


@dataclass
class DeleteResult:
    job_id: int
    files_recorded: int = 0
    removed: int = 0  # deleted from disk
    missing: int = 0  # already gone from disk
    kept: int = 0  # left on disk: another job's record names the same file
    failed: list[str] = field(default_factory=list)  # could not be deleted

    def message(self, with_files: bool) -> str:
        parts = [f"Deleted entry #{self.job_id}"]
        if with_files and (self.files_recorded or self.failed):
            parts.append(f"{self.removed} file{'s' if self.removed != 1 else ''} removed from disk")
            if self.missing:
                parts.append(f"{self.missing} already gone")
            if self.kept:
                parts.append(f"{self.kept} kept (still listed by another entry)")
            if self.failed:
                parts.append(f"{len(self.failed)} could not be removed")
        elif self.files_recorded:
            parts.append("its files stay on disk")
        return "; ".join(parts)


def delete_entry(job: Job, with_files: bool) -> DeleteResult:
    """Delete a finished job's record, and with `with_files` its files on disk.

    Only files inside the storage root are touched, and a file another job's record also
    names is left alone. Folders left empty are removed, up to (not including) the storage
    root. Thumbnails no other record needs are dropped from the cache.
    """
    if not job.is_finished:
        raise Conflict(f"Job {job.id} is {job.status}; only finished jobs can be deleted from the history",
                       error_code="not_finished")
    settings = _settings()
    result = DeleteResult(job.id)
    # A collection's children go with it (the foreign key cascades their rows), their files too.
    deleted_ids = [job.id, *db.session.scalars(select(Job.id).where(Job.parent_id == job.id))]
    records = list(db.session.execute(
        select(JobFile.path, JobFile.sha256).where(JobFile.job_id.in_(deleted_ids))
    ).all())
    result.files_recorded = len(records)
    paths = {path for path, _ in records}
    shared = set()
    if with_files and paths:
        shared = set(db.session.scalars(
            select(JobFile.path).where(JobFile.path.in_(paths), JobFile.job_id.not_in(deleted_ids)).distinct()
        ))
    hashes = {sha for _, sha in records}

    submission_id, parent_id = job.submission_id, job.parent_id
    events.publish_job(DELETED, job)
    db.session.delete(job)
    db.session.flush()
    collections.refresh_parent(parent_id)  # a child: its collection counts one item fewer
    if not db.session.scalar(select(Job.id).where(Job.submission_id == submission_id).limit(1)):
        submission = db.session.get(Submission, submission_id)
        if submission is not None:
            db.session.delete(submission)
    still_used = set()
    if hashes:
        still_used = set(db.session.scalars(select(JobFile.sha256).where(JobFile.sha256.in_(hashes)).distinct()))
    db.session.commit()

    # Disk work after the commit: a failure here leaves files without a record, never a
    # record pointing at files that were deleted.
    if with_files:
        folders = set()
        for path in sorted(paths):
            if path in shared:
                result.kept += 1
                continue
            try:
                full = file_service.absolute_path(settings.storage_root, path)
            except UnsafePath:
                log.warning("not deleting %s: outside the storage root", path)
                result.failed.append(path)
                continue
            try:
                if full.is_file() or full.is_symlink():
                    full.unlink()
                    result.removed += 1
                else:
                    result.missing += 1
                folders.add(full.parent)
            except OSError as exc:
                log.warning("could not delete %s: %s", full, exc)
                result.failed.append(path)
        _remove_empty_folders(folders, Path(settings.storage_root))
    for sha in hashes - still_used:
        thumbnail = file_service.thumbnail_path(settings.thumbnail_dir, sha)
        if thumbnail is not None:
            thumbnail.unlink(missing_ok=True)
    return result


def _remove_empty_folders(folders: set[Path], storage_root: Path) -> None:
    """Remove each folder and then its parents while they are empty, stopping below the root."""
    root = storage_root.resolve()
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        current = folder
        while current != root and root in current.parents:
            try:
                current.rmdir()  # fails unless empty
            except OSError:
                break
            current = current.parent
