"""Page-or-fragment rendering and toasts, shared by every HTML blueprint.

A page is a full template that includes its partials (`templates/<area>/_<name>.html`). An
htmx request that swaps part of a page gets only the partial, rendered by the same template,
so the full page, the htmx answer and the SSE event can never drift apart.
"""
from __future__ import annotations

import json

from flask import Response, flash, make_response, redirect, render_template, request
from flask_login import current_user

from webapp.services.accounts.identity import Principal


def is_htmx() -> bool:
    """An htmx request that wants a fragment.

    Boosted navigation and htmx restoring a page from its history cache want the whole page.
    """
    headers = request.headers
    return (headers.get("HX-Request") == "true" and headers.get("HX-Boosted") != "true"
            and headers.get("HX-History-Restore-Request") != "true")


def render_view(page: str, partial: str | None = None, **context) -> str:
    """The full `page` for a normal request, `partial` alone for an htmx one."""
    if partial and is_htmx():
        return render_template(partial, **context)
    return render_template(page, **context)


def redirect_with_notice(target: str, message: str, level: str = "success") -> Response:
    """To `target`, which shows `message` as a notice: by HX-Redirect for htmx (a 204, so the
    page swaps nothing first), else a plain redirect."""
    flash(message, level)
    if is_htmx():
        response = make_response("", 204)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)


def with_toast(response, message: str, level: str = "info") -> Response:
    """Attach a toast for the page's toast area (read by static/js/haul.js from HX-Trigger)."""
    response = make_response(response)
    triggers = {}
    if response.headers.get("HX-Trigger"):
        try:
            triggers = json.loads(response.headers["HX-Trigger"])
        except ValueError:
            triggers = {}
    toasts = triggers.setdefault("haul:toast", [])
    if isinstance(toasts, dict):
        toasts = triggers["haul:toast"] = [toasts]
    toasts.append({"message": message, "level": level})
    response.headers["HX-Trigger"] = json.dumps(triggers)
    return response


def vary_on_htmx(response):
    """The same URL answers a page or a fragment: caches must key on HX-Request."""
    if response.mimetype == "text/html":
        response.vary.add("HX-Request")
    return response


def forbid_framing(response):
    """No page of Haul's may be shown inside another site's frame: a framed page can be dressed up
    to trick a click (a Send, a Delete) out of a signed-in person. No page is meant to be embedded."""
    response.headers["X-Frame-Options"] = "DENY"
    policy = response.headers.get("Content-Security-Policy")
    if policy is None:
        response.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
    elif "frame-ancestors" not in policy:
        response.headers["Content-Security-Policy"] = f"{policy}; frame-ancestors 'none'"
    return response


def session_principal():
    """The signed-in person as a Principal (what the services take), or None."""

    if not current_user.is_authenticated:
        return None
    return Principal(user=current_user._get_current_object())
