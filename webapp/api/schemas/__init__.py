"""Marshmallow schemas of /api/v1: they validate requests and document the API."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from webapp.services.accounts.identity import SCOPES


class ApiErrorSchema(Schema):
    detail = fields.String(required=True)
    error_code = fields.String(required=True)
    request_id = fields.String(required=True)
    errors = fields.Dict(metadata={"description": "Per-field messages (422 only)"})
    field = fields.String(metadata={"description": "422: the field refused, when the refusal names one"})
    retry_after = fields.Integer(metadata={"description": "429 only: seconds until a try counts again (also the "
                                                          "Retry-After header)"})


class UserSchema(Schema):
    id = fields.Integer(required=True)
    username = fields.String(required=True)
    role = fields.String(required=True, validate=validate.OneOf(("admin", "user")))
    scopes = fields.List(fields.String(), required=True)


class LoginSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024), load_only=True)


class RefreshSchema(Schema):
    refresh_token = fields.String(required=True, validate=validate.Length(min=1, max=200))


class PasswordChangeSchema(Schema):
    current_password = fields.String(required=True, validate=validate.Length(min=1, max=1024), load_only=True)
    new_password = fields.String(required=True, validate=validate.Length(min=1, max=1024), load_only=True)
    revoke_tokens = fields.Boolean(load_default=True, metadata={
        "description": "Also revoke your personal API tokens (the default): whoever knew the old password may "
                       "have made one. false keeps them working."})


class TokenPairSchema(Schema):
    access_token = fields.String(required=True)
    refresh_token = fields.String(required=True)
    token_type = fields.String(required=True)
    expires_in = fields.Integer(required=True, metadata={"description": "Seconds the access token lives"})
    refresh_expires_in = fields.Integer(required=True)
    user = fields.Nested(UserSchema, required=True)


class TokenCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    scopes = fields.List(fields.String(validate=validate.OneOf(SCOPES)), required=True,
                         validate=validate.Length(min=1, max=len(SCOPES)))


class TokenSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    scopes = fields.List(fields.String(), required=True)
    prefix = fields.String(required=True, metadata={"description": "The token's first characters"})
    created_at = fields.String(required=True)
    last_used_at = fields.String(allow_none=True)
    revoked_at = fields.String(allow_none=True)


class NewTokenSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    scopes = fields.List(fields.String(), required=True)
    token = fields.String(required=True, metadata={"description": "Shown once; only its hash is stored"})
    created_at = fields.String(required=True)


class ChildrenSummarySchema(Schema):
    """A collection's children counted by how they stand."""

    total = fields.Integer(required=True)
    completed = fields.Integer(required=True, metadata={"description": "Duplicates included"})
    failed = fields.Integer(required=True)
    cancelled = fields.Integer(required=True)
    active = fields.Integer(required=True, metadata={"description": "Queued, paused or downloading"})
    duplicates = fields.Integer(required=True, metadata={
        "description": "Entries another job already had (completed children pointing at it: duplicate_of)"})


class JobSchema(Schema):
    class Meta:
        unknown = "include"

    id = fields.Integer(required=True)
    url = fields.String(required=True)
    status = fields.String(required=True)
    preset = fields.String(allow_none=True, metadata={
        "description": "The preset it downloads with (see /api/v1/presets); null: the default preset in force when it "
                      "starts"})
    kind = fields.String(validate=validate.OneOf(("item", "collection")), metadata={
        "description": "collection: a playlist, channel or feed whose entries are its children; item: one URL"})
    parent_id = fields.Integer(allow_none=True, metadata={"description": "The collection this job is an entry of"})
    position = fields.Integer(allow_none=True, metadata={"description": "Its place in the collection, from 1"})
    item_key = fields.String(allow_none=True, metadata={"description": "The item's identity, <extractor>:<id>"})
    duplicate_of = fields.Integer(allow_none=True, metadata={
        "description": "The job that already had this entry (nothing was downloaded again)"})
    run_now = fields.Boolean(metadata={"description": "May start outside the download windows"})
    scheduled_for = fields.String(allow_none=True, metadata={
        "description": "While the download windows are closed, a queued job (not run_now) waits for the next "
                       "opening: this time (ISO 8601, UTC); the page shows it as scheduled. Its status stays "
                       "queued. null otherwise"})


class ChildrenPageSchema(Schema):
    """A page of a collection's children, in the collection's order."""

    items = fields.List(fields.Nested(JobSchema), required=True)
    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    pages = fields.Integer(required=True)


class CollectionJobSchema(JobSchema):
    """One job as GET /api/v1/queue/{id} answers it: a collection with its children's counts and first page."""

    children_summary = fields.Nested(ChildrenSummarySchema, metadata={"description": "A collection's only"})
    children = fields.Nested(ChildrenPageSchema, metadata={
        "description": "A collection's only: a page of its children (?children_page=, ?children_per_page=)"})
