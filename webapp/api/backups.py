"""Backups, housekeeping and the configuration document (admin only):

GET/POST /api/v1/config/backups, GET/DELETE /api/v1/config/backups/<name>, POST …/<name>/restore,
GET/PATCH /api/v1/config/housekeeping, GET /api/v1/config/export, POST /api/v1/config/import and
POST /api/v1/history/cleanup.

A backup's name is matched against the backup folder's listing (webapp/services/admin/backup.py):
a name that is not a listed backup is 404, whatever it contains.
"""
from __future__ import annotations

from flask import current_app, request, send_file

from webapp.api import bp
from webapp.api.common import document_errors
from webapp.api.schemas.backups import (
    BackupCreatedSchema,
    BackupListSchema,
    CleanupResultSchema,
    CleanupSchema,
    ConfigDocumentSchema,
    ExportArgsSchema,
    HousekeepingPatchSchema,
    HousekeepingSchema,
    ImportArgsSchema,
    ImportReportSchema,
    MessageSchema,
    RestoreResultSchema,
)
from webapp.bearer import current_principal, require
from webapp.errors import Invalid
from webapp.services.admin import backup as backups
from webapp.services.admin import config_transfer
from webapp.services.admin import housekeeping_settings as housekeeping
from webapp.services.admin import restore as restoring
from webapp.services.library import retention

_ACCESS = "Scope: admin (an admin's token)."
_SECURITY = [{"bearer": []}]
_BINARY = {"type": "string", "format": "binary"}


def _settings():
    return current_app.config["HAUL"]


@bp.get("/config/backups")
@require(scope="admin", role="admin")
@bp.response(200, BackupListSchema)
@bp.doc(security=_SECURITY, summary="The backups",
        description=f"{_ACCESS} Newest first: each backup's name, size, when it was made, whether the secret key "
                    "was copied beside it, and the schema revision inside. `available` is false on PostgreSQL "
                    "(back it up with pg_dump) with `detail` saying so.")
@document_errors(401, 403)
def list_backups():
    settings = _settings()
    try:
        backups.ensure_sqlite(settings)
        detail = None
    except backups.BackupUnavailable as exc:
        detail = exc.detail
    items = [backup.as_dict() for backup in backups.list_backups(settings)]
    return {"items": items, "total": len(items), "available": detail is None, "detail": detail}


@bp.post("/config/backups")
@require(scope="admin", role="admin")
@bp.response(201, BackupCreatedSchema)
@bp.doc(security=_SECURITY, summary="Back up now",
        description=f"{_ACCESS} An online, integrity-checked copy of the database (and the generated secret key) "
                    "into the backup folder; Haul keeps running. 409 `backup_unavailable` on PostgreSQL.")
@document_errors(401, 403, 409)
def create_backup():
    made = backups.create(_settings())
    return {"backup": made.as_dict(), "message": f"Backup {made.name} created"}


@bp.get("/config/backups/<name>")
@require(scope="admin", role="admin")
@bp.doc(security=_SECURITY, summary="Download a backup",
        description=f"{_ACCESS} A .tar holding the database file and, when it was copied, the secret key. "
                    "404 `backup_not_found` for any name that is not a listed backup.")
@bp.alt_response(200, schema=_BINARY, content_type="application/x-tar", description="The backup", success=True)
@document_errors(401, 403, 404)
def download_backup(name: str):
    filename, archive = backups.archive(_settings(), name)
    response = send_file(archive, mimetype="application/x-tar", as_attachment=True, download_name=filename,
                         max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.cache_control.private = True
    response.cache_control.no_store = True
    return response


@bp.delete("/config/backups/<name>")
@require(scope="admin", role="admin")
@bp.response(200, MessageSchema)
@bp.doc(security=_SECURITY, summary="Delete a backup", description=f"{_ACCESS} The database copy and its secret key.")
@document_errors(401, 403, 404)
def delete_backup(name: str):
    gone = backups.delete(_settings(), name)
    return {"message": f"Backup {gone.name} deleted"}


@bp.post("/config/backups/<name>/restore")
@require(scope="admin", role="admin")
@bp.response(200, RestoreResultSchema)
@bp.doc(security=_SECURITY, summary="Restore a backup",
        description=f"{_ACCESS} Checks the backup (integrity, a Haul database, a schema revision this Haul knows), "
                    "migrates a copy of it forward, holds the queue (running downloads are queued again), keeps "
                    "the current database as haul-before-restore-<time>.db, writes the backup into the live "
                    "database and wakes the workers. Haul keeps serving throughout; the secret key stays the "
                    "current one. 422 `invalid_backup` (nothing changed), 409 `restore_running` or "
                    "`backup_unavailable` (PostgreSQL: pg_restore), 503 `restore_failed` (a full disk, a lock "
                    "held too long: nothing changed, stopped downloads queued again).")
@document_errors(401, 403, 404, 409, 422, 503)
def restore_backup(name: str):
    return restoring.restore_named(_settings(), name).as_dict()


@bp.get("/config/housekeeping")
@require(scope="admin", role="admin")
@bp.response(200, HousekeepingSchema)
@bp.doc(security=_SECURITY, summary="Daily backups and history retention settings", description=_ACCESS)
@document_errors(401, 403)
def show_housekeeping():
    return housekeeping.current()


@bp.patch("/config/housekeeping")
@require(scope="admin", role="admin")
@bp.arguments(HousekeepingPatchSchema)
@bp.response(200, HousekeepingSchema)
@bp.doc(security=_SECURITY, summary="Change the daily backups and history retention",
        description=f"{_ACCESS} Only the keys sent change; null goes back to the default. The daily tasks read "
                    "them on their next run.")
@document_errors(401, 403)
def update_housekeeping(body):
    values = {key: value if value is not None else housekeeping.DEFAULTS[key] for key, value in body.items()}
    return housekeeping.save(values)


@bp.get("/config/export")
@require(scope="admin", role="admin")
@bp.arguments(ExportArgsSchema, location="query")
@bp.response(200, ConfigDocumentSchema)
@bp.doc(security=_SECURITY, summary="Export the configuration",
        description=f"{_ACCESS} One JSON document: settings, presets, subscriptions, notification targets "
                    "(with their URLs and secrets), invites (without links) and users (without password hashes "
                    "unless include_password_hashes=true). Never API tokens.")
@document_errors(401, 403)
def export_config(args):
    document = config_transfer.export(_settings(), include_password_hashes=args["include_password_hashes"])
    return document


@bp.post("/config/import")
@require(scope="admin", role="admin")
@bp.arguments(ImportArgsSchema, location="query")
@bp.response(200, ImportReportSchema)
@bp.doc(security=_SECURITY, summary="Import a configuration document",
        description=f"{_ACCESS} The body is a document GET /config/export made. Every item is checked by the "
                    "rules of its normal create/update path and reported as created, updated, unchanged or with "
                    "its error. dry_run=true (the default) changes nothing; dry_run=false applies it in one "
                    "transaction, and only when no item is refused (`applied` says whether it was). Nothing is "
                    "deleted. 422 `invalid_document` when the body is not such a document.",
        requestBody={"required": True, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/ConfigDocument"}}}})
@document_errors(401, 403, 422)
def import_config(args):
    document = request.get_json(silent=True)
    if document is None:
        raise Invalid("Send the configuration document as JSON", error_code="invalid_document")
    return config_transfer.import_document(_settings(), document, current_principal(), dry_run=args["dry_run"])


@bp.post("/history/cleanup")
@require(scope="admin", role="admin")
@bp.arguments(CleanupSchema)
@bp.response(200, CleanupResultSchema)
@bp.doc(security=_SECURITY, summary="Clean up old history and orphaned partial files",
        description=f"{_ACCESS} Removes finished jobs older than `days_old` days (default: the retention_days "
                    "setting) the way the history page deletes them, with their files when `delete_files` "
                    "(default: the retention_delete_files setting), and partial files (.part, .ytdl, .tmp …) "
                    "older than an hour that no running job writes. `dry_run` only reports what would go.")
@document_errors(401, 403)
def history_cleanup(body):
    configured = housekeeping.current()
    days = body.get("days_old")
    delete_files = body.get("delete_files")
    report = retention.clean_up(
        _settings(),
        retention_days=days if days is not None else configured[housekeeping.RETENTION_DAYS],
        delete_files=delete_files if delete_files is not None else configured[housekeeping.RETENTION_DELETE_FILES],
        dry_run=body["dry_run"], partials=body["partial_files"])
    return report.as_dict()
