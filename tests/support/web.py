"""Driving the web pages through the Flask test client as a browser would: signing in, and the
CSRF token a form or an htmx request must carry (CSRF protection is on in the tests, as in
production).

The `admin` and `alice` fixtures in tests/conftest.py create the people these sign in.
"""
from __future__ import annotations

import re

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "admin-password"
USER_USERNAME = "alice"
USER_PASSWORD = "alice-password"

# A form's hidden field, on pages without the layout (sign-in, setup, the guest page's password form).
CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
# The layout's <meta>, which htmx sends back as the X-CSRFToken header.
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def form_csrf(page) -> str:
    """The hidden csrf_token of the form in `page` (HTML, or a test client's response)."""
    if not isinstance(page, str):
        page = page.get_data(as_text=True)
    match = CSRF_FIELD.search(page)
    assert match, "no csrf_token field on the page"
    return match.group(1)


def form_csrf_at(client, path: str) -> str:
    """The hidden csrf_token of the form on the page at `path`."""
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return form_csrf(response)


def csrf(client, path: str = "/account") -> str:
    """The CSRF token of the signed-in page at `path` (from the layout's <meta>)."""
    page = client.get(path).get_data(as_text=True)
    match = CSRF_META.search(page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def sign_in_as(client, user) -> None:
    """A signed-in session for `user` (Flask-Login's session keys), without the rate-limited form."""
    with client.session_transaction() as session:
        session["_user_id"] = str(user.id)
        session["_fresh"] = True


def sign_in(client, username: str = ADMIN_USERNAME, password: str = ADMIN_PASSWORD, *,
            next_path: str | None = None, remember: bool = False, headers: dict | None = None):
    """Sign in through the real form (GET /login for its token, then POST); the POST's response."""
    page = client.get("/login", headers=headers)
    assert page.status_code == 200, (page.status_code, page.headers.get("Location"))
    form = {"csrf_token": form_csrf(page), "username": username, "password": password}
    if remember:
        form["remember"] = "y"
    url = "/login" + (f"?next={next_path}" if next_path is not None else "")
    return client.post(url, data=form, headers=headers)


def htmx_post(client, path: str, data=None, **kwargs):
    """A POST as htmx sends it from a page: the HX-Request header and the CSRF token header."""
    headers = {"HX-Request": "true", "X-CSRFToken": csrf(client)}
    return client.post(path, data=data or {}, headers=headers, **kwargs)


def form_post(client, path: str, data=None, **kwargs):
    """A plain form (no JavaScript): the token as the hidden field."""
    return client.post(path, data={"csrf_token": csrf(client), **(data or {})}, **kwargs)
