"""Managing subscriptions: who sees which, creating and changing them, previews, deleting, summaries.

The rules every entry point shares (the subscriptions pages, /api/v1/subscriptions and the
seed-shaped /api/v1/scheduler): one check of what a person typed, with a specific error_code
per refusal so a client can point at the field; one network policy, the submissions' own (a
subscription's runs are submissions the scheduler makes on the owner's behalf, so a user who
may not send a link to a private address may not follow one either); and one notion of who
sees what (admins everything, users their own, everyone else nothing — an unreachable
subscription is "not found", never "forbidden", so ids do not tell what exists).

Running lives in runs.py (the scheduler's pass, "check now", what a run queues); this module
only calls it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import case, false, func, select, true

from webapp.core import url_policy
from webapp.core.item_filters import FilterProblem
from webapp.core.schedules import Schedule, ScheduleProblem, parse_schedule
from webapp.core.urls import UrlProblem, domain_of, normalise_url
from webapp.core.vocabulary import (
    DOWNLOADING,
    PAUSED,
    QUEUED,
    USER_TRUST,
)
from webapp.errors import Invalid, NotFound
from webapp.extensions import db
from webapp.models import Job, Subscription, SubscriptionRun, User
from webapp.models.base import isoformat, utcnow
from webapp.models.subscription import (
    FIRST_RUN_CHOICES,
    FIRST_RUN_NEWEST,
    RUN_COMPLETED,
    RUN_FAILED,
    RUN_STATUSES,
)
from webapp.services.accounts.identity import Principal
from webapp.services.admin import runtime_settings
from webapp.services.library import history, presets
from webapp.services.queue import collections, dispatch, events, submissions
from webapp.services.subscriptions import runs

MAX_NAME = 200
MAX_POST_TITLE = 300
MAX_ITEMS = 1000
MAX_FIRST_RUN_COUNT = 1000
MAX_DURATION = 100 * 24 * 3600  # seconds: far beyond any video, small enough for any integer column
RECENT_RUNS = 20  # the summary's sparkline
_DAY_RE = re.compile(r"\d{4}-\d{2}-\d{2}")

FILTER_FIELDS = ("published_after", "within_days", "title_include", "title_exclude", "min_duration", "max_duration",
                 "skip_live", "skip_shorts")
FIELDS = ("name", "url", "schedule", "engine", "preset", "post_title", "max_items", *FILTER_FIELDS, "enabled",
          "first_run", "first_run_count")
# What a new subscription has for the fields left out (name, url and schedule are required).
DEFAULTS = {"engine": None, "preset": None, "post_title": None, "max_items": None, "published_after": None,
            "within_days": None, "title_include": None, "title_exclude": None, "min_duration": None,
            "max_duration": None, "skip_live": True, "skip_shorts": False, "enabled": True,
            "first_run": FIRST_RUN_NEWEST, "first_run_count": None}
REQUIRED = ("name", "url", "schedule")


# -- who sees what --------------------------------------------------------------------------------

def visible_to(principal: Principal):
    """A WHERE clause for the subscriptions `principal` may see: an admin all, a user their own.
    (Which token scopes may read or change them is the API's to check.)"""
    if principal.is_admin:
        return true()
    if principal.user_id is None:
        return false()
    return Subscription.user_id == principal.user_id


def list_for(principal: Principal, *, page: int = 1, per_page: int = 50,
             user_id: int | None = None) -> tuple[list[Subscription], int]:
    """A page of the subscriptions `principal` sees, by name; admins may narrow to one user's."""
    conditions = [visible_to(principal)]
    if user_id is not None and principal.is_admin:
        conditions.append(Subscription.user_id == user_id)
    total = db.session.scalar(select(func.count(Subscription.id)).where(*conditions)) or 0
    page, per_page = max(1, page), max(1, per_page)
    rows = db.session.scalars(select(Subscription).where(*conditions)
                              .order_by(func.lower(Subscription.name), Subscription.id)
                              .offset((page - 1) * per_page).limit(per_page))
    return list(rows), total


def get_visible(subscription_id, principal: Principal) -> Subscription:
    """The subscription if `principal` may see it; NotFound alike for another's and for none."""
    subscription = None
    if isinstance(subscription_id, int) and not isinstance(subscription_id, bool) and 0 < subscription_id < 2**63:
        subscription = db.session.scalar(select(Subscription).where(Subscription.id == subscription_id,
                                                                    visible_to(principal)))
    if subscription is None:
        raise NotFound(f"No subscription with id {subscription_id}", error_code="subscription_not_found")
    return subscription


# -- checking what was sent -----------------------------------------------------------------------

def _refuse(message: str, code: str, field_name: str | None = None) -> Invalid:
    return Invalid(message, error_code=code, extra={"field": field_name} if field_name else None)


def _text(data: dict, key: str, limit: int, code: str, *, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise _refuse(f"{key} is required", code, key)
        return None
    if not isinstance(value, str):
        raise _refuse(f"{key} must be a string", code, key)
    value = " ".join(value.split()) if key in ("name", "post_title") else value.strip()
    if len(value) > limit:
        raise _refuse(f"{key} is longer than {limit} characters", code, key)
    if not value and required:
        raise _refuse(f"{key} cannot be empty", code, key)
    return value or None


def _whole(data: dict, key: str, low: int, high: int, code: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _refuse(f"{key} must be a whole number or null", code, key)
    if not low <= value <= high:
        raise _refuse(f"{key} must be between {low} and {high}", code, key)
    return value


def _flag(data: dict, key: str, code: str) -> bool:
    value = data.get(key)
    if not isinstance(value, bool):
        raise _refuse(f"{key} must be true or false", code, key)
    return value


def _day(data: dict, key: str) -> date | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    refused = _refuse(f"{key} must be a date written YYYY-MM-DD, not {str(value)[:40]!r}", "invalid_filters", key)
    if not isinstance(value, str) or not _DAY_RE.fullmatch(value.strip()):
        raise refused
    try:
        return date.fromisoformat(value.strip())
    except ValueError:  # the right shape, no such day (2026-02-30)
        raise refused from None


def _as_field(check, value, name: str):
    """The submissions' own check of a value, its refusal naming the field it came from."""
    try:
        return check(value)
    except Invalid as exc:
        raise _refuse(exc.detail, exc.error_code, name) from None


def private_addresses_allowed(principal: Principal | None) -> bool:
    """May this principal's subscription reach private addresses? The submissions' rule: admins
    (and the command line) always, users when the admin's setting allows."""
    trust = submissions.trust_of(principal)
    return url_policy.private_addresses_allowed(
        trust, invite_allows=False,
        users_allowed=trust == USER_TRUST and runtime_settings.users_may_reach_private_addresses())


def check_url(raw, principal: Principal | None) -> str:
    """The normalised URL, or Invalid (`invalid_url`, `private_address`)."""
    if raw is None or raw == "":
        raise _refuse("url is required", "invalid_url", "url")
    if not isinstance(raw, str):
        raise _refuse("url must be a string", "invalid_url", "url")
    try:
        url = normalise_url(raw)
    except UrlProblem as exc:
        raise _refuse(f"Invalid URL: {exc}", "invalid_url", "url") from None
    if not private_addresses_allowed(principal):
        url_policy.check_known_addresses([url])
    return url


def check_schedule(text) -> Schedule:
    """The schedule, or Invalid: `invalid_schedule` when it cannot be read, `schedule_too_frequent`
    when it runs more often than the admin's minimum (Settings → Downloads)."""
    if not isinstance(text, str):
        raise _refuse("schedule must be a cron expression or 'every N minutes/hours/days'", "invalid_schedule",
                      "schedule")
    try:
        parse_schedule(text, min_interval_seconds=0)
    except ScheduleProblem as exc:
        raise _refuse(f"Invalid schedule: {exc}", "invalid_schedule", "schedule") from None
    except ValueError as exc:  # croniter's own refusals of an odd expression
        raise _refuse(f"Invalid schedule: {exc}", "invalid_schedule", "schedule") from None
    try:
        return parse_schedule(text, min_interval_seconds=runtime_settings.subscription_min_interval_seconds())
    except ScheduleProblem as exc:
        raise _refuse(f"Schedule too frequent: {exc}", "schedule_too_frequent", "schedule") from None


def clean(data, principal: Principal | None, *, partial: bool) -> dict:
    """The checked values of `data` (only the keys it has when `partial`), as column values.

    The schedule comes back as `schedule` (a Schedule); everything else under its column's name.
    """
    if not isinstance(data, dict):
        raise _refuse("The body must be a JSON object", "invalid_body")
    unknown = sorted(str(key) for key in data if key not in FIELDS)
    if unknown:
        raise Invalid(f"Unknown field(s): {', '.join(unknown)[:300]}. Known: {', '.join(FIELDS)}",
                      error_code="unknown_field", extra={"fields": unknown[:50]})
    if not partial:
        data = {**DEFAULTS, **data}
        for key in REQUIRED:
            if data.get(key) in (None, ""):
                code = {"name": "invalid_name", "url": "invalid_url", "schedule": "invalid_schedule"}[key]
                raise _refuse(f"{key} is required", code, key)
    out: dict = {}
    if "name" in data:
        out["name"] = _text(data, "name", MAX_NAME, "invalid_name", required=True)
    if "url" in data:
        out["url"] = check_url(data["url"], principal)
    if "schedule" in data:
        out["schedule"] = check_schedule(data["schedule"])
    if "engine" in data:
        out["engine"] = _as_field(submissions.check_engine, data["engine"], "engine")
    if "preset" in data:
        out["preset"] = _as_field(presets.check_name, data["preset"], "preset")
    if "post_title" in data:
        out["post_title"] = _text(data, "post_title", MAX_POST_TITLE, "invalid_post_title")
    if "max_items" in data:
        out["max_items"] = _whole(data, "max_items", 1, MAX_ITEMS, "invalid_max_items")
    if "published_after" in data:
        out["published_after"] = _day(data, "published_after")
    if "within_days" in data:
        out["within_days"] = _whole(data, "within_days", 1, 36500, "invalid_filters")
    for key in ("title_include", "title_exclude"):
        if key in data:
            out[key] = _text(data, key, 200, "invalid_filters")
    for key in ("min_duration", "max_duration"):
        if key in data:
            out[key] = _whole(data, key, 0, MAX_DURATION, "invalid_filters")
    for key in ("skip_live", "skip_shorts"):
        if key in data:
            out[key] = _flag(data, key, "invalid_filters")
    if "enabled" in data:
        out["enabled"] = _flag(data, "enabled", "invalid_enabled")
    if "first_run" in data:
        if data["first_run"] not in FIRST_RUN_CHOICES:
            raise _refuse(f"first_run must be one of {', '.join(FIRST_RUN_CHOICES)}", "invalid_first_run", "first_run")
        out["first_run"] = data["first_run"]
    if "first_run_count" in data:
        out["first_run_count"] = _whole(data, "first_run_count", 1, MAX_FIRST_RUN_COUNT, "invalid_first_run_count")
    return out


def _check_filters(subscription: Subscription) -> None:
    """The filters as they will be stored, checked together (a minimum above the maximum, a
    title pattern that does not compile)."""
    try:
        runs.filters_of(subscription).validate()
    except FilterProblem as exc:
        raise _refuse(f"Invalid filters: {exc}", "invalid_filters") from None


def _runs_as(subscription: Subscription, principal: Principal) -> Principal | None:
    """Whose network policy a subscription's URL is held to: its owner's, since its runs are
    submitted as the owner's (an admin editing a user's subscription cannot give it a private
    address the user's runs would be refused). None (no owner) runs as an admin."""
    if subscription.user_id is None:
        return None
    if subscription.user_id == principal.user_id:
        return principal
    owner = db.session.get(User, subscription.user_id)
    return Principal(owner) if owner is not None else principal


def _apply(subscription: Subscription, values: dict) -> None:
    for key, value in values.items():
        if key == "schedule":
            subscription.schedule_kind, subscription.cron = value.kind, value.cron
            subscription.interval_seconds = value.interval_seconds
        elif key == "url":
            subscription.url, subscription.domain = value, domain_of(value)[:255]
        else:
            setattr(subscription, key, value)
    if subscription.first_run == FIRST_RUN_NEWEST and subscription.first_run_count is None:
        subscription.first_run_count = runs.DEFAULT_FIRST_RUN_COUNT


# -- changing -------------------------------------------------------------------------------------

def create(data, principal: Principal) -> Subscription:
    """A new subscription owned by the principal's user; its first run starts at once (a
    scheduler pass is asked for), or never while it is disabled. Commits."""
    values = clean(data, principal, partial=False)
    now = utcnow()
    subscription = Subscription(user_id=principal.user_id, created_at=now, updated_at=now)
    _apply(subscription, values)
    _check_filters(subscription)
    subscription.next_run_at = now if subscription.enabled else None
    db.session.add(subscription)
    db.session.commit()
    if subscription.enabled:
        dispatch.check_subscriptions_soon()  # its first run now, not at the scheduler's next minute
    return subscription


def update(subscription: Subscription, data, principal: Principal) -> Subscription:
    """Change the fields `data` names. A new schedule counts the next run from now; enabling
    a subscription that had no next run gives it one by its schedule. Commits."""
    values = clean(data, _runs_as(subscription, principal), partial=True)
    now = utcnow()
    was_enabled = subscription.enabled
    _apply(subscription, values)
    _check_filters(subscription)
    if not subscription.enabled:
        subscription.next_run_at = None
    elif "schedule" in values:
        subscription.next_run_at = values["schedule"].next_after(now)
    elif not was_enabled or subscription.next_run_at is None:
        subscription.next_run_at = runs.schedule_of(subscription).next_after(now)
    subscription.updated_at = now
    db.session.commit()
    return subscription


def set_enabled(subscription: Subscription, enabled: bool) -> Subscription:
    """Pause or resume following; resuming counts the next run from now by the schedule. Commits."""
    if not isinstance(enabled, bool):
        raise _refuse("enabled must be true or false", "invalid_enabled", "enabled")
    if enabled != subscription.enabled or (enabled and subscription.next_run_at is None):
        subscription.enabled = enabled
        subscription.next_run_at = runs.schedule_of(subscription).next_after(utcnow()) if enabled else None
        subscription.updated_at = utcnow()
    db.session.commit()
    return subscription


def delete(subscription: Subscription, *, delete_files: bool) -> dict:
    """Delete the subscription with its runs and its archive.

    Without `delete_files` the jobs its runs made stay (in history, with their files). With it,
    what they still have waiting is cancelled and every finished job is deleted with its files
    by the history's own delete (shared files and the storage root's rules included); a job
    still downloading cannot be deleted yet and is named in `jobs_kept`.
    """
    subscription_id = subscription.id
    parents = [job_id for job_id in db.session.scalars(
        select(SubscriptionRun.job_id).where(SubscriptionRun.subscription_id == subscription_id,
                                             SubscriptionRun.job_id.is_not(None)))]
    db.session.delete(subscription)
    db.session.commit()
    result = {"id": subscription_id, "deleted": True, "delete_files": delete_files, "jobs_deleted": 0,
              "files_removed": 0, "jobs_kept": []}
    if not delete_files:
        return result
    for parent_id in parents:
        parent = db.session.get(Job, parent_id)
        if parent is None:
            continue
        collections.cancel_children(parent)
        if parent.status in (QUEUED, PAUSED):
            parent.cancel()
            events.publish_job(events.CANCELLED, parent)
        elif parent.status == DOWNLOADING:
            parent.request_cancel()
        db.session.commit()
        for job in [*collections.children_of(parent_id), parent]:
            if not job.is_finished:
                result["jobs_kept"].append(job.id)
                continue
            outcome = history.delete_entry(job, with_files=True)
            result["jobs_deleted"] += 1
            result["files_removed"] += outcome.removed
    return result


def forget(subscription: Subscription, *, item_keys=None, everything: bool = False) -> int:
    """Forget seen items so the next run may fetch them again: the named keys, or all."""
    if everything and item_keys:
        raise _refuse('Send either "item_keys" or "all", not both', "invalid_item_keys", "item_keys")
    if everything:
        return runs.forget(subscription, None)
    if (not isinstance(item_keys, list) or not item_keys or len(item_keys) > 1000
            or not all(isinstance(key, str) and 0 < len(key) <= 300 for key in item_keys)):
        raise _refuse('Send {"item_keys": [...]} (1 to 1000 keys) or {"all": true}', "invalid_item_keys",
                      "item_keys")
    return runs.forget(subscription, list(dict.fromkeys(item_keys)))


def run(subscription: Subscription) -> SubscriptionRun:
    """Check now: a run starts at once, or is recorded as skipped while one is going."""
    return runs.run_now(subscription)


def run_all(principal: Principal) -> list[SubscriptionRun]:
    """Check every enabled subscription the principal owns (an admin: their own too, not everyone's)."""
    owner = Subscription.user_id == principal.user_id if principal.user_id is not None else Subscription.user_id.is_(None)
    owned = list(db.session.scalars(select(Subscription.id).where(owner, Subscription.enabled.is_(True))
                                    .order_by(Subscription.id)))
    run_ids = []
    for subscription_id in owned:
        # Rows are read afresh after each run: a run hands the session back (dispatch.top_up),
        # detaching what it had loaded.
        run_ids.append(runs.run_now(db.session.get(Subscription, subscription_id)).id)
    return [db.session.get(SubscriptionRun, run_id) for run_id in run_ids]


# -- preview --------------------------------------------------------------------------------------

@dataclass
class PreviewResult:
    title: str | None
    found: int
    new: int
    would_fetch: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"title": self.title, "found": self.found, "new": self.new, "would_fetch": self.would_fetch,
                "skipped": self.skipped}


def preview(data, principal: Principal, subscription: Subscription | None = None) -> PreviewResult:
    """What a run would fetch now, without downloading or recording anything.

    For a new subscription (`subscription` None) `data` is its fields, the URL required and the
    schedule optional; the run counts as a first run. For an existing one `data` overrides its
    fields and its archive is checked (items it has seen are not new).
    """
    if not isinstance(data, dict):
        raise _refuse("The body must be a JSON object", "invalid_body")
    data = dict(data)
    if subscription is None and data.get("url") in (None, ""):
        raise _refuse("url is required", "invalid_url", "url")
    policy_holder = principal if subscription is None else _runs_as(subscription, principal)
    values = clean(data, policy_holder, partial=True)
    transient = Subscription()
    if subscription is not None:
        for column in Subscription.__table__.columns:
            setattr(transient, column.key, getattr(subscription, column.key))
    else:
        for key, value in DEFAULTS.items():
            setattr(transient, key, value)
    _apply(transient, values)
    _check_filters(transient)
    try:
        listing = dispatch.list_collection(transient.url, transient.engine,
                                           public_only=not private_addresses_allowed(policy_holder))
    except dispatch.ListingFailed as exc:
        raise Invalid(f"The source could not be listed: {exc}", error_code="listing_failed") from None
    plan = runs.plan_items(transient, listing.entries, utcnow(), first=subscription is None)
    would_fetch = [_item_json(item) for item in plan.queue]
    skipped = [{"url": url, "title": _title_of(listing.entries, url), "reason": reason}
               for url, reason in plan.skipped.items()]
    return PreviewResult(listing.title, plan.found, len(plan.new), would_fetch, skipped)


def _item_json(item) -> dict:
    return {"url": item.url, "title": item.title, "published": isoformat(item.published),
            "duration": item.duration}


def _title_of(entries, url: str) -> str | None:
    return next((item.title for item in entries if item.url == url), None)


# -- runs and summaries ---------------------------------------------------------------------------

def runs_of(subscription: Subscription, *, page: int = 1, per_page: int = 20,
            status: str | None = None) -> tuple[list[SubscriptionRun], int]:
    """A page of the subscription's runs, newest first."""
    if status is not None and status not in RUN_STATUSES:
        raise _refuse(f"status must be one of {', '.join(RUN_STATUSES)}", "invalid_status", "status")
    conditions = [SubscriptionRun.subscription_id == subscription.id]
    if status is not None:
        conditions.append(SubscriptionRun.status == status)
    total = db.session.scalar(select(func.count(SubscriptionRun.id)).where(*conditions)) or 0
    page, per_page = max(1, page), max(1, per_page)
    rows = db.session.scalars(select(SubscriptionRun).where(*conditions).order_by(SubscriptionRun.id.desc())
                              .offset((page - 1) * per_page).limit(per_page))
    return list(rows), total


def run_json(run: SubscriptionRun) -> dict:
    return {"id": run.id, "subscription_id": run.subscription_id, "trigger": run.trigger, "status": run.status,
            "job_id": run.job_id, "started_at": isoformat(run.started_at), "finished_at": isoformat(run.finished_at),
            "found": run.found, "new": run.new, "queued": run.queued, "downloaded": run.downloaded,
            "failed": run.failed, "error": run.error}


def schedule_text(subscription: Subscription) -> tuple[str | None, str | None]:
    """The schedule as stored (its canonical text) and in words; (None, None) if it no longer reads."""
    try:
        schedule = runs.schedule_of(subscription)
    except (ScheduleProblem, ValueError):
        return None, None
    return schedule.text, schedule.human


def summary(subscription: Subscription) -> dict:
    """The figures a subscription's row shows: next run, last run, a sparkline of the recent
    runs and the success and failure counts."""
    _text_of, human = schedule_text(subscription)
    recent = list(db.session.scalars(select(SubscriptionRun).where(SubscriptionRun.subscription_id == subscription.id)
                                     .order_by(SubscriptionRun.id.desc()).limit(RECENT_RUNS)))
    total, successes, failures = db.session.execute(
        select(func.count(SubscriptionRun.id),
               func.coalesce(func.sum(case((SubscriptionRun.status == RUN_COMPLETED, 1), else_=0)), 0),
               func.coalesce(func.sum(case((SubscriptionRun.status == RUN_FAILED, 1), else_=0)), 0))
        .where(SubscriptionRun.subscription_id == subscription.id)).one()
    last = recent[0] if recent else None
    return {
        "next_run": isoformat(subscription.next_run_at) if subscription.enabled else None,
        "schedule_human": human,
        "last_run": None if last is None else {
            "id": last.id, "status": last.status, "started_at": isoformat(last.started_at),
            "finished_at": isoformat(last.finished_at), "found": last.found, "new": last.new,
            "queued": last.queued, "downloaded": last.downloaded, "failed": last.failed, "error": last.error},
        "recent": [{"status": run.status, "queued": run.queued} for run in reversed(recent)],
        "total_runs": total,
        "success_count": int(successes),
        "failure_count": int(failures),
    }


def recent_runs(principal: Principal, *, subscription_id: int | None = None, statuses=None,
                limit: int = 100) -> list[SubscriptionRun]:
    """The newest runs of the subscriptions `principal` sees (the seed's scheduler history)."""
    query = select(SubscriptionRun).join(Subscription, Subscription.id == SubscriptionRun.subscription_id).where(
        visible_to(principal))
    if subscription_id is not None:
        query = query.where(SubscriptionRun.subscription_id == subscription_id)
    if statuses:
        query = query.where(SubscriptionRun.status.in_(statuses))
    return list(db.session.scalars(query.order_by(SubscriptionRun.id.desc()).limit(max(1, limit))))
