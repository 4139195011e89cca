"""Error pages for people: friendly, in the layout, never a stack trace (JSON stays JSON)."""
from __future__ import annotations

import json
import logging
import re

import pytest

from webapp.errors import Forbidden

SECRET = "db password is hunter2"


@pytest.fixture
def broken_app(app):
    """The app with routes that fail in the ways real code can."""

    def explode():
        raise RuntimeError(SECRET)

    def refuse():
        raise Forbidden("Only admins can change this")

    app.add_url_rule("/explode", "explode", explode)
    app.add_url_rule("/api/v1/explode", "api_explode", explode)
    app.add_url_rule("/refuse", "refuse", refuse)
    return app


@pytest.fixture
def broken_client(broken_app, client):
    return client


def test_an_unexpected_error_is_a_friendly_500_without_a_trace(broken_client, caplog, monkeypatch):
    """The person sees "Something went wrong" and a way back; the trace goes only to the log."""
    # The app fixture's in-process migrations run Alembic's fileConfig, which disables loggers
    # that already exist (the web process never migrates in-process).
    monkeypatch.setattr(logging.getLogger("webapp.error_pages"), "disabled", False)
    response = broken_client.get("/explode")
    assert response.status_code == 500
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "Something went wrong" in html
    assert "logged for the admin" in html
    assert "Back to Haul" in html
    assert "Traceback" not in html and SECRET not in html and "RuntimeError" not in html
    logged = [record for record in caplog.records if record.name == "webapp.error_pages"]
    assert logged and "GET /explode" in logged[0].getMessage()
    assert isinstance(logged[0].exc_info[1], RuntimeError) and SECRET in str(logged[0].exc_info[1])


def test_an_unexpected_api_error_is_json_without_a_trace(broken_client):
    response = broken_client.get("/api/v1/explode")
    assert response.status_code == 500
    body = response.get_json()
    assert body.pop("request_id") == response.headers["X-Request-ID"]  # for finding it in the log
    assert body == {"detail": "Something went wrong on the server; the error was logged.",
                    "error_code": "internal_error"}


def test_when_the_error_page_itself_fails_a_bare_page_still_hides_the_trace(broken_client, monkeypatch):
    """If the layout cannot render (say the database is down), a self-contained page answers."""
    import webapp.error_pages as error_pages

    def no_templates(*args, **kwargs):
        raise RuntimeError("template engine down")

    monkeypatch.setattr(error_pages, "render_template", no_templates)
    response = broken_client.get("/explode")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "Something went wrong" in html and "Back to Haul" in html
    assert SECRET not in html and "template engine down" not in html and "Traceback" not in html

    response = broken_client.get("/no/such/page")
    assert response.status_code == 404
    assert "Back to Haul" in response.get_data(as_text=True)


def test_404_page_explains_itself_instead_of_werkzeugs_wording(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "<h1 id=\"error-title\">Not found</h1>" in html
    assert "There is nothing at this address" in html
    assert "requested URL was not found" not in html
    # JSON clients still get the detail they always had.
    api = client.get("/api/v1/no-such-thing")
    assert "requested URL was not found" in api.get_json()["detail"]


def test_403_page_shows_the_reason(broken_client):
    response = broken_client.get("/refuse")
    assert response.status_code == 403
    html = response.get_data(as_text=True)
    assert "Not allowed" in html
    assert "Only admins can change this" in html


def test_htmx_requests_get_the_message_as_a_toast(broken_client):
    """htmx does not swap error answers: the message travels in HX-Trigger for haul.js."""
    response = broken_client.get("/refuse", headers={"HX-Request": "true"})
    assert response.status_code == 403
    trigger = json.loads(response.headers["HX-Trigger"])
    assert trigger["haul:toast"] == [{"message": "Only admins can change this", "level": "error"}]

    response = broken_client.get("/explode", headers={"HX-Request": "true"})
    trigger = json.loads(response.headers["HX-Trigger"])
    assert trigger["haul:toast"][0]["message"] == "Something went wrong on the server; the error was logged."
    assert SECRET not in response.get_data(as_text=True)


def test_a_rate_limited_sign_in_says_to_wait(client):
    """The 11th sign-in attempt in a minute gets the "Slow down" page, not a bare 429."""
    from webapp.services.accounts import identity as accounts

    accounts.create_user("admin", "longpassword", role="admin")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    attempt = {"csrf_token": token, "username": "admin", "password": "wrong"}
    for _ in range(10):
        assert client.post("/login", data=attempt).status_code == 401
    response = client.post("/login", data=attempt)
    assert response.status_code == 429
    html = response.get_data(as_text=True)
    assert "Slow down" in html
    assert "Wait a minute and try again" in html
