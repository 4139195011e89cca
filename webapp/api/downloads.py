"""The library: GET /api/v1/downloads (finished jobs and their files), one download, its files and
thumbnail, DELETE, stats and bulk actions. Rules live in webapp/services/library/downloads.py (and the
history's); the views parse, call, serialise."""
from __future__ import annotations

from datetime import date

from flask import jsonify, make_response, send_file, url_for
from werkzeug.exceptions import RequestedRangeNotSatisfiable

from webapp.api import bp
from webapp.api.common import MAX_ID, Page, document_errors, page_from_args
from webapp.api.schemas.downloads import (
    BulkResultSchema,
    BulkSchema,
    DeleteQuerySchema,
    DownloadChildrenArgsSchema,
    DownloadChildrenPageSchema,
    DownloadDetailSchema,
    DownloadListQuerySchema,
    DownloadPageSchema,
    DownloadShowArgsSchema,
    DownloadStatsSchema,
    FileChoiceQuerySchema,
    StatsQuerySchema,
)
from webapp.bearer import current_principal, require
from webapp.error_pages import error_response
from webapp.errors import Invalid, NotFound
from webapp.models.base import isoformat
from webapp.services.library import downloads as library
from webapp.services.library import files as file_service
from webapp.services.library import history
from webapp.services.library import stats as download_stats
from webapp.services.queue import children as collection_children

_ERRORS = (401, 403, 404, 422)
_SECURITY = [{"bearer": []}]
# A downloaded file came from anywhere on the web: served as an attachment that may not sniff,
# run script or embed anything, should a browser open it anyway.
_FILE_CSP = "default-src 'none'; sandbox"
_PAGE_HEADERS = {
    "X-Total-Count": {"description": "How many downloads match (absent when `total` is null)",
                      "schema": {"type": "integer"}},
    "Link": {"description": 'RFC 8288 links: rel="first", "prev", "next", "last"', "schema": {"type": "string"}},
}
_BINARY = {"type": "string", "format": "binary"}


# -- shapes -----------------------------------------------------------------------------------


def file_json(view, prefix: str) -> dict:
    """A file of a download; `prefix` is the download's URL (one url_for per answer, not per file)."""
    return {
        "id": view.id, "path": view.path, "name": view.name, "size": view.size, "sha256": view.sha256,
        "mime": file_service.guess_mime(view.path, view.mime),
        "url": f"{prefix}/file?file_id={view.id}",
        "thumbnail_url": f"{prefix}/thumbnail?file_id={view.id}",
        "has_thumbnail": view.has_thumbnail,
        "kind": view.kind,
        "gone": view.gone,
    }


_METADATA_FIELDS = ("uploader", "channel", "upload_date", "duration", "description", "view_count", "webpage_url",
                    "extractor", "width", "height", "vcodec", "acodec", "container", "gallery_title", "item_date",
                    "extra")


def metadata_json(meta) -> dict | None:
    """What the extractor said of a download (JobMetadata), its tags as a list; None without a row."""
    if meta is None:
        return None
    body = {name: getattr(meta, name) for name in _METADATA_FIELDS}
    body["tags"] = meta.tag_list
    return body


def download_json(entry, submitted_by: dict, base: str) -> dict:
    """A download as /api/v1/downloads answers it: paths relative to the storage root, never absolute."""
    job = entry.job
    submission = job.submission
    prefix = f"{base}/{job.id}"
    return {
        "id": job.id, "url": job.url, "domain": job.domain, "title": job.title, "status": job.status,
        "source": job.source, "engine": job.engine,
        "submitted_by": {"user": None, "token": None, "via": "token", **submitted_by},
        "error": job.error, "attempts": job.attempts,
        "post_title": submission.post_title if submission else None,
        "label": submission.label if submission else None,
        "created_at": isoformat(job.created_at), "finished_at": isoformat(job.finished_at),
        "files": [file_json(view, prefix) for view in entry.files],
        "file_count": entry.file_count,
        "total_bytes": entry.total_bytes,
        "thumbnail_url": f"{prefix}/thumbnail" if entry.file_count else None,
        "kind": job.kind, "parent_id": job.parent_id, "position": job.position, "item_key": job.item_key,
        "duplicate_of": job.duplicate_of_id,
        "metadata": metadata_json(entry.metadata),
    }


def _children_json(job, principal, page: int, per_page: int, status: str | None = None) -> dict:
    entries, total, submitted = library.children_entries(job, principal, page=page, per_page=per_page, status=status)
    base = _base()
    items = [download_json(entry, submitted.get(entry.job.submission_id, {}), base) for entry in entries]
    return Page(page, per_page).body(items, total)


def _base() -> str:
    return url_for("api.list_downloads")


def _headers(page: Page, total: int | None, shown: int, has_next: bool) -> dict[str, str]:
    """Page headers; without a total (a search too common to count) no X-Total-Count and no
    "last", but first/prev/next still lead through the list."""
    if total is not None:
        return page.headers(total)
    known = page.offset + shown + (1 if has_next else 0)
    links = page.headers(known)["Link"].split(", ")  # the URLs are percent-encoded: no ", " inside
    return {"Link": ", ".join(link for link in links if not link.endswith('rel="last"'))}


def _download(job_id: int, *, acting: bool = False):
    if job_id > MAX_ID:
        raise NotFound(f"No download with id {job_id}", error_code="download_not_found")
    return library.get_download(job_id, current_principal(), acting=acting)


# The history's filter names → the API's query parameters, for the errors the history's parser gives.
_FILTER_NAMES = {"q": "search", "from": "date_from", "to": "date_to", "uploaded_from": "uploaded_after",
                 "uploaded_to": "uploaded_before"}


def _history_filters(query: dict, principal, page: int) -> history.Filters:
    """The history's Filters for the API's query (already checked by its schema), through the
    history's own parser so both normalise alike (domain case and www., search terms)."""
    search, q = query.get("search"), query.get("q")
    if search is not None and q is not None and search != q:
        raise Invalid("Give the search as `search` or `q`, not both", error_code="validation_error",
                      extra={"errors": {"query": {"q": ["Give the search as `search` or `q`, not both"]}}})
    args = {
        "q": search or q or "",
        "status": query.get("status") or "",
        "domain": query.get("domain") or "",
        "source": query.get("source") or "",
        "from": _iso(query.get("date_from")),
        "to": _iso(query.get("date_to")),
        "uploader": query.get("uploader") or "",
        "duration_min": query.get("duration_min") or "",
        "duration_max": query.get("duration_max") or "",
        "uploaded_from": _iso(query.get("uploaded_after")),
        "uploaded_to": _iso(query.get("uploaded_before")),
    }
    filters, errors = history.parse_filters(args, principal)
    if errors:
        messages = {_FILTER_NAMES.get(key, key): [message] for key, message in errors.items()}
        named = "; ".join(f"{_FILTER_NAMES.get(key, key)}: {message}" for key, message in errors.items())
        raise Invalid("The filters are not valid: " + named, error_code="validation_error",
                      extra={"errors": {"query": messages}})
    filters.page = page  # the API's own page bound (page_from_args), not the page's
    return filters


def _iso(value: date | None) -> str:
    return value.isoformat() if value else ""


# -- reading ----------------------------------------------------------------------------------


@bp.get("/downloads")
@require(scope="read")
@bp.arguments(DownloadListQuerySchema, location="query")
@bp.doc(security=_SECURITY, summary="What is in the library: finished downloads, newest first",
        description="Scope: read. Completed, failed and cancelled jobs with their files (the first 12 of "
                    "each; `file_count` says how many) and what the site said of each (`metadata`), the "
                    "history page's list, search and filters (uploader, duration, upload date among them). "
                    "A user sees their own downloads, an admin everyone's. Pages: `X-Total-Count` and "
                    "`Link`. A filter that is not valid answers 422 `validation_error` naming it.")
@bp.alt_response(200, schema=DownloadPageSchema, headers=_PAGE_HEADERS, description="A page", success=True)
@document_errors(*_ERRORS)
def list_downloads(query: dict):
    page = page_from_args()
    start, end = query.get("date_from"), query.get("date_to")
    if start and end and start > end:
        # An empty window holds nothing (the history page calls it a mistake; here it is just empty).
        result = library.DownloadList([], 0, False, {})
    else:
        result = library.list_downloads(_history_filters(query, current_principal(), page.page),
                                        current_principal(), page.per_page)
    base = _base()
    items = [download_json(entry, result.submitters.get(entry.job.submission_id, {}), base)
             for entry in result.entries]
    if result.total is not None:
        body = page.body(items, result.total)
    else:
        body = {"items": items, "total": None, "page": page.page, "per_page": page.per_page, "pages": None}
    return jsonify(body), 200, _headers(page, result.total, len(items), result.has_next)


@bp.get("/downloads/<int:job_id>")
@require(scope="read")
@bp.arguments(DownloadShowArgsSchema, location="query")
@bp.doc(security=_SECURITY, summary="A download with all its files",
        description="Scope: read. Another user's download answers 404, as one that does not exist; a job "
                    "still in the queue answers 404 `not_finished`. A collection (`kind` collection) also has "
                    "`children_summary` and a page of its `children` (children_page, children_per_page).")
@bp.alt_response(200, schema=DownloadDetailSchema, description="The download", success=True)
@document_errors(*_ERRORS)
def show_download(args, job_id: int):
    principal = current_principal()
    job = _download(job_id)
    entry, submitted_by = library.get_entry(job, principal)
    body = download_json(entry, submitted_by, _base())
    if collection_children.is_collection(job):
        body["children_summary"] = collection_children.summary(job)
        body["children"] = _children_json(job, principal, args["children_page"], args["children_per_page"])
    return jsonify(body)


@bp.get("/downloads/<int:job_id>/children")
@require(scope="read")
@bp.arguments(DownloadChildrenArgsSchema, location="query")
@bp.doc(security=_SECURITY, summary="A collection's children, as downloads",
        description="Scope: read. The entries of a finished playlist, channel or feed in its order, a page at a "
                    "time (optionally of one status), each with its first files. Visible exactly as the "
                    "collection is: another user's answers 404.")
@bp.alt_response(200, schema=DownloadChildrenPageSchema, description="A page of children", success=True)
@document_errors(*_ERRORS)
def list_download_children(args, job_id: int):
    job = _download(job_id)
    return jsonify(_children_json(job, current_principal(), args["page"], args["per_page"], args.get("status")))


@bp.get("/downloads/<int:job_id>/file")
@require(scope="read")
@bp.arguments(FileChoiceQuerySchema, location="query")
@bp.doc(security=_SECURITY, summary="Fetch one of a download's files (Range requests answered)",
        description="Scope: read. `file_id` (files[].id) or `index` (from 0) picks the file, else the first. "
                    "Always an attachment; Range, If-Range, If-None-Match (the ETag is the sha256) and "
                    "If-Modified-Since work. 404 `no_files`, `file_not_found` or `file_gone` (not on disk).")
@bp.alt_response(200, schema=_BINARY, content_type="*/*", description="The file", success=True)
@bp.alt_response(206, schema=_BINARY, content_type="*/*", description="The requested range", success=True)
@bp.alt_response(304, description="Not modified", success=True)
@document_errors(*_ERRORS, 416)
def serve_download_file(choice: dict, job_id: int):
    job = _download(job_id)
    record = library.pick_file(job, choice.get("file_id"), choice.get("index"))
    return _send_library_file(record, library.file_path(record))


def _send_library_file(record, path):
    """The file as an attachment, with ranges and conditional answers; 416 in Haul's error shape
    (with the Content-Range a client needs to ask again)."""
    try:
        response = send_file(
            path, mimetype=file_service.guess_mime(record.path, record.mime), as_attachment=True,
            download_name=file_service.display_name(record.path), conditional=True,
            etag=record.sha256 or True, max_age=0,
        )
    except RequestedRangeNotSatisfiable:
        response = make_response(error_response(416, "The requested range is not inside the file",
                                                "range_not_satisfiable"))
        response.headers["Content-Range"] = f"bytes */{path.stat().st_size}"
        return response
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = _FILE_CSP
    response.cache_control.private = True
    return response


@bp.get("/downloads/<int:job_id>/thumbnail")
@require(scope="read")
@bp.arguments(FileChoiceQuerySchema, location="query")
@bp.doc(security=_SECURITY, summary="The thumbnail the worker made (WebP)",
        description="Scope: read. Of the file `file_id` or `index` picks, else the download's cover (its first "
                    "file that has one). 404 `thumbnail_not_ready` until the worker has made it.")
@bp.alt_response(200, schema=_BINARY, content_type="image/webp", description="The thumbnail", success=True)
@bp.alt_response(304, description="Not modified", success=True)
@document_errors(*_ERRORS)
def serve_download_thumbnail(choice: dict, job_id: int):
    path = library.thumbnail(_download(job_id), choice.get("file_id"), choice.get("index"))
    response = send_file(path, mimetype="image/webp", conditional=True, max_age=86400)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.cache_control.private = True
    response.cache_control.public = False
    return response


@bp.get("/downloads/stats")
@require(scope="read")
@bp.arguments(StatsQuerySchema, location="query")
@bp.doc(security=_SECURITY, summary="Figures about the library",
        description="Scope: read (a user's own downloads; an admin's, everyone's). Totals, the 50 busiest "
                    "sites, sources and downloads per UTC hour, day, week or month (`group_by`), over the "
                    "downloads submitted in `period`.")
@bp.alt_response(200, schema=DownloadStatsSchema, description="The figures", success=True)
@document_errors(401, 403, 422)
def show_download_stats(query: dict):
    return jsonify(download_stats.download_stats(query["period"], current_principal(), query["group_by"]))


# -- changing ---------------------------------------------------------------------------------


@bp.delete("/downloads/<int:job_id>")
@require(scope="submit")
@bp.arguments(DeleteQuerySchema, location="query")
@bp.doc(security=_SECURITY, summary="Delete a download's record (and with delete_file=true its files)",
        description="Scope: submit (a submit-only token: only the downloads it added). Files stay on disk "
                    "unless `delete_file=true`; a file another download also lists always stays.")
@bp.alt_response(204, description="Deleted", success=True)
@document_errors(*_ERRORS)
def delete_download(query: dict, job_id: int):
    library.delete(_download(job_id, acting=True), query["delete_file"])
    return "", 204


@bp.post("/downloads/bulk")
@require(scope="submit")
@bp.arguments(BulkSchema)
@bp.doc(security=_SECURITY, summary="Delete or retry many downloads at once",
        description="Scope: submit. Each id is acted on alone, with the rules of DELETE /api/v1/downloads/{id} "
                    "or POST /api/v1/queue/{id}/retry (only failed or cancelled downloads); the ones that "
                    "fail are listed with the error they would have answered. At most 200 ids.")
@bp.alt_response(200, schema=BulkResultSchema, description="What was done", success=True)
@document_errors(401, 403, 422)
def apply_bulk_action(body: dict):
    result = library.bulk(body["action"], body["ids"], current_principal(), body["delete_files"])
    return jsonify(result.as_dict())
