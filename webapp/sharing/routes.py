"""Sending links from anywhere while signed in.

The bookmarklet (offered on the account page) opens a small popup on Haul's own origin:
GET /send?url=…&title=…&k=… shows the link and a "Send to Haul" form; the send is a POST with
the session's CSRF token, never a GET and never an API token inside the bookmarklet. `k` is the
person's bookmarklet key: with it the popup sends by itself; without it (any other site can open
this popup with a link of its choosing) it shows the link and waits for a click.

The installable web app: /manifest.webmanifest (with a share target), /sw.js (the service
worker, served from the root scope). Android's share sheet POSTs to /share without a CSRF
token; the service worker takes that POST, keeps what was shared in Cache Storage and sends
the app to GET /share?pending=<id>, a normal signed-in page whose script queues the link
(POST /share/send) and uploads the files (POST /share/upload), both CSRF-protected. A POST
/share that reaches the server (no service worker yet) is answered with a page explaining
what to do, and queues nothing.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from urllib.parse import quote

from flask import (
    abort,
    current_app,
    flash,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    send_from_directory,
    session,
    url_for,
)
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from webapp.core.link_text import parse_links
from webapp.core.vocabulary import BOOKMARKLET, SHARE
from webapp.error_pages import error_response
from webapp.errors import Conflict, HaulError
from webapp.extensions import db
from webapp.models import Job
from webapp.services.accounts import identity as accounts
from webapp.services.guests import upload_store
from webapp.services.queue.submissions import MAX_TEXT, submit
from webapp.sharing import bp
from webapp.views import session_principal

# The popup's size, as the bookmarklet opens it.
POPUP_FEATURES = "width=420,height=360"
# A file shared from the phone may be a long video: this route alone takes up to 2 GiB.
UPLOAD_LIMIT = 2 * 1024 ** 3
# Set in the session when a signed-out person's bookmarklet popup is sent to sign in: the link
# and the key it came with, so the popup sends by itself once they are back if the key is theirs.
_AUTO_AFTER_LOGIN = "haul_send_after_login"
ICONS = (
    {"src": "icons/haul-192.png", "sizes": "192x192", "type": "image/png", "purpose": "any"},
    {"src": "icons/haul-512.png", "sizes": "512x512", "type": "image/png", "purpose": "any"},
    {"src": "icons/haul-maskable-512.png", "sizes": "512x512", "type": "image/png", "purpose": "maskable"},
)
# static/css/haul.css: --accent and --bg of the light theme.
THEME_COLOR = "#2457d6"
BACKGROUND_COLOR = "#f5f6f8"


# -- The installable web app -------------------------------------------------------------------


@bp.get("/manifest.webmanifest")
def manifest():
    body = {
        "id": url_for("queue.index"),
        "name": "Haul",
        "short_name": "Haul",
        "description": "Your downloads, queue and library. Share links and files to Haul from other apps.",
        "start_url": url_for("queue.index"),
        "scope": url_for("queue.index"),
        "display": "standalone",
        "theme_color": THEME_COLOR,
        "background_color": BACKGROUND_COLOR,
        "icons": [{**icon, "src": url_for("static", filename=icon["src"])} for icon in ICONS],
        "share_target": {
            "action": url_for("sharing.share_target"),
            "method": "POST",
            "enctype": "multipart/form-data",
            "params": {
                "title": "title",
                "text": "text",
                "url": "url",
                "files": [{"name": "files", "accept": ["image/*", "video/*"]}],
            },
        },
    }
    response = jsonify(body)
    response.mimetype = "application/manifest+json"
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/sw.js")
def service_worker():
    """The service worker, from the root so that its scope can be the whole app."""
    response = send_from_directory(current_app.static_folder, "sw.js", mimetype="text/javascript",
                                   max_age=0, conditional=True)
    response.headers["Service-Worker-Allowed"] = "/"
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.app_context_processor
def _sharing_helpers():
    return {"bookmarklet_href": bookmarklet_href}


def bookmarklet_href() -> str:
    """The signed-in person's bookmarklet: a javascript: URL opening the popup with the page's
    URL and title, and their bookmarklet key so that it sends without a click.

    It carries Haul's address and that key, no API token; the popup uses the browser's session.
    The page a bookmarklet runs on can see what it opens, key included: rotating the key (the
    account page) disarms every old copy."""
    key = current_user.bookmarklet_key if current_user.is_authenticated else None
    with_key = f"+'&k={key}'" if key else ""  # URL-safe characters only (secrets.token_urlsafe)
    send = url_for("sharing.send_page", _external=True)
    code = (
        "(function(){var d=document,e=encodeURIComponent,"
        f"s={json.dumps(send)}+'?url='+e(location.href)+'&title='+e((d.title||'').slice(0,{MAX_TEXT})){with_key},"
        f"w=window.open(s,'haul','{POPUP_FEATURES}');"
        "if(!w){location.href=s;}})();void 0"
    )
    return "javascript:" + quote(code, safe="(){}[];,=+'.!:/?&|_-")


# -- The bookmarklet's popup --------------------------------------------------------------------


def _may_auto_send(key: str | None) -> bool:
    """Send without a click only with the signed-in person's bookmarklet key: any site can open
    this popup with a link of its choosing (and set the Referer to match it), and must not get
    that link queued without the person's click."""
    return accounts.bookmarklet_key_matches(current_user, key)


def _to_login(url: str, title: str):
    """Sign in first, then come back to the popup with the same link (a same-site path)."""
    flash("Sign in to send this page to Haul.")
    return redirect(url_for("auth.login", next=url_for("sharing.send_page", url=url, title=title)))


def _popup_fields() -> tuple[str, str]:
    source = request.form if request.method == "POST" else request.args
    url = (source.get("url") or "").strip()
    title = " ".join((source.get("title") or "").split())[:MAX_TEXT]
    return url, title


@bp.get("/send")
def send_page():
    url, title = _popup_fields()
    key = request.args.get("k")
    if not current_user.is_authenticated:
        if url and key:
            session[_AUTO_AFTER_LOGIN] = [url, key]
        return _to_login(url, title)
    pending = session.pop(_AUTO_AFTER_LOGIN, None)
    if isinstance(pending, list) and len(pending) == 2 and pending[0] == url:
        key = key or pending[1]
    auto = bool(url) and _may_auto_send(key)
    status = 200 if url else 400
    return render_template("sharing/send.html", url=url, title=title, auto=auto), status


def _job_link(job_id: int | None) -> str | None:
    if job_id is None:
        return None
    return url_for("history.show_entry", job_id=job_id)


@bp.post("/send")
def send_link():
    url, title = _popup_fields()
    if not current_user.is_authenticated:
        return _to_login(url, title)
    principal = session_principal()
    post_title = (request.form.get("post_title") or "").strip() or None
    context = {"url": url, "title": title, "post_title": post_title, "job_id": None, "job_url": None}
    try:
        result = submit([url] if url else [], principal=principal, source=BOOKMARKLET, post_title=post_title,
                        refuse_if_nothing_new=True)
    except Conflict as exc:
        job_id = exc.extra.get("duplicate_of")
        visible = job_id is not None and principal.can_see(_owner_of(job_id))
        context.update(state="duplicate", job_id=job_id if visible else None,
                       job_url=_job_link(job_id) if visible else None)
        return render_template("sharing/sent.html", **context), 409
    except HaulError as exc:
        context.update(state="error", message=exc.detail)
        return render_template("sharing/sent.html", **context), exc.status
    job_id = result.entries[0].job_id
    context.update(state="queued", job_id=job_id, job_url=_job_link(job_id))
    return render_template("sharing/sent.html", **context)


def _owner_of(job_id: int) -> int | None:
    job = db.session.get(Job, job_id)
    return job.user_id if job is not None else None


# -- The share target ---------------------------------------------------------------------------


@bp.url_value_preprocessor
def _before_the_csrf_check(endpoint, values):
    """Runs before every before_request hook, CSRF's included (which reads the whole form)."""
    if request.method != "POST":
        return
    if endpoint == "sharing.share_target":
        # Only a share that the service worker did not take gets here: answer before reading
        # a body that may be a whole video, and queue nothing.
        abort(_helper_missing())
    if endpoint == "sharing.upload":
        req = request._get_current_object()
        req.max_content_length = UPLOAD_LIMIT
        # Files go straight to data_dir/partial as they arrive, not into memory or /tmp.
        req._get_file_stream = _partial_file_stream


def _partial_file_stream(total_content_length, content_type, filename=None, content_length=None):
    handle = tempfile.NamedTemporaryFile(dir=upload_store.partial_dir(), prefix="share-", suffix=".part",
                                         delete=False)
    g.setdefault("sharing_partials", []).append(handle.name)
    return handle


@bp.teardown_request
def _remove_leftover_partials(exc):
    for name in g.pop("sharing_partials", ()):
        try:
            Path(name).unlink(missing_ok=True)  # already gone when it was moved into the library
        except OSError:
            current_app.logger.warning("could not remove the partial upload %s", name)


def _helper_missing():
    page = render_template("sharing/helper_missing.html")
    response = make_response(page, 400)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/share", methods=["GET", "POST"])
def share_target():
    if request.method == "POST":  # never reached: see _before_the_csrf_check
        return _helper_missing()
    pending = request.args.get("pending") or ""
    if not current_user.is_authenticated:
        if pending:
            return redirect(url_for("auth.login", next=url_for("sharing.share_target", pending=pending)))
        return redirect(url_for("auth.login", next=url_for("sharing.share_target")))
    return render_template("sharing/share.html", pending=pending)


def _json_error(status: int, detail: str, error_code: str, **extra):
    return jsonify({"state": "error", "detail": detail, "error_code": error_code, **extra}), status


def first_link(*texts: str | None) -> str | None:
    """The first http(s) link in the first of `texts` that has one (apps put a shared link in
    `url`, in `text` with words around it, or even in `title`)."""
    for text in texts:
        if text:
            found = parse_links(text, limit=1).urls
            if found:
                return found[0]
    return None


def _signed_in_json():
    if not current_user.is_authenticated:
        return _json_error(401, "Sign in to Haul first, then share again.", "not_signed_in")
    return None


@bp.post("/share/send")
def share_links():
    """The link of a share, from the pending page: queued like the bookmarklet's."""
    refused = _signed_in_json()
    if refused:
        return refused
    form = request.form
    link = first_link(form.get("url"), form.get("text"), form.get("title"))
    if link is None:
        return _json_error(422, "There is no http:// or https:// link in what was shared.", "no_link")
    principal = session_principal()
    try:
        result = submit([link], principal=principal, source=SHARE, post_title=form.get("post_title") or None,
                        refuse_if_nothing_new=True)
    except Conflict as exc:
        job_id = exc.extra.get("duplicate_of")
        visible = job_id is not None and principal.can_see(_owner_of(job_id))
        return jsonify({"state": "duplicate", "url": link, "job_id": job_id if visible else None,
                        "job_url": _job_link(job_id) if visible else None,
                        "detail": "Already in Haul"}), 409
    except HaulError as exc:
        return _json_error(exc.status, exc.detail, exc.error_code, url=link)
    job_id = result.entries[0].job_id
    return jsonify({"state": "queued", "url": link, "job_id": job_id, "job_url": _job_link(job_id),
                    "detail": "Queued"}), 201


@bp.post("/share/upload")
def upload():
    """One shared file (multipart field `file`) into the library, under <post title>/uploads/shared/."""
    refused = _signed_in_json()
    if refused:
        return refused
    shared = request.files.get("file")
    if shared is None or not shared.filename:
        return _json_error(400, "No file in the request (send it as the form field `file`).", "no_file")
    post_title = (request.form.get("post_title") or "").strip() or None
    if post_title and len(post_title) > MAX_TEXT:
        return _json_error(422, f"The post title is longer than {MAX_TEXT} characters.", "invalid_post_title")
    stream = shared.stream
    path = getattr(stream, "name", None)
    if not isinstance(path, str) or not os.path.dirname(path):
        # Not one of ours (_partial_file_stream makes every file stream): copy it there.
        handle = _partial_file_stream(None, shared.mimetype)
        with handle:
            shared.save(handle)
        path = handle.name
    else:
        stream.flush()
    if os.path.getsize(path) == 0:
        return _json_error(422, f"{shared.filename} is empty.", "empty_file")
    try:
        imported = upload_store.import_file(
            Path(path), filename=shared.filename, post_title=post_title, folder="shared", source=SHARE,
            mime=shared.mimetype if shared.mimetype != "application/octet-stream" else None,
            user_id=current_user.id, via="session")
    finally:
        stream.close()
    body = {"state": "duplicate" if imported.duplicate else "stored", "filename": shared.filename,
            "job_id": imported.job_id, "job_url": _job_link(imported.job_id), "size": imported.size,
            "sha256": imported.sha256,
            "detail": "Already in your library" if imported.duplicate else "Stored"}
    return jsonify(body), 200 if imported.duplicate else 201


# -- The userscript's token ---------------------------------------------------------------------


@bp.post("/account/userscript-token")
def userscript_token():
    """A token with only the submit scope, for the userscript; shown once."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=url_for("settings.account")))
    row, token = accounts.create_token(current_user, "userscript", scopes="submit")
    response = make_response(render_template("sharing/token.html", row=row, token=token))
    response.headers["Cache-Control"] = "no-store"
    return response


# -- Refusals -----------------------------------------------------------------------------------


@bp.errorhandler(CSRFError)
def _csrf_refused(exc):
    detail = "The form expired or was sent from elsewhere; reload the page and try again."
    if request.endpoint == "sharing.send_link":
        url, title = _popup_fields()
        return render_template("sharing/sent.html", state="error", message=detail, url=url, title=title,
                               post_title=None, job_id=None, job_url=None), 400
    if request.endpoint in ("sharing.share_links", "sharing.upload"):
        return _json_error(400, detail, "csrf_failed")
    if request.endpoint == "sharing.share_target":
        return _helper_missing()

    return error_response(400, detail, "csrf_failed")
