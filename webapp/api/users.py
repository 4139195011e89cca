"""Users (admin): GET/POST /api/v1/users, GET/PATCH/DELETE /api/v1/users/<id>.

The rules are the users page's (webapp/services/accounts/user_admin.py and accounts.py): usernames are unique
ignoring case, passwords have at least 8 characters, Haul keeps at least one admin, and nobody
changes their own role or deletes their own account here (another admin can). Password hashes
never leave the server.
"""
from __future__ import annotations

from flask import jsonify
from sqlalchemy.exc import IntegrityError

from webapp.api import bp
from webapp.api.common import MAX_ID, document_errors, page_from_args
from webapp.api.schemas.system import (
    AccountCreateSchema,
    AccountListSchema,
    AccountPatchSchema,
    AccountSchema,
    PageArgsSchema,
)
from webapp.bearer import current_principal, require
from webapp.errors import Conflict, NotFound
from webapp.extensions import db
from webapp.models import User
from webapp.models.base import isoformat
from webapp.services.accounts import identity as accounts
from webapp.services.accounts import user_admin as users

_ACCESS = "Scope: admin (an admin's token)."


def account_json(user: User, token_counts: dict[int, int]) -> dict:
    """A user as the API shows one: never the password hash."""
    return {"id": user.id, "username": user.username, "role": user.role,
            "created_at": isoformat(user.created_at), "active_tokens": token_counts.get(user.id, 0)}


def _user(user_id: int) -> User:
    if user_id > MAX_ID:  # beyond the database's integers: not there
        raise NotFound("No such user", error_code="user_not_found")
    return users.get_user(user_id)


def _acting() -> User | None:
    """The admin making the change (None for the static token, which is nobody's account)."""
    return current_principal().user


@bp.get("/users")
@require(scope="admin", role="admin")
@bp.arguments(PageArgsSchema, location="query", as_kwargs=True)
@bp.alt_response(200, schema=AccountListSchema, description="A page of users", success=True)
@bp.doc(security=[{"bearer": []}], summary="Every user, by name",
        description=f"{_ACCESS} Paginated (`page`, `per_page` ≤ 200); `X-Total-Count` and `Link` headers.")
@document_errors(401, 403)
def list_users(**_args):
    page = page_from_args()
    rows, total = users.page_of_users(page.offset, page.per_page)
    counts = users.active_token_counts()
    response = jsonify(page.body([account_json(row, counts) for row in rows], total))
    response.headers.update(page.headers(total))
    return response


@bp.post("/users")
@require(scope="admin", role="admin")
@bp.arguments(AccountCreateSchema)
@bp.response(201, AccountSchema)
@bp.doc(security=[{"bearer": []}], summary="Create a user",
        description=f"{_ACCESS} `role` is user (the default) or admin. 409 `user_exists` when the name is taken "
                    "(ignoring case).")
@document_errors(401, 403, 409)
def create_user(body):
    try:
        user = accounts.create_user(body["username"], body["password"], role=body["role"])
    except IntegrityError:  # the same name created by another request a moment ago
        db.session.rollback()
        raise Conflict(f"A user named {body['username']!r} already exists", error_code="user_exists") from None
    return account_json(user, {})


@bp.get("/users/<int:user_id>")
@bp.doc(security=[{"bearer": []}], summary="A user", description=_ACCESS)
@bp.alt_response(200, schema=AccountSchema, description="The user", success=True)
@document_errors(401, 403, 404)
@require(scope="admin", role="admin")
def show_user(user_id: int):
    user = _user(user_id)
    return jsonify(account_json(user, users.active_token_counts()))


@bp.patch("/users/<int:user_id>")
@require(scope="admin", role="admin")
@bp.arguments(AccountPatchSchema)
@bp.response(200, AccountSchema)
@bp.doc(security=[{"bearer": []}], summary="Change a user's role or reset their password",
        description=f"{_ACCESS} Send `role`, `password` or both. 409 `last_admin` when this would leave Haul "
                    "without an admin, `own_role` for your own role. Nothing changes when either is refused. "
                    "A new role or password signs the user out everywhere (browser sessions, remember-me "
                    "cookies, access/refresh pairs, open live streams); a new password also revokes their "
                    "personal tokens unless `revoke_tokens` is false.")
@document_errors(401, 403, 404, 409)
def update_user(body, user_id: int):
    user = _user(user_id)
    if "password" in body:
        users.check_password(body["password"])  # before the role, so a refusal changes nothing
    if "role" in body:
        users.set_role(user, body["role"], _acting())
    if "password" in body:
        users.reset_password(user, body["password"], revoke_tokens=body["revoke_tokens"])
    return account_json(user, users.active_token_counts())


@bp.delete("/users/<int:user_id>")
@bp.doc(security=[{"bearer": []}], summary="Delete a user and their tokens (their jobs and files stay)",
        description=f"{_ACCESS} 409 `last_admin` for the only admin, `own_account` for yourself.")
@bp.alt_response(204, description="Deleted", success=True)
@document_errors(401, 403, 404, 409)
@require(scope="admin", role="admin")
def delete_user(user_id: int):
    users.delete_user(_user(user_id), _acting())
    return "", 204
