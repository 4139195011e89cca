"""What the application log (webapp/app_log.py) adds to a record written while a request is served."""
from __future__ import annotations

from flask import g, has_request_context

from webapp.error_pages import request_id


def request_fields() -> tuple[int | None, str | None]:
    """(the signed-in user's id, the request id), or (None, None) outside a request.

    The user only when Flask-Login has loaded it already: a log line must never cost a query
    (or recurse into the database code that is logging)."""
    if not has_request_context():
        return None, None
    user = g.get("_login_user")
    user_id = getattr(user, "id", None) if user is not None and getattr(user, "is_authenticated", False) else None
    return user_id, request_id()
