"""Schemas of /api/v1/notifications: a target as sent and as answered, the events, a test's result.

Types and lengths are checked here (422 `validation_error`); what a target may be (an Apprise
URL the library understands, a webhook's public http(s) URL, who may pick which events) is
checked by webapp/services/notifications/targets.py, the Settings page's rules too.
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from webapp.core.vocabulary import NOTIFY_EVENTS, TARGET_KINDS
from webapp.services.notifications.targets import MAX_NAME, MAX_SECRET, MAX_URL, MIN_SECRET

_URL = ("apprise: any URL the Apprise library understands (ntfy://, gotify://, tgram://, discord://, mailto://, "
        "json:// …); webhook: an http(s) URL that receives a signed JSON POST. A user's target must lead to "
        "public addresses (an admin's may lead anywhere).")
_EVENTS = ("The events it hears of. disk_guard and worker_down are the server's: admins only (and heard by targets "
           "with all_users).")


class TargetFieldsSchema(Schema):
    """PATCH: the fields sent change."""

    name = fields.String(validate=validate.Length(min=1, max=MAX_NAME))
    kind = fields.String(validate=validate.OneOf(TARGET_KINDS), metadata={"enum": list(TARGET_KINDS)})
    url = fields.String(validate=validate.Length(min=1, max=MAX_URL), metadata={"description": _URL})
    secret = fields.String(allow_none=True, validate=validate.Length(min=MIN_SECRET, max=MAX_SECRET), load_only=True,
                           metadata={"description": "webhook: the HMAC key (made for you when left out; answered "
                                                    "once, on creation)"})
    events = fields.List(fields.String(validate=validate.OneOf(NOTIFY_EVENTS)),
                         validate=validate.Length(max=len(NOTIFY_EVENTS)), metadata={"description": _EVENTS})
    all_users = fields.Boolean(metadata={"description": "Admins only: hear of every user's jobs and the server's "
                                                        "events (default false)"})
    enabled = fields.Boolean(metadata={"description": "Default true"})


class TargetCreateSchema(TargetFieldsSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=MAX_NAME))
    kind = fields.String(required=True, validate=validate.OneOf(TARGET_KINDS), metadata={"enum": list(TARGET_KINDS)})
    url = fields.String(required=True, validate=validate.Length(min=1, max=MAX_URL), metadata={"description": _URL})
    events = fields.List(fields.String(validate=validate.OneOf(NOTIFY_EVENTS)), required=True,
                         validate=validate.Length(max=len(NOTIFY_EVENTS)), metadata={"description": _EVENTS})


class TargetSchema(Schema):
    id = fields.Integer(required=True)
    owner_id = fields.Integer(required=True)
    owner = fields.String(metadata={"description": "The owner's name (lists of everyone's targets)"})
    name = fields.String(required=True)
    kind = fields.String(required=True, metadata={"enum": list(TARGET_KINDS)})
    url = fields.String(required=True, metadata={"description": "Credentials masked, except in the answer that "
                                                                "created it"})
    secret = fields.String(metadata={"description": "webhook: the HMAC key, only in the answer that made it"})
    events = fields.List(fields.String(), required=True)
    all_users = fields.Boolean(required=True)
    enabled = fields.Boolean(required=True)
    has_secret = fields.Boolean(required=True)
    last_success_at = fields.String(allow_none=True, required=True)
    last_error = fields.String(allow_none=True, required=True, metadata={
        "description": "Why the last try failed (never the URL or the secret)"})
    last_error_at = fields.String(allow_none=True, required=True)
    consecutive_failures = fields.Integer(required=True)
    created_at = fields.String(required=True)


class TargetListSchema(Schema):
    items = fields.List(fields.Nested(TargetSchema), required=True)
    total = fields.Integer(required=True)


class TargetListArgsSchema(Schema):
    all = fields.Boolean(load_default=False, metadata={"description": "Admins: every user's targets"})


class EventSchema(Schema):
    name = fields.String(required=True, metadata={"enum": list(NOTIFY_EVENTS)})
    label = fields.String(required=True)
    server = fields.Boolean(required=True, metadata={"description": "A server event: admins only"})


class EventListSchema(Schema):
    items = fields.List(fields.Nested(EventSchema), required=True)


class TestResultSchema(Schema):
    ok = fields.Boolean(required=True)
