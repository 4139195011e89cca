"""HAUL_TRUSTED_PROXIES (webapp/reverse_proxy.py), in-process: which X-Forwarded-* headers are
believed, links built with the visitor's address, Secure cookies over HTTPS, and the sign-in
rate limit counting visitors instead of the proxy. tests/browser/test_behind_proxy.py runs the
same through a real nginx."""
from __future__ import annotations

import dataclasses

import pytest
from conftest import API_TOKEN
from support.web import USER_PASSWORD, sign_in

BEARER = {"Authorization": f"Bearer {API_TOKEN}"}
FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "haul.example.com",
             "X-Forwarded-For": "203.0.113.7"}


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, trusted_proxies=1)


@pytest.fixture(autouse=True)
def _fresh_g_per_request(client):
    """Each request starts with a fresh `g`, as in production (see the `client` fixture)."""


@pytest.fixture
def untrusting_app(settings, tmp_path):
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.extensions import db

    app = create_app(dataclasses.replace(settings, trusted_proxies=0), role="test", TESTING=True)
    with app.app_context():
        upgrade()
        yield app
        db.session.remove()


def invite_url(client, headers) -> str:
    made = client.post("/api/v1/invites", json={"name": "Proxied"}, headers={**BEARER, **headers})
    assert made.status_code == 201, made.get_json()
    return made.get_json()["url"]


def test_one_trusted_proxy_gives_links_the_visitors_address(client):
    assert invite_url(client, FORWARDED).startswith("https://haul.example.com/i/")
    # Without the headers (a request straight to Haul on the LAN) the address is Haul's own.
    assert invite_url(client, {}).startswith("http://localhost/i/")


def test_with_no_trusted_proxy_the_headers_are_ignored(untrusting_app):
    client = untrusting_app.test_client()
    assert invite_url(client, FORWARDED).startswith("http://localhost/i/")


def test_only_the_hop_the_proxy_added_is_believed(app):
    """A client may send its own X-Forwarded-For; nginx appends the address it saw, and with one
    trusted proxy only that last entry counts."""
    from flask import request

    seen = []

    @app.get("/__remote")
    def remote():
        seen.append((request.remote_addr, request.scheme, request.host))
        return ""

    client = app.test_client()
    client.get("/__remote", headers={"X-Forwarded-For": "10.9.9.9, 198.51.100.4",
                                     "X-Forwarded-Proto": "http, https", "X-Forwarded-Host": "evil.example, haul.example.com"})
    assert seen == [("198.51.100.4", "https", "haul.example.com")]


def sign_in_through(client, headers, remember=False):
    """Sign in as alice with these headers on the requests, as the proxy forwards them."""
    headers = {**headers, "Referer": "https://haul.example.com/login"}
    return sign_in(client, "alice", USER_PASSWORD, remember=remember, headers=headers)


def test_sign_in_cookies_are_secure_over_https_only(app, alice):
    over_https = sign_in_through(app.test_client(), FORWARDED, remember=True)
    assert over_https.status_code == 302, over_https.get_data(as_text=True)
    cookies = {c.split("=", 1)[0]: c for c in over_https.headers.getlist("Set-Cookie")}
    assert set(cookies) >= {"session", "remember_token"}
    assert all("; Secure" in cookie for cookie in cookies.values()), cookies

    plain = sign_in_through(app.test_client(), {}, remember=True)
    assert plain.status_code == 302
    plain_cookies = plain.headers.getlist("Set-Cookie")
    assert plain_cookies and not any("Secure" in cookie for cookie in plain_cookies)


def test_the_sign_in_limit_counts_each_visitor_behind_the_proxy(app):
    def attempt(address):
        return app.test_client().post("/api/v1/auth/login", json={"username": "nobody", "password": "wrong-password"},
                                      headers={"X-Forwarded-For": address})

    assert [attempt("203.0.113.1").status_code for _ in range(5)] == [401] * 5
    assert attempt("203.0.113.1").status_code == 429
    # Another visitor, through the same proxy, is not locked out by the first.
    assert attempt("203.0.113.2").status_code == 401
