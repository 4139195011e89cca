"""Notification targets: GET/POST /api/v1/notifications, GET/PATCH/DELETE /api/v1/notifications/<id>,
POST /api/v1/notifications/<id>/test and GET /api/v1/notifications/events.

Who: any user's token with `read` manages that user's own targets (another's is 404); an
admin's lists everyone's with ?all=1 and reaches each. The rules (what a URL may be, who may
pick all_users or the server's events, private addresses) are in
webapp/services/notifications/targets.py, shared with Settings → Notifications.
"""
from __future__ import annotations

from flask import current_app, jsonify, url_for

from webapp.api import bp
from webapp.api.common import MAX_ID, document_errors
from webapp.api.schemas import ApiErrorSchema
from webapp.api.schemas.notifications import (
    EventListSchema,
    TargetCreateSchema,
    TargetFieldsSchema,
    TargetListArgsSchema,
    TargetListSchema,
    TargetSchema,
    TestResultSchema,
)
from webapp.bearer import current_principal, require
from webapp.errors import HaulError, NotFound
from webapp.extensions import limiter
from webapp.services.notifications import sending, targets

_SECURITY = [{"bearer": []}]
WHO = ("Scope: read. A user reaches their own targets (another's is 404 `target_not_found`), an admin "
       "everyone's.")
_REFUSED = ("422 `invalid_target` / `invalid_url` (the message names the field, never quotes the URL), "
            "`private_address` (a user's target leading to a private address), `unresolvable_host`; 403 "
            "`admin_required` for all_users or a server event from a user")


def _target(target_id: int):
    if target_id > MAX_ID:
        raise NotFound(f"No notification target with id {target_id}", error_code="target_not_found")
    return targets.get_target(target_id, current_principal())


def _shown(target, **extra) -> dict:
    return targets.to_dict(target, **extra)


@bp.get("/notifications")
@require(scope="read")
@bp.arguments(TargetListArgsSchema, location="query")
@bp.doc(security=_SECURITY, summary="Notification targets",
        description=f"{WHO} ?all=1 (admins): every user's, with `owner`. URLs are masked.")
@bp.alt_response(200, schema=TargetListSchema, description="The targets", success=True)
@document_errors(401, 403)
def list_notification_targets(args):
    principal = current_principal()
    everyone = bool(args.get("all")) and principal.is_admin
    rows = targets.list_targets(principal, everyone=everyone)
    names = targets.owner_names(rows) if everyone else {}
    items = [_shown(row, owner_name=names.get(row.owner_id)) if everyone else _shown(row) for row in rows]
    return jsonify({"items": items, "total": len(items)})


@bp.get("/notifications/events")
@require(scope="read")
@bp.doc(security=_SECURITY, summary="The events a target may hear of",
        description="Scope: read. Each event's name and label; `server` events are for admins' targets only.")
@bp.alt_response(200, schema=EventListSchema, description="The events", success=True)
@document_errors(401, 403)
def list_notification_events():
    return jsonify({"items": targets.event_choices(is_admin=True)})


@bp.post("/notifications")
@require(scope="read")
@bp.arguments(TargetCreateSchema)
@bp.doc(security=_SECURITY, summary="Add a notification target",
        description=f"{WHO} The answer shows the URL in full and, for a webhook, its `secret`: the only time "
                    f"they are shown. {_REFUSED}.")
@bp.alt_response(201, schema=TargetSchema, description="Added", success=True,
                 headers={"Location": {"description": "The target's address", "schema": {"type": "string"}}})
@document_errors(401, 403)
@bp.alt_response(422, schema=ApiErrorSchema, description="A value was refused")
def create_notification_target(body):
    target, secret = targets.create_target(current_principal(), body)
    location = url_for("api.show_notification_target", target_id=target.id)
    return jsonify(_shown(target, reveal=True, secret=secret)), 201, {"Location": location}


@bp.get("/notifications/<int:target_id>")
@require(scope="read")
@bp.doc(security=_SECURITY, summary="A notification target", description=f"{WHO} The URL is masked.")
@bp.alt_response(200, schema=TargetSchema, description="The target", success=True)
@document_errors(401, 403, 404)
def show_notification_target(target_id: int):
    return jsonify(_shown(_target(target_id)))


@bp.patch("/notifications/<int:target_id>")
@require(scope="read")
@bp.arguments(TargetFieldsSchema)
@bp.doc(security=_SECURITY, summary="Change a notification target",
        description=f"{WHO} Only the fields sent change; a new `secret` replaces the webhook's key. {_REFUSED}.")
@bp.alt_response(200, schema=TargetSchema, description="The target as it is now", success=True)
@document_errors(401, 403, 404)
@bp.alt_response(422, schema=ApiErrorSchema, description="A value was refused")
def update_notification_target(body, target_id: int):
    _target(target_id)  # 404 before any check of the fields
    target, secret = targets.update_target(target_id, current_principal(), body)
    return jsonify(_shown(target, secret=secret))


@bp.delete("/notifications/<int:target_id>")
@require(scope="read")
@bp.doc(security=_SECURITY, summary="Remove a notification target",
        description=f"{WHO} Its messages not sent yet go with it.")
@bp.alt_response(204, description="Removed", success=True)
@document_errors(401, 403, 404)
def delete_notification_target(target_id: int):
    _target(target_id)
    targets.delete_target(target_id, current_principal())
    return "", 204


@bp.post("/notifications/<int:target_id>/test")
@limiter.limit(sending.TEST_LIMIT)
@require(scope="read")
@bp.doc(security=_SECURITY, summary="Send a test message now",
        description=f"{WHO} Sends now and answers the result (an admin's target from the web at once; a user's "
                    "through the worker, under the network guard, within 20 s); the target's last success or last "
                    "error is updated. 502 `notification_failed` with the reason (never the URL or secret). "
                    f"Rate limited to {sending.TEST_LIMIT} per client.")
@bp.alt_response(200, schema=TestResultSchema, description="Sent", success=True)
@document_errors(401, 403, 404, 429)
@bp.alt_response(502, schema=ApiErrorSchema, description="The target could not be reached")
def test_notification_target(target_id: int):
    target = _target(target_id)
    error = sending.run_test(target, current_app.config["HAUL"].thumbnail_dir)
    if error is not None:
        raise HaulError(f"The test message was not delivered: {error}", error_code="notification_failed",
                        status=502)
    return jsonify({"ok": True})
