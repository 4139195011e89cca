"""What a guest behind an invite link may do and see: send links under the guest policy, list
their own items, retry their own failed links, and which live events are theirs.

A guest sees only what their own session sent: their uploads (by file name) and the jobs of
their own link submissions. Never the library, other guests' or users' jobs, or anything of
the server's: no file paths, no storage root, no titles of jobs someone else queued (a link
that was in the library already shows as "already in the library", not as that job).
"""
from __future__ import annotations

import re

from flask import current_app
from sqlalchemy import select

from webapp.core.link_text import parse_links
from webapp.core.url_policy import check_public_url
from webapp.core.urls import UrlProblem, normalise_url
from webapp.core.vocabulary import CANCELLED, FAILED, INVITE, UPLOAD_ENGINE
from webapp.errors import BadRequest, Conflict, Forbidden, HaulError, Invalid, NotFound
from webapp.extensions import db
from webapp.models import GuestSession, Job, Submission, Upload
from webapp.models.base import isoformat
from webapp.services.guests import chunked_uploads, invite_usage, invites
from webapp.services.queue import events, job_control
from webapp.services.queue.submissions import submit

MAX_GUEST_LINKS = 20  # per request
MAX_ITEMS = 300  # the newest this many are listed
UPLOAD_VIA = "upload"  # Submission.submitted_via of the submissions upload_store writes
_LINK_FIELDS = {"urls", "text"}  # everything else (engine, preset, cookies, args, …) is refused


# -- what may be shown -----------------------------------------------------------------------------

# An absolute path: a slash not part of a URL ("https://", "host/path"), then 2+ components.
_PATH = re.compile(r"(?<![\w:/.~-])/(?:[^\s'\"/<>]+/)+[^\s'\"<>]*")


def safe_error(text: str | None) -> str | None:
    """A job's error as a guest may read it: no server paths, not overlong."""
    if not text:
        return None
    settings = current_app.config["HAUL"]
    for secret in sorted({str(settings.storage_root), str(settings.data_dir)}, key=len, reverse=True):
        text = text.replace(secret, "…")
    text = _PATH.sub("…", text)
    text = " ".join(text.split())
    return text[:300] + ("…" if len(text) > 300 else "")


def upload_item(upload: Upload) -> dict:
    data = chunked_uploads.to_dict(upload)
    return {
        "id": f"upload-{upload.id}",
        "type": "upload",
        "name": upload.filename,
        "status": upload.status,
        "percent": round(100.0 * upload.received / upload.size, 1) if upload.size else None,
        "bytes_done": upload.received,
        "bytes_total": upload.size,
        "error": upload.error,
        "can_retry": False,
        "created_at": data["created_at"],
        "upload": data,
    }


def job_item(job: Job) -> dict:
    """One of the guest's own link jobs: its status and progress, nothing of the server's."""
    return {
        "id": f"job-{job.id}",
        "type": "link",
        "job_id": job.id,
        "name": job.title or job.url,
        "url": job.url,
        "status": job.status,
        "percent": job.percent,
        "bytes_done": job.bytes_done,
        "bytes_total": job.bytes_total,
        "items_done": job.items_done,
        "items_total": job.items_total,
        "error": safe_error(job.error),
        "can_retry": job.status in (FAILED, CANCELLED),
        "created_at": isoformat(job.created_at),
    }


def known_link_item(submission_id: str, index: int, url: str, created_at) -> dict:
    """A link that was in the library already (someone else's job): only the guest's own URL."""
    return {
        "id": f"link-{submission_id}-{index}",
        "type": "link",
        "name": url,
        "url": url,
        "status": "duplicate",
        "percent": None,
        "error": None,
        "can_retry": False,
        "created_at": isoformat(created_at),
    }


def _own_jobs(guest_id: str, job_ids) -> dict[int, Job]:
    """Those of these jobs that belong to this guest's own link submissions."""
    if not job_ids:
        return {}
    rows = db.session.scalars(
        select(Job).join(Submission, Job.submission_id == Submission.id)
        .where(Job.id.in_(list(job_ids)), Submission.guest_session_id == guest_id,
               Submission.submitted_via != UPLOAD_VIA, Job.engine.is_distinct_from(UPLOAD_ENGINE))
    )
    return {job.id: job for job in rows}


def _submission_items(guest_id: str, submission: Submission, mine: dict[int, Job], shown: set) -> list[dict]:
    out = []
    for index, entry in enumerate(submission.items or []):
        job_id = entry.get("job_id")
        job = mine.get(job_id)
        if job is not None:
            if job_id not in shown:  # a link sent twice shows once
                shown.add(job_id)
                out.append(job_item(job))
        else:
            out.append(known_link_item(submission.id, index, entry.get("url") or "", submission.created_at))
    return out


def items_for(guest: GuestSession) -> list[dict]:
    """Everything this session sent, oldest first: uploads and links."""
    uploads = db.session.scalars(
        select(Upload).where(Upload.guest_session_id == guest.id).order_by(Upload.created_at.desc()).limit(MAX_ITEMS)
    ).all()
    submissions = db.session.scalars(
        select(Submission).where(Submission.guest_session_id == guest.id, Submission.submitted_via != UPLOAD_VIA)
        .order_by(Submission.created_at.desc()).limit(MAX_ITEMS)
    ).all()
    job_ids = {entry.get("job_id") for s in submissions for entry in (s.items or []) if entry.get("job_id")}
    mine = _own_jobs(guest.id, job_ids)
    dated = [(upload.created_at, 0, upload_item(upload)) for upload in uploads]
    shown: set[int] = set()
    for submission in reversed(submissions):
        for item in _submission_items(guest.id, submission, mine, shown):
            dated.append((submission.created_at, 1, item))
    dated.sort(key=lambda entry: (entry[0], entry[1]))
    return [item for _, _, item in dated][-MAX_ITEMS:]


# -- sending links ---------------------------------------------------------------------------------


def _refused(url: str, reason: str, error_code: str) -> dict:
    return {"url": url[:300], "reason": reason, "error_code": error_code}


def check_links(guest: GuestSession, body) -> list[str]:
    """The normalised URLs of a guest's request, or an error naming each refused link.

    The guest policy: links only (no tool arguments, engines, presets, cookies, post titles);
    http and https only; and unless the invite allows it, no host that resolves to a loopback,
    private, link-local, multicast or otherwise non-public address."""
    invite = guest.invite
    if not invite.allow_urls:
        raise Forbidden("This invite link does not take links", error_code="links_not_allowed")
    if not isinstance(body, dict):
        raise BadRequest("Send a JSON object with the links in urls (or text)", error_code="invalid_body")
    extra = set(body) - _LINK_FIELDS
    if extra:
        raise BadRequest(f"Guests send links only; not accepted: {', '.join(sorted(map(str, extra)))}",
                         error_code="guest_field_refused", extra={"fields": sorted(map(str, extra))})
    raw: list[str] = []
    refused: list[dict] = []
    urls = body.get("urls")
    if urls is not None:
        if isinstance(urls, str):
            urls = [urls]
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise BadRequest("urls must be a list of links", error_code="invalid_body")
        raw += [u for u in urls if u.strip()]
    text = body.get("text")
    if text is not None:
        if not isinstance(text, str) or len(text) > 100_000:
            raise BadRequest("text must be the pasted links", error_code="invalid_body")
        parsed = parse_links(text, limit=MAX_GUEST_LINKS)
        raw += parsed.urls
        refused += [_refused(p["text"], p["reason"], "invalid_url") for p in parsed.problems]
    if not raw and not refused:
        raise BadRequest("No link given: paste at least one", error_code="no_urls")
    if len(raw) > MAX_GUEST_LINKS:
        raise Invalid(f"At most {MAX_GUEST_LINKS} links at once; send the rest separately",
                      error_code="too_many_urls")
    normalised: list[str] = []
    for url in raw:
        try:
            clean = normalise_url(url)
        except UrlProblem as exc:
            refused.append(_refused(url, str(exc), "invalid_url"))
            continue
        if not invite.allow_private_urls:
            try:
                check_public_url(clean)
            except HaulError as exc:
                refused.append(_refused(url, exc.detail, exc.error_code))
                continue
        normalised.append(clean)
    if refused:
        codes = {r["error_code"] for r in refused}
        policy_only = codes <= {"private_address", "unresolvable_host"}
        detail = "; ".join(f"{r['url'][:100]}: {r['reason']}" for r in refused)
        raise HaulError(f"Not sent: {detail}", status=403 if policy_only else 422,
                        error_code=codes.pop() if len(codes) == 1 else "links_refused",
                        extra={"refused": refused})
    return normalised


def check_room(guest: GuestSession) -> None:
    """Refuse new links once the invite's total is used up: a job could not store a byte.
    (While a job runs, the worker cuts it off where it passes the limits; jobs/guest_limits.py.)"""
    invite = guest.invite
    limits = invite_usage.limits_for(invite)
    if limits.max_total_bytes is not None and invite_usage.bytes_left(invite, limits) == 0:
        raise HaulError(f"This link has taken all it can ({limits.total_words()}); nothing more can be sent",
                        status=413, error_code="quota_exceeded", extra={"max_total_bytes": limits.max_total_bytes,
                                                                        "bytes_left": 0})


def send_links(guest: GuestSession, body) -> list[dict]:
    """Check a guest's links, count the session's use, then queue them (one submission)."""
    invites.check_session_open(guest)
    urls = check_links(guest, body)
    check_room(guest)
    invites.count_use(guest)
    # Committed before submit: in the web server submit hands the write to the group-commit
    # writer (another greenlet, another session); this request must hold no write transaction.
    db.session.commit()
    invite = guest.invite
    # The invite's preset, never the guest's choice (None: the default preset).
    result = submit(urls, principal=None, source=INVITE, post_title=invite.post_title, preset=invite.preset,
                    guest=guest)
    db.session.expire_all()
    submission = db.session.get(Submission, result.submission_id)
    mine = _own_jobs(guest.id, {entry.job_id for entry in result.entries})
    return _submission_items(guest.id, submission, mine, set())


def retry_link(guest: GuestSession, job_id: int) -> dict:
    """Queue one of the guest's own failed links again."""
    invites.check_session_open(guest)
    job = _own_jobs(guest.id, [job_id]).get(job_id) if 0 < job_id < 2**63 else None
    if job is None:
        raise NotFound("There is no such link in your session", error_code="item_not_found")
    if not guest.invite.allow_urls:
        raise Forbidden("This invite link does not take links any more", error_code="links_not_allowed")
    check_room(guest)
    try:
        job = job_control.retry(job)
    except Conflict as exc:
        # The generic message names another job's id; a guest is told only that it is there.
        if exc.error_code == "duplicate":
            raise Conflict("This link is already in the library or on its way", error_code="duplicate") from None
        raise
    return job_item(job)


# -- live updates ----------------------------------------------------------------------------------


class GuestFeed:
    """Decides which live events belong to one guest session and shapes them for it.

    An event is the guest's when its submission is one of their link submissions (looked up
    once per submission id and remembered). Queue-wide events and everyone else's jobs are
    never sent; what is sent is rebuilt from the job row (job_item), not the raw event."""

    REMEMBER = 20_000

    def __init__(self, guest_id: str):
        self.guest_id = guest_id
        self._mine: dict[str, bool] = {}

    def is_mine(self, submission_id: str | None) -> bool:
        if not submission_id:
            return False
        known = self._mine.get(submission_id)
        if known is None:
            row = db.session.execute(
                select(Submission.guest_session_id, Submission.submitted_via).where(Submission.id == submission_id)
            ).first()
            known = row is not None and row[0] == self.guest_id and row[1] != UPLOAD_VIA
            if len(self._mine) >= self.REMEMBER:
                self._mine.clear()
            self._mine[submission_id] = known
        return known

    def items_of(self, record) -> list[dict]:
        """The guest's items this event changed (an empty list: not theirs, send nothing)."""
        if record.type in events.QUEUE_EVENTS or not self.is_mine(record.submission_id):
            return []
        if record.type == events.QUEUED:
            job_ids = [j for j in (record.data or {}).get("job_ids") or [] if isinstance(j, int)]
        elif record.job_id is not None:
            job_ids = [record.job_id]
        else:
            return []
        mine = _own_jobs(self.guest_id, job_ids)
        out = [job_item(mine[j]) for j in job_ids if j in mine]
        if record.job_id is not None and record.job_id not in mine:
            out.append({"id": f"job-{record.job_id}", "removed": True})
        return out
