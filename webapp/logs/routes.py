"""The admin's /logs page: the application log newest first, filtered (level, module, job, words,
process), a page at a time, followed live (/logs/events), downloaded and cleared; and
/jobs/<id>/log, a job's own log for its details on the queue and history pages.

Everyone but an admin gets the friendly 403 on /logs (as the other admin pages); a job's log
follows the job's visibility: its owner and admins, another's job 404.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone

from flask import Response, current_app, render_template, request, stream_with_context, url_for
from flask_login import current_user, login_required

from webapp import app_log
from webapp.errors import Invalid
from webapp.logs import bp
from webapp.logs.tail import log_tail_stream
from webapp.services.admin import app_logs
from webapp.services.queue import job_logs
from webapp.settings.routes import admin_required
from webapp.views import is_htmx, redirect_with_notice, render_view, session_principal, with_toast

log = logging.getLogger(__name__)

PER_PAGE = 100
MAX_PAGE = 10_000


def _data_dir():
    return current_app.config["HAUL"].data_dir


def _filters_from_request() -> tuple[app_logs.Filters, str | None]:
    """The page's filters; values that make no sense are dropped, with the reason to show."""
    args = request.args
    try:
        return app_logs.Filters.parse(args.get("level"), args.get("module"), args.get("job_id"), args.get("q"),
                                      args.get("process")), None
    except Invalid as exc:
        return app_logs.NO_FILTERS, exc.detail


def _page_number() -> int:
    raw = request.args.get("page", "1")
    return int(raw) if raw.isdigit() and 0 < int(raw) <= MAX_PAGE else 1


def _context(filters: app_logs.Filters, problem: str | None = None) -> dict:
    page = app_logs.list_records(_data_dir(), filters, _page_number(), PER_PAGE)
    return {
        "filters": filters, "problem": problem, "result": page, "records": page.items,
        "levels": ("DEBUG", "INFO", "WARNING", "ERROR"), "roles": app_log.ROLES,
        "modules": app_logs.modules(_data_dir()),
        "live": page.page == 1,
        "size": app_logs.total_bytes(_data_dir()),
    }


@bp.get("/logs")
@admin_required
def index():
    filters, problem = _filters_from_request()
    return render_view("logs/index.html", "logs/_results.html", **_context(filters, problem))


@bp.get("/logs/events")
@admin_required
def events():
    """Server-Sent Events: the records written from now on that match the page's filters, as rows."""
    filters, _ = _filters_from_request()
    return log_tail_stream(current_user._get_current_object(), app_logs.Follower(_data_dir(), filters))


def _download_name(fmt: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"haul-log-{stamp}.{'txt' if fmt == 'text' else 'jsonl'}"


def download_response(filters: app_logs.Filters, fmt: str) -> Response:
    """The matching records, oldest first, streamed as a file (JSON lines or plain text)."""
    mimetype = "text/plain" if fmt == "text" else "application/x-ndjson"
    response = Response(stream_with_context(app_logs.download(_data_dir(), filters, fmt)),
                        mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{_download_name(fmt)}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/logs/download")
@admin_required
def download():
    filters, _ = _filters_from_request()
    fmt = "text" if request.args.get("format") == "text" else "jsonl"
    return download_response(filters, fmt)


@bp.post("/logs/clear")
@admin_required
def clear():
    freed = app_logs.clear(_data_dir())
    # The first line of the new log says who emptied it.
    log.warning("the application log was cleared by %s (%s bytes)", current_user.username, freed)
    message = "The log was cleared."
    if is_htmx():
        response = render_template("logs/_results.html", **_context(app_logs.NO_FILTERS))
        return with_toast(response, message, "success")
    return redirect_with_notice(url_for("logs.index"), message)


@bp.get("/jobs/<int:job_id>/log")
@login_required
def job_log(job_id: int):
    """A job's own log, for the "Log" disclosure of its row (queue) or its details (history)."""
    view = job_logs.job_log(job_id, session_principal())
    return render_template("logs/_job_log.html", view=view)
