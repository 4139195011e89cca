"""Schemas of /api/v1/queue: the bodies and query strings it accepts, and the answers it gives."""
from __future__ import annotations

from marshmallow import (
    Schema,
    ValidationError,
    fields,
    pre_load,
    validate,
    validates_schema,
)

from webapp.api.common import MAX_ID, MAX_PER_PAGE
from webapp.api.schemas import ApiErrorSchema, JobSchema
from webapp.core.listings import MAX_LIMIT, ORDERS
from webapp.core.vocabulary import (
    AUTO,
    ENGINES,
    PAUSED,
    QUEUED,
    SOURCES,
    STATUSES,
)
from webapp.services.queue.children import CHILDREN_PER_PAGE, MAX_CHILDREN_PER_PAGE
from webapp.services.queue.job_control import CLEARABLE, MAX_PRIORITY, MIN_PRIORITY
from webapp.services.queue.submissions import MAX_TEXT, MAX_URLS

MAX_ITEM_IDS = 1000  # one bulk request; a bigger batch is several requests
# The usual shape of a link, for the document (so generated clients and the fuzzer send ones
# the server takes). The server checks URLs itself (services/urls.py) and accepts a little more:
# any letter case in the scheme, international host names, IPv6 literals.
# The path excludes what the server refuses: control characters and every kind of space.
URL_PATTERN = (r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,4})?"
               r"([/?#][^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*)?$")
_PRIORITY = validate.Range(min=MIN_PRIORITY, max=MAX_PRIORITY)


def _job_id() -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_ID))


# A collection's options, as the document shows them (the service checks them).
COLLECTION_DOC = {
    "type": "object",
    "additionalProperties": False,
    "description": "When a URL is a playlist, channel, feed or gallery: which entries to queue (one child job "
                   "each) and how to lay them out. Bad values: 422 `invalid_collection`.",
    "properties": {
        "items": {"type": "string", "nullable": True, "pattern": r"^\d{1,5}(-\d{1,5})?(,\d{1,5}(-\d{1,5})?)*$",
                  "description": 'Entries to take by place in the listed order, e.g. "1-5,8" ("8-5" is 5 to 8)'},
        "limit": {"type": "integer", "nullable": True, "minimum": 1, "maximum": MAX_LIMIT,
                  "description": "Keep the first N entries (of those `items` picks, when given)"},
        "order": {"type": "string", "enum": list(ORDERS), "default": ORDERS[0],
                  "description": "newest: the source's order; oldest: reversed (queued and numbered first)"},
        "numbered": {"type": "boolean", "default": False,
                     "description": 'Put the zero-padded position before each file name ("007 - …")'},
        "folder": {"type": "boolean", "default": True,
                   "description": "Keep the collection in a folder of its own: <post_title>/<domain>/<collection-id>/"},
    },
}


# Requests -------------------------------------------------------------------------------------


class QueueListArgsSchema(Schema):
    """GET /api/v1/queue's query string."""

    status = fields.List(
        fields.String(validate=validate.OneOf(STATUSES)),
        metadata={"description": "Statuses to list, repeated (status=a&status=b) or comma-separated; "
                                 "default the active ones (queued, paused, downloading)"})
    domain = fields.String(validate=validate.Length(min=1, max=255),
                           metadata={"description": "Only jobs of this site (e.g. example.com, no www.)"})
    source = fields.String(validate=validate.OneOf(SOURCES),
                           metadata={"description": "Only jobs from this entry point"})
    page = fields.Integer(validate=validate.Range(min=1, max=10**9), metadata={"description": "From 1"})
    per_page = fields.Integer(validate=validate.Range(min=1, max=MAX_PER_PAGE),
                              metadata={"description": f"1–{MAX_PER_PAGE}, default 50"})

    @pre_load
    def split_statuses(self, data, **kwargs):
        """Accept `status=a,b` as well as `status=a&status=b` (webargs hands over each value)."""
        values = {key: data[key] for key in data}
        if "status" in values:
            raw = values["status"] if isinstance(values["status"], list) else [values["status"]]
            values["status"] = [part.strip() for value in raw if isinstance(value, str)
                                for part in value.split(",") if part.strip()] or raw
        return values


class QueueSubmitSchema(Schema):
    """POST /api/v1/queue: one URL (`url`) or several (`urls`), and how to download them."""

    url = fields.String(validate=validate.Length(min=1, max=2000),
                        metadata={"description": "One http(s) URL", "pattern": URL_PATTERN})
    urls = fields.List(fields.String(validate=validate.Length(min=1, max=2000), metadata={"pattern": URL_PATTERN}),
                       validate=validate.Length(min=1, max=MAX_URLS),
                       metadata={"description": f"Up to {MAX_URLS} URLs, queued as one submission"})
    post_title = fields.String(allow_none=True, validate=validate.Length(max=MAX_TEXT),
                               metadata={"description": "The library folder the files go under"})
    label = fields.String(allow_none=True, validate=validate.Length(max=MAX_TEXT))
    engine = fields.String(load_default=AUTO, validate=validate.OneOf((AUTO, *ENGINES)))
    # Presets are rows admins edit: the service checks the name (422 `invalid_preset`).
    preset = fields.String(allow_none=True, validate=validate.Length(max=16), metadata={
        "description": "A preset's name, see /api/v1/presets (422 `invalid_preset` for one that is not there); "
                       "`default` or null: the server's default preset"})
    priority = fields.Integer(strict=True, load_default=0, validate=_PRIORITY,
                              metadata={"description": "Higher starts first (the page's high/normal/low are 10/0/-10); "
                                                       "above 10 only an admin may give (403 `priority_reserved`)"})
    force = fields.Boolean(load_default=False,
                           metadata={"description": "Queue URLs again even when already queued or downloaded"})
    run_now = fields.Boolean(load_default=False, metadata={
        "description": "Start outside the download windows (admins only: 403 `run_now_reserved` for others)"})
    # Checked by the service (webapp.core.listings.Options), which words the 422
    # `invalid_collection`; documented here field by field.
    collection = fields.Raw(allow_none=True, metadata=COLLECTION_DOC)

    @validates_schema
    def one_of_url_or_urls(self, data, **kwargs):
        if ("url" in data) == ("urls" in data):
            raise ValidationError("Send either url (one) or urls (a list), not both or neither", "_schema")


class ChildrenArgsSchema(Schema):
    """GET …/{id}/children: a page of a collection's children, optionally of one status."""

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10**9), metadata={"description": "From 1"})
    per_page = fields.Integer(load_default=CHILDREN_PER_PAGE, validate=validate.Range(min=1, max=MAX_CHILDREN_PER_PAGE),
                              metadata={"description": f"1–{MAX_CHILDREN_PER_PAGE}, default {CHILDREN_PER_PAGE}"})
    status = fields.String(validate=validate.OneOf(STATUSES), metadata={"description": "Only children in this status"})


class JobArgsSchema(Schema):
    """GET …/{id}: which page of a collection's children to include."""

    children_page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10**9))
    children_per_page = fields.Integer(load_default=CHILDREN_PER_PAGE,
                                       validate=validate.Range(min=1, max=MAX_CHILDREN_PER_PAGE))


class QueuePatchSchema(Schema):
    """PATCH /api/v1/queue/{id}: a waiting job's priority, and pausing or resuming it."""

    priority = fields.Integer(strict=True, validate=_PRIORITY, metadata={
        "description": "Only while queued or paused; above 10 only an admin may give (403 `priority_reserved`)"})
    status = fields.String(validate=validate.OneOf((PAUSED, QUEUED)),
                           metadata={"description": "paused: hold a queued job back; queued: resume a paused one"})

    @validates_schema
    def something_to_change(self, data, **kwargs):
        if not data:
            raise ValidationError("Send priority, status or both", "_schema")


class ItemIdsSchema(Schema):
    """POST /api/v1/queue/retry: the jobs to retry; none (or an empty list) means every failed job."""

    item_ids = fields.List(_job_id(), load_default=list, validate=validate.Length(max=MAX_ITEM_IDS),
                           metadata={"description": "Job ids; empty: every failed job on your queue"})


class ReorderSchema(Schema):
    """POST /api/v1/queue/reorder: waiting jobs to move to the front, in this order."""

    item_ids = fields.List(_job_id(), required=True, validate=validate.Length(min=1, max=MAX_ITEM_IDS),
                           metadata={"uniqueItems": True, "description": "Queued or paused jobs, first to start first"})

    @validates_schema
    def each_once(self, data, **kwargs):
        ids = data.get("item_ids") or []
        if len(set(ids)) != len(ids):
            raise ValidationError("Each id may appear once", "item_ids")


class ClearSchema(Schema):
    """POST /api/v1/queue/clear: which finished jobs to take off the queue (history keeps them)."""

    status = fields.List(fields.String(validate=validate.OneOf(CLEARABLE)), required=True,
                         validate=validate.Length(min=1, max=len(CLEARABLE)))


# Answers --------------------------------------------------------------------------------------


def _status_counts(**kwargs) -> fields.Dict:
    return fields.Dict(keys=fields.String(), values=fields.Integer(), **kwargs)


class QueuePageSchema(Schema):
    items = fields.List(fields.Nested(JobSchema), required=True)
    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    pages = fields.Integer(required=True)
    counts = _status_counts(required=True, metadata={
        "description": "Jobs on your queue per status, with the domain and source filters but not the status one"})


class DuplicateSchema(Schema):
    url = fields.String(required=True)
    duplicate_of = fields.Integer(required=True, metadata={"description": "The job that already has this URL"})


class QueueSubmitResultSchema(Schema):
    download_id = fields.String(required=True, metadata={"description": "The submission (GET /downloads/{id})"})
    post_title = fields.String(allow_none=True, required=True)
    label = fields.String(allow_none=True, required=True)
    queued_at = fields.String(required=True)
    jobs = fields.List(fields.Nested(JobSchema), required=True, metadata={"description": "The new jobs"})
    duplicates = fields.List(fields.Nested(DuplicateSchema), required=True,
                             metadata={"description": "URLs not queued again, with the job that has them"})


class DuplicateErrorSchema(ApiErrorSchema):
    """409 `duplicate`: nothing was queued; the existing jobs are named."""

    duplicate_of = fields.Integer(metadata={"description": "The existing job (the first, for many URLs)"})
    duplicates = fields.List(fields.Nested(DuplicateSchema))


class InvalidUrlSchema(Schema):
    url = fields.String(required=True)
    reason = fields.String(required=True)


class SubmitInvalidSchema(ApiErrorSchema):
    """422: a field is not valid, or (`invalid_urls`) some URLs are not; nothing was queued."""

    invalid_urls = fields.List(fields.Nested(InvalidUrlSchema))


class ItemProblemSchema(Schema):
    id = fields.Integer(required=True)
    error_code = fields.String(required=True)
    detail = fields.String(required=True)


class RetryResultSchema(Schema):
    retried = fields.List(fields.Nested(JobSchema), required=True, metadata={"description": "Queued again"})
    errors = fields.List(fields.Nested(ItemProblemSchema), required=True,
                         metadata={"description": "The ids that were not, and why"})


class ReorderResultSchema(Schema):
    items = fields.List(fields.Nested(JobSchema), required=True, metadata={"description": "The moved jobs, in order"})


class ClearResultSchema(Schema):
    cleared = fields.Integer(required=True)


class QueueStateSchema(Schema):
    paused = fields.Boolean(required=True)
    waiting = fields.Integer(required=True, metadata={"description": "Queued jobs ready to start"})


class QueueStatsSchema(Schema):
    paused = fields.Boolean(required=True, metadata={"description": "The whole queue is paused"})
    counts = _status_counts(required=True)
    active = fields.Integer(required=True)
    finished = fields.Integer(required=True)
    speed = fields.Float(required=True, metadata={"description": "Bytes per second of your running downloads"})
    oldest_waiting_at = fields.String(allow_none=True, required=True)
