"""Guest uploads in pieces: start, ask how far, send a chunk, finish (and cancel).

The protocol (routes in webapp/guest/routes.py, client in static/js/guest.js):

    start   POST   /i/<token>/uploads            {"filename", "size", "mime"}  -> 201 the upload
    status  GET    /i/<token>/uploads/<id>                                    -> 200 the upload
    chunk   PUT    /i/<token>/uploads/<id>?offset=N   body: the bytes; header X-Chunk-SHA256
    finish  POST   /i/<token>/uploads/<id>/finish                             -> 200 stored | duplicate
    cancel  DELETE /i/<token>/uploads/<id>                                    -> 204

A chunk is `chunk_size` bytes (HAUL_UPLOAD_CHUNK_BYTES, fixed per upload at its start) except
the last, and must start exactly where the stored bytes end (`received`): anything else is a
409 that names `received`, so a client that lost a response asks, or reads the 409, and goes on
from there. Each chunk's SHA-256 is checked as it is written; a mismatch is a 422 and the chunk
is dropped (the client sends it again). `received` only ever moves by whole verified chunks.

The bytes gather in data_dir/partial/<id>.part, written in place at the chunk's offset, read
from the request in small blocks (never a whole chunk in memory). An flock on that file keeps
two requests for one upload (a retry racing the original) from writing at once: the second is
told 409 upload_busy. At the end the server hashes the whole file (off the event loop) and
hands it to the library (webapp/services/guests/upload_store.py), which stores it under
storage_root/<post_title>/uploads/<invite-slug>/ or reports that the content is there already.

The invite's limits are checked at the start, before a byte is stored: uploads allowed, the
kinds (MIME type's first part: image, video, audio, anything else "other"), max_file_bytes and
max_total_bytes. The total is the whole invite's, whatever number of guest sessions send to it
(webapp/services/guests/invite_usage.py): an upload reserves its size when it starts, counted under
the invite's lock so parallel starts from any sessions cannot overrun it together, and a
cancelled or abandoned upload gives its reservation back. A chunk never takes more than its
upload reserved: the protocol refuses bytes past the announced size.
"""
from __future__ import annotations

import errno
import fcntl
import hashlib
import mimetypes
import os
import re
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import select, update

from webapp.core.numbers import is_whole_number
from webapp.core.paths import sanitize_component
from webapp.core.readable import human_bytes
from webapp.core.vocabulary import INVITE
from webapp.database import under_gevent
from webapp.errors import BadRequest, Conflict, Forbidden, HaulError, Invalid, NotFound
from webapp.extensions import db
from webapp.models import GuestSession, Invite, Job, Upload
from webapp.models.base import isoformat, utcnow
from webapp.models.invite import DUPLICATE, STORED, UPLOAD_FAILED, UPLOADING, new_key
from webapp.services.guests import invite_usage, invites, upload_store

READ_BLOCK = 64 * 1024  # bytes read from the request and written at a time
# A block that does not arrive within this many seconds ends the request: a client that
# vanished (a phone out of signal) must not hold the upload's lock until TCP gives up.
READ_TIMEOUT = 20.0
MAX_FILENAME = 255
ABANDONED_AFTER = timedelta(hours=invites.SESSION_HOURS)  # no chunk for this long: given up
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


class TooLarge(HaulError):
    status, error_code = 413, "too_large"


# -- helpers ---------------------------------------------------------------------------------------


def chunk_size() -> int:
    return current_app.config["HAUL"].upload_chunk_bytes


def part_path(upload_id: str) -> Path:
    # The id is ours (new_key: URL-safe base64), never the guest's file name.
    return upload_store.partial_dir() / f"{upload_id}.part"


def kind_of(mime: str | None) -> str:
    """image, video or audio by the MIME type's first part; anything else is "other"."""
    major = (mime or "").split("/", 1)[0].strip().lower()
    return major if major in ("image", "video", "audio") else "other"


def _clean_mime(mime) -> str | None:
    if not isinstance(mime, str):
        return None
    mime = mime.split(";", 1)[0].strip().lower()
    return mime if re.fullmatch(r"[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*", mime or "") and len(mime) <= 100 else None


KIND_WORDS = {"image": "photos", "video": "videos", "audio": "audio", "other": "other files"}


def kinds_text(kinds) -> str:
    words = [KIND_WORDS[k] for k in kinds if k in KIND_WORDS]
    if not words:
        return "nothing"
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _own(guest: GuestSession, upload_id: str) -> Upload:
    """The guest's own upload; another session's (or an unknown id) is simply not there."""
    upload = db.session.get(Upload, upload_id) if isinstance(upload_id, str) and len(upload_id) <= 32 else None
    if upload is None or upload.guest_session_id != guest.id:
        raise NotFound("There is no such upload in your session", error_code="upload_not_found")
    return upload


@contextmanager
def _locked_part(upload_id: str):
    """The upload's .part file opened for writing, held under an exclusive flock (never waited
    for: a second request for the same upload is told it is busy)."""
    path = part_path(upload_id)
    try:
        fh = open(path, "r+b")
    except FileNotFoundError:
        raise Conflict("This upload's data is gone; start the file again", error_code="upload_lost") from None
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise Conflict("This upload is busy with another request; ask how far it got and go on",
                               error_code="upload_busy") from None
            raise
        yield fh, path
    finally:
        fh.close()  # closing releases the lock


def _off_loop(function, *args):
    """Run a CPU- or disk-heavy call without stalling the gevent web server's other requests."""
    if under_gevent():
        import gevent

        return gevent.get_hub().threadpool.apply(function, args)
    return function(*args)


def _read_block(stream, size: int) -> bytes:
    if under_gevent():
        import gevent

        with gevent.Timeout(READ_TIMEOUT, TimeoutError):
            return stream.read(size)
    return stream.read(size)


def to_dict(upload: Upload) -> dict:
    """What the guest's client is told about an upload: never a path on the server."""
    return {
        "upload_id": upload.id,
        "filename": upload.filename,
        "mime": upload.mime,
        "size": upload.size,
        "chunk_size": upload.chunk_size,
        "received": upload.received,
        "status": upload.status,
        "duplicate": upload.status == DUPLICATE,
        "sha256": upload.sha256 if upload.status in (STORED, DUPLICATE) else None,
        "error": upload.error,
        "created_at": isoformat(upload.created_at),
    }


# -- start -----------------------------------------------------------------------------------------


def check_allowed(invite: Invite, filename: str, size: int, mime: str | None) -> str:
    """Raise unless this invite takes this kind and size of file; returns the kind. Nothing is
    written (whether it fits in the invite's total is counted when the upload starts)."""
    if not invite.allow_uploads:
        raise Forbidden("This invite link does not take files", error_code="uploads_not_allowed")
    kinds = invite.kinds
    # The type the browser gave and the one the name's extension says must both be allowed.
    guessed = _clean_mime(mimetypes.guess_type(filename)[0])
    candidates = {kind_of(mime or guessed)} | ({kind_of(guessed)} if guessed else set())
    for candidate in sorted(candidates):
        if candidate not in kinds:
            raise Invalid(f"This link takes only {kinds_text(kinds)}; “{filename}” is not one",
                          error_code="kind_not_allowed", extra={"allowed_kinds": list(kinds)})
    limits = invite_usage.limits_for(invite)
    if limits.max_file_bytes is not None and size > limits.max_file_bytes:
        raise TooLarge(f"“{filename}” is {human_bytes(size)}; files on this link can be at most "
                       f"{human_bytes(limits.max_file_bytes)}", error_code="file_too_large",
                       extra={"max_file_bytes": limits.max_file_bytes})
    return kind_of(mime or guessed)


def _check_total(limits: invite_usage.Limits, filename: str, size: int, used: int) -> None:
    """Raise quota_exceeded unless `size` more bytes fit in the invite's total."""
    if limits.max_total_bytes is None or used + size <= limits.max_total_bytes:
        return
    left = max(0, limits.max_total_bytes - used)
    raise TooLarge(f"“{filename}” is {human_bytes(size)}, more than the {human_bytes(left)} this link still takes "
                   f"(at most {limits.total_words()})", error_code="quota_exceeded",
                   extra={"max_total_bytes": limits.max_total_bytes, "bytes_left": left})


def _parse_start(body) -> tuple[str, int, str | None]:
    if not isinstance(body, dict):
        raise BadRequest("Send a JSON object with filename, size and mime", error_code="invalid_body")
    unknown = set(body) - {"filename", "size", "mime"}
    if unknown:
        raise BadRequest(f"Unknown field(s): {', '.join(sorted(map(str, unknown)))}", error_code="invalid_field")
    raw_name = body.get("filename")
    if not isinstance(raw_name, str) or not raw_name.strip():
        raise Invalid("Give the file's name", error_code="invalid_filename")
    # Only the last part of whatever path a client sends, made safe for every file system.
    base = re.split(r"[\\/]", raw_name.strip())[-1]
    filename = sanitize_component(base, fallback="upload", keep_extension=True)[:MAX_FILENAME]
    size = body.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0 or size > 2**62:
        raise Invalid("size must be the file's size in bytes", error_code="invalid_size")
    if size == 0:
        raise Invalid(f"“{filename}” is empty", error_code="empty_file")
    mime = body.get("mime")
    if mime not in (None, "") and not isinstance(mime, str):
        raise Invalid("mime must be a MIME type such as image/jpeg", error_code="invalid_mime")
    declared = _clean_mime(mime)
    if declared == "application/octet-stream":  # a browser's "no idea": the name may know better
        declared = None
    return filename, size, declared or _clean_mime(mimetypes.guess_type(filename)[0])


def start(guest: GuestSession, body) -> Upload:
    """Begin an upload: check everything, count the session's use, reserve the bytes."""
    invite = guest.invite
    invites.check_session_open(guest)
    filename, size, mime = _parse_start(body)
    check_allowed(invite, filename, size, mime)
    expire_abandoned()
    db.session.commit()  # the invite's lock below must be its transaction's first write

    # Under the invite's lock, uploads started at the same moment by any of its sessions are
    # counted one at a time, each seeing the reservations made before it.
    invite_usage.lock(invite.id)
    invites.count_use(guest)  # the first thing this session sends uses up one of the link's uses
    limits = invite_usage.limits_for(invite)
    if limits.max_total_bytes is not None:
        try:
            _check_total(limits, filename, size, invite_usage.bytes_used(invite.id, since=limits.since()))
        except TooLarge:
            db.session.rollback()  # a refused file uses nothing, not even the link's use
            raise
    now = utcnow()
    upload = Upload(id=new_key(), invite_id=invite.id, guest_session_id=guest.id, filename=filename, mime=mime,
                    size=size, chunk_size=chunk_size(), received=0, status=UPLOADING, created_at=now,
                    updated_at=now)
    db.session.add(upload)
    part_path(upload.id).touch(exist_ok=False)
    try:
        db.session.commit()
    except Exception:
        part_path(upload.id).unlink(missing_ok=True)
        raise
    return upload


# -- status and chunks -----------------------------------------------------------------------------


def status(guest: GuestSession, upload_id: str) -> Upload:
    return _own(guest, upload_id)


def _offset(value) -> int:
    if value is None or value == "":
        raise BadRequest("Say where the chunk starts: ?offset=<bytes already stored>", error_code="offset_required")
    if not is_whole_number(str(value)):
        raise BadRequest("offset must be a whole number of bytes", error_code="invalid_offset")
    return int(value)


def write_chunk(guest: GuestSession, upload_id: str, *, offset, sha256: str | None, stream,
                content_length: int | None) -> Upload:
    """Store one chunk at `offset`, streaming it from the request and checking its SHA-256."""
    upload = _own(guest, upload_id)
    invites.check_session_open(guest)
    offset = _offset(offset)
    if not sha256 or not _HEX64.match(sha256):
        raise BadRequest("Send the chunk's SHA-256 (64 hex digits) in the X-Chunk-SHA256 header",
                         error_code="chunk_hash_required")
    if upload.status != UPLOADING:
        raise Conflict(f"This upload is {upload.status}; it takes no more chunks", error_code="upload_not_open",
                       extra={"received": upload.received, "status": upload.status})
    if offset != upload.received:
        raise Conflict(f"The server has {upload.received} bytes of this file; send the chunk that starts there",
                       error_code="offset_mismatch", extra={"received": upload.received})
    expected = min(upload.chunk_size, upload.size - offset)
    if expected <= 0:
        raise Conflict("Every byte of this file is in; finish the upload", error_code="upload_complete",
                       extra={"received": upload.received})
    if content_length is None:
        raise HaulError("Send the chunk with a Content-Length", status=411, error_code="length_required")
    if content_length > upload.chunk_size:
        raise TooLarge(f"A chunk of this upload is at most {upload.chunk_size} bytes", error_code="chunk_too_large",
                       extra={"chunk_size": upload.chunk_size})
    if content_length != expected:
        raise BadRequest(f"The chunk at {offset} must be {expected} bytes, not {content_length}",
                         error_code="chunk_length_mismatch", extra={"expected": expected})
    guest_id, upload_key = guest.id, upload.id

    with _locked_part(upload_key) as (fh, _path):
        # Under the lock: is it still where we thought? (A racing request may have moved it on.)
        db.session.refresh(upload)
        if upload.status != UPLOADING or upload.received != offset:
            raise Conflict(f"The server has {upload.received} bytes of this file; send the chunk that starts there",
                           error_code="offset_mismatch", extra={"received": upload.received})
        # Hold no database transaction while the bytes arrive (a phone may take minutes).
        db.session.rollback()
        digest = hashlib.sha256()
        fh.seek(offset)
        remaining = expected
        try:
            while remaining:
                block = _read_block(stream, min(READ_BLOCK, remaining))
                if not block:
                    break
                fh.write(block)
                digest.update(block)
                remaining -= len(block)
        except TimeoutError:
            fh.truncate(offset)
            raise HaulError("The chunk stopped arriving; send it again", status=408,
                            error_code="chunk_timeout", extra={"received": offset}) from None
        except Exception:
            fh.truncate(offset)
            raise
        if remaining:
            fh.truncate(offset)
            raise BadRequest("The chunk arrived incomplete; send it again", error_code="incomplete_chunk",
                             extra={"received": offset})
        if digest.hexdigest() != sha256.lower():
            fh.truncate(offset)
            raise Invalid("The chunk's SHA-256 does not match what arrived; send it again",
                          error_code="chunk_hash_mismatch", extra={"received": offset})
        fh.truncate(offset + expected)
        fh.flush()
        os.fsync(fh.fileno())
        moved = db.session.execute(
            update(Upload).where(Upload.id == upload_key, Upload.guest_session_id == guest_id,
                                 Upload.received == offset, Upload.status == UPLOADING)
            .values(received=offset + expected, updated_at=utcnow())
        ).rowcount
        db.session.commit()
    if not moved:  # pragma: no cover - the lock makes this a cancelled upload
        raise Conflict("This upload was cancelled meanwhile", error_code="upload_not_open")
    return db.session.get(Upload, upload_key)


# -- finish and cancel -----------------------------------------------------------------------------


def finish(guest: GuestSession, upload_id: str) -> Upload:
    """Hash the whole file and hand it to the library (or report the duplicate). Idempotent."""
    upload = _own(guest, upload_id)
    if upload.status in (STORED, DUPLICATE):
        return upload
    invites.check_session_open(guest)
    if upload.status != UPLOADING:
        raise Conflict(f"This upload is {upload.status}", error_code="upload_not_open",
                       extra={"status": upload.status})
    if upload.received != upload.size:
        raise Conflict(f"The server has {upload.received} of {upload.size} bytes; send the rest first",
                       error_code="upload_incomplete", extra={"received": upload.received})
    if upload.sha256 and not part_path(upload.id).exists():
        # A finish cut short after the library took the file: the job that holds it says so.
        held_by = upload_store.existing_job_with(upload.sha256)
        if held_by is not None:
            holder = db.session.get(Job, held_by)
            mine = holder is not None and holder.submission.guest_session_id == upload.guest_session_id
            upload.status, upload.job_id = (STORED if mine else DUPLICATE), held_by
            db.session.commit()
            return upload
    invite = guest.invite
    upload_key, guest_id = upload.id, guest.id
    post_title, folder, invite_id = invite.post_title, invite.slug, invite.id

    with _locked_part(upload_key) as (fh, path):
        db.session.refresh(upload)
        if upload.status != UPLOADING:
            return upload  # a racing finish did it
        if os.fstat(fh.fileno()).st_size != upload.size:
            _fail(upload, "The file on the server is not whole; send it again")
            raise Conflict("The upload's data is damaged; send the file again", error_code="upload_lost")
        db.session.rollback()  # no transaction held while hashing a big file
        digest = _off_loop(upload_store.sha256_of, path)
        upload = db.session.get(Upload, upload_key)
        upload.sha256 = digest  # kept first: a finish cut short can find what it stored
        db.session.commit()
        try:
            imported = upload_store.import_file(
                path, filename=upload.filename, post_title=post_title, folder=folder, source=INVITE,
                mime=upload.mime, sha256=digest, invite_id=invite_id, guest_session_id=guest_id)
        except Exception:
            current_app.logger.exception("could not store upload %s in the library", upload_key)
            upload = db.session.get(Upload, upload_key)
            _fail(upload, "The server could not store this file")
            raise HaulError("The server could not store this file; the error was logged", status=500,
                            error_code="store_failed") from None
    upload = db.session.get(Upload, upload_key)
    upload.status = DUPLICATE if imported.duplicate else STORED
    upload.job_id = imported.job_id
    upload.sha256 = imported.sha256
    upload.error = None
    db.session.commit()
    return upload


def _fail(upload: Upload, message: str) -> None:
    """Mark an upload failed (which gives its reservation back) and drop its bytes (commits)."""
    upload.status = UPLOAD_FAILED
    upload.error = message
    db.session.commit()
    part_path(upload.id).unlink(missing_ok=True)


def cancel(guest: GuestSession, upload_id: str) -> None:
    """Stop an upload that is not finished: its bytes go and its reservation comes back."""
    upload = _own(guest, upload_id)
    if upload.status in (STORED, DUPLICATE):
        raise Conflict("This file is stored already", error_code="upload_not_open", extra={"status": upload.status})
    upload_key = upload.id
    with _locked_part(upload_key) if part_path(upload_key).exists() else _nothing():
        db.session.refresh(upload)
        db.session.delete(upload)
        db.session.commit()
        part_path(upload_key).unlink(missing_ok=True)


@contextmanager
def _nothing():
    yield None


def expire_abandoned(limit: int = 20) -> int:
    """Give up uploads that have had no chunk for a day: bytes deleted, reservation released."""
    cutoff = utcnow() - ABANDONED_AFTER
    stale = db.session.scalars(
        select(Upload).where(Upload.status == UPLOADING, Upload.updated_at < cutoff).limit(limit)
    ).all()
    for upload in stale:
        upload.status = UPLOAD_FAILED
        upload.error = "The upload stopped for too long and was given up"
        part_path(upload.id).unlink(missing_ok=True)
    if stale:
        db.session.commit()
    return len(stale)
