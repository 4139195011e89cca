"""Settings → Backups (admin): the backups (make, download, restore, delete), the daily schedule,
the configuration's export and import (a dry run's report first, then Apply), and the history's
retention with its "Clean up now".

The rules are the services' (webapp/services/admin/backup.py, restore.py, config_transfer.py,
housekeeping_settings.py, webapp/services/library/retention.py), shared with /api/v1/config.
Every form answers the panel again with the outcome as a notice (and a toast for htmx); without
htmx a success redirects back with the notice.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

from flask import abort, current_app, flash, make_response, redirect, request, send_file, url_for
from flask_login import current_user

from webapp.errors import HaulError
from webapp.services.accounts.identity import Principal
from webapp.services.admin import backup as backups
from webapp.services.admin import config_transfer
from webapp.services.admin import housekeeping_settings as housekeeping
from webapp.services.admin import restore as restoring
from webapp.services.library import retention
from webapp.settings import bp
from webapp.settings.routes import admin_required
from webapp.views import is_htmx, render_view, with_toast

PAGE, PANEL = "settings/backups.html", "settings/_backups.html"
MAX_DOCUMENT_BYTES = 900 * 1024  # under the request limit (HAUL's MAX_CONTENT_LENGTH, 1 MiB)


def _settings():
    return current_app.config["HAUL"]


def _context(**extra) -> dict:
    settings = _settings()
    try:
        backups.ensure_sqlite(settings)
        unavailable = None
    except backups.BackupUnavailable as exc:
        unavailable = exc.detail
    try:
        listed = backups.list_backups(settings)
    except HaulError as exc:
        listed, unavailable = [], exc.detail
    return {"backups": listed, "unavailable": unavailable, "housekeeping": housekeeping.current(),
            "folder": str(backups.backup_folder(settings)), "report": None, "document_text": None,
            "cleanup": None, "message": None, "level": "success", **extra}


def _answer(message: str, level: str = "success", **extra):
    """The panel again with the outcome; a plain form's success redirects back with a notice."""
    if not is_htmx() and level == "success" and not extra:
        flash(message, "success")
        return redirect(url_for("settings.backups_page"))
    response = make_response(render_view(PAGE, PANEL, **_context(message=message, level=level, **extra)))
    return with_toast(response, message, level) if is_htmx() else response


@bp.get("/settings/backups")
@admin_required
def backups_page():
    return render_view(PAGE, None, **_context())


@bp.post("/settings/backups/create")
@admin_required
def backups_create():
    try:
        made = backups.create(_settings())
    except HaulError as exc:
        return _answer(exc.detail, "error")
    return _answer(f"Backup {made.name} created.")


@bp.get("/settings/backups/<name>/download")
@admin_required
def backups_download(name: str):
    filename, archive = backups.archive(_settings(), name)
    response = send_file(archive, mimetype="application/x-tar", as_attachment=True, download_name=filename, max_age=0)
    response.cache_control.no_store = True
    return response


@bp.post("/settings/backups/<name>/restore")
@admin_required
def backups_restore(name: str):
    try:
        result = restoring.restore_named(_settings(), name)
    except HaulError as exc:
        return _answer(exc.detail, "error")
    return _answer(result.as_dict()["message"])


@bp.post("/settings/backups/<name>/delete")
@admin_required
def backups_delete(name: str):
    try:
        gone = backups.delete(_settings(), name)
    except HaulError as exc:
        return _answer(exc.detail, "error")
    return _answer(f"Backup {gone.name} deleted.")


def _form_values(section: str) -> dict:
    form = request.form
    if section == "schedule":
        return {housekeeping.BACKUP_ENABLED: form.get("enabled") == "on",
                housekeeping.BACKUP_HOUR: form.get("hour", ""), housekeeping.BACKUP_KEEP: form.get("keep", "")}
    if section == "retention":
        return {housekeeping.RETENTION_DAYS: form.get("days", ""),
                housekeeping.RETENTION_DELETE_FILES: form.get("delete_files") == "on"}
    abort(400, description="Unknown settings section")


@bp.post("/settings/backups/housekeeping")
@admin_required
def backups_housekeeping():
    section = request.form.get("section", "")
    try:
        housekeeping.save(_form_values(section))
    except HaulError as exc:
        return _answer(exc.detail, "error")
    return _answer("Daily backups saved." if section == "schedule" else "History retention saved.")


@bp.post("/settings/backups/cleanup")
@admin_required
def backups_cleanup():
    values = housekeeping.current()
    dry_run = request.form.get("dry_run") == "1"
    report = retention.clean_up(_settings(), retention_days=values[housekeeping.RETENTION_DAYS],
                                delete_files=values[housekeeping.RETENTION_DELETE_FILES], dry_run=dry_run)
    verb = "Would remove" if dry_run else "Removed"
    message = (f"{verb} {report.jobs} history entr{'y' if report.jobs == 1 else 'ies'} and "
               f"{report.partial_files} partial file{'' if report.partial_files == 1 else 's'}.")
    return _answer(message, cleanup=report.as_dict())


@bp.get("/settings/backups/export")
@admin_required
def backups_export():
    with_hashes = request.args.get("include_password_hashes") in ("on", "true", "1")
    document = config_transfer.export(_settings(), include_password_hashes=with_hashes)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    response = make_response(json.dumps(document, indent=2, sort_keys=True))
    response.mimetype = "application/json"
    response.headers["Content-Disposition"] = f'attachment; filename="haul-config-{stamp}.json"'
    response.cache_control.no_store = True
    return response


def _document_from_request():
    """The document from the uploaded file (first step) or the hidden field (Apply); (document, text)."""
    upload = request.files.get("document_file")
    if upload is not None and upload.filename:
        raw = upload.read(MAX_DOCUMENT_BYTES + 1)
    else:
        raw = (request.form.get("document") or "").encode()
    if not raw:
        raise config_transfer.DocumentInvalid("Choose a configuration file (a .json an export made)")
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise config_transfer.DocumentInvalid("The file is too large for a configuration document")
    try:
        text = raw.decode("utf-8")
        return json.loads(text), text
    except (UnicodeDecodeError, ValueError):
        raise config_transfer.DocumentInvalid("The file is not JSON") from None


def _import(dry_run: bool):
    acting = Principal(current_user._get_current_object())
    try:
        document, text = _document_from_request()
        report = config_transfer.import_document(_settings(), document, acting, dry_run=dry_run)
    except HaulError as exc:
        return _answer(exc.detail, "error")
    if not report["valid"]:
        message, level = "Some items are refused: nothing was imported. Fix them and try again.", "error"
    elif report["applied"]:
        message, level = "The configuration was imported.", "success"
    else:
        message, level = "Dry run: nothing changed yet. Check the report, then Apply.", "success"
    return _answer(message, level, report=report, document_text=None if report["applied"] else text)


@bp.post("/settings/backups/import")
@admin_required
def backups_import():
    """The dry run: what the document would change."""
    return _import(dry_run=True)


@bp.post("/settings/backups/import/apply")
@admin_required
def backups_import_apply():
    return _import(dry_run=False)
