"""The pages people use to get in: first-run setup, sign in and out, and friendly error pages."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from support.web import USER_PASSWORD, form_csrf_at, sign_in

from webapp.services.accounts import identity as accounts
from webapp.services.accounts import setup
from webapp.services.queue.submissions import submit


def post_setup(client, code: str, password: str = "longpassword", confirm: str = "longpassword"):
    """Fill in and send the setup form for an admin named "admin"."""
    return client.post(
        "/setup",
        data={"csrf_token": form_csrf_at(client, "/setup"), "code": code, "username": "admin",
              "password": password, "confirm": confirm},
    )


def location(response) -> str:
    """The redirect target's path (with query)."""
    parts = urlsplit(response.headers["Location"])
    return parts.path + (f"?{parts.query}" if parts.query else "")


# First run -----------------------------------------------------------------------------------


def test_login_redirects_to_setup_while_nobody_exists(client):
    """Before the first user exists, /login sends people to /setup."""
    response = client.get("/login")
    assert response.status_code == 302
    assert location(response) == "/setup"
    assert client.get("/setup").status_code == 200


def test_setup_with_a_wrong_code_shows_an_inline_error(client, settings):
    """A wrong setup code re-shows the form with a message (400), creating nobody."""
    setup.issue_setup_code(settings)
    response = post_setup(client, "0000-0000-0000")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "setup code is not right" in page
    assert 'role="alert"' in page
    assert "Traceback" not in page
    assert setup.needs_setup()


def test_setup_with_the_right_code_creates_the_admin_and_signs_in(client, settings):
    """The right code creates the admin, signs them in and shows the job list."""
    code = setup.issue_setup_code(settings)
    submit(["http://example.com/listed"], principal=None)
    response = post_setup(client, code)
    assert response.status_code == 302
    assert location(response) == "/"
    user = accounts.authenticate("admin", "longpassword")
    assert user is not None and user.is_admin

    page = client.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<h1>Queue</h1>" in html
    assert "http://example.com/listed" in html
    assert "admin" in html  # signed in as

    # Setup is over: /setup now sends people to sign in, and the code is spent.
    assert location(client.get("/setup")) == "/login"
    assert not setup.check_setup_code(code)


def test_setup_with_mismatched_passwords_is_refused(client, settings):
    """The two password fields must match; nobody is created."""
    code = setup.issue_setup_code(settings)
    response = post_setup(client, code, confirm="otherpassword")
    assert response.status_code == 200
    assert "Passwords differ" in response.get_data(as_text=True)
    assert setup.needs_setup()


# Signing in and out ---------------------------------------------------------------------------


def test_signed_out_index_redirects_to_login(client, admin):
    """The job list needs a signed-in person."""
    response = client.get("/")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/login"


def test_login_and_logout(client, admin):
    """Right password signs in; POST /logout (with CSRF token) signs out."""
    response = sign_in(client)
    assert response.status_code == 302
    assert location(response) == "/"
    assert client.get("/").status_code == 200

    token = form_csrf_at(client, "/")  # the sign-out form in the top bar
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302
    assert location(response) == "/login"

    response = client.get("/")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/login"


def test_logout_needs_a_csrf_token(client, admin):
    """A forged sign-out (no CSRF token) is refused and the person stays signed in."""
    sign_in(client)
    assert client.post("/logout").status_code == 400
    assert client.get("/").status_code == 200


def test_wrong_password_is_401_with_a_message(client, admin):
    """A wrong password re-shows the form with "Wrong username or password" and 401."""
    response = sign_in(client, password="not-the-password")
    assert response.status_code == 401
    assert "Wrong username or password" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302  # still signed out


def test_unknown_user_gets_the_same_message(client, admin):
    """An unknown username is indistinguishable from a wrong password."""
    response = sign_in(client, username="nobody")
    assert response.status_code == 401
    assert "Wrong username or password" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("next_path", "target"),
    [
        ("/somewhere?x=1", "/somewhere?x=1"),
        ("//evil.com", "/"),
        ("//evil.com/path", "/"),
        ("https://evil.com/", "/"),
        ("javascript:alert(1)", "/"),
        ("evil.com", "/"),
        ("", "/"),
    ],
)
def test_next_only_allows_same_site_paths(client, admin, next_path, target):
    """After sign-in, next= is followed only when it is a path on this site."""
    response = sign_in(client, next_path=next_path)
    assert response.status_code == 302
    assert location(response) == target
    assert urlsplit(response.headers["Location"]).netloc in ("", "localhost")


@pytest.mark.parametrize("next_path", ["/%5Cevil.com", "/%5C%5Cevil.com", "/%09/evil.com", "%2F%2Fevil.com"])
def test_next_tricks_browsers_would_read_as_another_site_are_neutralised(client, admin, next_path):
    """Backslashes and tabs (which browsers turn into "//") never yield an off-site redirect."""
    response = sign_in(client, next_path=next_path)
    assert response.status_code == 302
    raw = response.headers["Location"]
    assert "\\" not in raw and "\t" not in raw
    assert raw.startswith("/") and not raw.startswith("//")


def test_signed_in_login_page_redirects_home(client, admin):
    """A signed-in person visiting /login goes to the job list."""
    sign_in(client)
    response = client.get("/login")
    assert response.status_code == 302
    assert location(response) == "/"


def test_user_sees_only_own_jobs_on_the_list(client, admin, alice):
    """A plain user's job list holds only their jobs."""
    submit(["http://example.com/admins-job"], principal=accounts.Principal(user=admin))
    submit(["http://example.com/alices-job"], principal=accounts.Principal(user=alice))
    sign_in(client, "alice", USER_PASSWORD)
    html = client.get("/").get_data(as_text=True)
    assert "http://example.com/alices-job" in html
    assert "http://example.com/admins-job" not in html


# Error pages ---------------------------------------------------------------------------------


def test_unknown_page_is_a_friendly_html_404(client):
    """An unknown page shows the HTML "Not found" page, not JSON."""
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "Not found" in html
    assert "Back to Haul" in html


def test_unknown_api_path_is_json_404(client):
    """An unknown /api/v1/… path answers 404 JSON."""
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.is_json
    assert response.get_json()["error_code"] == "not_found"
    assert response.get_json()["detail"]


def test_wrong_method_on_a_page_is_405(client):
    """GET on a POST-only page is 405 with an Allow header."""
    response = client.get("/logout")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
