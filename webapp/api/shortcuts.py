"""iOS Shortcuts endpoints: POST /api/v1/upload/url, …/urls and …/base64, GET /api/v1/supported-platforms.

What a phone's share sheet needs, in the shapes a Shortcut handles easily (docs/ios-shortcuts.md):
sharing a link again is not an error but "already there" (201 with the existing job marked
`duplicate`), every answer carries a one-line `message` for a notification, and a file comes as
base64 inside JSON, since that is what "Get Contents of URL" sends most simply.
"""
from __future__ import annotations

import binascii
import functools
import hashlib
import os
import re
import tempfile
from pathlib import Path

from flask import jsonify, request
from sqlalchemy import select

from webapp.api import bp
from webapp.api.common import document_errors
from webapp.api.schemas.shortcuts import (
    MAX_BASE64_BODY_BYTES,
    MAX_SHARED_URLS,
    Base64ResultSchema,
    Base64UploadSchema,
    ShareResultSchema,
    ShareUrlSchema,
    ShareUrlsSchema,
    SupportedPlatformsArgsSchema,
    SupportedPlatformsSchema,
)
from webapp.bearer import current_principal, require
from webapp.core.vocabulary import API
from webapp.errors import HaulError, Invalid
from webapp.extensions import db
from webapp.models import Job, JobFile
from webapp.serializers import job_json, principal_submitter_json
from webapp.services.admin import platforms
from webapp.services.guests import upload_store
from webapp.services.queue import listing as queue_listing
from webapp.services.queue.submissions import submit

_SECURITY = [{"bearer": []}]
_SUBMIT = ("Scope: submit (a submit-only token is what a phone should hold). ")


# Links ------------------------------------------------------------------------------------------


def _shared_job_json(job: Job, principal, submitted_by: dict | None, duplicate: bool) -> dict:
    """The queue API's job, marked new or duplicate. Someone else's job (the link was theirs
    first) is named by id, URL and status only: the caller may not read it."""
    if duplicate and not principal.reaches(job.user_id, job.submission.token_id):
        return {"id": job.id, "url": job.url, "status": job.status, "duplicate": True}
    return {**job_json(job, submitted_by), "duplicate": duplicate}


def _share_message(jobs: list[dict]) -> str:
    new = [job for job in jobs if not job["duplicate"]]
    known = [job for job in jobs if job["duplicate"]]
    if len(jobs) == 1:
        job = jobs[0]
        name = job.get("title") or job["url"]
        return f"Already there ({job['status']}): {name}" if job["duplicate"] else f"Queued: {name}"
    parts = [f"Queued {len(new)} link{'s' * (len(new) != 1)}"] if new else []
    if known:
        parts.append(f"{len(known)} already there")
    return ", ".join(parts)


def _share(urls: list[str], post_title: str | None):
    principal = current_principal()
    submitted_by = principal_submitter_json(principal)  # now: the commit below expires the rows
    result = submit(urls, principal=principal, source=API, post_title=post_title)
    created = {job.id: job for job in queue_listing.jobs_from_rows(result.created)}
    jobs = []
    for entry in result.entries:
        if entry.job_id in created and not entry.duplicate:
            jobs.append(_shared_job_json(created[entry.job_id], principal, submitted_by, duplicate=False))
        else:
            jobs.append(_shared_job_json(db.session.get(Job, entry.job_id), principal, None, duplicate=True))
    duplicates = sum(job["duplicate"] for job in jobs)
    body = {"download_id": result.submission_id, "post_title": result.post_title, "queued": len(jobs) - duplicates,
            "duplicates": duplicates, "message": _share_message(jobs), "jobs": jobs}
    return jsonify(body), 201


@bp.post("/upload/url")
@require(scope="submit")
@bp.arguments(ShareUrlSchema)
@bp.doc(security=_SECURITY, summary="Queue one shared link",
        description=_SUBMIT + "201 with the job. A link already queued or downloaded is not queued again: the "
                    "answer is that job with `duplicate: true` (still 201: sharing twice is not a mistake).")
@bp.alt_response(201, schema=ShareResultSchema, description="Queued, or already there", success=True)
@document_errors(401, 403, 422)
def share_url(body):
    return _share([body["url"]], body.get("post_title"))


@bp.post("/upload/urls")
@require(scope="submit")
@bp.arguments(ShareUrlsSchema)
@bp.doc(security=_SECURITY, summary="Queue the links of one share",
        description=_SUBMIT + f"Up to {MAX_SHARED_URLS} links (more: 422; POST /api/v1/queue takes long lists), "
                    "queued as one submission; each already queued or downloaded is answered with its job, "
                    "`duplicate: true`. An invalid link: 422 and nothing is queued.")
@bp.alt_response(201, schema=ShareResultSchema, description="Queued, or already there", success=True)
@document_errors(401, 403, 422)
def share_urls(body):
    return _share(body["urls"], body.get("post_title"))


# A file as base64 -------------------------------------------------------------------------------

_DECODE_CHARS = 4 * 1024 * 1024  # base64 characters decoded at a time: memory stays flat past the body
_WHITESPACE = re.compile(r"[ \t\r\n]+")
_DATA_URL = re.compile(r"^data:[^,;]*(?:;[^,;]*)*;base64,", re.I)


def body_limit(limit: int):
    """Let this route's body be up to `limit` bytes (the app's default is 1 MiB) and refuse a
    larger one up front with a 413 that says what the limit is. Put it under @require."""
    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            request.max_content_length = limit  # also stops a body without Content-Length
            if request.content_length is not None and request.content_length > limit:
                raise HaulError(f"The request is {request.content_length:,} bytes; this endpoint takes at most "
                                f"{limit:,} bytes of JSON (a file of about {limit * 3 // 4 // 2**20} MiB, "
                                "once base64-encoded)", status=413, error_code="payload_too_large")
            return view(*args, **kwargs)
        return wrapper
    return decorator


def _invalid_base64(detail: str) -> Invalid:
    return Invalid(f"data is not valid base64: {detail}", error_code="invalid_base64")


def decode_base64_to(text: str, out) -> tuple[int, str]:
    """Write the bytes `text` encodes to `out` a slice at a time; (size, sha256).

    Takes line breaks, a missing final padding and a data: URL prefix; anything else that is not
    standard base64 raises Invalid."""
    prefix = _DATA_URL.match(text[:300])
    digest, size, carry, ended = hashlib.sha256(), 0, "", False
    for start in range(prefix.end() if prefix else 0, len(text), _DECODE_CHARS):
        piece = carry + _WHITESPACE.sub("", text[start:start + _DECODE_CHARS])
        whole = len(piece) - len(piece) % 4
        chunk, carry = piece[:whole], piece[whole:]
        if not chunk:
            continue
        if ended:
            raise _invalid_base64("there is more after the padding (=)")
        ended = "=" in chunk
        size += _decode_chunk(chunk, out, digest)
    if carry:
        if ended or len(carry) == 1:
            raise _invalid_base64("it does not end where base64 can end")
        size += _decode_chunk(carry + "=" * (-len(carry) % 4), out, digest)
    return size, digest.hexdigest()


def _decode_chunk(chunk: str, out, digest) -> int:
    try:
        data = binascii.a2b_base64(chunk.encode("ascii"), strict_mode=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise _invalid_base64(str(exc) if isinstance(exc, binascii.Error) else "it has non-ASCII characters") from None
    out.write(data)
    digest.update(data)
    return len(data)


def _stored_path(job_id: int, sha256: str) -> str | None:
    return db.session.scalar(select(JobFile.path).where(JobFile.job_id == job_id, JobFile.sha256 == sha256)
                             .order_by(JobFile.id).limit(1))


@bp.post("/upload/base64")
@require(scope="submit")
@body_limit(MAX_BASE64_BODY_BYTES)
@bp.arguments(Base64UploadSchema)
@bp.doc(security=_SECURITY, summary="Store a file sent as base64 in JSON",
        description=_SUBMIT + "The file goes into the library under `<post_title>/uploads/api/` (without a post "
                    "title `uploads/api/`) as a completed job, like any download. Content already in the "
                    "library (same SHA-256) is not stored again: `duplicate: true` and the job that holds it. "
                    f"Bodies up to {MAX_BASE64_BODY_BYTES // 2**20} MiB (413 beyond: about "
                    f"{MAX_BASE64_BODY_BYTES * 3 // 4 // 2**20} MiB of file); data that is not base64: 422 "
                    "`invalid_base64`. `path` is shown to admins only.")
@bp.alt_response(201, schema=Base64ResultSchema, description="Stored, or already in the library", success=True)
@document_errors(401, 403, 413, 422)
def upload_base64(body):
    principal = current_principal()
    post_title = (body.get("post_title") or "").strip() or None
    sent_name = os.path.basename(body["filename"].replace("\\", "/"))
    temp = tempfile.NamedTemporaryFile(dir=upload_store.partial_dir(), prefix="api-", suffix=".part", delete=False)
    try:
        with temp:
            size, sha256 = decode_base64_to(body["data"], temp)
        if size == 0:
            raise Invalid("data holds no bytes: the file is empty", error_code="empty_file")
        imported = upload_store.import_file(
            Path(temp.name), filename=sent_name, post_title=post_title,
            folder="api", source=API, sha256=sha256, user_id=principal.user_id, token_id=principal.token_id,
            via=principal.via)
    finally:
        Path(temp.name).unlink(missing_ok=True)  # import_file moved it, or it is not wanted
    path = imported.path or _stored_path(imported.job_id, imported.sha256)
    holder = db.session.get(Job, imported.job_id)
    if imported.duplicate and (holder is None or not principal.reaches(holder.user_id, holder.token_id)):
        # The content is someone else's: say it is there, and nothing about their file.
        filename, path = sent_name, None
        message = "Already in the library"
    else:
        filename = path.rsplit("/", 1)[-1] if path else body["filename"]
        message = f"Already in the library: {filename}" if imported.duplicate else f"Saved {filename}"
    answer = {"job_id": imported.job_id, "filename": filename, "size": imported.size, "sha256": imported.sha256,
              "duplicate": imported.duplicate, "message": message}
    if principal.is_admin and path:
        answer["path"] = path
    return jsonify(answer), 201


# What can be downloaded -------------------------------------------------------------------------

# gallery-dl's and yt-dlp's names for "any page" and their helpers: not sites.
_NOT_SITES = {"generic", "directlink", "noop", "oauth", "recursive", "test", "ytdl"}


def site_names(listing: dict) -> list[str]:
    """Both tools' platforms as site names, each once: yt-dlp's "youtube:tab" is "youtube"; broken
    yt-dlp extractors are left out."""
    names = set()
    for entry in listing["platforms"]:
        if entry.get("working") is False:
            continue
        name = entry["name"].split(":", 1)[0].strip().lower()
        if name and name not in _NOT_SITES:
            names.add(name)
    return sorted(names)


@bp.get("/supported-platforms")
@require(scope="read")
@bp.arguments(SupportedPlatformsArgsSchema, location="query", as_kwargs=True)
@bp.alt_response(200, schema=SupportedPlatformsSchema, description="Site names", success=True)
@bp.doc(security=_SECURITY, summary="The sites Haul can download from, as one list of names",
        description="Scope: read. The sites of the installed gallery-dl and yt-dlp as plain names (for a "
                    "Shortcut's Choose from List); GET /api/v1/platforms has the details. Any other page "
                    "still works through the generic extractors. `search` keeps the names containing it.")
@document_errors(401, 403)
def supported_platforms(search: str | None = None, tool: str | None = None):
    listing = platforms.search(tool=tool)
    sites = site_names(listing)
    needle = (search or "").strip().lower()
    if needle:
        sites = [name for name in sites if needle in name]
    return jsonify({"count": len(sites), "sites": sites, "tools": listing["tools"]})
