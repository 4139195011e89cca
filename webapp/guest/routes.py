"""The guest page behind an invite link, its JSON calls and live stream; the public upload page.

    GET    /i/<token>                        the page (or the password gate, or a "closed" page)
    POST   /i/<token>/password               the password gate's form (rate limited)
    GET    /i/<token>/items                  the session's own items (JSON)
    GET    /i/<token>/events                 the session's own items as they change (SSE "item")
    POST   /i/<token>/links                  {"urls": [...]} or {"text": "..."}: links, guest policy
    POST   /i/<token>/links/<job_id>/retry   queue one of the session's failed links again
    POST   /i/<token>/uploads                start an upload            } see
    GET    /i/<token>/uploads/<id>           how much the server has    } webapp/services/
    PUT    /i/<token>/uploads/<id>?offset=N  one chunk                  } chunked_uploads.py
    POST   /i/<token>/uploads/<id>/finish    hash, store or dedupe      }
    DELETE /i/<token>/uploads/<id>           cancel

The guest has no account: their GuestSession's id sits in the signed Flask session cookie,
one per invite. Every POST/PUT/DELETE carries the CSRF token (X-CSRFToken), as everywhere.
New guest sessions and upload starts are rate limited per address (webapp/guest/rate_limits.py).
"""
from __future__ import annotations

import threading

from flask import abort, current_app, jsonify, make_response, redirect, render_template, request, session, url_for
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFError
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from webapp import stream_loop, streams
from webapp.core.readable import human_bytes
from webapp.error_pages import error_response
from webapp.errors import HaulError, TooManyRequests, Unauthorized
from webapp.extensions import db, limiter
from webapp.guest import bp, rate_limits
from webapp.models import GuestSession, Invite
from webapp.models.base import utcnow
from webapp.models.invite import DEFAULT_KINDS, new_key
from webapp.services.guests import chunked_uploads, invite_usage, invites
from webapp.services.guests import guest_actions as guests
from webapp.services.guests.invites import InviteClosed, token_for
from webapp.stream_loop import sse_frame

COOKIE_KEY = "haul_guest"  # in the signed session cookie: {invite id: guest session id}
PASSWORD_LIMIT = "10 per minute"
# Sending links (and retrying them) from one address on one invite: far more than a person
# pasting links needs, and a cap on a script that found the link (each request queues up to
# 200 URLs). Uploads are bounded by the invite's byte limits instead.
LINKS_LIMIT = "30 per minute"
_PAGES = {"guest.invite_page", "guest.password"}

CLOSED_HEADLINES = {
    "unknown": "No invite here",
    "disabled": "This link is switched off",
    "expired": "This link has expired",
    "used_up": "This link has been used",
    "too_many_sessions": "Too many new visits",
}


# -- who is asking ---------------------------------------------------------------------------------


def _settings():
    return current_app.config["HAUL"]


def _invite(token: str) -> Invite:
    invite = invites.find_by_token(token)
    # The public page's invite answers only while the public page is on.
    if invite is None or (invite.is_public_page and not _settings().public_uploads):
        raise invites.closed_error("unknown")
    return invite


def _remembered(invite: Invite) -> str | None:
    value = (session.get(COOKIE_KEY) or {}).get(str(invite.id))
    return value if isinstance(value, str) else None


def _remember(invite: Invite, guest: GuestSession) -> None:
    known = dict(session.get(COOKIE_KEY) or {})
    if known.get(str(invite.id)) != guest.id:
        known[str(invite.id)] = guest.id
        session[COOKIE_KEY] = known


def _page_session(invite: Invite) -> GuestSession:
    """The visitor's session on this invite: theirs, or a new one (InviteClosed when shut,
    TooManyRequests when this address made too many new ones)."""
    guest = invites.open_session(invite, _remembered(invite), admit_new=rate_limits.admit_new_session)
    _remember(invite, guest)
    return guest


def _api_guest(token: str) -> GuestSession:
    """The guest behind a JSON call: they must have opened the page (and passed its password)."""
    invite = _invite(token)
    if _remembered(invite) is None:
        raise Unauthorized("Open the invite link first", error_code="guest_session_missing")
    guest = _page_session(invite)
    if not guest.password_ok:
        raise Unauthorized("Enter the link's password first", error_code="password_required")
    return guest


# -- pages -----------------------------------------------------------------------------------------


def _closed_page(exc: InviteClosed | TooManyRequests):
    """The page for a link that cannot be used now: closed, or too many new visits."""
    state = exc.error_code.removeprefix("invite_")
    headline = CLOSED_HEADLINES.get(state, "This link cannot be used")
    page = render_template("guest/closed.html", headline=headline, message=exc.detail, status=exc.status,
                           brand_href=request.path)
    response = make_response(page, exc.status)
    response.headers["Cache-Control"] = "no-store"
    if isinstance(exc, TooManyRequests):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _limits_text(invite: Invite) -> str:
    limits = invite_usage.limits_for(invite)
    parts = [f"{chunked_uploads.kinds_text(invite.kinds).capitalize()}"]
    if limits.max_file_bytes:
        parts.append(f"up to {human_bytes(limits.max_file_bytes)} each")
    if limits.max_total_bytes:
        parts.append(limits.total_words())
    return ", ".join(parts)


def _accept(invite: Invite) -> str | None:
    """The file picker's filter: none when "other" files are allowed."""
    if "other" in invite.kinds:
        return None
    return ",".join(f"{kind}/*" for kind in invite.kinds)


def render_guest_page(invite: Invite, guest: GuestSession, *, public: bool = False):
    token = token_for(invite)
    context = {
        "invite": invite,
        "public": public,
        "base": url_for("guest.invite_page", token=token),
        "chunk_size": chunked_uploads.chunk_size(),
        "limits": _limits_text(invite),
        "kinds_words": chunked_uploads.kinds_text(invite.kinds),
        "accept": _accept(invite),
        "items": guests.items_for(guest),
        "brand_href": "/" if public else url_for("guest.invite_page", token=token),
    }
    response = make_response(render_template("guest/page.html", **context))
    response.headers["Cache-Control"] = "no-store"
    # The link is the key: never pass it on to another site. Same-origin requests keep their
    # Referer, which Flask-WTF checks on every form and upload over HTTPS.
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def _password_page(invite: Invite, error: str | None = None, status: int = 200):
    response = make_response(render_template("guest/password.html", invite=invite, error=error, brand_href=request.path,
                                             action=url_for("guest.password", token=request.view_args["token"])),
                             status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


@bp.get("/i/<token>")
def invite_page(token):
    try:
        invite = _invite(token)
        guest = _page_session(invite)
    except (InviteClosed, TooManyRequests) as exc:
        return _closed_page(exc)
    if not guest.password_ok:
        return _password_page(invite)
    return render_guest_page(invite, guest, public=invite.is_public_page)


def _per_address_and_link(kind: str):
    """A rate-limit key function: requests count per address and per invite link."""
    def key() -> str:
        token = (request.view_args or {}).get("token", "")
        return f"guest-{kind}:{get_remote_address()}:{invites.hash_token(token)[:16]}"

    return key


_password_key = _per_address_and_link("password")
_links_key = _per_address_and_link("links")


@bp.post("/i/<token>/password")
@limiter.limit(PASSWORD_LIMIT, key_func=_password_key)
def password(token):
    try:
        invite = _invite(token)
        guest = _page_session(invite)
    except (InviteClosed, TooManyRequests) as exc:
        return _closed_page(exc)
    if guest.password_ok:
        return redirect(url_for("guest.invite_page", token=token), code=303)
    if invites.check_password(invite, guest, request.form.get("password", "")[:1000]):
        return redirect(url_for("guest.invite_page", token=token), code=303)
    return _password_page(invite, "That is not the password. Check it with the person who sent you the link.", 401)


# -- the public upload page ------------------------------------------------------------------------

_public_lock = threading.Lock()


def public_invite() -> Invite:
    """The built-in invite behind the public page at /, made on first use.

    It takes uploads but no links, the default kinds (photos and videos), with no expiry, no
    limit on uses and no password; its files land in storage_root/uploads/<its slug>/. It is not
    listed among the admin's invites (invites.get_invite refuses it)."""
    query = select(Invite).where(Invite.is_public_page.is_(True)).order_by(Invite.id).limit(1)
    invite = db.session.scalar(query)
    if invite is not None:
        invites.sync_token_hashes([invite])  # after a new HAUL_SECRET_KEY its link changes too
        return invite
    with _public_lock:
        invite = db.session.scalar(query)
        if invite is not None:
            return invite
        invite = Invite(name="Public upload page", slug="pending", post_title=None, nonce=new_key(), uses=0,
                        allow_uploads=True, allow_urls=False, allow_private_urls=False,
                        allowed_kinds=DEFAULT_KINDS, expires_at=None, max_uses=None, enabled=True,
                        is_public_page=True, created_at=utcnow())
        invite.token_hash = invites.hash_token(invites.token_for(invite))
        db.session.add(invite)
        db.session.flush()
        invite.slug = invites.slug_for("public", invite.id)
        db.session.commit()
        return invite


def public_page_or_login():
    """What / shows a visitor who is not signed in: the public upload page when
    HAUL_PUBLIC_UPLOADS is on, else the way to the sign-in page (as @login_required would)."""
    if not _settings().public_uploads:
        return current_app.login_manager.unauthorized()
    invite = public_invite()
    try:
        guest = _page_session(invite)
    except (InviteClosed, TooManyRequests) as exc:
        return _closed_page(exc)
    return render_guest_page(invite, guest, public=True)


# -- JSON: items, links, live updates --------------------------------------------------------------


@bp.get("/i/<token>/items")
def items(token):
    guest = _api_guest(token)
    return jsonify({"items": guests.items_for(guest)})


@bp.post("/i/<token>/links")
@limiter.shared_limit(LINKS_LIMIT, scope="guest-links", key_func=_links_key)
def send_links(token):
    guest = _api_guest(token)
    body = request.get_json(silent=True) if request.is_json else request.form.to_dict()
    if isinstance(body, dict):
        body.pop("csrf_token", None)
    return jsonify({"items": guests.send_links(guest, body)}), 202


@bp.post("/i/<token>/links/<int:job_id>/retry")
@limiter.shared_limit(LINKS_LIMIT, scope="guest-links", key_func=_links_key)
def retry_link(token, job_id):
    guest = _api_guest(token)
    return jsonify({"item": guests.retry_link(guest, job_id)})


SESSION_ENDED = ("This link has changed since you opened this page (its password, or it was closed). "
                 "Reload the page to go on.")


class _GuestView(stream_loop.LiveView):
    """A guest page's stream: the session's own items as they change, until the session ends."""

    access_ended = sse_frame("ended", {"detail": SESSION_ENDED})

    def __init__(self, guest: GuestSession):
        self.guest_id = guest.id
        self.feed = guests.GuestFeed(guest.id)
        self.expires_at = guest.expires_at

    def frames(self, record) -> list[str]:
        return [sse_frame("item", item, record.id) for item in self.feed.items_of(record)]

    def behind(self, covered: int) -> tuple[list[str], int]:
        """Fell behind the hub: the page fetches its items again."""
        return [sse_frame("resync", {})], covered

    def still_open(self) -> bool:
        """The session may have ended meanwhile (the invite's password changed, or the link was
        switched off): then the page is told, and no more of its items are sent."""
        return invites.session_still_open(self.guest_id)


@bp.get("/i/<token>/events")
def events(token):
    """The session's own items as they change. On (re)connecting the page fetches /items, so
    nothing is replayed here; a stream that fell behind the hub is told to fetch again."""
    guest = _api_guest(token)
    return stream_loop.sse_response(streams.Holder.of_guest(guest.id), _GuestView(guest),
                                    opening=stream_loop.RETRY + sse_frame("hello", {}))


# -- JSON: uploads ---------------------------------------------------------------------------------


@bp.url_value_preprocessor
def _chunk_body_limit(endpoint, values):
    """Runs before every before_request hook (CSRF reads request.form, which checks the body's
    size): a chunk may be bigger than the app's 1 MiB limit, nothing else here may. A chunk is
    raw bytes; a form body would be parsed (and held) before the view could refuse it."""
    if endpoint == "guest.upload_chunk":
        if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
            abort(415)
        request.max_content_length = chunked_uploads.chunk_size() + 64 * 1024


@bp.post("/i/<token>/uploads")
@limiter.limit(rate_limits.upload_starts_limit, key_func=rate_limits.upload_starts_key)
def start_upload(token):
    guest = _api_guest(token)
    upload = chunked_uploads.start(guest, request.get_json(silent=True))
    return jsonify({"upload": chunked_uploads.to_dict(upload), "item": guests.upload_item(upload)}), 201


@bp.get("/i/<token>/uploads/<upload_id>")
def upload_status(token, upload_id):
    guest = _api_guest(token)
    return jsonify({"upload": chunked_uploads.to_dict(chunked_uploads.status(guest, upload_id))})


@bp.put("/i/<token>/uploads/<upload_id>")
def upload_chunk(token, upload_id):
    guest = _api_guest(token)
    upload = chunked_uploads.write_chunk(
        guest, upload_id, offset=request.args.get("offset", request.headers.get("X-Chunk-Offset")),
        sha256=request.headers.get("X-Chunk-SHA256"), stream=request.stream, content_length=request.content_length)
    return jsonify({"upload": chunked_uploads.to_dict(upload), "received": upload.received})


@bp.post("/i/<token>/uploads/<upload_id>/finish")
def finish_upload(token, upload_id):
    guest = _api_guest(token)
    upload = chunked_uploads.finish(guest, upload_id)
    return jsonify({"upload": chunked_uploads.to_dict(upload), "item": guests.upload_item(upload)})


@bp.delete("/i/<token>/uploads/<upload_id>")
def cancel_upload(token, upload_id):
    guest = _api_guest(token)
    chunked_uploads.cancel(guest, upload_id)
    return "", 204


# -- errors: pages for people, JSON for the page's script ------------------------------------------

_HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 411: "length_required",
               413: "too_large", 415: "unsupported_media_type", 429: "rate_limited"}


def _json_error(status: int, detail: str, error_code: str, **extra):
    response = jsonify({"detail": detail, "error_code": error_code, **extra})
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(HaulError)
def _haul_error(exc: HaulError):
    if request.endpoint in _PAGES:
        if isinstance(exc, (InviteClosed, TooManyRequests)):
            return _closed_page(exc)
        return error_response(exc.status, exc.detail, exc.error_code)
    response = _json_error(exc.status, exc.detail, exc.error_code, **exc.extra)
    if isinstance(exc, TooManyRequests):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


@bp.errorhandler(CSRFError)  # by name: the app's own CSRFError handler would win over HTTPException's
@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    status = exc.code or 500
    if status == 429:
        message = "Too many tries in a short time. Wait a minute, then try the password again."
        if request.endpoint == "guest.password":
            try:
                invite = _invite(request.view_args["token"])
            except InviteClosed as closed:
                return _closed_page(closed)
            response = _password_page(invite, message, 429)
        elif request.endpoint == "guest.start_upload":
            response = _json_error(429, "Too many files started from your network in the last hour; wait a while, "
                                        "then retry", "rate_limited")
        else:
            response = _json_error(429, "Too many requests in a short time; wait a minute", "rate_limited")
        response.headers.setdefault("Retry-After", "60")
        return response
    if isinstance(exc, CSRFError):
        detail, code = "The page expired; reload it and try again.", "csrf_failed"
    elif status == 413:
        detail, code = "This request is larger than the server takes", "too_large"
    else:
        detail, code = exc.description or exc.name, _HTTP_CODES.get(status, "error")
    if request.endpoint in _PAGES:
        return error_response(status, detail, code)
    return _json_error(status, detail, code)
