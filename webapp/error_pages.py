"""Errors become JSON {"detail", "error_code"} for machine clients and friendly pages for people."""
from __future__ import annotations

import logging
import re
import uuid

from flask import Flask, g, jsonify, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from sqlalchemy import exc as sqlalchemy_exc
from werkzeug.exceptions import HTTPException

from webapp.errors import HaulError, TooManyRequests
from webapp.views import with_toast

log = logging.getLogger(__name__)

_JSON_PREFIXES = ("/api/", "/downloads", "/ws/", "/health")
_HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type", 422: "validation_error",
    429: "rate_limited", 500: "internal_error", 503: "unavailable",
}
_SAME = object()
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id() -> str:
    """This request's id: the client's X-Request-ID when it is sane, else a fresh one."""
    if "request_id" not in g:
        sent = request.headers.get("X-Request-ID", "")
        g.request_id = sent if _SANE_REQUEST_ID.match(sent) else uuid.uuid4().hex
    return g.request_id

# The last resort when the error page itself cannot be rendered (say the database is down and
# the layout cannot load the signed-in user): self-contained, and still no trace.
_BARE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark"><title>{status} · Haul</title></head>
<body style="font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;text-align:center">
<p style="font-size:3rem;font-weight:800;margin:0">{status}</p>
<h1 style="font-size:1.4rem">Something went wrong</h1><p>{detail}</p><p><a href="/">Back to Haul</a></p>
</body></html>"""


def wants_json() -> bool:
    return request.path.startswith(_JSON_PREFIXES) or request.accept_mimetypes.best == "application/json"


def error_response(status: int, detail: str, error_code: str | None = None, *, page_detail=_SAME, **extra):
    """JSON for machine paths; otherwise the error page. `page_detail` replaces the detail on
    the page (None: the page's own explanation for the status is enough)."""
    if wants_json():
        body = {"detail": detail, "error_code": error_code or _HTTP_CODES.get(status, "error"),
                "request_id": request_id(), **extra}
        return jsonify(body), status
    shown = detail if page_detail is _SAME else page_detail
    try:
        response = make_response(render_template("error.html", status=status, detail=shown), status)
    except Exception:
        log.exception("the error page for %s could not be rendered", status)
        message = shown or "Haul could not show this page."
        response = make_response(_BARE_PAGE.format(status=status, detail=escape(message)), status)
    if request.headers.get("HX-Request") == "true" and not response.headers.get("HX-Trigger"):
        # htmx does not swap error answers; haul.js shows this toast instead of a bare status.

        response = with_toast(response, shown or _generic_message(status), "error")
    return response


def _flatten(messages, path: str = "") -> list[str]:
    """webargs' nested messages as "field: message" lines (the location key left out)."""
    if isinstance(messages, dict):
        out = []
        for key, value in messages.items():
            name = "" if not path and key in ("json", "query", "form", "view_args", "headers") else str(key)
            out += _flatten(value, f"{path}.{name}" if path and name else path or name)
        return out
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return [f"{path or 'body'}: {' '.join(messages)}"]
    return [f"{path or 'body'}: {messages}"]


def _retry_after(exc) -> int:
    """Flask-Limiter normally sets Retry-After itself; a minute is the fallback."""
    return 60


BUSY_RETRY_AFTER_SECONDS = 5
# Redis's client errors that mean "full or unreachable", by name: the redis package is imported
# only in the scale-out mode, and this check must not load it.
_REDIS_CAPACITY_ERRORS = {"ConnectionError", "TimeoutError", "MaxConnectionsError", "BusyLoadingError"}


def _out_of_capacity(exc: Exception) -> bool:
    """Whether `exc` says a server Haul depends on is full or out of reach, not that Haul erred:
    SQLAlchemy's pool gave no connection in time, the database refused or dropped one, or
    Redis's client could not get or use one."""
    if isinstance(exc, (sqlalchemy_exc.TimeoutError, sqlalchemy_exc.DisconnectionError)):
        return True
    if isinstance(exc, sqlalchemy_exc.OperationalError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sqlalchemy_exc.OperationalError) and type(exc.orig).__module__.startswith("psycopg"):
        return True  # connection refused, reset, server closed it, too many clients
    kind = type(exc)
    return kind.__module__.startswith("redis.") and kind.__name__ in _REDIS_CAPACITY_ERRORS


def _generic_message(status: int) -> str:
    if status == 404:
        return "That is not there any more."
    if status == 403:
        return "You are not allowed to do that."
    if status >= 500:
        return "Something went wrong on the server; the error was logged."
    return "That did not work."


def register(app: Flask) -> None:
    @app.after_request
    def send_request_id(response):
        if request.path.startswith(_JSON_PREFIXES):
            response.headers["X-Request-ID"] = request_id()
        return response

    @app.errorhandler(HaulError)
    def handle_haul_error(exc: HaulError):
        # make_response: an HTML error page is a str, which has no headers to set.
        response = make_response(error_response(exc.status, exc.detail, exc.error_code, **exc.extra))
        if response.status_code == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="haul"'
        if isinstance(exc, TooManyRequests):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.errorhandler(CSRFError)
    def handle_csrf(exc: CSRFError):
        return error_response(400, "The form expired or was sent from elsewhere; reload the page and try again.",
                              "csrf_failed")

    @app.errorhandler(HTTPException)
    def handle_http(exc: HTTPException):
        detail = exc.description or exc.name
        if exc.code == 413:
            detail = "The request body is too large"
        # Werkzeug's stock wording ("The requested URL was not found on the server. If you
        # entered the URL manually …") reads badly on a page: the page explains the status itself.
        page_detail = None if exc.description == type(exc).description and exc.code != 413 else detail
        if exc.code == 429:
            page_detail = f"Too many tries in a short time (the limit is {detail}). Wait a minute and try again."
        extra = {}
        messages = (getattr(exc, "data", None) or {}).get("messages")
        if exc.code == 422 and messages is not None:
            # webargs/flask-smorest validation: per-field messages by location, e.g. {"json": {"name": [...]}}
            detail = "The request is not valid: " + "; ".join(_flatten(messages))
            extra = {"error_code": "validation_error", "errors": messages}
        response = make_response(error_response(exc.code or 500, detail, page_detail=page_detail, **extra))
        if exc.code == 429 and "Retry-After" not in response.headers:
            response.headers["Retry-After"] = str(_retry_after(exc))
        if exc.code == 405 and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception):
        if _out_of_capacity(exc):
            # Not a bug: the database's connections (or Redis's) are all in use — thousands of
            # streams opening at once — or it is briefly out of reach. Ask the client to come
            # back; nothing was changed (the request's transaction never began or rolled back).
            log.warning("answered 503 to %s %s (request %s): %s", request.method, request.path, request_id(),
                        str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
            response = make_response(error_response(
                503, "The server is busy; try again in a few seconds.", "server_busy", page_detail=None))
            response.headers["Retry-After"] = str(BUSY_RETRY_AFTER_SECONDS)
            return response
        # Logged with its traceback for the admin; the client gets no stack trace.
        log.exception("unhandled error on %s %s (request %s)", request.method, request.path, request_id())
        return error_response(500, "Something went wrong on the server; the error was logged.", "internal_error",
                              page_detail=None)
