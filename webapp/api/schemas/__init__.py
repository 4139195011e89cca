"""Marshmallow schemas of /api/v1: they validate requests and document the API."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from webapp.services.accounts.identity import SCOPES


class ApiErrorSchema(Schema):
    detail = fields.String(required=True)
    error_code = fields.String(required=True)
    request_id = fields.String(required=True)
    errors = fields.Dict(metadata={"description": "Per-field messages (422 only)"})
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


class JobSchema(Schema):
    class Meta:
        unknown = "include"

    id = fields.Integer(required=True)
    url = fields.String(required=True)
    status = fields.String(required=True)
