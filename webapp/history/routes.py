"""History pages, their event stream, file serving and thumbnails. Routes parse, call
webapp.services.library.history, render; the stream is webapp/history/stream.py."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user, login_required

from webapp.core.paths import UnsafePath
from webapp.core.vocabulary import FINISHED_STATUSES, SOURCES
from webapp.errors import HaulError
from webapp.history import bp
from webapp.history.stream import history_event_stream
from webapp.models.base import MAX_ROW_ID
from webapp.services.library import files as file_service
from webapp.services.library import history
from webapp.services.queue import children as collection_children
from webapp.services.queue import events
from webapp.services.queue.job_control import get_visible_job
from webapp.views import (
    is_htmx,
    redirect_with_notice,
    render_view,
    session_principal,
    with_toast,
)

# Responses that render a downloaded file in the browser: the file came from anywhere on
# the web, so it gets no script, no plugins and no other origin's content.
_FILE_CSP = "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; sandbox"


def _render(page: str, partial: str, **context):
    """render_view, with the prefix of every file's URL in the context."""
    # Entries build each file's URLs from this prefix: one url_for per page instead of ~900.
    context.setdefault("files_url", url_for("history.serve_file", file_id=0)[:-2])
    return render_view(page, partial, **context)


def _from_entry_page(job_id: int) -> bool:
    """Whether an htmx request was sent from the entry's own page (which goes away on delete)."""
    current = request.headers.get("HX-Current-URL", "")
    return urlsplit(current).path == url_for("history.show_entry", job_id=job_id)


@bp.get("/history")
@login_required
def index():
    """Finished jobs, newest first: search, filters and pages, all in the URL."""
    principal = session_principal()
    filters, errors = history.parse_filters(request.args, principal)
    # The page's stream starts after the newest event this list reflects: read before the list,
    # so a job finishing in between is sent again rather than missed.
    last_event_id = events.latest_event_id()
    result = history.list_history(filters, principal)
    context = dict(
        result=result,
        filters=filters,
        errors=errors,
        last_event_id=last_event_id,
        errors_oob=is_htmx(),
        statuses=FINISHED_STATUSES,
        sources=SOURCES,
        is_admin=principal.is_admin,
    )
    if not is_htmx():  # the filter form's choices: htmx answers leave the form in place
        context.update(submitters=history.submitters() if principal.is_admin else [])
    return _render("history/index.html", "history/_results.html", **context)


@bp.get("/history/uploaders")
@login_required
def uploader_suggestions():
    """The uploader filter's suggestions for what has been typed, as <option>s for its datalist."""
    names = history.uploaders(session_principal(), request.args.get("uploader", ""))
    return render_template("history/_uploaders.html", uploaders=names)


@bp.get("/history/events")
@login_required
def stream():
    """Server-Sent Events for a history page showing the view its query names (the page's own
    filters): finished jobs, thumbnails made, entries gone, as fragments of the page."""
    filters, _ = history.parse_filters(request.args, session_principal())
    last_id = request.headers.get("Last-Event-ID") or request.args.get("last_event_id")
    try:
        last_id = int(last_id) if last_id else None
    except ValueError:
        last_id = None
    if last_id is not None and not 0 <= last_id <= MAX_ROW_ID:
        last_id = None
    return history_event_stream(current_user._get_current_object(), filters, last_id)


@bp.get("/history/<int:job_id>")
@login_required
def show_entry(job_id: int):
    """One entry with all its files (the list's entry partial, or a page of its own)."""
    principal = session_principal()
    job = get_visible_job(job_id, principal)
    entry = history.get_entry(job, principal)
    # On its own page the entry is the page's heading; swapped into the list, it stays an item.
    full = not is_htmx()
    return _render("history/entry.html", "history/_entry.html", entry=entry, full=full, all_files=True,
                   is_admin=principal.is_admin)


@bp.get("/history/<int:job_id>/children")
@login_required
def entry_children(job_id: int):
    """A page of a collection's items for its entry (50 at a time; someone else's: 404)."""
    parent = get_visible_job(job_id, session_principal())
    shown = collection_children.shown_page(parent, request.args.get("page", 1, type=int))
    return render_template("history/_children.html", children_endpoint="history.entry_children", **shown)


@bp.post("/history/<int:job_id>/again")
@login_required
def download_again(job_id: int):
    """Queue the entry's URL again as a new job, even if it was downloaded before."""
    principal = session_principal()
    job = get_visible_job(job_id, principal)
    try:
        result = history.download_again(job, principal)
    except HaulError as exc:
        if is_htmx():
            return with_toast(make_response("", exc.status), exc.detail, "error")
        flash(exc.detail, "error")
        return redirect(url_for("history.index"))
    new_id = result.entries[0].job_id
    message = f"Queued {job.url} again as job #{new_id}"
    if is_htmx():
        return with_toast(make_response("", 204), message, "success")
    flash(message, "success")
    return redirect(url_for("history.index"))


@bp.post("/history/<int:job_id>/delete")
@login_required
def delete_entry(job_id: int):
    """Delete the entry's record; with files=1 its files on disk too (after a confirmation)."""
    principal = session_principal()
    job = get_visible_job(job_id, principal)
    with_files = request.form.get("files") == "1"
    try:
        result = history.delete_entry(job, with_files)
    except HaulError as exc:
        if is_htmx():
            return with_toast(make_response("", exc.status), exc.detail, "error")
        flash(exc.detail, "error")
        return redirect(url_for("history.index"))
    message = result.message(with_files)
    level = "warning" if result.failed else "success"
    if is_htmx() and not _from_entry_page(job_id):
        # The entry's element is replaced by nothing: it leaves the list.
        return with_toast(make_response(""), message, level)
    return redirect_with_notice(url_for("history.index"), message, level)


@bp.get("/files/<int:file_id>")
@login_required
def serve_file(file_id: int):
    """A downloaded file, inline (images, video, audio) or as an attachment with ?download=1.

    Range requests and conditional GETs are answered (video seeking). Only the job's owner or
    an admin gets it; anyone else gets 404, as for a file that does not exist.
    """
    record = history.visible_file(file_id, session_principal())
    if record is None:
        abort(404, "No such file")
    settings = current_app.config["HAUL"]
    try:
        path = file_service.absolute_path(settings.storage_root, record.path)
    except UnsafePath:
        abort(404, "No such file")
    if not path.is_file():
        abort(404, "This file is no longer on disk")
    mime = file_service.guess_mime(record.path, record.mime)
    inline = request.args.get("download") != "1" and file_service.may_show_inline(record.path, record.mime)
    response = send_file(
        path,
        mimetype=mime,
        as_attachment=not inline,
        download_name=file_service.display_name(record.path),
        conditional=True,
        etag=record.sha256 or True,
        max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = _FILE_CSP
    response.cache_control.private = True
    return response


@bp.get("/files/<int:file_id>/thumbnail")
@login_required
def thumbnail(file_id: int):
    """The worker-made thumbnail of a file, or 404 when there is none (the page shows an icon)."""
    record = history.visible_file(file_id, session_principal())
    if record is None:
        abort(404, "No such file")
    path = file_service.thumbnail_path(current_app.config["HAUL"].thumbnail_dir, record.sha256)
    if path is None or not path.is_file():
        abort(404, "No thumbnail for this file")
    response = send_file(path, mimetype="image/webp", conditional=True, max_age=86400)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.cache_control.private = True
    response.cache_control.public = False
    return response
