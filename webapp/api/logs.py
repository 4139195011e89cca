"""The application log: GET /api/v1/logs, GET /api/v1/logs/download, DELETE /api/v1/logs (admins);
and a job's own log: GET /api/v1/queue/{id}/log (its owner and admins).

The rules are in webapp/services/admin/app_logs.py and webapp/services/queue/job_logs.py, shared
with the /logs page and the jobs' details.
"""
from __future__ import annotations

import logging
from urllib.parse import urlencode

from flask import current_app, jsonify, request

from webapp.api import bp
from webapp.api.common import MAX_ID, document_errors, page_from_args
from webapp.api.schemas.logs import (
    JobLogSchema,
    LogClearResultSchema,
    LogDownloadArgsSchema,
    LogListArgsSchema,
    LogPageSchema,
)
from webapp.bearer import current_principal, require
from webapp.errors import NotFound
from webapp.logs.routes import download_response
from webapp.services.admin import app_logs
from webapp.services.queue import job_logs

log = logging.getLogger(__name__)

_SECURITY = [{"bearer": []}]
_ADMIN = "Scope: admin, and an admin (admin scope or HAUL_API_TOKEN); anyone else 403."
_PAGE_HEADERS = {"Link": {"description": "RFC 8288 links to the first, prev and next pages (no last: the log "
                                         "is read only as far as a page needs, and not counted)",
                          "schema": {"type": "string"}}}


def _filters(args: dict) -> app_logs.Filters:
    return app_logs.Filters.parse(args.get("level"), args.get("module"), args.get("job_id"), args.get("q"),
                                  args.get("process"))


def _links(page: int, per_page: int, has_more: bool) -> str:
    wanted = {"first": 1}
    if page > 1:
        wanted["prev"] = page - 1
    if has_more:
        wanted["next"] = page + 1
    args = request.args.to_dict(flat=False)
    args.pop("token", None)  # a token sent in the query string must not be echoed into links

    def url(number: int) -> str:
        args["page"], args["per_page"] = [str(number)], [str(per_page)]
        return f"{request.path}?{urlencode(args, doseq=True)}"

    return ", ".join(f'<{url(number)}>; rel="{rel}"' for rel, number in wanted.items())


@bp.get("/logs")
@require(scope="admin", role="admin")
@bp.arguments(LogListArgsSchema, location="query", as_kwargs=True)
@bp.alt_response(200, schema=LogPageSchema, description="A page of log records, newest first", success=True,
                 headers=_PAGE_HEADERS)
@bp.doc(security=_SECURITY, summary="The application log, newest first",
        description=f"{_ADMIN} Records of every process (web, worker, cli, launcher) merged "
                    "by time. Filter with `level` (and above), `module`, `job_id`, `q` (words), `process`. "
                    "Paginated (`page`, `per_page` ≤ 200) with `has_more` and a `Link` header; no total is "
                    "counted.")
@document_errors(401, 403)
def list_logs(**args):
    page = page_from_args()
    result = app_logs.list_records(current_app.config["HAUL"].data_dir, _filters(args), page.page, page.per_page)
    response = jsonify({"items": result.items, "page": result.page, "per_page": result.per_page,
                        "has_more": result.has_more})
    response.headers["Link"] = _links(result.page, result.per_page, result.has_more)
    return response


@bp.get("/logs/download")
@require(scope="admin", role="admin")
@bp.arguments(LogDownloadArgsSchema, location="query", as_kwargs=True)
@bp.alt_response(200, description="The matching records, oldest first, as a file", success=True, content_type=
                 "application/x-ndjson")
@bp.doc(security=_SECURITY, summary="Download the application log",
        description=f"{_ADMIN} The same filters as GET /api/v1/logs; `format=jsonl` (the default: one JSON record "
                    "a line, `application/x-ndjson`) or `format=text` (`text/plain`, one line a record). "
                    "Streamed, oldest first, as an attachment.")
@document_errors(401, 403)
def download_logs(format: str = "jsonl", **args):  # noqa: A002 (the query parameter's name)
    return download_response(_filters(args), "text" if format == "text" else "jsonl")


@bp.delete("/logs")
@require(scope="admin", role="admin")
@bp.alt_response(200, schema=LogClearResultSchema, description="The log was cleared", success=True)
@bp.doc(security=_SECURITY, summary="Clear the application log",
        description=f"{_ADMIN} Empties every process's log file and removes the rotated ones. The new log's "
                    "first record says who cleared it.")
@document_errors(401, 403)
def clear_logs():
    freed = app_logs.clear(current_app.config["HAUL"].data_dir)
    principal = current_principal()
    who = principal.user.username if principal.user is not None else "the static token"
    log.warning("the application log was cleared by %s (%s bytes)", who, freed)
    return jsonify({"freed_bytes": freed})


@bp.get("/queue/<int:job_id>/log")
@require(scope=("read", "submit"))
@bp.alt_response(200, schema=JobLogSchema, description="The job's own log", success=True)
@bp.doc(security=_SECURITY, summary="A job's own log",
        description="Scope: read (or submit: the jobs this token added). What the job's tools (yt-dlp, "
                    "gallery-dl, the direct downloader) and the runner said, saved when each attempt ends, "
                    "capped at 64 KiB (its first and last lines kept). A user reaches their own jobs, an admin "
                    "everyone's; another's job is 404.")
@document_errors(401, 403, 404)
def job_log(job_id: int):
    if job_id > MAX_ID:
        raise NotFound(f"No job with id {job_id}", error_code="job_not_found")
    view = job_logs.job_log(job_id, current_principal())
    return jsonify({"job_id": view.job_id, "text": view.text, "truncated": view.truncated,
                    "problems": list(view.problems)})
