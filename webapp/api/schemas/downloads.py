"""Schemas of /api/v1/downloads: what is in the library (finished jobs and their files).

The choices come from the vocabulary and the services' own constants (finished statuses,
sources, bulk actions, stats periods), so the document states the rules the history page
applies too.
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from webapp.api.schemas import ChildrenSummarySchema
from webapp.core.vocabulary import FILE_KINDS, FINISHED_STATUSES, SOURCES
from webapp.services.library.downloads import BULK_ACTIONS, MAX_BULK_IDS
from webapp.services.library.stats import GROUPINGS, PERIODS
from webapp.services.queue.children import CHILDREN_PER_PAGE, MAX_CHILDREN_PER_PAGE

MAX_PAGE = 10**9  # webapp/api/common.page_from_args
MAX_PER_PAGE = 200


# Requests ---------------------------------------------------------------------------------------


# Seconds (at most 7 digits), minutes:seconds or hours:minutes:seconds, stated in the document;
# the history's parser (webapp/services/library/history.parse_duration) reads the same.
DURATION_PATTERN = r"^([0-9]{1,7}|[0-9]{1,5}:[0-5]?[0-9]|[0-9]{1,3}:[0-5]?[0-9]:[0-5]?[0-9])$"

class DownloadListQuerySchema(Schema):
    """Filters of GET /api/v1/downloads: the history page's, under the API's names."""

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE),
                          metadata={"description": "Page number, from 1"})
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PER_PAGE),
                              metadata={"description": f"Downloads per page, at most {MAX_PER_PAGE}"})
    search = fields.String(validate=validate.Length(max=500), metadata={
        "description": 'Words (or "quoted phrases") that must each occur in the URL, the title, a '
                       "file's path, or the uploader, tags or description, case-insensitively"})
    q = fields.String(validate=validate.Length(max=500), metadata={
        "description": "The same as `search` (the history page's name for it); giving both with different "
                       "values is refused"})
    status = fields.String(validate=validate.OneOf(FINISHED_STATUSES))
    domain = fields.String(validate=validate.Length(max=255),
                           metadata={"description": "The site, e.g. example.com (a leading www. is ignored)"})
    source = fields.String(validate=validate.OneOf(SOURCES),
                           metadata={"description": "Where the link came from"})
    date_from = fields.Date(metadata={"description": "Submitted on or after this day (YYYY-MM-DD, UTC)"})
    date_to = fields.Date(metadata={
        "description": "Submitted on or before this day (YYYY-MM-DD, UTC); before date_from, nothing matches"})
    uploader = fields.String(validate=validate.Length(max=300), metadata={
        "description": "Only this uploader's downloads (`metadata.uploader`, exactly as the site spells it)"})
    duration_min = fields.String(validate=validate.Regexp(DURATION_PATTERN), metadata={
        "description": "At least this long: seconds (90) or minutes:seconds (1:30, 1:02:05); rounded to the "
                       "second as shown", "example": "1:30"})
    duration_max = fields.String(validate=validate.Regexp(DURATION_PATTERN), metadata={
        "description": "At most this long, as duration_min; not shorter than duration_min", "example": "600"})
    uploaded_after = fields.Date(metadata={
        "description": "Uploaded to the site on or after this day (`metadata.upload_date`, YYYY-MM-DD)"})
    uploaded_before = fields.Date(metadata={
        "description": "Uploaded to the site on or before this day; not before uploaded_after"})


class FileChoiceQuerySchema(Schema):
    """Which of a download's files: by its id, or by its place in the list (default the first)."""

    file_id = fields.Integer(validate=validate.Range(min=1), metadata={
        "description": "The id of one of the download's files (files[].id); it wins over index"})
    index = fields.Integer(validate=validate.Range(min=0),
                           metadata={"description": "The file's place in the download's files, from 0"})


class DownloadShowArgsSchema(Schema):
    """GET /api/v1/downloads/{id}: which page of a collection's children to include."""

    children_page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    children_per_page = fields.Integer(load_default=CHILDREN_PER_PAGE,
                                       validate=validate.Range(min=1, max=MAX_CHILDREN_PER_PAGE))


class DownloadChildrenArgsSchema(Schema):
    """GET /api/v1/downloads/{id}/children."""

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE),
                          metadata={"description": "From 1"})
    per_page = fields.Integer(load_default=CHILDREN_PER_PAGE, validate=validate.Range(min=1, max=MAX_CHILDREN_PER_PAGE),
                              metadata={"description": f"1–{MAX_CHILDREN_PER_PAGE}, default {CHILDREN_PER_PAGE}"})
    status = fields.String(validate=validate.OneOf(FINISHED_STATUSES),
                           metadata={"description": "Only children in this status"})


class DeleteQuerySchema(Schema):
    delete_file = fields.Boolean(load_default=False, metadata={
        "description": "Also remove the download's files from disk (a file another download also lists stays)"})


class StatsQuerySchema(Schema):
    period = fields.String(load_default="all", validate=validate.OneOf(tuple(PERIODS)), metadata={
        "description": "today (since 00:00 UTC), week (the last 7 days), month (30), year (365) or all"})
    group_by = fields.String(load_default="day", validate=validate.OneOf(GROUPINGS), metadata={
        "description": "The timeline's buckets: UTC hour, day, week (from Monday) or month. hour only with "
                       "period today, week or month (else 422 `invalid_group_by`)"})


class BulkSchema(Schema):
    action = fields.String(required=True, validate=validate.OneOf(BULK_ACTIONS))
    ids = fields.List(fields.Integer(strict=True), required=True,
                      validate=validate.Length(min=1, max=MAX_BULK_IDS),
                      metadata={"description": f"Download ids, at most {MAX_BULK_IDS} (a repeated id counts once)"})
    delete_files = fields.Boolean(load_default=False,
                                  metadata={"description": "With delete: also remove the files from disk"})


# Answers ----------------------------------------------------------------------------------------


class SubmitterSchema(Schema):
    user = fields.String(allow_none=True, required=True)
    token = fields.String(allow_none=True, required=True, metadata={"description": "The token's name"})
    via = fields.String(required=True, metadata={"description": "session, token, static-token, cli or invite"})


class DownloadFileSchema(Schema):
    id = fields.Integer(required=True)
    path = fields.String(required=True, metadata={"description": "Relative to the storage root"})
    name = fields.String(required=True)
    size = fields.Integer(required=True)
    sha256 = fields.String(required=True)
    mime = fields.String(required=True)
    url = fields.String(required=True, metadata={"description": "Where to fetch it (with Range)"})
    thumbnail_url = fields.String(required=True)
    has_thumbnail = fields.Boolean(required=True,
                                   metadata={"description": "Whether the worker has made the thumbnail yet"})
    kind = fields.String(required=True, validate=validate.OneOf(FILE_KINDS), metadata={
        "description": "What the file is to its download: media, audio, subtitle, poster, info-json, nfo or other"})
    gone = fields.Boolean(required=True, metadata={
        "description": "A library rescan found it missing from disk (fetching it answers 404 `file_gone`)"})


class DownloadMetadataSchema(Schema):
    """What the site's extractor said of the download (null fields: it did not say)."""

    uploader = fields.String(allow_none=True, required=True)
    channel = fields.String(allow_none=True, required=True)
    upload_date = fields.String(allow_none=True, required=True, metadata={"description": "YYYY-MM-DD"})
    duration = fields.Float(allow_none=True, required=True, metadata={"description": "Seconds"})
    description = fields.String(allow_none=True, required=True, metadata={
        "description": "Plain text as the site gave it: escape it before showing it in a page"})
    tags = fields.List(fields.String(), required=True)
    view_count = fields.Integer(allow_none=True, required=True)
    webpage_url = fields.String(allow_none=True, required=True, metadata={"description": "The item's own page"})
    extractor = fields.String(allow_none=True, required=True)
    width = fields.Integer(allow_none=True, required=True, metadata={"description": "Of what was written"})
    height = fields.Integer(allow_none=True, required=True)
    vcodec = fields.String(allow_none=True, required=True)
    acodec = fields.String(allow_none=True, required=True)
    container = fields.String(allow_none=True, required=True)
    gallery_title = fields.String(allow_none=True, required=True, metadata={"description": "A gallery item's gallery"})
    item_date = fields.String(allow_none=True, required=True, metadata={"description": "A gallery item's own date"})
    extra = fields.Dict(allow_none=True, required=True, metadata={
        "description": "More the tool said (album, artist, track, chapters …), as it said it"})


class DownloadSchema(Schema):
    id = fields.Integer(required=True)
    url = fields.String(required=True)
    domain = fields.String(required=True)
    title = fields.String(allow_none=True, required=True)
    status = fields.String(required=True, validate=validate.OneOf(FINISHED_STATUSES))
    source = fields.String(required=True)
    engine = fields.String(allow_none=True, required=True)
    submitted_by = fields.Nested(SubmitterSchema, required=True)
    error = fields.String(allow_none=True, required=True)
    attempts = fields.Integer(required=True)
    post_title = fields.String(allow_none=True, required=True)
    label = fields.String(allow_none=True, required=True)
    created_at = fields.String(required=True)
    finished_at = fields.String(allow_none=True, required=True)
    files = fields.List(fields.Nested(DownloadFileSchema), required=True, metadata={
        "description": "In a list, the first 12; GET /api/v1/downloads/{id} gives them all (up to 2,000)"})
    file_count = fields.Integer(required=True, metadata={"description": "How many files the download has"})
    total_bytes = fields.Integer(required=True, metadata={"description": "The size of all its files"})
    thumbnail_url = fields.String(allow_none=True, required=True,
                                  metadata={"description": "The download's cover (null without files)"})
    kind = fields.String(required=True, validate=validate.OneOf(("item", "collection")),
                         metadata={"description": "collection: a playlist, channel or feed whose entries are its children"})
    parent_id = fields.Integer(allow_none=True, required=True,
                               metadata={"description": "The collection this download is an entry of"})
    position = fields.Integer(allow_none=True, required=True, metadata={"description": "Its place there, from 1"})
    item_key = fields.String(allow_none=True, required=True, metadata={"description": "<extractor>:<id>"})
    duplicate_of = fields.Integer(allow_none=True, required=True,
                                  metadata={"description": "The download that already had this entry"})
    metadata = fields.Nested(DownloadMetadataSchema, allow_none=True, required=True, metadata={
        "description": "What the site said of it; null when nothing was recorded (a failed job, a plain file)"})


class DownloadChildrenPageSchema(Schema):
    """A page of a collection's children, in its order."""

    items = fields.List(fields.Nested(DownloadSchema), required=True)
    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    pages = fields.Integer(required=True)


class DownloadDetailSchema(DownloadSchema):
    """One download; a collection's with its children's counts and a page of them."""

    children_summary = fields.Nested(ChildrenSummarySchema, metadata={"description": "A collection's only"})
    children = fields.Nested(DownloadChildrenPageSchema, metadata={"description": "A collection's only"})


class DownloadPageSchema(Schema):
    items = fields.List(fields.Nested(DownloadSchema), required=True)
    total = fields.Integer(allow_none=True, required=True, metadata={
        "description": "null when a search's words are so common that counting would read the whole library"})
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    pages = fields.Integer(allow_none=True, required=True)


class TimelineDaySchema(Schema):
    date = fields.String(required=True, metadata={
        "description": "The bucket's start (UTC): YYYY-MM-DD for a day, a week (its Monday) or a month (its 1st); "
                       "YYYY-MM-DDTHH:00:00Z for an hour"})
    count = fields.Integer(required=True)
    completed = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    cancelled = fields.Integer(required=True)


class DownloadStatsSchema(Schema):
    period = fields.String(required=True)
    group_by = fields.String(required=True, metadata={"description": "The timeline's buckets"})
    since = fields.String(allow_none=True, required=True, metadata={"description": "Where the period starts"})
    total_downloads = fields.Integer(required=True)
    completed = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    cancelled = fields.Integer(required=True)
    success_rate = fields.Float(allow_none=True, required=True, metadata={
        "description": "completed / (completed + failed) in percent, one decimal; null when neither"})
    total_size_bytes = fields.Integer(required=True)
    total_files = fields.Integer(required=True)
    by_domain = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True,
                            metadata={"description": "Downloads per site, the 50 busiest, most first"})
    by_source = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    timeline = fields.List(fields.Nested(TimelineDaySchema), required=True,
                           metadata={"description": "Downloads per day, oldest first; days without any left out"})


class BulkErrorSchema(Schema):
    id = fields.Integer(required=True)
    detail = fields.String(required=True)
    error_code = fields.String(required=True)


class BulkResultSchema(Schema):
    success = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    errors = fields.List(fields.Nested(BulkErrorSchema), required=True)
