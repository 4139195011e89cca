"""Schemas of /api/v1/invites: the invite object, what creating and changing one accept, the list.

The bounds come from webapp/services/guests/invites.py, so the document states the service's rules;
the service still checks every value (the page and the API share one set of rules). What a
schema cannot say is left to the service and answered 422 with its own error code: an expiry
already past (`expires_in_past`), neither uploads nor links allowed (`nothing_allowed`), a
name of nothing but spaces (`invalid_name`).
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from webapp.api.common import MAX_PER_PAGE
from webapp.models.invite import KINDS
from webapp.services.guests.invites import (
    MAX_NAME,
    MAX_PASSWORD,
    MAX_POST_TITLE,
    MAX_SEARCH,
    MIN_PASSWORD,
    ORDERS,
    SORTS,
)

MAX_USES = 1_000_000
MAX_BYTES = 2**62
STATES = ("active", "disabled", "expired", "used_up")


# Requests -------------------------------------------------------------------------------------


def _bytes_limit(description: str) -> fields.Integer:
    return fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=1, max=MAX_BYTES),
                          metadata={"description": f"{description}; null for no limit"})


class InviteWriteSchema(Schema):
    """The writable fields; PATCH takes any of them, POST needs `name`."""

    name = fields.String(validate=validate.Length(min=1, max=MAX_NAME),
                         metadata={"description": "What the admin calls the link (guests see it too)"})
    post_title = fields.String(allow_none=True, validate=validate.Length(max=MAX_POST_TITLE),
                               metadata={"description": "The library folder guests' files go under; null for none"})
    expires_at = fields.AwareDateTime(
        allow_none=True, default_timezone=None,
        metadata={"description": "When the link stops working (ISO 8601 with an offset); null: never. "
                                 "A time already past is refused (`expires_in_past`) unless it is the current one"})
    max_uses = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=1, max=MAX_USES),
                              metadata={"description": "Guest sessions that may send something: 1 is a one-time "
                                                       "link; null: unlimited"})
    password = fields.String(allow_none=True, load_only=True, validate=validate.Length(min=MIN_PASSWORD, max=MAX_PASSWORD),
                             metadata={"description": "Write-only (stored hashed, never returned; see `has_password`). "
                                                      "null removes it"})
    allow_uploads = fields.Boolean(metadata={"description": "Guests may upload files"})
    allow_urls = fields.Boolean(metadata={"description": "Guests may send links to download (at least one of the two)"})
    allow_private_urls = fields.Boolean(
        metadata={"description": "Guests' links may point at private and local addresses (off by default)"})
    max_file_bytes = _bytes_limit("The largest file a guest may upload, in bytes")
    max_total_bytes = _bytes_limit("The bytes one guest session may upload in all")
    allowed_kinds = fields.List(fields.String(validate=validate.OneOf(KINDS)), validate=validate.Length(min=1, max=len(KINDS)),
                                metadata={"description": "What guests may upload, by MIME type: image, video, audio, "
                                                         "other (default image and video)"})
    preset = fields.String(allow_none=True, validate=validate.Length(max=16), metadata={
        "description": "The preset guests' links download with (they cannot choose one): a preset's name, see "
                       "/api/v1/presets (422 `invalid_preset` for one that is not there); null: the default preset"})
    enabled = fields.Boolean(metadata={"description": "false switches the link off without deleting it"})


class InviteCreateSchema(InviteWriteSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=MAX_NAME),
                         metadata={"description": "What the admin calls the link (guests see it too)"})


class InvitePatchSchema(InviteWriteSchema):
    """Any writable field; one left out stays as it is."""


class InviteListArgsSchema(Schema):
    q = fields.String(validate=validate.Length(max=MAX_SEARCH),
                      metadata={"description": "Part of the name or post title, ignoring case"})
    sort = fields.String(validate=validate.OneOf(tuple(SORTS)),
                         metadata={"description": "name, created (the default), uses, last_used or expires"})
    order = fields.String(validate=validate.OneOf(ORDERS),
                          metadata={"description": "asc or desc; default desc for created, uses and last_used"})
    page = fields.Integer(validate=validate.Range(min=1, max=10**9), metadata={"description": "From 1"})
    per_page = fields.Integer(validate=validate.Range(min=1, max=MAX_PER_PAGE),
                              metadata={"description": f"1–{MAX_PER_PAGE}, default 50"})


# Answers --------------------------------------------------------------------------------------


class InviteSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    post_title = fields.String(required=True, allow_none=True)
    expires_at = fields.String(required=True, allow_none=True, metadata={"description": "ISO 8601 UTC; null: never"})
    max_uses = fields.Integer(required=True, allow_none=True, metadata={"description": "null: unlimited"})
    uses = fields.Integer(required=True, metadata={"description": "Guest sessions that have sent something"})
    has_password = fields.Boolean(required=True, metadata={"description": "Whether guests need a password"})
    allow_uploads = fields.Boolean(required=True)
    allow_urls = fields.Boolean(required=True)
    allow_private_urls = fields.Boolean(required=True)
    max_file_bytes = fields.Integer(required=True, allow_none=True)
    max_total_bytes = fields.Integer(required=True, allow_none=True)
    allowed_kinds = fields.List(fields.String(validate=validate.OneOf(KINDS)), required=True)
    preset = fields.String(required=True, allow_none=True,
                           metadata={"description": "The preset guests' links download with; null: the default"})
    enabled = fields.Boolean(required=True)
    state = fields.String(required=True, validate=validate.OneOf(STATES),
                          metadata={"description": "active, disabled, expired or used_up (every use taken)"})
    token = fields.String(required=True, metadata={"description": "The secret part of the link"})
    url = fields.String(required=True, metadata={"description": "The link to hand out: /i/<token> on this server"})
    created_at = fields.String(required=True)
    last_used_at = fields.String(required=True, allow_none=True)
    items = fields.Integer(required=True, metadata={"description": "Links sent and files uploaded through it"})
    bytes = fields.Integer(required=True, metadata={"description": "Bytes stored from what came through it"})
    sessions = fields.Integer(required=True, metadata={"description": "Guest sessions that sent something"})


class InviteListSchema(Schema):
    items = fields.List(fields.Nested(InviteSchema), required=True)
    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    pages = fields.Integer(required=True)
