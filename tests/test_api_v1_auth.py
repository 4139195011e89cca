"""/api/v1/auth and /api/v1/tokens in process: shapes, statuses, rotation, revocation, scopes,
the error shape with request_id, validation (422) and the login rate limit (429)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import API_TOKEN
from support.web import ADMIN_PASSWORD, ADMIN_USERNAME, USER_PASSWORD

from webapp.extensions import db
from webapp.models import Job, LoginSession
from webapp.models.base import utcnow
from webapp.services.accounts import identity as accounts

STATIC = {"Authorization": f"Bearer {API_TOKEN}"}
PAIR_KEYS = {"access_token", "refresh_token", "token_type", "expires_in", "refresh_expires_in", "user"}


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def assert_error(response, status, error_code=None):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert {"detail", "error_code", "request_id"} <= set(body)
    assert body["request_id"] == response.headers["X-Request-ID"]
    if error_code:
        assert body["error_code"] == error_code, body
    return body


def login(client, username="alice", password=USER_PASSWORD):
    return client.post("/api/v1/auth/login", json={"username": username, "password": password})


# login / me / refresh / logout ---------------------------------------------------------------

def test_login_answers_a_token_pair(client, alice):
    response = login(client)
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == PAIR_KEYS
    assert body["token_type"] == "bearer"
    assert 3500 < body["expires_in"] <= 3600
    assert body["refresh_expires_in"] > 29 * 86400
    assert body["user"] == {"id": alice.id, "username": "alice", "role": "user", "scopes": ["read", "submit", "tokens"]}
    assert body["access_token"] != body["refresh_token"]
    # Stored hashed only.
    row = db.session.scalar(db.select(LoginSession))
    assert row.access_hash == accounts.hash_token(body["access_token"])
    assert body["access_token"] not in (row.access_hash, row.refresh_hash)


def test_me_with_the_access_token(client, alice):
    token = login(client).get_json()["access_token"]
    response = client.get("/api/v1/auth/me", headers=bearer(token))
    assert response.status_code == 200
    assert response.get_json()["username"] == "alice"


def test_admin_login_has_every_scope(client, admin):
    body = login(client, ADMIN_USERNAME, ADMIN_PASSWORD).get_json()
    assert body["user"]["scopes"] == ["admin", "read", "submit", "tokens"]


@pytest.mark.parametrize("username,password", [("alice", "wrongpassword"), ("nobody", USER_PASSWORD)])
def test_wrong_credentials_are_401(client, alice, username, password):
    assert_error(login(client, username, password), 401, "invalid_credentials")


@pytest.mark.parametrize("body", [{}, {"username": "alice"}, {"username": 5, "password": "x"},
                                  {"username": "alice", "password": USER_PASSWORD, "extra": 1}])
def test_login_validation_is_422_with_field_errors(client, alice, body):
    response = client.post("/api/v1/auth/login", json=body)
    error = assert_error(response, 422, "validation_error")
    assert isinstance(error["errors"], dict) and error["errors"]


def test_login_without_json_is_422(client, alice):
    response = client.post("/api/v1/auth/login", data="username=alice", content_type="text/plain")
    assert_error(response, 422, "validation_error")


def test_refresh_rotates_the_pair(client, alice):
    first = login(client).get_json()
    response = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert response.status_code == 200
    second = response.get_json()
    assert set(second) == PAIR_KEYS
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    # The old refresh token worked once; the old access token went with it.
    assert_error(client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}),
                 401, "invalid_refresh_token")
    assert_error(client.get("/api/v1/auth/me", headers=bearer(first["access_token"])), 401, "invalid_token")
    assert client.get("/api/v1/auth/me", headers=bearer(second["access_token"])).status_code == 200


def test_refresh_with_garbage_or_an_access_token_is_401(client, alice):
    pair = login(client).get_json()
    for value in ("nonsense", pair["access_token"]):
        assert_error(client.post("/api/v1/auth/refresh", json={"refresh_token": value}), 401, "invalid_refresh_token")
    assert_error(client.post("/api/v1/auth/refresh", json={}), 422, "validation_error")


def test_expired_refresh_token_is_401(client, alice):
    pair = login(client).get_json()
    row = db.session.scalar(db.select(LoginSession))
    row.refresh_expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert_error(client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}), 401)


def test_expired_access_token_is_401(client, alice):
    token = login(client).get_json()["access_token"]
    row = db.session.scalar(db.select(LoginSession))
    row.access_expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    response = client.get("/api/v1/auth/me", headers=bearer(token))
    assert_error(response, 401, "invalid_token")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_logout_revokes_access_and_refresh(client, alice):
    pair = login(client).get_json()
    response = client.post("/api/v1/auth/logout", headers=bearer(pair["access_token"]))
    assert response.status_code == 204
    assert_error(client.get("/api/v1/auth/me", headers=bearer(pair["access_token"])), 401)
    assert_error(client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}), 401)


def test_logout_with_a_personal_token_revokes_it(client, alice):
    _, token = accounts.create_token(alice, "cli")
    assert client.post("/api/v1/auth/logout", headers=bearer(token)).status_code == 204
    assert_error(client.get("/api/v1/auth/me", headers=bearer(token)), 401)


def test_static_token_has_no_user(client):
    assert_error(client.get("/api/v1/auth/me", headers=STATIC), 403, "no_user")
    assert_error(client.post("/api/v1/auth/logout", headers=STATIC), 403, "cannot_logout")
    assert_error(client.get("/api/v1/tokens", headers=STATIC), 403, "no_user")


@pytest.mark.parametrize("method,path", [("get", "/api/v1/auth/me"), ("post", "/api/v1/auth/logout"),
                                         ("get", "/api/v1/tokens"), ("post", "/api/v1/tokens"),
                                         ("delete", "/api/v1/tokens/1")])
def test_anonymous_is_401(client, method, path):
    response = getattr(client, method)(path)
    assert_error(response, 401, "missing_token")
    assert_error(getattr(client, method)(path, headers=bearer("haul_at_nope")), 401, "invalid_token")


def test_login_is_rate_limited(client, alice):
    for _ in range(5):
        assert login(client, "alice", "wrongpassword").status_code == 401
    response = login(client)
    assert_error(response, 429, "rate_limited")
    assert int(response.headers["Retry-After"]) > 0


# request ids ---------------------------------------------------------------------------------

def test_request_id_is_generated_or_echoed(client):
    generated = client.get("/api/v1/auth/me")
    assert len(generated.headers["X-Request-ID"]) >= 16
    echoed = client.get("/api/v1/auth/me", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["X-Request-ID"] == "abc-123"
    assert echoed.get_json()["request_id"] == "abc-123"
    insane = client.get("/api/v1/auth/me", headers={"X-Request-ID": "a b<script>" + "x" * 200})
    assert insane.headers["X-Request-ID"] != "a b<script>" + "x" * 200
    assert insane.get_json()["request_id"] == insane.headers["X-Request-ID"]


def test_unknown_api_route_is_404_json(client):
    assert_error(client.get("/api/v1/nothing-here", headers=STATIC), 404, "not_found")


def test_seed_endpoint_errors_carry_a_request_id(client):
    body = assert_error(client.get("/downloads/nope"), 401)
    assert body["error_code"] == "missing_token"


# personal tokens -----------------------------------------------------------------------------

def test_tokens_create_list_delete(client, alice):
    access = login(client).get_json()["access_token"]
    response = client.post("/api/v1/tokens", json={"name": "ci", "scopes": ["submit"]}, headers=bearer(access))
    assert response.status_code == 201
    created = response.get_json()
    assert set(created) == {"id", "name", "scopes", "token", "created_at"}
    assert created["scopes"] == ["submit"] and created["token"].startswith("haul_")

    listed = client.get("/api/v1/tokens", headers=bearer(access)).get_json()
    assert [t["id"] for t in listed] == [created["id"]]
    assert "token" not in listed[0] and listed[0]["scopes"] == ["submit"] and listed[0]["revoked_at"] is None

    assert client.delete(f"/api/v1/tokens/{created['id']}", headers=bearer(access)).status_code == 204
    assert client.get("/api/v1/tokens", headers=bearer(access)).get_json()[0]["revoked_at"]
    assert_error(client.get("/api/v1/auth/me", headers=bearer(created["token"])), 401)


def test_tokens_of_others_are_404(client, alice, admin):
    row, _ = accounts.create_token(admin, "the admin's")
    access = login(client).get_json()["access_token"]
    assert_error(client.delete(f"/api/v1/tokens/{row.id}", headers=bearer(access)), 404, "token_not_found")
    assert_error(client.delete("/api/v1/tokens/999999", headers=bearer(access)), 404)
    assert client.get("/api/v1/tokens", headers=bearer(access)).get_json() == []


@pytest.mark.parametrize("body", [{"name": "x"}, {"name": "x", "scopes": []}, {"name": "x", "scopes": ["root"]},
                                  {"name": "", "scopes": ["read"]}, {"name": "x" * 101, "scopes": ["read"]}])
def test_token_validation_is_422(client, alice, body):
    access = login(client).get_json()["access_token"]
    assert_error(client.post("/api/v1/tokens", json=body, headers=bearer(access)), 422, "validation_error")


def test_no_granting_scopes_one_lacks(client, alice):
    access = login(client).get_json()["access_token"]
    assert_error(client.post("/api/v1/tokens", json={"name": "x", "scopes": ["admin"]}, headers=bearer(access)),
                 403, "insufficient_scope")
    _, read_only = accounts.create_token(alice, "ro", "read")
    assert_error(client.post("/api/v1/tokens", json={"name": "x", "scopes": ["submit"]}, headers=bearer(read_only)),
                 403, "insufficient_scope")


# scopes on /api/v1/queue ---------------------------------------------------------------------

def submit(client, token, url):
    response = client.post("/downloads", json={"urls": [url]}, headers=bearer(token))
    assert response.status_code in (200, 201, 202), response.get_data(as_text=True)
    return response.get_json()["jobs"][0]["id"]


def test_submit_scope_sees_only_its_own_jobs(client, alice):
    _, submit_a = accounts.create_token(alice, "a", "submit")
    _, submit_b = accounts.create_token(alice, "b", "submit")
    _, reader = accounts.create_token(alice, "r", "read")
    job_a = submit(client, submit_a, "https://example.com/a.jpg")
    job_b = submit(client, submit_b, "https://example.com/b.jpg")
    assert client.get(f"/api/v1/queue/{job_a}", headers=bearer(submit_a)).status_code == 200
    assert_error(client.get(f"/api/v1/queue/{job_b}", headers=bearer(submit_a)), 404, "job_not_found")
    # `read` sees every job of the user, but cannot change them.
    assert client.get(f"/api/v1/queue/{job_a}", headers=bearer(reader)).status_code == 200
    assert client.get(f"/api/v1/queue/{job_b}", headers=bearer(reader)).status_code == 200
    assert_error(client.post(f"/api/v1/queue/{job_a}/cancel", headers=bearer(reader)), 403, "insufficient_scope")
    # A submit token cancels its own job, not another token's.
    assert_error(client.post(f"/api/v1/queue/{job_b}/cancel", headers=bearer(submit_a)), 404)
    assert client.post(f"/api/v1/queue/{job_a}/cancel", headers=bearer(submit_a)).status_code == 200


def test_admin_scope_sees_everyones_jobs(client, alice, admin):
    _, alices = accounts.create_token(alice, "a")
    _, admins_admin = accounts.create_token(admin, "adm", "read admin")
    _, admins_plain = accounts.create_token(admin, "plain", "read")
    job = submit(client, alices, "https://example.com/c.jpg")
    assert client.get(f"/api/v1/queue/{job}", headers=bearer(admins_admin)).status_code == 200
    assert client.get(f"/api/v1/queue/{job}", headers=STATIC).status_code == 200
    # An admin's token without the admin scope acts as a plain user.
    assert_error(client.get(f"/api/v1/queue/{job}", headers=bearer(admins_plain)), 404)


def test_a_user_token_cannot_hold_admin(client, alice):
    row, token = accounts.create_token(alice, "sneaky", "read admin")
    assert accounts.resolve_bearer(token, None).scopes == frozenset({"read"})


def test_login_access_token_works_on_the_queue(client, alice):
    access = login(client).get_json()["access_token"]
    job = submit(client, access, "https://example.com/d.jpg")
    assert client.get(f"/api/v1/queue/{job}", headers=bearer(access)).get_json()["id"] == job
    assert db.session.get(Job, job).submission.submitted_via in ("session", "token")


def test_revoked_token_is_401_everywhere(client, alice):
    row, token = accounts.create_token(alice, "gone")
    job = submit(client, token, "https://example.com/e.jpg")
    accounts.revoke_token(row.id)
    for response in (client.get(f"/api/v1/queue/{job}", headers=bearer(token)),
                     client.get("/api/v1/tokens", headers=bearer(token)),
                     client.post(f"/api/v1/queue/{job}/retry", headers=bearer(token))):
        assert_error(response, 401, "invalid_token")


# scopes on the seed API ----------------------------------------------------------------------

def test_seed_api_honours_scopes(client, alice):
    _, submitter = accounts.create_token(alice, "s", "submit")
    _, other_submitter = accounts.create_token(alice, "s2", "submit")
    _, reader = accounts.create_token(alice, "r", "read")
    assert_error(client.post("/downloads", json={"urls": ["https://example.com/f.jpg"]}, headers=bearer(reader)),
                 403, "insufficient_scope")
    response = client.post("/downloads", json={"urls": ["https://example.com/f.jpg"]}, headers=bearer(submitter))
    assert response.status_code == 202
    download_id = response.get_json()["download_id"]
    assert client.get(f"/downloads/{download_id}", headers=bearer(submitter)).status_code == 200
    assert client.get(f"/downloads/{download_id}", headers=bearer(reader)).status_code == 200
    assert_error(client.get(f"/downloads/{download_id}", headers=bearer(other_submitter)), 404, "download_not_found")


def test_ids_beyond_the_database_integer_are_404_not_500(client):
    """Found by the schemathesis run: SQLite cannot bind an id over 2**63-1."""
    huge = 2**70
    assert_error(client.get(f"/api/v1/queue/{huge}", headers=STATIC), 404, "job_not_found")
    assert_error(client.post(f"/api/v1/queue/{huge}/cancel", headers=STATIC), 404)
