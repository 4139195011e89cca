"""Schemas of the iOS Shortcuts endpoints: /api/v1/upload/url, …/urls, …/base64 and
/api/v1/supported-platforms (docs/ios-shortcuts.md shows them from a phone)."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from webapp.api.schemas import JobSchema
from webapp.api.schemas.queue import URL_PATTERN
from webapp.api.schemas.system import PLATFORM_TOOLS
from webapp.services.queue.submissions import MAX_TEXT

MAX_SHARED_URLS = 10  # what one share from a phone sends; more is a paste, for POST /api/v1/queue
MAX_FILENAME = 255
# The largest body POST /upload/base64 takes: base64 of a file of about three quarters of it.
MAX_BASE64_BODY_BYTES = 100 * 1024 * 1024
# The usual shape of base64 (with its padding), for the document and the fuzzer; the server takes
# a little more: line breaks (Shortcuts' "Base64 Encode" can add them), missing padding, a data: URL.
BASE64_PATTERN = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)$"


def _post_title() -> fields.String:
    return fields.String(allow_none=True, validate=validate.Length(max=MAX_TEXT),
                         metadata={"description": "The library folder the files go under (none: the site's folder)"})


def _url(**kwargs) -> fields.String:
    return fields.String(validate=validate.Length(min=1, max=2000), metadata={"pattern": URL_PATTERN}, **kwargs)


# Requests ---------------------------------------------------------------------------------------


class ShareUrlSchema(Schema):
    """POST /api/v1/upload/url: one shared link."""

    url = _url(required=True)
    post_title = _post_title()


class ShareUrlsSchema(Schema):
    """POST /api/v1/upload/urls: the links of one share."""

    urls = fields.List(_url(), required=True, validate=validate.Length(min=1, max=MAX_SHARED_URLS),
                       metadata={"description": f"1 to {MAX_SHARED_URLS} links"})
    post_title = _post_title()


class Base64UploadSchema(Schema):
    """POST /api/v1/upload/base64: one file, base64-encoded, in a JSON body."""

    filename = fields.String(required=True, validate=validate.Length(min=1, max=MAX_FILENAME),
                             metadata={"description": "The file's name; folders in it are dropped"})
    data = fields.String(required=True, validate=validate.Length(min=1),
                         metadata={"description": "The file's bytes in base64 (line breaks are fine)",
                                   "pattern": BASE64_PATTERN})
    post_title = _post_title()


class SupportedPlatformsArgsSchema(Schema):
    search = fields.String(validate=validate.Length(max=200),
                           metadata={"description": "Only sites whose name contains this (any case)"})
    tool = fields.String(validate=validate.OneOf(PLATFORM_TOOLS), metadata={"description": "Only this tool's"})


# Answers ----------------------------------------------------------------------------------------


class SharedJobSchema(JobSchema):
    duplicate = fields.Boolean(required=True, metadata={
        "description": "The link was already queued or downloaded: this is that job (only id, url and "
                       "status when someone else's)"})


class ShareResultSchema(Schema):
    download_id = fields.String(required=True, metadata={"description": "The submission (GET /downloads/{id})"})
    post_title = fields.String(allow_none=True, required=True)
    queued = fields.Integer(required=True, metadata={"description": "Links queued now"})
    duplicates = fields.Integer(required=True, metadata={"description": "Links that were already there"})
    message = fields.String(required=True, metadata={"description": "One line for a notification"})
    jobs = fields.List(fields.Nested(SharedJobSchema), required=True,
                       metadata={"description": "One per link, in the order sent"})


class Base64ResultSchema(Schema):
    job_id = fields.Integer(required=True, metadata={"description": "The upload's job (its file is in the library)"})
    filename = fields.String(required=True, metadata={"description": "The name it is stored under"})
    size = fields.Integer(required=True)
    sha256 = fields.String(required=True)
    duplicate = fields.Boolean(required=True, metadata={
        "description": "The same content was in the library already: nothing new was stored, job_id holds it"})
    message = fields.String(required=True, metadata={"description": "One line for a notification"})
    path = fields.String(metadata={"description": "Admins only: where it is, relative to the library"})


class ToolVersionSchema(Schema):
    version = fields.String(allow_none=True, required=True)
    count = fields.Integer(required=True)
    error = fields.String(metadata={"description": "Why the list could not be read, when it could not"})


class SupportedPlatformsSchema(Schema):
    count = fields.Integer(required=True)
    sites = fields.List(fields.String(), required=True,
                        metadata={"description": "Site names, both tools together, sorted, each once"})
    tools = fields.Dict(keys=fields.String(), values=fields.Nested(ToolVersionSchema), required=True)
