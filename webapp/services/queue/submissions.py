"""The one submission path every entry point uses: check, normalise, dedupe, write, enqueue."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from webapp.core import url_policy
from webapp.core.listings import Options, OptionsProblem
from webapp.core.urls import UrlProblem, domain_of, normalise_url
from webapp.core.vocabulary import (
    ADMIN_TRUST,
    API,
    AUTO,
    DEDUPE_STATUSES,
    ENGINES,
    GUEST_TRUST,
    INVITE,
    QUEUED,
    SOURCES,
    USER_TRUST,
)
from webapp.errors import BadRequest, Conflict, Invalid
from webapp.extensions import db
from webapp.models import Job, Submission
from webapp.models.base import utcnow
from webapp.models.job import new_submission_id
from webapp.services.accounts.identity import Principal
from webapp.services.admin import runtime_settings
from webapp.services.library import presets
from webapp.services.queue import dispatch, events, job_control, start_now, submit_batcher

MAX_URLS = 200
MAX_TEXT = 300


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


def _conflict(duplicates: list[dict]) -> Conflict:
    """Every URL of a submission is known already: which jobs they are (nothing was written)."""
    first = duplicates[0]["duplicate_of"]
    detail = (f"This URL is already queued or downloaded as job {first}" if len(duplicates) == 1
              else f"All {len(duplicates)} URLs are already queued or downloaded")
    return Conflict(detail + "; send \"force\": true to download again", error_code="duplicate",
                    extra={"duplicate_of": first, "duplicates": duplicates})


@dataclass
class Prepared:
    """A submission checked and normalised, ready to write: plain values only, so it can be
    written by another greenlet (webapp/services/queue/submit_batcher.py) in another session."""

    urls: list[str]
    post_title: str | None
    label: str | None
    force: bool
    engine: str | None
    priority: int
    preset: str | None
    source: str
    refuse_if_nothing_new: bool
    user_id: int | None
    token_id: int | None
    via: str
    # Who stood behind it for the network policy (Submission.trust), and for guests through an
    # invite link (webapp/services/guests/guest_actions.py) whose invite and session.
    trust: str = USER_TRUST
    invite_id: int | None = None
    guest_session_id: str | None = None
    # A collection's options as stored (Options.to_json()), None when none were given: the
    # worker's defaults apply should the URL turn out to be a playlist or channel.
    collection: dict | None = None
    # May start outside the download windows (webapp/services/queue/windows.py).
    run_now: bool = False


def check_collection(collection) -> dict | None:
    """The stored form of a request's collection options; Invalid `invalid_collection` when off."""
    if collection is None:
        return None
    try:
        return Options.from_json(collection).to_json()
    except OptionsProblem as exc:
        raise Invalid(str(exc), error_code="invalid_collection") from None


def check_engine(engine) -> str | None:
    """The engine asked for (None: pick one per link), or Invalid `invalid_engine`."""
    if engine in (None, "", AUTO):
        return None
    if not isinstance(engine, str) or engine not in ENGINES:
        raise Invalid(f"engine must be {AUTO}, {', '.join(ENGINES)}", error_code="invalid_engine")
    return engine


def trust_of(principal: Principal | None) -> str:
    """Who stands behind what `principal` sends, for the network policy (Submission.trust): an
    admin, or the command line (no principal: an operator's), or a user."""
    return ADMIN_TRUST if principal is None or principal.is_admin else USER_TRUST


def submit(
    urls,
    *,
    principal: Principal | None,
    source: str = API,
    post_title=None,
    label=None,
    force: bool = False,
    engine: str | None = None,
    priority: int = 0,
    preset: str | None = None,
    refuse_if_nothing_new: bool = False,
    guest=None,
    collection=None,
    run_now: bool = False,
) -> SubmitResult:
    """Queue `urls` as one submission; URLs already queued, running or done answer with that job.

    With `refuse_if_nothing_new` (/api/v1/queue), a request whose every URL is a duplicate
    writes nothing and raises Conflict naming the existing jobs (`duplicate_of`, `duplicates`).
    In the web server, submissions arriving together are written together (submit_batcher).
    `guest` (a GuestSession) marks a guest's submission: its invite, its session, and the guest
    URL policy the worker enforces unless the invite allows private addresses.
    `collection` (a playlist's or channel's options: items, limit, order, numbered, folder) is
    stored on each new job for the worker, should its URL list other pages.
    `run_now` lets the new jobs start outside the download windows (services/queue/windows.py;
    only an admin may ask: start_now.check_run_now).

    Only an admin's links may lead to private addresses (unless the admin's setting allows
    users, or the invite its guests): a URL whose host is known to be one is refused here
    (422 `private_address`), and the worker checks every connection of the others."""
    normalised = _check_urls(urls)
    post_title = _clean_text(post_title, "post_title")
    label = _clean_text(label, "label")
    engine, preset = check_engine(engine), presets.check_name(preset)
    job_control.check_priority(priority, principal)
    if source not in SOURCES:
        raise Invalid(f"unknown source {source!r}", error_code="invalid_source")
    if not isinstance(force, bool):
        raise Invalid("force must be true or false", error_code="invalid_force")
    collection = check_collection(collection)
    run_now = start_now.check_run_now(run_now, principal)
    prepared = Prepared(
        normalised, post_title, label, force, engine, priority, preset, source, refuse_if_nothing_new,
        user_id=principal.user_id if principal else None,
        token_id=principal.token_id if principal else None,
        via=principal.via if principal else (INVITE if guest is not None else source),
        collection=collection,
        run_now=run_now,
    )
    if guest is not None:
        prepared.trust, prepared.invite_id, prepared.guest_session_id = GUEST_TRUST, guest.invite_id, guest.id
    else:
        prepared.trust = trust_of(principal)
    allowed = url_policy.private_addresses_allowed(
        prepared.trust,
        invite_allows=guest is not None and guest.invite.allow_private_urls,
        users_allowed=prepared.trust == USER_TRUST and runtime_settings.users_may_reach_private_addresses(),
    )
    if not allowed:
        url_policy.check_known_addresses(normalised)

    batcher = submit_batcher.current()
    if batcher is not None:
        return batcher.submit(prepared)
    outcome = write_batch([prepared])[0]
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def write_batch(batch: list[Prepared]) -> list[SubmitResult | Conflict]:
    """Write submissions in one transaction, in order, each deduplicated against the jobs
    before it (stored or earlier in the batch); a refused one is its Conflict, writing nothing.

    A racing insert of the same URL by another process trips the unique dedupe index: the
    batch is read and written again (up to three times), then each submission alone, so one
    that keeps failing fails by itself.
    """
    for attempt in range(3):
        try:
            return _write_batch_once(batch)
        except IntegrityError:
            db.session.rollback()
    if len(batch) == 1:
        return _write_batch_once(batch)  # the error propagates, as it always has
    return [write_batch([one])[0] for one in batch]


@dataclass
class _Plan:
    """One submission of a batch: its new rows and where each of its URLs' jobs come from."""

    prepared: Prepared
    submission_id: str
    refused: bool
    rows: list[int] = field(default_factory=list)  # indexes into the batch's job rows
    # url -> ("row", index into the batch's job rows) or ("job", a stored job's id)
    sources: dict[str, tuple[str, int]] = field(default_factory=dict)


def _write_batch_once(batch: list[Prepared]) -> list[SubmitResult | Conflict]:
    # Core statements on the session's connection, against the tables rather than the mapped
    # classes, built once per process: this is the hottest write path (every link from every
    # client). ORM objects, even ORM-enabled bulk INSERTs, cost more CPU than the SQL itself
    # (measured: 3.6 → 2.2 ms of CPU per one-link request in-process; docs/benchmarks.md).
    # Everything is prepared before the first write: SQLite has one writer at a time.
    now = utcnow()
    lookup = sorted({url for prepared in batch if not prepared.force for url in prepared.urls})
    # Read before the transaction; a racing insert of the same URL trips the unique
    # dedupe index and write_batch() runs this again.
    stored = _existing_jobs(lookup) if lookup else {}
    newest: dict[str, int] = {}  # url -> the batch's newest row for it
    plans, job_rows = [], []
    for prepared in batch:
        plan = _Plan(prepared, new_submission_id(), refused=False)
        for url in dict.fromkeys(prepared.urls):
            if not prepared.force and url in newest:
                plan.sources[url] = ("row", newest[url])
            elif not prepared.force and url in stored:
                plan.sources[url] = ("job", stored[url])
        new_urls = [url for url in dict.fromkeys(prepared.urls) if url not in plan.sources]
        plan.refused = prepared.refuse_if_nothing_new and not new_urls
        if not plan.refused:
            for url in new_urls:
                newest[url] = len(job_rows)
                plan.rows.append(len(job_rows))
                job_rows.append(_job_row(prepared, plan.submission_id, url, now))
        plans.append(plan)

    written = [plan for plan in plans if not plan.refused]
    connection = db.session.connection()
    statements = _statements()
    if written:
        connection.execute(statements["submission"], [_submission_row(plan, now) for plan in written])
    created: list[dict] = []
    if len(job_rows) == 1:  # the common case: one statement, no executemany machinery
        created = [dict(connection.execute(statements["job"], job_rows[0]).one()._mapping)]
    elif job_rows:
        created = [dict(row._mapping) for row in connection.execute(statements["jobs"], job_rows)]

    def job_id(source: tuple[str, int]) -> int:
        kind, value = source
        return created[value]["id"] if kind == "row" else value

    outcomes, items_rows, event_rows = [], [], []
    for plan in plans:
        prepared = plan.prepared
        if plan.refused:
            outcomes.append(_conflict([{"url": url, "duplicate_of": job_id(plan.sources[url])}
                                       for url in dict.fromkeys(prepared.urls)]))
            continue
        own = {created[index]["url"]: created[index]["id"] for index in plan.rows}
        entries, seen = [], set()
        for url in prepared.urls:
            if url in own and url not in seen:
                entries.append(Entry(url, own[url], duplicate=False))
                seen.add(url)
            else:  # already known, or sent twice in this request
                entries.append(Entry(url, own.get(url) or job_id(plan.sources[url]), duplicate=True))
        # The items name the job ids, known only now that the jobs exist.
        items = [{"url": e.url, "job_id": e.job_id, "duplicate_of": e.job_id if e.duplicate else None}
                 for e in entries]
        items_rows.append({"submission_key": plan.submission_id, "items": items})
        event_rows.append(events.submitted_event_row(
            submission_id=plan.submission_id, user_id=prepared.user_id, token_id=prepared.token_id,
            post_title=prepared.post_title,
            label=prepared.label, urls=prepared.urls, queued_at=now, job_ids=list(own.values()),
        ))
        outcomes.append(SubmitResult(plan.submission_id, prepared.post_title, prepared.label, now, entries,
                                     [created[index] for index in plan.rows]))
    if written:
        connection.execute(statements["items"], items_rows)
        events.publish_submitted(event_rows)
        db.session.commit()
    else:
        db.session.rollback()
    # Commit first, then wake the workers: a worker must find the rows it is woken for. Only as
    # many as may start now (top_up): not one per link of a 200-link paste, nor any while paused.
    if job_rows:
        dispatch.top_up(release_session=False)
    return outcomes


def _job_row(prepared: Prepared, submission_id: str, url: str, now: datetime) -> dict:
    return {
        "submission_id": submission_id,
        "url": url,
        "domain": domain_of(url),
        "dedupe_key": None if prepared.force else url,
        "requested_engine": prepared.engine,
        "priority": prepared.priority,
        "preset": prepared.preset,
        "source": prepared.source,
        "user_id": prepared.user_id,
        "token_id": prepared.token_id,
        "status": QUEUED,
        "collection_options": prepared.collection,
        "run_now": prepared.run_now,
        "created_at": now,
        "updated_at": now,
    }


def _submission_row(plan: _Plan, now: datetime) -> dict:
    prepared = plan.prepared
    return {
        "id": plan.submission_id,
        "post_title": prepared.post_title,
        "label": prepared.label,
        "source": prepared.source,
        "user_id": prepared.user_id,
        "token_id": prepared.token_id,
        "submitted_via": prepared.via,
        "requested_engine": prepared.engine,
        "items": [],
        "created_at": now,
        "invite_id": prepared.invite_id,
        "guest_session_id": prepared.guest_session_id,
        "trust": prepared.trust,
    }
