"""The library as /api/v1/downloads serves it: the finished jobs a caller reaches, their files, bulk actions.

The list and its search are the history page's (services.history), so the API and the page agree
on what is in the library; deleting is history.delete_entry and retrying job_control.retry, so
the rules and the events they publish are the ones the pages use.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from webapp.errors import HaulError, Invalid, NotFound
from webapp.extensions import db
from webapp.models import ApiToken, Job, JobFile, Submission, User
from webapp.models.base import MAX_ROW_ID
from webapp.services.accounts.identity import Principal
from webapp.services.library import files as file_service
from webapp.services.library import history
from webapp.services.queue import children as collection_children
from webapp.services.queue import job_control

BULK_ACTIONS = ("delete", "retry")
MAX_BULK_IDS = 200


def _not_found(job_id: int) -> NotFound:
    return NotFound(f"No download with id {job_id}", error_code="download_not_found")


def get_download(job_id: int, principal: Principal, *, acting: bool = False) -> Job:
    """The finished job `job_id` if `principal` reaches it; else 404, so ids leak nothing.

    `acting` (delete, retry) also applies the submit-only token's rule. A job still in the queue
    is not in the library yet: 404 `not_finished`, pointing at the queue.
    """
    if not 0 < job_id <= MAX_ROW_ID:
        raise _not_found(job_id)
    job = db.session.get(Job, job_id)
    if job is None or not principal.can_see(job.user_id):
        raise _not_found(job_id)
    if acting and not principal.reaches(job.user_id, job.submission.token_id):
        raise _not_found(job_id)
    if not job.is_finished:
        raise NotFound(f"Job {job_id} is {job.status}: it is in the queue (/api/v1/queue/{job_id}), "
                       "not yet in the library", error_code="not_finished")
    return job


# -- listing ----------------------------------------------------------------------------------


@dataclass
class DownloadList:
    entries: list[history.Entry]
    total: int | None  # None when a search's terms are too common to count cheaply
    has_next: bool
    submitters: dict[str, dict]


def list_downloads(filters: history.Filters, principal: Principal, per_page: int) -> DownloadList:
    """One page of the library `principal` may see, newest first: the history page's list."""
    result = history.list_history(filters, principal, per_page, count_limit=None)
    return DownloadList(result.entries, result.total, result.has_next, submitters([e.job for e in result.entries]))


def get_entry(job: Job, principal: Principal) -> tuple[history.Entry, dict]:
    """A download with all its files (up to history.MAX_FILES_SHOWN) and who submitted it."""
    entry = history.get_entry(job, principal)
    return entry, submitters([job]).get(job.submission_id, {})


def children_entries(parent: Job, principal: Principal, *, page: int, per_page: int,
                     status: str | None = None) -> tuple[list[history.Entry], int, dict[str, dict]]:
    """A page of a collection's children as library entries (their first files each), how many
    match, and who submitted them (the parent's submission). The caller has checked the parent."""
    jobs, total = collection_children.children_page(parent, page=page, per_page=per_page, status=status)
    return history.entries_of(jobs, principal), total, submitters(jobs)


def submitters(jobs: list[Job]) -> dict[str, dict]:
    """Who submitted each job, by submission id, in one query: {user, token, via} (as
    webapp.serializers.submitter_json says it, without a query per job)."""
    ids = {job.submission_id for job in jobs}
    if not ids:
        return {}
    rows = db.session.execute(
        select(Submission.id, Submission.submitted_via, User.username, ApiToken.name)
        .outerjoin(User, User.id == Submission.user_id)
        .outerjoin(ApiToken, ApiToken.id == Submission.token_id)
        .where(Submission.id.in_(ids))
    ).all()
    return {row.id: {"user": row.username, "token": row.name, "via": row.submitted_via} for row in rows}


# -- files ------------------------------------------------------------------------------------


def pick_file(job: Job, file_id: int | None = None, index: int | None = None) -> JobFile:
    """One of the job's files: by id, by its place (from 0, in id order), or else the first."""
    if file_id is not None:
        record = db.session.get(JobFile, file_id) if file_id <= MAX_ROW_ID else None
        if record is None or record.job_id != job.id:
            raise NotFound(f"Download {job.id} has no file with id {file_id}", error_code="file_not_found")
        return record
    place = index or 0
    record = None
    if place <= MAX_ROW_ID:
        record = db.session.scalar(
            select(JobFile).where(JobFile.job_id == job.id).order_by(JobFile.id).offset(place).limit(1)
        )
    if record is None:
        has_any = db.session.scalar(select(JobFile.id).where(JobFile.job_id == job.id).limit(1))
        if has_any is None:
            raise NotFound(f"Download {job.id} has no files", error_code="no_files")
        raise NotFound(f"Download {job.id} has no file at index {place}", error_code="file_not_found")
    return record


def file_path(record: JobFile) -> Path:
    """The file on disk, strictly inside the storage root; 404 `file_gone` when it is not there."""
    path = file_service.file_on_disk(current_app.config["HAUL"].storage_root, record.path)
    if path is None:
        raise NotFound(f"File {record.id} is no longer on disk", error_code="file_gone")
    return path


def thumbnail(job: Job, file_id: int | None = None, index: int | None = None) -> Path:
    """The worker's thumbnail of the chosen file, or without a choice the download's cover (its
    first file that has one); 404 `thumbnail_not_ready` while there is none."""
    thumbnail_dir = current_app.config["HAUL"].thumbnail_dir
    if file_id is not None or index is not None:
        hashes = [pick_file(job, file_id, index).sha256]
    else:
        hashes = list(db.session.scalars(
            select(JobFile.sha256).where(JobFile.job_id == job.id).order_by(JobFile.id)
            .limit(history.MAX_FILES_SHOWN)
        ))
        if not hashes:
            raise NotFound(f"Download {job.id} has no files", error_code="no_files")
    check = file_service.ThumbnailCheck(thumbnail_dir)
    for sha256 in hashes:
        if check.exists(sha256):
            return file_service.thumbnail_path(thumbnail_dir, sha256)
    raise NotFound(f"No thumbnail for download {job.id} yet", error_code="thumbnail_not_ready")


# -- actions ----------------------------------------------------------------------------------


def delete(job: Job, with_files: bool) -> history.DeleteResult:
    """Delete a download's record (and with `with_files` its files): the history's delete."""
    return history.delete_entry(job, with_files)


@dataclass
class BulkResult:
    success: int = 0
    errors: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"success": self.success, "failed": len(self.errors), "errors": self.errors}


def bulk(action: str, ids: list[int], principal: Principal, delete_files: bool = False) -> BulkResult:
    """Delete or retry each download in `ids` the caller may act on; the others are reported,
    each with the error it would have answered alone. A repeated id counts once."""
    if action not in BULK_ACTIONS:
        raise Invalid(f"Action must be one of {', '.join(BULK_ACTIONS)}", error_code="validation_error")
    result = BulkResult()
    for job_id in dict.fromkeys(ids):
        try:
            job = get_download(job_id, principal, acting=True)
            if action == "delete":
                delete(job, delete_files)
            else:
                job_control.retry(job)
        except HaulError as exc:
            db.session.rollback()  # nothing half-done rides along with the next id's commit
            result.errors.append({"id": job_id, "detail": exc.detail, "error_code": exc.error_code})
        else:
            result.success += 1
    return result
