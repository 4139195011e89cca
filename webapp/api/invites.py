"""Invite links (admin): GET/POST /api/v1/invites, GET/PATCH/DELETE /api/v1/invites/<id>.

The rules are the invites page's (webapp/services/guests/invites.py): one set of checks for both. The
password is write-only: answers say only `has_password`. The public upload page's own invite
is not listed here and is 404 by id (it belongs to HAUL_PUBLIC_UPLOADS, not to an admin).
"""
from __future__ import annotations

from flask import jsonify, url_for

from webapp.api import bp
from webapp.api.common import MAX_ID, document_errors, page_from_args
from webapp.api.schemas.invites import (
    InviteCreateSchema,
    InviteListArgsSchema,
    InviteListSchema,
    InvitePatchSchema,
    InviteSchema,
)
from webapp.bearer import current_principal, require
from webapp.errors import NotFound
from webapp.models import Invite
from webapp.services.guests import invites

_ACCESS = "Scope: admin (an admin's token)."


def _invite(invite_id: int) -> Invite:
    if invite_id > MAX_ID:  # beyond the database's integers: not there
        raise NotFound(f"No invite {invite_id}", error_code="invite_not_found")
    return invites.get_invite(invite_id)


def invite_json(invite: Invite) -> dict:
    """The invite object with what came through it (one invite: three small queries)."""
    invites.sync_token_hashes([invite])
    return invites.to_dict(invite, invites.totals([invite.id])[invite.id])


@bp.get("/invites")
@require(scope="admin", role="admin")
@bp.arguments(InviteListArgsSchema, location="query", as_kwargs=True)
@bp.alt_response(200, schema=InviteListSchema, description="A page of invite links", success=True)
@bp.doc(security=[{"bearer": []}], summary="Invite links, newest first",
        description=f"{_ACCESS} Search with `q` (name or post title), order with `sort` and `order`. "
                    "Paginated (`page`, `per_page` ≤ 200); `X-Total-Count` and `Link` headers.")
@document_errors(401, 403)
def list_invites(q: str = "", sort: str = "created", order: str | None = None, **_args):
    page = page_from_args()
    rows, total = invites.list_invites(q, sort, order, page.offset, page.per_page)
    invites.sync_token_hashes(rows)
    stats = invites.totals([row.id for row in rows])
    response = jsonify(page.body([invites.to_dict(row, stats[row.id]) for row in rows], total))
    response.headers.update(page.headers(total))
    return response


@bp.post("/invites")
@require(scope="admin", role="admin")
@bp.arguments(InviteCreateSchema)
@bp.response(201, InviteSchema, headers={"Location": {"description": "The new invite's address",
                                                       "schema": {"type": "string"}}})
@bp.doc(security=[{"bearer": []}], summary="Create an invite link",
        description=f"{_ACCESS} Only `name` is needed: by default the link lets guests upload images and videos "
                    "and send links, with no expiry, no password and unlimited uses. 422 `expires_in_past`, "
                    "`nothing_allowed` (neither uploads nor links), `invalid_name` (only spaces), "
                    "`invalid_preset` (no preset of that name).")
@document_errors(401, 403)
def create_invite(body):
    principal = current_principal()
    invite = invites.create_invite(principal.user.id if principal.user else None, body)
    return invite_json(invite), {"Location": url_for("api.show_invite", invite_id=invite.id)}


@bp.get("/invites/<int:invite_id>")
@bp.doc(security=[{"bearer": []}], summary="An invite link", description=_ACCESS)
@bp.alt_response(200, schema=InviteSchema, description="The invite", success=True)
@document_errors(401, 403, 404)
@require(scope="admin", role="admin")
def show_invite(invite_id: int):
    return jsonify(invite_json(_invite(invite_id)))


@bp.patch("/invites/<int:invite_id>")
@require(scope="admin", role="admin")
@bp.arguments(InvitePatchSchema)
@bp.response(200, InviteSchema)
@bp.doc(security=[{"bearer": []}], summary="Change an invite link",
        description=f"{_ACCESS} Send any writable field; null clears `expires_at`, `max_uses`, the byte limits, "
                    "`post_title` and `password`. All or nothing: when one value is refused nothing changes.")
@document_errors(401, 403, 404)
def update_invite(body, invite_id: int):
    invite = _invite(invite_id)
    return invite_json(invites.update_invite(invite, body))


@bp.delete("/invites/<int:invite_id>")
@bp.doc(security=[{"bearer": []}], summary="Delete an invite link (what guests sent stays in the library)",
        description=f"{_ACCESS} The link stops working at once and its guest sessions end.")
@bp.alt_response(204, description="Deleted", success=True)
@document_errors(401, 403, 404)
@require(scope="admin", role="admin")
def delete_invite(invite_id: int):
    invites.delete_invite(_invite(invite_id))
    return "", 204
