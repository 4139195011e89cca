"""Login for machine clients: POST /api/v1/auth/login, /refresh, /logout, /password and GET /api/v1/auth/me.

Tokens are opaque and random; only their SHA-256 is stored (login_sessions). An access token
lives an hour, a refresh token 30 days and works once (refreshing revokes the old pair).
"""
from __future__ import annotations

from flask import jsonify

from webapp.api import bp
from webapp.api.common import document_errors
from webapp.api.schemas import LoginSchema, PasswordChangeSchema, RefreshSchema, TokenPairSchema, UserSchema
from webapp.bearer import current_principal, require
from webapp.errors import Forbidden
from webapp.extensions import limiter
from webapp.models.base import utcnow
from webapp.services.accounts import identity as accounts
from webapp.services.accounts import user_admin as users


def user_json(principal) -> dict:
    user = principal.user
    return {"id": user.id, "username": user.username, "role": user.role, "scopes": sorted(principal.scopes)}


def _pair(row, access: str, refresh: str) -> dict:
    now = utcnow()
    return {
        "access_token": access,
        "refresh_token": refresh,
        "token_type": "bearer",
        "expires_in": int((row.access_expires_at - now).total_seconds()),
        "refresh_expires_in": int((row.refresh_expires_at - now).total_seconds()),
        "user": user_json(accounts.Principal(user=row.user, login_session=row)),
    }


@bp.post("/auth/login")
@limiter.limit("5 per minute")
@bp.arguments(LoginSchema)
@bp.response(200, TokenPairSchema)
@bp.doc(summary="Sign in", description="Rate limited to 5 a minute per client.")
@document_errors(401, 429)
def login(body):
    return _pair(*accounts.login(body["username"], body["password"]))


@bp.post("/auth/refresh")
@bp.arguments(RefreshSchema)
@bp.response(200, TokenPairSchema)
@bp.doc(summary="Swap a refresh token for a new pair (the old one is revoked)")
@document_errors(401)
def refresh(body):
    return _pair(*accounts.refresh_login(body["refresh_token"]))


@bp.post("/auth/logout")
@bp.doc(security=[{"bearer": []}], summary="Revoke the presented token (and its refresh token)")
@bp.alt_response(204, description="Revoked", success=True)
@document_errors(401, 403)
@require()
def logout():
    accounts.logout(current_principal())
    return "", 204


@bp.get("/auth/me")
@bp.doc(security=[{"bearer": []}], summary="Who the token belongs to")
@bp.alt_response(200, schema=UserSchema, description="The user", success=True)
@document_errors(401, 403)
@require()
def me():
    principal = current_principal()
    if principal.user is None:
        raise Forbidden("The static API token belongs to no user", error_code="no_user")
    return jsonify(user_json(principal))


@bp.post("/auth/password")
@limiter.limit("5 per minute")
@bp.arguments(PasswordChangeSchema)
@bp.response(200, TokenPairSchema)
@bp.doc(security=[{"bearer": []}], summary="Change your own password",
        description="Needs your current password. Every sign-in made with the old one ends: browser sessions, "
                    "remember-me cookies, access/refresh pairs (the one presented included) and open live "
                    "streams; your personal tokens too unless `revoke_tokens` is false. Answers a fresh "
                    "access/refresh pair so this client stays signed in. Rate limited to 5 a minute per client.")
@document_errors(401, 403, 422, 429)
@require(scope="tokens")
def change_password(body):
    principal = current_principal()
    if principal.user is None:
        raise Forbidden("The static API token belongs to no user", error_code="no_user")
    user = principal.user
    users.change_own_password(user, body["current_password"], body["new_password"],
                              revoke_tokens=body["revoke_tokens"])
    return _pair(*accounts.open_login_session(user))
