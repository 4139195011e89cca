"""The one submission path every entry point uses: check, normalise, dedupe, write, enqueue."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from webapp.errors import BadRequest, Conflict, Invalid
from webapp.extensions import db
from webapp.models import Job, Submission
from webapp.models.base import utcnow
from webapp.models.job import DEDUPE_STATUSES, PRESETS, QUEUED, SOURCES, new_submission_id
from webapp.services import dispatch, events
from webapp.services.accounts import Principal
from webapp.services.urls import UrlProblem, domain_of, normalise_url

MAX_URLS = 200
MAX_TEXT = 300
REQUESTABLE_ENGINES = ("gallery-dl", "yt-dlp", "direct")


@dataclass
class Entry:
    """What happened to one URL: a new job, or the existing job it duplicates."""

    url: str
    job_id: int
    duplicate: bool


@dataclass
class SubmitResult:
    submission_id: str
    post_title: str | None
    label: str | None
    queued_at: datetime
    entries: list[Entry]
    # The new jobs' rows as stored (RETURNING every column), in order: enough to answer with
    # them without reading them back.
    created: list[dict] = field(default_factory=list)


def _clean_text(value, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid(f"{name} must be a string", error_code=f"invalid_{name}")
    value = value.strip()
    if len(value) > MAX_TEXT:
        raise Invalid(f"{name} is longer than {MAX_TEXT} characters", error_code=f"invalid_{name}")
    return value or None


def _check_urls(urls) -> list[str]:
    if urls is None or urls == [] or urls == "":
        raise BadRequest("No URL given: send at least one URL", error_code="no_urls")
    if isinstance(urls, str):
        urls = [urls]
    if not isinstance(urls, list):
        raise BadRequest("urls must be a list of strings", error_code="invalid_body")
    if len(urls) > MAX_URLS:
        raise Invalid(f"At most {MAX_URLS} URLs per request; got {len(urls)}", error_code="too_many_urls")
    normalised, problems = [], []
    for raw in urls:
        try:
            normalised.append(normalise_url(raw))
        except UrlProblem as exc:
            problems.append({"url": raw if isinstance(raw, str) else repr(raw), "reason": str(exc)})
    if problems:
        listing = "; ".join(f"{p['url'][:100]}: {p['reason']}" for p in problems)
        raise Invalid(f"Invalid URL(s): {listing}", error_code="invalid_urls", extra={"invalid_urls": problems})
    return normalised


@functools.cache
def _statements() -> dict:
    """The submit path's statements, built once per process: building a statement and its cache
    key costs more CPU than SQLite takes to run it (measured with py-spy under 50 clients)."""
    jobs, submissions = Job.__table__, Submission.__table__
    return {
        "existing": select(jobs.c.url, jobs.c.id)
        .where(jobs.c.url.in_(bindparam("urls", expanding=True)), jobs.c.status.in_(DEDUPE_STATUSES))
        .order_by(jobs.c.id),
        "submission": insert(submissions),
        "job": insert(jobs).returning(*jobs.c),
        "jobs": insert(jobs).returning(*jobs.c, sort_by_parameter_order=True),
        "items": update(submissions).where(submissions.c.id == bindparam("submission_key")),
    }


def _existing_jobs(urls: list[str]) -> dict[str, int]:
    """The newest queued, running or completed job of each URL, in one query."""
    rows = db.session.connection().execute(_statements()["existing"], {"urls": urls})
    return {url: job_id for url, job_id in rows}  # later ids overwrite earlier ones


def _refuse_duplicates(normalised: list[str], existing: dict[str, int]) -> None:
    """Every URL is known already: say which jobs they are, before anything is written."""
    duplicates = [{"url": url, "duplicate_of": existing[url]} for url in dict.fromkeys(normalised)]
    first = duplicates[0]["duplicate_of"]
    detail = (f"This URL is already queued or downloaded as job {first}" if len(duplicates) == 1
              else f"All {len(duplicates)} URLs are already queued or downloaded")
    raise Conflict(detail + "; send \"force\": true to download again", error_code="duplicate",
                   extra={"duplicate_of": first, "duplicates": duplicates})


def submit(
    urls,
    *,
    principal: Principal | None,
    source: str = "api",
    post_title=None,
    label=None,
    force: bool = False,
    engine: str | None = None,
    priority: int = 0,
    preset: str | None = None,
    refuse_if_nothing_new: bool = False,
) -> SubmitResult:
    """Queue `urls` as one submission; URLs already queued, running or done answer with that job.

    With `refuse_if_nothing_new` (/api/v1/queue), a request whose every URL is a duplicate
    writes nothing and raises Conflict naming the existing jobs (`duplicate_of`, `duplicates`)."""
    normalised = _check_urls(urls)
    post_title = _clean_text(post_title, "post_title")
    label = _clean_text(label, "label")
    if engine in (None, "", "auto"):
        engine = None
    elif engine not in REQUESTABLE_ENGINES:
        raise Invalid(f"engine must be auto, {', '.join(REQUESTABLE_ENGINES)}", error_code="invalid_engine")
    if preset in (None, "", "default"):
        preset = None
    elif preset not in PRESETS:
        raise Invalid(f"preset must be one of {', '.join(PRESETS)}", error_code="invalid_preset")
    if isinstance(priority, bool) or not isinstance(priority, int) or not -1000 <= priority <= 1000:
        raise Invalid("priority must be a whole number from -1000 to 1000", error_code="invalid_priority")
    if source not in SOURCES:
        raise Invalid(f"unknown source {source!r}", error_code="invalid_source")
    if not isinstance(force, bool):
        raise Invalid("force must be true or false", error_code="invalid_force")

    for attempt in range(3):
        try:
            return _write(normalised, principal, source, post_title, label, force, engine, priority, preset,
                          refuse_if_nothing_new)
        except IntegrityError:
            # Another request queued one of these URLs between our check and insert: redo the
            # dedupe so that request's job is the answer.
            db.session.rollback()
            if attempt == 2:
                raise


def _write(normalised, principal, source, post_title, label, force, engine, priority, preset,
           refuse_if_nothing_new=False) -> SubmitResult:
    # Core statements on the session's connection, against the tables rather than the mapped
    # classes: this is the hottest write path (every link from every client). ORM objects, and
    # even ORM-enabled bulk INSERTs, cost more CPU than the SQL itself (measured: 3.6 → 2.2 ms of CPU
    # per one-link request in-process, with the event below; docs/benchmarks.md).
    # Everything that can be prepared is prepared before the first write: SQLite has one
    # writer at a time, and the web's requests queue behind whoever holds it.
    now = utcnow()
    submission_id = new_submission_id()
    user_id = principal.user_id if principal else None
    # Read before the transaction; a racing insert of the same URL trips the unique
    # dedupe index and submit() runs this again.
    existing = {} if force else _existing_jobs(normalised)
    new_urls = list(dict.fromkeys(url for url in normalised if url not in existing))
    if refuse_if_nothing_new and not new_urls:
        _refuse_duplicates(normalised, existing)
    job_rows = [
        {
            "submission_id": submission_id,
            "url": url,
            "domain": domain_of(url),
            "dedupe_key": None if force else url,
            "requested_engine": engine,
            "priority": priority,
            "preset": preset,
            "source": source,
            "user_id": user_id,
            "status": QUEUED,
            "created_at": now,
            "updated_at": now,
        }
        for url in new_urls
    ]
    submission_row = {
        "id": submission_id,
        "post_title": post_title,
        "label": label,
        "source": source,
        "user_id": user_id,
        "token_id": principal.token_id if principal else None,
        "submitted_via": principal.via if principal else source,
        "requested_engine": engine,
        "created_at": now,
    }

    connection = db.session.connection()
    statements = _statements()
    connection.execute(statements["submission"], {"items": [], **submission_row})
    created: list[dict] = []
    if len(job_rows) == 1:  # the common case: one statement, no executemany machinery
        created = [dict(connection.execute(statements["job"], job_rows[0]).one()._mapping)]
    elif job_rows:
        created = [dict(row._mapping) for row in connection.execute(statements["jobs"], job_rows)]
    new_ids = {row["url"]: row["id"] for row in created}
    entries, seen = [], set()
    for url in normalised:
        if url in new_ids and url not in seen:
            entries.append(Entry(url, new_ids[url], duplicate=False))
            seen.add(url)
        else:  # already known, or sent twice in this request
            entries.append(Entry(url, existing.get(url) or new_ids[url], duplicate=True))
    # The items name the job ids, known only now that the jobs exist.
    items = [{"url": e.url, "job_id": e.job_id, "duplicate_of": e.job_id if e.duplicate else None} for e in entries]
    connection.execute(statements["items"], {"submission_key": submission_id, "items": items})
    events.publish_submitted(
        submission_id=submission_id,
        user_id=user_id,
        post_title=post_title,
        label=label,
        urls=normalised,
        queued_at=now,
        job_ids=list(new_ids.values()),
    )
    db.session.commit()
    # Commit first, then wake the workers: a worker must find the rows it is woken for. Only as
    # many as may start now (top_up): not one per link of a 200-link paste, nor any while paused.
    if new_ids:
        dispatch.top_up(release_session=False)
    return SubmitResult(submission_id, post_title, label, now, entries, created)
