"""Schemas of /api/v1/logs (the application log, admins) and /api/v1/queue/{id}/log (a job's own log).

The bounds come from webapp/services/admin/app_logs.py, which checks every value again.
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from webapp.api.common import MAX_PER_PAGE
from webapp.app_log import LEVELS, ROLES
from webapp.services.admin.app_logs import MAX_MODULE, MAX_SEARCH


class LogFilterArgsSchema(Schema):
    """The filters both the list and the download take."""

    level = fields.String(validate=validate.OneOf(LEVELS),
                          metadata={"description": "This level and above (DEBUG, INFO, WARNING, ERROR, CRITICAL)"})
    module = fields.String(validate=validate.Regexp(r"^[A-Za-z0-9_.\-]{1,%d}$" % MAX_MODULE),
                           metadata={"description": "A logger name and its children: `jobs` matches `jobs.runner`"})
    job_id = fields.Integer(validate=validate.Range(min=1, max=2**63 - 1),
                            metadata={"description": "Only the records written while this job ran"})
    q = fields.String(validate=validate.Length(max=MAX_SEARCH),
                      metadata={"description": "Words the message, module or traceback all contain (any case)"})
    process = fields.String(validate=validate.OneOf(ROLES),
                            metadata={"description": "Only one process's file: web, worker, cli or launcher"})


class LogListArgsSchema(LogFilterArgsSchema):
    page = fields.Integer(validate=validate.Range(min=1, max=10**6), metadata={"description": "From 1"})
    per_page = fields.Integer(validate=validate.Range(min=1, max=MAX_PER_PAGE),
                              metadata={"description": f"1–{MAX_PER_PAGE}, default 50"})


class LogDownloadArgsSchema(LogFilterArgsSchema):
    format = fields.String(validate=validate.OneOf(("jsonl", "text")), load_default="jsonl",
                           metadata={"description": "`jsonl` (one JSON record a line, the default) or `text`"})


class LogRecordSchema(Schema):
    time = fields.String(required=True, metadata={"description": "UTC, ISO 8601 with milliseconds"})
    level = fields.String(required=True)
    module = fields.String(required=True, metadata={"description": "The logger's name"})
    message = fields.String(required=True, metadata={"description": "Secrets (tokens, passwords) are redacted"})
    job_id = fields.Integer(allow_none=True)
    user_id = fields.Integer(allow_none=True)
    request_id = fields.String(allow_none=True)
    process = fields.String(required=True, metadata={"description": "web, worker, cli or launcher"})
    pid = fields.Integer()
    traceback = fields.String(metadata={"description": "When the record carries an exception"})


class LogPageSchema(Schema):
    items = fields.List(fields.Nested(LogRecordSchema), required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    has_more = fields.Boolean(required=True, metadata={"description": "Whether an older page follows"})


class LogClearResultSchema(Schema):
    freed_bytes = fields.Integer(required=True)


class JobLogSchema(Schema):
    job_id = fields.Integer(required=True)
    text = fields.String(required=True, metadata={
        "description": "What the job's tools said, attempt by attempt (\"── attempt N ──\" headings), one line "
                       "each: `HH:MM:SS LEVEL source: message`. Empty until a run ends."})
    truncated = fields.Boolean(required=True, metadata={
        "description": "Lines were cut from the middle (a \"… N lines cut …\" line marks where); the cap is 64 KiB"})
    problems = fields.List(fields.String(), required=True, metadata={
        "description": "The tools' last error and warning lines: why a failed job failed, in their words"})
