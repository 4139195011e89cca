"""Bearer-token authentication for the machine endpoints (seed API, /api/v1, WebSockets).

A token travels in `Authorization: Bearer …`. Only the live streams a browser opens with
`new EventSource(url)` or `new WebSocket(url)` — which cannot send that header — also take it as
`?token=` (views marked with `accepts_query_token`): anywhere else a token in the URL would end
up in access logs and browser history for nothing.

Wrong tokens are counted per client address, as wrong passwords are at sign-in: after
`FAILED_ATTEMPTS` a minute, every bearer request from that address is answered 429 until the
minute has passed, so a token cannot be guessed or a stolen list tried at speed.
"""
from __future__ import annotations

import functools
import math
import time

from flask import current_app, g, request
from flask_limiter.util import get_remote_address
from limits import parse

from webapp.errors import Forbidden, TooManyRequests, Unauthorized
from webapp.extensions import limiter
from webapp.services.accounts.identity import Principal, resolve_bearer

FAILED_ATTEMPTS = parse("10/minute")  # as the sign-in forms allow


def accepts_query_token(view):
    """Mark a live-stream view whose clients cannot send headers: it may take `?token=`."""
    view._haul_query_token = True
    return view


def _query_token_allowed() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, "_haul_query_token", False))


def bearer_from_request() -> str | None:
    """The token from `Authorization: Bearer …`, or from `?token=` on a live stream's URL."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if _query_token_allowed():
        return request.args.get("token") or None
    return None


def _failures_key() -> tuple[str, str]:
    return "bearer-failures", get_remote_address()


def _counting() -> bool:
    """Wrong tokens are counted unless rate limits are off (RATELIMIT_ENABLED, as for sign-in)."""
    return limiter.enabled


def _refuse_while_guessing() -> None:
    if _counting() and not limiter.limiter.test(FAILED_ATTEMPTS, *_failures_key()):
        reset_at = limiter.limiter.get_window_stats(FAILED_ATTEMPTS, *_failures_key()).reset_time
        raise TooManyRequests("Too many wrong tokens from this address; wait a minute and try again",
                              error_code="too_many_attempts", retry_after=max(1, math.ceil(reset_at - time.time())))


def current_principal() -> Principal | None:
    """Who the request's bearer token stands for (None without one, or for a wrong one).

    Raises TooManyRequests while this address has sent too many wrong tokens."""
    if "principal" not in g:
        token = bearer_from_request()
        principal = None
        if token is not None:
            _refuse_while_guessing()
            principal = resolve_bearer(token, current_app.config["HAUL"].api_token)
            if principal is None and _counting():
                limiter.limiter.hit(FAILED_ATTEMPTS, *_failures_key())
        g.principal = principal
    return g.principal


def require(scope: str | tuple[str, ...] | None = None, role: str | None = None):
    """What an endpoint needs: a valid bearer token (401), and when given one of the `scope`s
    (any of a tuple) and the `role` ("admin") — else 403. Every /api/v1 endpoint states it here.

    `@require()` asks for a valid token only.
    """
    wanted = (scope,) if isinstance(scope, str) else tuple(scope or ())

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if bearer_from_request() is None:
                raise Unauthorized("Send a token: Authorization: Bearer <token>", error_code="missing_token")
            principal = current_principal()
            if principal is None:
                raise Unauthorized("The token is not valid, expired or was revoked", error_code="invalid_token")
            if wanted and not principal.scopes.intersection(wanted):
                raise Forbidden(f"This needs a token with the scope {' or '.join(wanted)}",
                                error_code="insufficient_scope")
            if role == "admin" and not principal.is_admin:
                raise Forbidden("This needs an admin", error_code="admin_required")
            return view(*args, **kwargs)

        wrapper._haul_requires = {"scope": wanted, "role": role}
        return wrapper

    return decorator
