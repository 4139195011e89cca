"""Sign-ins that end: a password change or reset, a role change and a deletion end every browser
session, remember-me cookie and access/refresh pair of the user (personal tokens too, unless kept);
managing tokens needs the `tokens` scope; wrong tokens are rate limited; tokens travel in a URL
only to live streams; remember-me lasts 30 days; no page may be framed.

Each attack is the request an attacker with the old credential sends after the change."""
from __future__ import annotations

from datetime import datetime, timezone
from http.cookies import SimpleCookie

import pytest
from conftest import API_TOKEN, assert_api_error
from sqlalchemy import func, select
from support.web import USER_PASSWORD, csrf, sign_in

from webapp.extensions import db
from webapp.models import ApiToken
from webapp.services.accounts import identity as accounts

STATIC = {"Authorization": f"Bearer {API_TOKEN}"}


def browser(app, username="alice", password=USER_PASSWORD, remember=True):
    """A browser signed in through the real sign-in form (with "remember me")."""
    client = app.test_client()
    response = sign_in(client, username, password, remember=remember)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def signed_in(client) -> bool:
    return client.get("/account").status_code == 200


def remember_cookie_only(app, client):
    """A new browser holding just the remember-me cookie `client` got (its session cookie gone)."""
    cookie = client.get_cookie("remember_token")
    assert cookie is not None
    fresh = app.test_client()
    fresh.set_cookie("remember_token", cookie.value)
    return fresh


def api_login(client, username="alice", password=USER_PASSWORD) -> dict:
    response = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def personal_token(user, scopes=None) -> str:
    return accounts.create_token(user, "script", scopes)[1]


# A reset by an admin ---------------------------------------------------------------------------


def test_a_reset_ends_every_sign_in_made_with_the_old_password(app, client, alice):
    """The attack: someone who learnt Alice's password signed in everywhere (a browser with
    remember-me, an API pair, a personal token); the admin resets the password. None of it works."""
    stolen_browser = browser(app)
    stolen_cookie = remember_cookie_only(app, stolen_browser)
    assert signed_in(stolen_cookie)  # the cookie alone signs in, before the reset
    pair = api_login(client)
    token = personal_token(alice)
    assert client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 200

    reset = client.patch(f"/api/v1/users/{alice.id}", json={"password": "a-brand-new-pass"}, headers=STATIC)
    assert reset.status_code == 200 and reset.get_json()["active_tokens"] == 0

    assert not signed_in(stolen_browser)
    assert not signed_in(remember_cookie_only(app, stolen_browser))
    assert_api_error(client.get("/api/v1/auth/me", headers=bearer(pair["access_token"])), 401, "invalid_token")
    assert_api_error(client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}), 401,
                     "invalid_refresh_token")
    assert_api_error(client.get("/api/v1/auth/me", headers=bearer(token)), 401, "invalid_token")
    # The new password works.
    assert signed_in(browser(app, password="a-brand-new-pass"))


def test_a_reset_may_keep_the_users_tokens(app, client, alice):
    token = personal_token(alice)
    stolen_browser = browser(app)
    reset = client.patch(f"/api/v1/users/{alice.id}", json={"password": "a-brand-new-pass", "revoke_tokens": False},
                         headers=STATIC)
    assert reset.status_code == 200 and reset.get_json()["active_tokens"] == 1
    assert client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 200
    assert not signed_in(stolen_browser)


def test_the_users_page_reset_ends_sign_ins_and_says_so(app, client, alice):
    root = accounts.create_user("root", "root-password-1", role="admin")
    token = personal_token(alice)
    stolen_browser = browser(app)
    admin = browser(app, "root", "root-password-1")
    response = admin.post(f"/settings/users/{alice.id}/password",
                          data={"csrf_token": csrf(admin, "/settings/users"), f"u{alice.id}-password": "a-new-pass-2"},
                          headers={"HX-Request": "true"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "signed out everywhere and 1 API token revoked" in response.headers["HX-Trigger"]
    assert not signed_in(stolen_browser)
    assert_api_error(client.get("/api/v1/auth/me", headers=bearer(token)), 401, "invalid_token")
    assert signed_in(admin) and root.session_version == 0


# One's own password ------------------------------------------------------------------------------


def test_changing_ones_password_keeps_this_browser_and_ends_the_others(app, client, alice):
    here = browser(app)
    elsewhere = browser(app)
    elsewhere_cookie = remember_cookie_only(app, elsewhere)
    token = personal_token(alice)
    response = here.post("/account/password", data={
        "csrf_token": csrf(here), "current_password": USER_PASSWORD, "new_password": "another-password-2",
        "confirm": "another-password-2"})
    assert response.status_code == 302
    assert signed_in(here)
    assert signed_in(remember_cookie_only(app, here))  # this browser's remember-me was renewed
    assert not signed_in(elsewhere) and not signed_in(elsewhere_cookie)
    assert_api_error(client.get("/api/v1/auth/me", headers=bearer(token)), 401, "invalid_token")


def test_the_password_form_offers_to_keep_the_tokens(app, client, alice):
    here = browser(app)
    token = personal_token(alice)
    page = here.get("/account").get_data(as_text=True)
    assert "Keep my API tokens working" in page and "Your 1 API token stops working too" in page
    here.post("/account/password", data={
        "csrf_token": csrf(here), "current_password": USER_PASSWORD, "new_password": "another-password-2",
        "confirm": "another-password-2", "keep_tokens": "y"})
    assert client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 200


def test_changing_ones_password_through_the_api_answers_a_fresh_pair(app, client, alice):
    pair = api_login(client)
    other_pair = api_login(client)
    token = personal_token(alice)
    changed = client.post("/api/v1/auth/password", headers=bearer(pair["access_token"]),
                          json={"current_password": USER_PASSWORD, "new_password": "another-password-2"})
    assert changed.status_code == 200, changed.get_json()
    fresh = changed.get_json()
    assert fresh["access_token"] != pair["access_token"] and fresh["user"]["username"] == "alice"
    assert client.get("/api/v1/auth/me", headers=bearer(fresh["access_token"])).status_code == 200
    for old in (pair, other_pair):
        assert_api_error(client.get("/api/v1/auth/me", headers=bearer(old["access_token"])), 401)
        assert_api_error(client.post("/api/v1/auth/refresh", json={"refresh_token": old["refresh_token"]}), 401)
    assert_api_error(client.get("/api/v1/auth/me", headers=bearer(token)), 401)  # revoke_tokens: true by default


def test_the_api_password_change_needs_the_current_password_and_may_keep_tokens(app, client, alice):
    pair = api_login(client)
    token = personal_token(alice)
    wrong = client.post("/api/v1/auth/password", headers=bearer(pair["access_token"]),
                        json={"current_password": "not-it", "new_password": "another-password-2"})
    assert_api_error(wrong, 422, "wrong_password")
    assert client.get("/api/v1/auth/me", headers=bearer(pair["access_token"])).status_code == 200  # nothing ended
    kept = client.post("/api/v1/auth/password", headers=bearer(pair["access_token"]),
                       json={"current_password": USER_PASSWORD, "new_password": "another-password-2",
                             "revoke_tokens": False})
    assert kept.status_code == 200
    assert client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 200


def test_a_submit_only_token_cannot_change_the_password(app, client, alice):
    submit_only = personal_token(alice, "submit")
    response = client.post("/api/v1/auth/password", headers=bearer(submit_only),
                           json={"current_password": USER_PASSWORD, "new_password": "another-password-2"})
    assert_api_error(response, 403, "insufficient_scope")
    assert accounts.authenticate("alice", USER_PASSWORD) is not None


# Roles and deletion -----------------------------------------------------------------------------


def test_a_role_change_ends_browser_sessions_and_cuts_tokens_to_the_new_role(app, client, alice):
    root = accounts.create_user("root", "root-password-1", role="admin")
    accounts.create_user("boss", "boss-password-1", role="admin")
    admin_token = personal_token(root)
    root_browser = browser(app, "root", "root-password-1")
    demoted = client.patch(f"/api/v1/users/{root.id}", json={"role": "user"}, headers=STATIC)
    assert demoted.status_code == 200
    assert not signed_in(root_browser)
    me = client.get("/api/v1/auth/me", headers=bearer(admin_token))
    assert me.status_code == 200 and "admin" not in me.get_json()["scopes"]
    assert_api_error(client.get("/api/v1/users", headers=bearer(admin_token)), 403)


def test_the_same_role_again_ends_nothing(app, client, alice):
    here = browser(app)
    pair = api_login(client)
    token = personal_token(alice)
    assert client.patch(f"/api/v1/users/{alice.id}", json={"role": "user"}, headers=STATIC).status_code == 200
    assert signed_in(here)
    assert signed_in(remember_cookie_only(app, here))
    assert client.get("/api/v1/auth/me", headers=bearer(pair["access_token"])).status_code == 200
    assert client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 200
    refreshed = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.get_json()


def test_deleting_a_user_ends_their_sign_ins(app, client, alice):
    here = browser(app)
    cookie = remember_cookie_only(app, here)
    pair = api_login(client)
    assert client.delete(f"/api/v1/users/{alice.id}", headers=STATIC).status_code == 204
    assert not signed_in(here) and not signed_in(cookie)
    assert_api_error(client.get("/api/v1/auth/me", headers=bearer(pair["access_token"])), 401)


def test_a_session_id_names_the_session_version(app, alice):
    assert alice.get_id() == f"{alice.id}:0"
    assert accounts.user_of_session(f"{alice.id}:0") == alice
    assert accounts.user_of_session(str(alice.id)) == alice  # made before versions: good until the first change
    alice.session_version = 3
    db.session.commit()
    for stale in (str(alice.id), f"{alice.id}:0", f"{alice.id}:2"):
        assert accounts.user_of_session(stale) is None
    assert accounts.user_of_session(f"{alice.id}:3") == alice
    for nonsense in ("", "x", ":", f"{alice.id}:x", "-1:0", None):
        assert accounts.user_of_session(nonsense) is None


def test_remember_me_lasts_thirty_days(app, alice):
    response = sign_in(app.test_client(), "alice", USER_PASSWORD, remember=True)
    header = next(value for value in response.headers.getlist("Set-Cookie") if value.startswith("remember_token="))
    expires = SimpleCookie(header)["remember_token"]["expires"]
    lifetime = datetime.strptime(expires, "%a, %d %b %Y %H:%M:%S GMT").replace(tzinfo=timezone.utc) \
        - datetime.now(timezone.utc)
    assert 29.9 < lifetime.total_seconds() / 86400 <= 30.0
    assert "HttpOnly" in header


# Managing tokens ----------------------------------------------------------------------------------


def test_a_leaked_submit_or_read_token_cannot_mint_or_revoke_tokens(app, client, alice):
    """The attack: a userscript's submit-only token leaks; its holder tries to make a fresh
    full token (or revoke Alice's others so she loses her phone). 403, nothing changes."""
    keep = accounts.create_token(alice, "phone", "submit read")[0]
    for leaked in (personal_token(alice, "submit"), personal_token(alice, "read"), personal_token(alice, "submit read")):
        before = db.session.scalar(select(func.count(ApiToken.id)))
        assert_api_error(client.post("/api/v1/tokens", json={"name": "mine", "scopes": ["submit", "read"]},
                                     headers=bearer(leaked)), 403, "insufficient_scope")
        assert_api_error(client.get("/api/v1/tokens", headers=bearer(leaked)), 403, "insufficient_scope")
        assert_api_error(client.delete(f"/api/v1/tokens/{keep.id}", headers=bearer(leaked)), 403, "insufficient_scope")
        assert db.session.scalar(select(func.count(ApiToken.id))) == before
    db.session.refresh(keep)
    assert keep.revoked_at is None


def test_a_login_or_a_full_token_manages_tokens(app, client, alice):
    pair = api_login(client)
    made = client.post("/api/v1/tokens", json={"name": "phone", "scopes": ["submit"]},
                       headers=bearer(pair["access_token"]))
    assert made.status_code == 201
    full = personal_token(alice)  # every scope the role has: tokens included
    assert client.get("/api/v1/tokens", headers=bearer(full)).status_code == 200
    assert client.delete(f"/api/v1/tokens/{made.get_json()['id']}", headers=bearer(full)).status_code == 204


# Wrong tokens, tokens in URLs ----------------------------------------------------------------------


def test_guessing_tokens_is_stopped_after_ten_a_minute(app, client, alice):
    token = personal_token(alice)
    for attempt in range(10):
        assert_api_error(client.get("/api/v1/queue", headers=bearer(f"haul_guess{attempt:04d}")), 401)
    refused = client.get("/api/v1/queue", headers=bearer("haul_guess-eleven"))
    assert_api_error(refused, 429, "too_many_attempts")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60 and refused.get_json()["retry_after"] >= 1
    # While it lasts, this address gets nowhere, even with a right token…
    assert_api_error(client.get("/api/v1/queue", headers=bearer(token)), 429, "too_many_attempts")
    # … but another address is not held up.
    other = client.get("/api/v1/queue", headers=bearer(token), environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert other.status_code == 200


def test_right_tokens_are_never_counted(app, client, alice):
    token = personal_token(alice)
    for _ in range(30):
        assert client.get("/api/v1/queue", headers=bearer(token)).status_code == 200


# Framing --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/login", "/api/v1/openapi.json", "/health", "/nowhere"])
def test_no_page_may_be_framed(client, path):
    response = client.get(path)
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_framing_is_refused_beside_a_pages_own_policy(app, client, alice):
    from flask import Response

    @app.get("/test-with-own-policy")
    def _own():
        return Response("x", headers={"Content-Security-Policy": "default-src 'none'"})

    policy = client.get("/test-with-own-policy").headers["Content-Security-Policy"]
    assert policy == "default-src 'none'; frame-ancestors 'none'"

