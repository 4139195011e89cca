"""Bearer-token authentication for the machine endpoints (seed API, /api/v1, WebSockets)."""
from __future__ import annotations

import functools

from flask import current_app, g, request

from webapp.errors import Forbidden, Unauthorized
from webapp.services.accounts import Principal, resolve_bearer


def bearer_from_request() -> str | None:
    """The token from `Authorization: Bearer …`, or the `token` query parameter (WebSockets)."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.args.get("token") or None


def current_principal() -> Principal | None:
    if "principal" not in g:
        g.principal = resolve_bearer(bearer_from_request(), current_app.config["HAUL"].api_token)
    return g.principal


def token_required(view):
    """Answer 401 unless the request carries a valid bearer token; sets g.principal."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if bearer_from_request() is None:
            raise Unauthorized("Send a token: Authorization: Bearer <token>", error_code="missing_token")
        if current_principal() is None:
            raise Unauthorized("The token is not valid or was revoked", error_code="invalid_token")
        return view(*args, **kwargs)

    return wrapper


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
