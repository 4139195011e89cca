"""Personal tokens: GET/POST /api/v1/tokens, DELETE /api/v1/tokens/<id>.

Managing tokens needs the `tokens` (or `admin`) scope: a login's access token and a token made
with every scope have it; a leaked submit-only or read token cannot mint fresh tokens or revoke
its owner's others.
"""
from __future__ import annotations

from flask import jsonify

from webapp.api import bp
from webapp.api.common import MAX_ID, document_errors
from webapp.api.schemas import NewTokenSchema, TokenCreateSchema, TokenSchema
from webapp.bearer import current_principal, require
from webapp.errors import Forbidden, NotFound
from webapp.extensions import db
from webapp.models import ApiToken
from webapp.models.base import isoformat
from webapp.services.accounts import identity as accounts


def _caller_user():
    principal = current_principal()
    if principal.user is None:
        raise Forbidden("The static API token belongs to no user; sign in or use a personal token",
                        error_code="no_user")
    return principal


def token_json(row: ApiToken) -> dict:
    return {
        "id": row.id, "name": row.name, "scopes": (row.scopes or "").split(), "prefix": row.prefix,
        "created_at": isoformat(row.created_at), "last_used_at": isoformat(row.last_used_at),
        "revoked_at": isoformat(row.revoked_at),
    }


_ACCESS = "Scope: tokens or admin (a login's access token, or a token with every scope)."
_MANAGE = ("tokens", "admin")


@bp.get("/tokens")
@bp.doc(security=[{"bearer": []}], summary="The caller's personal tokens (never the secret)", description=_ACCESS)
@bp.alt_response(200, schema=TokenSchema(many=True), description="Tokens", success=True)
@document_errors(401, 403)
@require(scope=_MANAGE)
def list_tokens():
    user = _caller_user().user
    rows = db.session.scalars(db.select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id))
    return jsonify([token_json(row) for row in rows])


@bp.post("/tokens")
@require(scope=_MANAGE)
@bp.arguments(TokenCreateSchema)
@bp.response(201, NewTokenSchema)
@bp.doc(security=[{"bearer": []}], summary="Create a personal token (shown once)",
        description=f"{_ACCESS} The scopes must be ones the caller has.")
@document_errors(401, 403)
def create_token(body):
    principal = _caller_user()
    wanted = sorted(set(body["scopes"]))
    missing = set(wanted) - principal.scopes
    if missing:
        raise Forbidden(f"You cannot grant scopes you do not have: {', '.join(sorted(missing))}",
                        error_code="insufficient_scope")
    row, token = accounts.create_token(principal.user, body["name"], " ".join(wanted))
    return {"id": row.id, "name": row.name, "scopes": wanted, "token": token,
            "created_at": isoformat(row.created_at)}


@bp.delete("/tokens/<int:token_id>")
@bp.doc(security=[{"bearer": []}], summary="Revoke a personal token", description=_ACCESS)
@bp.alt_response(204, description="Revoked", success=True)
@document_errors(401, 403, 404)
@require(scope=_MANAGE)
def delete_token(token_id: int):
    principal = _caller_user()
    row = db.session.get(ApiToken, token_id) if token_id <= MAX_ID else None
    if row is None or row.user_id != principal.user.id:
        raise NotFound("No such token", error_code="token_not_found")
    accounts.revoke_token(token_id)
    return "", 204
