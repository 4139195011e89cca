"""Settings (admin): GET/PATCH /api/v1/settings, POST /api/v1/settings/validate, and the per-site
cookie files: GET/POST /api/v1/settings/cookies, PATCH/DELETE /api/v1/settings/cookies/<site>.

The same settings the GUI's settings page manages, through the same service
(webapp/services/admin/runtime_settings.py): one set of rules, and a change reaches the next job
without a restart. PATCH changes only the keys it names; a key set to null goes back to its
default (the environment's value).
"""
from __future__ import annotations

from flask import current_app, jsonify

from webapp.api import bp, overview
from webapp.api.common import document_errors
from webapp.api.schemas.system import (
    CookieAccessPatchSchema,
    CookieFileSchema,
    CookieUploadSchema,
    SettingsPatchSchema,
    SettingsSchema,
    SettingsValidationSchema,
)
from webapp.bearer import require
from webapp.errors import Invalid, NotFound
from webapp.models.base import isoformat
from webapp.services.admin import cookie_access, cookies, runtime_settings
from webapp.services.queue import disk_guard

_ACCESS = "Scope: admin (an admin's token)."


def _storage(settings) -> dict:
    """Where the library is and how full its disk is (read-only)."""
    library = overview.library_totals()
    return {"root": str(settings.storage_root), "files": library["files"], "library_bytes": library["bytes"],
            **overview.disk_usage(settings.storage_root)}


def settings_json(changed: list[str] | None = None) -> dict:
    """Every setting with its default and whether it is stored, their limits and the storage."""
    settings = current_app.config["HAUL"]
    body = {
        "settings": runtime_settings.describe(settings),
        "limits": runtime_settings.limits(settings),
        "worker_type": settings.worker_type,
        "storage": _storage(settings),
        "disk_guard": disk_guard.state(),
    }
    if changed is not None:
        body["changed"] = changed
    return body


def _refused(errors: dict[str, str]) -> Invalid:
    """A 422 in the shape schema refusals have: per-field messages under their location."""
    detail = "The settings were not saved: " + "; ".join(f"{key}: {message}" for key, message in errors.items())
    return Invalid(detail, error_code="invalid_settings",
                   extra={"errors": {"json": {key: [message] for key, message in errors.items()}}})


def _split(body: dict) -> tuple[dict, list[str]]:
    """The values to store and the keys (sent as null) to restore to their defaults."""
    values = {key: value for key, value in body.items() if value is not None}
    return values, [key for key, value in body.items() if value is None]


@bp.get("/settings")
@bp.doc(security=[{"bearer": []}], summary="The download settings",
        description=f"{_ACCESS} Each setting's value in force, its default (from the environment) and "
                    "whether an admin's value is stored; their limits; where the library is and how full its disk is.")
@bp.alt_response(200, schema=SettingsSchema, description="The settings", success=True)
@document_errors(401, 403)
@require(scope="admin", role="admin")
def show_settings():
    return jsonify(settings_json())


@bp.patch("/settings")
@require(scope="admin", role="admin")
@bp.arguments(SettingsPatchSchema)
@bp.response(200, SettingsSchema)
@bp.doc(security=[{"bearer": []}], summary="Change settings (the next job uses them)",
        description=f"{_ACCESS} Only the keys sent change; a key sent as null goes back to its default. "
                    "All or nothing: when a value is refused nothing is saved (422 `invalid_settings` with a message "
                    "per key; extra switches must be on Haul's allowlist, and the tool's own parser checks "
                    "their values). "
                    "Answers the settings as they are now, with `changed`: the keys whose value changed.")
@document_errors(401, 403)
def update_settings(body):
    values, restore = _split(body)
    try:
        changed = runtime_settings.save(values, reset_keys=restore)
    except runtime_settings.SettingsInvalid as exc:
        raise _refused(exc.errors) from None
    return settings_json(changed)


@bp.post("/settings/validate")
@require(scope="admin", role="admin")
@bp.arguments(SettingsPatchSchema)
@bp.response(200, SettingsValidationSchema)
@bp.doc(security=[{"bearer": []}], summary="Check settings without saving them",
        description=f"{_ACCESS} The body is a PATCH body. `valid` says whether PATCH would accept it; "
                    "`errors` has the messages per key. A body that is not a settings object at all "
                    "(an unknown key, a string for a number) is a 422 as for PATCH.")
@document_errors(401, 403)
def validate_settings(body):
    values, _restore = _split(body)  # a default is always acceptable
    errors = runtime_settings.check(values)
    return {"valid": not errors, "errors": {key: [message] for key, message in errors.items()}}


# Cookie files ----------------------------------------------------------------------------------


def cookie_file_json(stored: cookies.CookieFile, access: cookie_access.Access | None = None) -> dict:
    access = access if access is not None else cookie_access.access_of(stored.site)
    return {"site": stored.site, "size": stored.size, "modified": isoformat(stored.modified),
            "cookies": stored.cookies, "expired": stored.expired,
            "access": {"who": access.who, "users": [{"id": i, "username": name} for i, name in access.users]}}


@bp.get("/settings/cookies")
@bp.doc(security=[{"bearer": []}], summary="The per-site cookie files",
        description=f"{_ACCESS} A job for a site (or a subdomain of it) uses its cookie file when its submitter "
                    "may: an admin always, a user when `access` says so, a guest never. The cookies themselves "
                    "are never shown.")
@bp.alt_response(200, schema=CookieFileSchema(many=True), description="Cookie files", success=True)
@document_errors(401, 403)
@require(scope="admin", role="admin")
def list_cookie_files():
    files = cookies.list_files(current_app.config["HAUL"].data_dir)
    chosen = cookie_access.all_access()
    return jsonify([cookie_file_json(stored, chosen.get(stored.site, cookie_access.Access())) for stored in files])


@bp.post("/settings/cookies")
@require(scope="admin", role="admin")
@bp.arguments(CookieUploadSchema)
@bp.response(201, CookieFileSchema)
@bp.doc(security=[{"bearer": []}], summary="Store a site's cookies.txt (replaces its earlier one)",
        description=f"{_ACCESS} `cookies` is the text of a Netscape cookies.txt, checked line by line "
                    "(422 naming the first bad line). `site` is guessed from the cookies when left out. "
                    "A new site's file is for admins' jobs only; a replaced file keeps who may use it.")
@document_errors(401, 403)
def upload_cookie_file(body):
    data = body["cookies"].encode("utf-8")
    return cookie_file_json(cookie_access.store(current_app.config["HAUL"].data_dir, data, body.get("site")))


@bp.patch("/settings/cookies/<site>")
@require(scope="admin", role="admin")
@bp.arguments(CookieAccessPatchSchema)
@bp.response(200, CookieFileSchema)
@bp.doc(security=[{"bearer": []}], summary="Choose whose jobs may use a site's cookie file",
        description=f"{_ACCESS} `admins` (the default), `users` (every user, also those added later) or "
                    "`chosen` with `users`: the ids of the users whose jobs may use it (422 `invalid_access` "
                    "for none, an unknown id or an admin). Guests' jobs never use cookies. Applies to jobs "
                    "that start from now on.")
@document_errors(401, 403, 404)
def update_cookie_access(body, site: str):
    data_dir = current_app.config["HAUL"].data_dir
    try:
        access = cookie_access.set_access(data_dir, site, body["who"], body.get("users") or ())
    except Invalid as exc:
        if exc.error_code == "invalid_site":  # not even a site name: nothing by that name to change
            raise NotFound(f"There is no cookie file for {site}", error_code="cookies_not_found") from None
        raise
    stored = cookies.describe(cookies.cookies_dir(data_dir) / f"{cookies.normalise_site(site)}.txt")
    return cookie_file_json(stored, access)


@bp.delete("/settings/cookies/<site>")
@bp.doc(security=[{"bearer": []}], summary="Delete a site's cookie file", description=_ACCESS)
@bp.alt_response(204, description="Deleted", success=True)
@document_errors(401, 403, 404)
@require(scope="admin", role="admin")
def delete_cookie_file(site: str):
    try:
        cookie_access.remove(current_app.config["HAUL"].data_dir, site)
    except Invalid:  # not even a site name: nothing by that name to delete
        raise NotFound(f"There is no cookie file for {site}", error_code="cookies_not_found") from None
    return "", 204
