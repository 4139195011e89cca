"""Errors become JSON {"detail", "error_code"} for machine clients and friendly pages for people."""
from __future__ import annotations

import logging

from flask import Flask, jsonify, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from webapp.errors import HaulError

log = logging.getLogger(__name__)

_JSON_PREFIXES = ("/api/", "/downloads", "/ws/", "/health")
_HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type", 422: "validation_error",
    429: "rate_limited", 500: "internal_error", 503: "unavailable",
}


def wants_json() -> bool:
    return request.path.startswith(_JSON_PREFIXES) or request.accept_mimetypes.best == "application/json"


def error_response(status: int, detail: str, error_code: str | None = None, **extra):
    if wants_json():
        body = {"detail": detail, "error_code": error_code or _HTTP_CODES.get(status, "error"), **extra}
        return jsonify(body), status
    return render_template("error.html", status=status, detail=detail), status


def register(app: Flask) -> None:
    @app.errorhandler(HaulError)
    def handle_haul_error(exc: HaulError):
        # make_response: an HTML error page is a str, which has no headers to set.
        response = make_response(error_response(exc.status, exc.detail, exc.error_code, **exc.extra))
        if response.status_code == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="haul"'
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
        response = make_response(error_response(exc.code or 500, detail))
        if exc.code == 405 and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception):
        # Logged with its traceback for the admin; the client gets no stack trace.
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "Something went wrong on the server; the error was logged.", "internal_error")
