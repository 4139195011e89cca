"""Schemas of /api/v1/subscriptions and of the seed-shaped /api/v1/scheduler.

The bodies are typed here (a string where a string belongs: 422 `validation_error` with
per-field messages otherwise) and documented with their bounds, but the bounds themselves
are checked by the service (webapp/services/subscriptions/manage.py), one rule for the API
and the pages, each refusal with its own error_code (`invalid_schedule`,
`schedule_too_frequent`, `invalid_filters`, …). Unknown keys reach the service too, which
answers `unknown_field`.
"""
from __future__ import annotations

from marshmallow import INCLUDE, Schema, fields, validate

from webapp.api.common import MAX_PER_PAGE
from webapp.api.schemas import ApiErrorSchema
from webapp.core.vocabulary import AUTO, ENGINES
from webapp.models.subscription import FIRST_RUN_CHOICES, RUN_STATUSES, TRIGGERS
from webapp.services.subscriptions import manage

_SCHEDULE = ("A cron expression (UTC, e.g. `0 */6 * * *` or `@daily`) or `every N minutes/hours/days`; not more "
             "often than the admin's minimum (Settings → Downloads, default 15 minutes): 422 "
             "`schedule_too_frequent`; unreadable: 422 `invalid_schedule`.")


def _int(description: str, low: int, high: int, **kwargs) -> fields.Integer:
    return fields.Integer(strict=True, allow_none=True,
                          metadata={"description": description, "minimum": low, "maximum": high}, **kwargs)


class SubscriptionFieldsSchema(Schema):
    """The fields a subscription is made of (POST: name, url, schedule required; PATCH: any)."""

    class Meta:
        unknown = INCLUDE  # the service names them: 422 `unknown_field`

    name = fields.String(metadata={"description": f"1 to {manage.MAX_NAME} characters (422 `invalid_name`)",
                                   "maxLength": manage.MAX_NAME})
    url = fields.String(metadata={
        "description": "The channel, playlist, profile, gallery or feed (422 `invalid_url`; a private address "
                       "unless you are an admin or the admin allows users: 422 `private_address`)"})
    schedule = fields.String(metadata={"description": _SCHEDULE})
    engine = fields.String(allow_none=True, metadata={
        "description": "422 `invalid_engine` otherwise; null or auto picks per link", "enum": [AUTO, *ENGINES]})
    preset = fields.String(allow_none=True, metadata={
        "description": "A preset's name, see /api/v1/presets (422 `invalid_preset` for one that is not there); "
                       "null: the default preset"})
    post_title = fields.String(allow_none=True, metadata={
        "description": f"The library folder's first level (≤ {manage.MAX_POST_TITLE}); default the name",
        "maxLength": manage.MAX_POST_TITLE})
    max_items = _int("The most new items one run queues (422 `invalid_max_items`); null: no limit", 1, manage.MAX_ITEMS)
    published_after = fields.String(allow_none=True, metadata={
        "description": "Keep items published on or after this day, YYYY-MM-DD (422 `invalid_filters`)",
        "format": "date"})
    within_days = _int("Keep items published in the last N days (422 `invalid_filters`)", 1, 36500)
    title_include = fields.String(allow_none=True, metadata={
        "description": "Keep only titles this pattern is found in (a regular expression or plain words; "
                       "422 `invalid_filters`)", "maxLength": 200})
    title_exclude = fields.String(allow_none=True, metadata={
        "description": "Skip titles this pattern is found in (422 `invalid_filters`)", "maxLength": 200})
    min_duration = _int("Skip items shorter than this, in seconds (422 `invalid_filters`)", 0, manage.MAX_DURATION)
    max_duration = _int("Skip items longer than this, in seconds (422 `invalid_filters`)", 0, manage.MAX_DURATION)
    skip_live = fields.Boolean(metadata={"description": "Skip lives and premieres (default true)"})
    skip_shorts = fields.Boolean(metadata={"description": "Skip shorts (default false)"})
    enabled = fields.Boolean(metadata={"description": "Runs on its schedule (default true)"})
    first_run = fields.String(metadata={
        "description": "What the first run does with what the source already has: only_new (mark it all seen), "
                       "newest (fetch the newest first_run_count, the default), all (422 `invalid_first_run`)",
        "enum": list(FIRST_RUN_CHOICES)})
    first_run_count = _int("newest: how many (default 5; 422 `invalid_first_run_count`)", 1,
                           manage.MAX_FIRST_RUN_COUNT)


class PreviewBodySchema(SubscriptionFieldsSchema):
    """POST /api/v1/subscriptions/preview: `url` and any filter fields."""


class ForgetSchema(Schema):
    item_keys = fields.List(fields.String(validate=validate.Length(min=1, max=300)),
                            validate=validate.Length(min=1, max=1000),
                            metadata={"description": "The archive keys to forget (as the runs' items name them)"})
    all = fields.Boolean(metadata={"description": "true: forget every item seen"})


class SubscriptionListArgsSchema(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10**9))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PER_PAGE))
    user_id = fields.Integer(validate=validate.Range(min=1, max=2**63 - 1),
                             metadata={"description": "Admins: only this user's subscriptions (ignored for others)"})


class RunsArgsSchema(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10**9))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_PER_PAGE))
    status = fields.String(validate=validate.OneOf(RUN_STATUSES))


class DeleteArgsSchema(Schema):
    delete_files = fields.Boolean(load_default=False, metadata={
        "description": "Also delete the jobs its runs made, with their files (default: they stay in history)"})


# Answers --------------------------------------------------------------------------------------


class SubscriptionInvalidSchema(ApiErrorSchema):
    """422: a value was refused; nothing was stored."""

    field = fields.String(metadata={"description": "The field refused, when one is"})
    fields_ = fields.List(fields.String(), data_key="fields",
                          metadata={"description": "unknown_field: the fields not known"})
    private_urls = fields.List(fields.Raw(), metadata={"description": "private_address: the URLs refused"})


class RunSchema(Schema):
    id = fields.Integer(required=True)
    subscription_id = fields.Integer(required=True)
    trigger = fields.String(required=True, metadata={"enum": list(TRIGGERS)})
    status = fields.String(required=True, metadata={"enum": list(RUN_STATUSES)})
    job_id = fields.Integer(allow_none=True, required=True, metadata={"description": "The run's collection job"})
    started_at = fields.String(required=True)
    finished_at = fields.String(allow_none=True, required=True)
    found = fields.Integer(required=True)
    new = fields.Integer(required=True)
    queued = fields.Integer(required=True)
    downloaded = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    error = fields.String(allow_none=True, required=True)


class SubscriptionSchema(Schema):
    class Meta:
        unknown = INCLUDE

    id = fields.Integer(required=True)
    user_id = fields.Integer(allow_none=True, required=True)
    owner = fields.String(allow_none=True, required=True)
    name = fields.String(required=True)
    url = fields.String(required=True)
    domain = fields.String(required=True)
    schedule = fields.String(allow_none=True, required=True)
    schedule_human = fields.String(allow_none=True, required=True)
    enabled = fields.Boolean(required=True)
    next_run = fields.String(allow_none=True, required=True)
    last_run_at = fields.String(allow_none=True, required=True)
    summary = fields.Dict(required=True, metadata={
        "description": "next_run, schedule_human, last_run, recent (the last 20 runs oldest first: status, "
                       "queued), total_runs, success_count, failure_count"})


class SubscriptionPageSchema(Schema):
    items = fields.List(fields.Nested(SubscriptionSchema), required=True)
    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    pages = fields.Integer(required=True)


class RunPageSchema(Schema):
    items = fields.List(fields.Nested(RunSchema), required=True)
    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    pages = fields.Integer(required=True)


class RunAllSchema(Schema):
    started = fields.List(fields.Nested(RunSchema), required=True)
    skipped = fields.List(fields.Nested(RunSchema), required=True)


class PreviewItemSchema(Schema):
    url = fields.String(required=True)
    title = fields.String(allow_none=True, required=True)
    published = fields.String(allow_none=True)
    duration = fields.Float(allow_none=True)
    reason = fields.String()


class PreviewSchema(Schema):
    title = fields.String(allow_none=True, required=True)
    found = fields.Integer(required=True)
    new = fields.Integer(required=True)
    would_fetch = fields.List(fields.Nested(PreviewItemSchema), required=True)
    skipped = fields.List(fields.Nested(PreviewItemSchema), required=True)


class DeletedSchema(Schema):
    id = fields.Integer(required=True)
    deleted = fields.Boolean(required=True)
    delete_files = fields.Boolean(required=True)
    jobs_deleted = fields.Integer(required=True)
    files_removed = fields.Integer(required=True)
    jobs_kept = fields.List(fields.Integer(), required=True, metadata={
        "description": "Jobs still downloading: not deleted (cancel asked)"})


class ForgottenSchema(Schema):
    forgotten = fields.Integer(required=True)


# The seed's scheduler ---------------------------------------------------------------------------


class SeedConfigSchema(Schema):
    class Meta:
        unknown = INCLUDE  # a seed client's other keys (downloader, …) are accepted and ignored

    max_downloads = fields.Integer(strict=True, allow_none=True, metadata={
        "description": "The most new items one run queues (Haul's max_items)", "minimum": 1,
        "maximum": manage.MAX_ITEMS})


class SeedJobBodySchema(Schema):
    class Meta:
        unknown = INCLUDE  # platform, content_type: accepted, not used (Haul follows a URL)

    name = fields.String(metadata={"description": "The job's name"})
    source = fields.String(metadata={"description": "What to follow: a URL (Haul's `url`)"})
    url = fields.String(metadata={"description": "The same as source; either one"})
    schedule = fields.String(metadata={"description": _SCHEDULE})
    enabled = fields.Boolean()
    config = fields.Nested(SeedConfigSchema)


class SeedJobSchema(Schema):
    class Meta:
        unknown = INCLUDE

    id = fields.String(required=True, metadata={"description": "The subscription's id, as a string"})
    name = fields.String(required=True)
    platform = fields.String(required=True, metadata={"description": "The source's site"})
    source = fields.String(required=True, metadata={"description": "The URL followed"})
    content_type = fields.String(required=True)
    schedule = fields.String(allow_none=True, required=True)
    schedule_human = fields.String(allow_none=True, required=True)
    enabled = fields.Boolean(required=True)
    last_run = fields.String(allow_none=True, required=True)
    last_run_status = fields.String(allow_none=True, required=True, metadata={
        "description": "success, failure, skipped or running"})
    last_run_items = fields.Integer(allow_none=True, required=True)
    next_run = fields.String(allow_none=True, required=True)
    total_runs = fields.Integer(required=True)
    success_count = fields.Integer(required=True)
    failure_count = fields.Integer(required=True)
    config = fields.Dict(required=True)


class SeedJobListSchema(Schema):
    jobs = fields.List(fields.Nested(SeedJobSchema), required=True)


class SeedCreatedSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    next_run = fields.String(allow_none=True, required=True)
    enabled = fields.Boolean(required=True)


class SeedPatchedSchema(Schema):
    id = fields.String(required=True)
    schedule = fields.String(allow_none=True, required=True)
    enabled = fields.Boolean(required=True)
    next_run = fields.String(allow_none=True, required=True)


class SeedRunSchema(Schema):
    task_id = fields.String(required=True, metadata={"description": "The run's id, as a string"})
    status = fields.String(required=True, metadata={"enum": ["queued", "skipped"]})
    message = fields.String(required=True)


class SeedHistoryArgsSchema(Schema):
    job_id = fields.String(validate=validate.Length(min=1, max=30))
    status = fields.String(validate=validate.OneOf(("success", "failure", "skipped", "running")))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class SeedHistoryEntrySchema(Schema):
    id = fields.Integer(required=True)
    job_id = fields.String(required=True)
    started_at = fields.String(required=True)
    completed_at = fields.String(allow_none=True, required=True)
    duration_seconds = fields.Integer(allow_none=True, required=True)
    status = fields.String(required=True)
    items_downloaded = fields.Integer(required=True)
    error_message = fields.String(allow_none=True, required=True)


class SeedHistorySchema(Schema):
    history = fields.List(fields.Nested(SeedHistoryEntrySchema), required=True)
