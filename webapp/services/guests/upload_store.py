"""A whole uploaded file into the library: hashed, deduplicated, moved, recorded as a job.

Used by guest uploads once their last chunk is in (webapp/services/guests/chunked_uploads.py) and by
POST /api/v1/upload/base64. An upload becomes a completed job with one file (engine
"upload"), so the history page, the downloads API, thumbnails and dedupe treat it like any
download. A file whose SHA-256 is in the library already is not stored twice: the caller is
told which job holds it.
"""
from __future__ import annotations

import hashlib
import mimetypes
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from webapp.core.file_kinds import file_kind
from webapp.core.paths import inside_root, relative_to_root, sanitize_component
from webapp.core.vocabulary import GUEST_TRUST, QUEUED, UPLOAD_ENGINE, USER_TRUST
from webapp.extensions import db
from webapp.models import Job, JobFile, Submission
from webapp.models.base import utcnow
from webapp.models.job import Outcome
from webapp.services.queue import dispatch, events

UPLOADS_DOMAIN = "uploads"  # the folder under the post title, where a download's site would be
# data_dir/partial, unless HAUL_UPLOAD_PARTIAL_DIR says: uploads still arriving, never in the library
PARTIAL_DIRNAME = "partial"


@dataclass
class Imported:
    job_id: int
    duplicate: bool  # the content was in the library already; nothing new was stored
    sha256: str
    size: int
    path: str | None  # relative to the storage root (for admins; never shown to guests)


def partial_dir() -> Path:
    settings = current_app.config["HAUL"]
    folder = settings.upload_partial_dir or settings.data_dir / PARTIAL_DIRNAME
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def existing_job_with(sha256: str) -> int | None:
    """The job of a library file with this content, if there is one."""
    return db.session.scalar(select(JobFile.job_id).where(JobFile.sha256 == sha256).order_by(JobFile.id).limit(1))


def upload_folder(post_title: str | None, folder: str) -> Path:
    """storage_root/<post_title>/uploads/<folder>/ (without a post title: storage_root/uploads/<folder>/)."""
    root = current_app.config["HAUL"].storage_root
    parts = [sanitize_component(post_title)] if post_title and post_title.strip() else []
    parts += [UPLOADS_DOMAIN, sanitize_component(folder, fallback="guest")]
    return inside_root(root, Path(root).joinpath(*parts))


def _free_name(folder: Path, filename: str) -> Path:
    """folder/filename, or "name (2).ext", "name (3).ext"… when taken."""
    name = sanitize_component(filename, fallback="upload", keep_extension=True)
    candidate = folder / name
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    number = 2
    while candidate.exists():
        candidate = folder / (f"{stem} ({number}).{ext}" if ext else f"{stem} ({number})")
        number += 1
    return candidate


def import_file(temp_path: Path, *, filename: str, post_title: str | None, folder: str, source: str,
                mime: str | None = None, sha256: str | None = None, user_id: int | None = None,
                token_id: int | None = None, via: str = "upload", invite_id: int | None = None,
                guest_session_id: str | None = None) -> Imported:
    """Move a complete file from data_dir/partial into the library and record it; the temp
    file is gone afterwards either way. `sha256` when the caller hashed it as it arrived."""
    temp_path = Path(temp_path)
    digest = sha256 or sha256_of(temp_path)
    size = temp_path.stat().st_size
    known = existing_job_with(digest)
    if known is not None:
        temp_path.unlink(missing_ok=True)
        db.session.rollback()
        return Imported(known, True, digest, size, None)

    settings = current_app.config["HAUL"]
    target_folder = upload_folder(post_title, folder)
    target_folder.mkdir(parents=True, exist_ok=True)
    target = inside_root(settings.storage_root, _free_name(target_folder, filename))
    # Same file system (the usual data dir and library) makes this a rename; else a copy.
    shutil.move(os.fspath(temp_path), os.fspath(target))
    relative = relative_to_root(settings.storage_root, target)
    mime = mime or mimetypes.guess_type(target.name)[0]
    now = utcnow()
    try:
        submission = Submission(post_title=post_title, source=source, user_id=user_id, token_id=token_id,
                                submitted_via=via, invite_id=invite_id, guest_session_id=guest_session_id,
                                trust=GUEST_TRUST if invite_id is not None else USER_TRUST, items=[],
                                created_at=now)
        job = Job(submission=submission, url=f"upload:{relative}", domain=UPLOADS_DOMAIN, dedupe_key=None,
                  engine=UPLOAD_ENGINE, status=QUEUED, source=source, user_id=user_id, token_id=token_id,
                  title=target.name[:500], resource_id=sanitize_component(folder)[:200],
                  bytes_done=size, bytes_total=size, items_done=1, items_total=1, attempts=0,
                  created_at=now, updated_at=now)
        # The web did this job's work itself, at once: claimed and completed in one go.
        job.claim(UPLOAD_ENGINE, now)
        job.finish(Outcome.COMPLETED, now=now)
        job.files.append(JobFile(path=relative, size=size, sha256=digest, mime=mime, created_at=now,
                                 kind=file_kind(relative)))  # a song is audio, a photo or video media
        db.session.add(submission)
        db.session.flush()
        submission.items = [{"url": job.url, "job_id": job.id, "duplicate_of": None}]
        events.publish_job(events.COMPLETED, job, files=[relative])
        db.session.commit()
    except Exception:
        db.session.rollback()
        target.unlink(missing_ok=True)  # nothing recorded: leave nothing behind either
        raise
    _thumbnails_later(job.id)
    return Imported(job.id, False, digest, size, relative)


def _thumbnails_later(job_id: int) -> None:
    try:
        dispatch.make_thumbnails_later(job_id)
    except Exception:  # a thumbnail is a nicety; the upload is stored
        current_app.logger.exception("could not ask for the thumbnails of upload job %s", job_id)
