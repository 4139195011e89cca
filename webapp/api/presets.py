"""Presets: GET/POST /api/v1/presets, GET/PATCH/DELETE /api/v1/presets/<name>, and the dry runs
POST /api/v1/presets/dry-run (fields sent) and GET /api/v1/presets/<name>/dry-run (a stored one).

Who: reading (the list, one preset, a stored preset's dry run) needs a token with `read`, as
anyone who picks a preset needs to see them; creating, changing, deleting and the dry run of
fields sent need an admin's token (scope `admin`). The rules (the fields' checks, names taken,
what a rename carries along, what may not be deleted) are in webapp/services/library/presets.py,
shared with the Settings page.
"""
from __future__ import annotations

from flask import jsonify, url_for

from webapp.api import bp
from webapp.api.common import document_errors
from webapp.api.schemas import ApiErrorSchema
from webapp.api.schemas.presets import (
    DryRunSchema,
    PresetCreateSchema,
    PresetFieldsSchema,
    PresetInUseSchema,
    PresetListSchema,
    PresetSchema,
)
from webapp.bearer import current_principal, require
from webapp.services.library import presets

_SECURITY = [{"bearer": []}]
READ = "Scope: read (any user's token may list the presets: they pick one per job)."
ADMIN = "Scope: admin (an admin's token)."
_REFUSED = ("422 `invalid_preset` with `field` naming the value refused (an unknown codec, a template with a path in "
            "it, an unknown field, …)")


@bp.get("/presets")
@require(scope="read")
@bp.doc(security=_SECURITY, summary="Every preset, in menu order", description=READ)
@bp.alt_response(200, schema=PresetListSchema, description="The presets", success=True)
@document_errors(401, 403)
def list_presets():
    items = [presets.to_dict(row) for row in presets.all_presets()]
    return jsonify({"items": items, "total": len(items)})


@bp.post("/presets")
@require(scope="admin", role="admin")
@bp.arguments(PresetCreateSchema)
@bp.doc(security=_SECURITY, summary="Create a preset",
        description=f"{ADMIN} Fields left out take their defaults. {_REFUSED}; 409 `preset_exists` when the name "
                    "is taken. The new preset is listed last.")
@bp.alt_response(201, schema=PresetSchema, description="Created", success=True,
                 headers={"Location": {"description": "The preset's address", "schema": {"type": "string"}}})
@document_errors(401, 403, 409)
@bp.alt_response(422, schema=ApiErrorSchema, description="A value was refused")
def create_preset(body):
    row = presets.create(body, current_principal())
    return jsonify(presets.to_dict(row)), 201, {"Location": url_for("api.show_preset", name=row.name)}


@bp.post("/presets/dry-run")
@require(scope="admin", role="admin")
@bp.arguments(PresetFieldsSchema)
@bp.doc(security=_SECURITY, summary="The tool options a preset's fields turn into (nothing is stored)",
        description=f"{ADMIN} The body is a preset's fields (`name` optional here). Answers yt-dlp's parameters and "
                    f"postprocessors and gallery-dl's options, as the engines pass them. {_REFUSED}.")
@bp.alt_response(200, schema=DryRunSchema, description="The options", success=True)
@document_errors(401, 403)
@bp.alt_response(422, schema=ApiErrorSchema, description="A value was refused")
def dry_run_fields(body):
    spec = presets.check_spec({"name": "dry-run", **body})
    return jsonify(presets.dry_run(spec))


@bp.get("/presets/<string:name>")
@require(scope="read")
@bp.doc(security=_SECURITY, summary="A preset", description=f"{READ} 404 `preset_not_found`.")
@bp.alt_response(200, schema=PresetSchema, description="The preset", success=True)
@document_errors(401, 403, 404)
def show_preset(name: str):
    return jsonify(presets.to_dict(presets.get_or_404(name)))


@bp.get("/presets/<string:name>/dry-run")
@require(scope="read")
@bp.doc(security=_SECURITY, summary="The tool options a stored preset turns into",
        description=f"{READ} 404 `preset_not_found`; 422 `invalid_preset` for a stored preset that no longer passes "
                    "the checks.")
@bp.alt_response(200, schema=DryRunSchema, description="The options", success=True)
@document_errors(401, 403, 404, 422)
def dry_run_preset(name: str):
    row = presets.get_or_404(name)
    return jsonify(presets.dry_run(presets.check_spec({**(row.options or {}), "name": row.name,
                                                        "label": row.label})))


@bp.patch("/presets/<string:name>")
@require(scope="admin", role="admin")
@bp.arguments(PresetFieldsSchema)
@bp.doc(security=_SECURITY, summary="Change a preset",
        description=f"{ADMIN} Only the fields sent change. A new `name` renames it, and the subscriptions, invites, "
                    "default setting and not yet started jobs that use it follow; a built-in preset keeps its name "
                    f"(409 `preset_built_in`). {_REFUSED}; 409 `preset_exists` when the new name is taken. Jobs not "
                    "started yet download with the preset as it is when they start.")
@bp.alt_response(200, schema=PresetSchema, description="The preset as it is now", success=True)
@document_errors(401, 403, 404, 409)
@bp.alt_response(422, schema=ApiErrorSchema, description="A value was refused")
def update_preset(body, name: str):
    return jsonify(presets.to_dict(presets.update(name, body, current_principal())))


@bp.delete("/presets/<string:name>")
@require(scope="admin", role="admin")
@bp.doc(security=_SECURITY, summary="Delete a preset",
        description=f"{ADMIN} 409 `preset_built_in` for a built-in preset; 409 `preset_in_use` (the message names "
                    "them, `used_by` lists them) while it is the default preset or a subscription or an invite uses "
                    "it. Queued jobs that named it download with the default preset.")
@bp.alt_response(204, description="Deleted", success=True)
@document_errors(401, 403, 404)
@bp.alt_response(409, schema=PresetInUseSchema, description="Built in, or in use")
def delete_preset(name: str):
    presets.delete(name, current_principal())
    return "", 204
