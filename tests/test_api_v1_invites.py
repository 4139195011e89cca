"""/api/v1/invites in process: statuses and shapes, access for every kind of caller, every
writable field, validation (422 with per-field errors or the service's error code), unknown and
huge ids (404), pagination, and the password never coming back. Ends with schemathesis over
these five operations (tests/test_api_fuzz.py's list of resources does not name invites).
"""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import API_TOKEN, assert_api_error
from sqlalchemy import select, update

from webapp.extensions import db
from webapp.models import Invite
from webapp.models.base import utcnow
from webapp.services.accounts import identity as accounts
from webapp.services.guests import invites

INVITE_KEYS = {"id", "name", "post_title", "expires_at", "max_uses", "uses", "has_password", "allow_uploads",
               "allow_urls", "allow_private_urls", "max_file_bytes", "max_total_bytes", "allowed_kinds", "preset",
               "enabled", "state", "token", "url", "created_at", "last_used_at", "items", "bytes", "sessions"}
CALLERS = ("anonymous", "revoked", "submit", "read", "user", "admin_read", "admin", "static")
ALLOWED = {"admin", "static"}
PASSWORD = "open-sesame-42"


@pytest.fixture
def callers(api_callers):
    """api_callers plus an admin's token without the admin scope (scopes, not roles, decide)."""
    api_callers["admin_read"] = {
        "Authorization": f"Bearer {accounts.create_token(api_callers.root, 'read only', 'read submit')[1]}"}
    return api_callers


@pytest.fixture
def admin(callers):
    return callers["admin"]


def create(client, headers, **fields) -> dict:
    response = client.post("/api/v1/invites", json={"name": "Party", **fields}, headers=headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def new_invite_id(who: str) -> int:
    return invites.create_invite(None, {"name": f"target-{who}"}).id


ENDPOINTS = [
    ("get", lambda who: "/api/v1/invites", None, 200),
    ("post", lambda who: "/api/v1/invites", {"name": "Created by a caller"}, 201),
    ("get", lambda who: f"/api/v1/invites/{new_invite_id(who)}", None, 200),
    ("patch", lambda who: f"/api/v1/invites/{new_invite_id(who)}", {"enabled": False}, 200),
    ("delete", lambda who: f"/api/v1/invites/{new_invite_id(who)}", None, 204),
]


@pytest.mark.parametrize("method, path, body, success", ENDPOINTS,
                         ids=["list", "create", "show", "patch", "delete"])
def test_access_for_every_kind_of_caller(client, callers, method, path, body, success):
    """No or a revoked token: 401. Only the admin scope (an admin's token, the static token) may;
    everyone else gets 403 before anything is looked at or changed."""
    for who in CALLERS:
        url = path(who)
        before = db.session.execute(select(Invite.id, Invite.name, Invite.enabled)).all()
        response = getattr(client, method)(url, json=body, headers=callers[who])
        if who in ALLOWED:
            assert response.status_code == success, (who, response.get_data(as_text=True))
            assert response.headers["X-Request-ID"]
            continue
        if who in ("anonymous", "revoked"):
            assert_api_error(response, 401)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
        else:
            error = assert_api_error(response, 403)
            assert error["error_code"] in ("insufficient_scope", "admin_required"), (who, error)
        db.session.expire_all()
        # Refused: nothing was created, changed or deleted.
        assert db.session.execute(select(Invite.id, Invite.name, Invite.enabled)).all() == before


def test_the_admin_check_comes_before_the_body_is_read(client, callers):
    """An anonymous or non-admin caller with a bad body learns nothing about the rules: 401/403, not 422."""
    assert_api_error(client.post("/api/v1/invites", json={"max_uses": 0}), 401)
    assert_api_error(client.post("/api/v1/invites", json={"max_uses": 0}, headers=callers["user"]), 403)
    assert_api_error(client.patch("/api/v1/invites/1", json={"bogus": 1}, headers=callers["read"]), 403)


# -- create and show ----------------------------------------------------------------------------------


def test_create_answers_201_with_the_invite_and_its_address(client, admin, callers):
    response = client.post("/api/v1/invites", headers=admin, json={"name": "Party", "password": PASSWORD})
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == INVITE_KEYS
    assert response.headers["Location"].endswith(f"/api/v1/invites/{body['id']}")
    assert body["name"] == "Party" and body["post_title"] is None and body["expires_at"] is None
    assert (body["max_uses"], body["uses"], body["items"], body["bytes"], body["sessions"]) == (None, 0, 0, 0, 0)
    assert (body["allow_uploads"], body["allow_urls"], body["allow_private_urls"]) == (True, True, False)
    assert body["allowed_kinds"] == ["image", "video"] and body["enabled"] is True and body["state"] == "active"
    assert body["has_password"] is True and "password" not in body
    assert body["url"] == f"http://localhost/i/{body['token']}"
    assert body["created_at"].endswith("Z") and body["last_used_at"] is None
    invite = db.session.get(Invite, body["id"])
    assert invite.created_by == callers.root.id
    assert invites.find_by_token(body["token"]).id == body["id"]

    shown = client.get(f"/api/v1/invites/{body['id']}", headers=admin)
    assert shown.status_code == 200 and shown.get_json() == body


def test_create_with_every_field(client, admin):
    expires = (utcnow() + timedelta(days=3)).replace(microsecond=0)
    body = create(client, admin, name="  Band   videos ", post_title="Rehearsal", expires_at=expires.isoformat(),
                  max_uses=1, password=PASSWORD, allow_uploads=True, allow_urls=False, allow_private_urls=True,
                  max_file_bytes=5 * 1024**3, max_total_bytes=20 * 1024**3, allowed_kinds=["video", "audio"],
                  enabled=False)
    assert body["name"] == "Band videos"
    assert body["expires_at"] == expires.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert (body["max_uses"], body["allow_urls"], body["allow_private_urls"]) == (1, False, True)
    assert (body["max_file_bytes"], body["max_total_bytes"]) == (5 * 1024**3, 20 * 1024**3)
    assert body["allowed_kinds"] == ["video", "audio"] and body["enabled"] is False and body["state"] == "disabled"


def test_the_password_never_comes_back(client, admin):
    body = create(client, admin, password=PASSWORD)
    answers = [
        client.get("/api/v1/invites", headers=admin),
        client.get(f"/api/v1/invites/{body['id']}", headers=admin),
        client.patch(f"/api/v1/invites/{body['id']}", json={"password": "another-password"}, headers=admin),
    ]
    for response in answers:
        text = response.get_data(as_text=True)
        assert response.status_code == 200
        assert PASSWORD not in text and "another-password" not in text
        assert "password_hash" not in text and '"password"' not in text and "pbkdf2" not in text and "scrypt" not in text
    invite = db.session.get(Invite, body["id"])
    guest = invites.open_session(invite, None)
    assert invites.check_password(invite, guest, "another-password")


@pytest.mark.parametrize("invite_id", ["0", "999", str(2**63 - 1), str(2**63), str(10**30)])
def test_unknown_and_huge_ids_are_404(client, admin, invite_id):
    for method in ("get", "patch", "delete"):
        response = getattr(client, method)(f"/api/v1/invites/{invite_id}", headers=admin,
                                           json={"name": "x"} if method == "patch" else None)
        assert_api_error(response, 404, "invite_not_found")


def test_a_negative_or_non_numeric_id_is_404(client, admin):
    for path in ("/api/v1/invites/-1", "/api/v1/invites/abc", "/api/v1/invites/1.5"):
        assert_api_error(client.get(path, headers=admin), 404)


def test_the_public_upload_pages_invite_is_not_listed_nor_found(client, admin):
    public = create(client, admin, name="Public page")
    db.session.execute(update(Invite).where(Invite.id == public["id"]).values(is_public_page=True))
    db.session.commit()
    assert client.get("/api/v1/invites", headers=admin).get_json()["total"] == 0
    assert_api_error(client.get(f"/api/v1/invites/{public['id']}", headers=admin), 404, "invite_not_found")
    assert_api_error(client.delete(f"/api/v1/invites/{public['id']}", headers=admin), 404, "invite_not_found")


# -- validation -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("body, error_code, field", [
    ({}, "validation_error", "name"),
    ({"name": ""}, "validation_error", "name"),
    ({"name": "x" * 101}, "validation_error", "name"),
    ({"name": 5}, "validation_error", "name"),
    ({"name": "P", "max_uses": 0}, "validation_error", "max_uses"),
    ({"name": "P", "max_uses": "3"}, "validation_error", "max_uses"),
    ({"name": "P", "max_uses": 1_000_001}, "validation_error", "max_uses"),
    ({"name": "P", "max_file_bytes": 0}, "validation_error", "max_file_bytes"),
    ({"name": "P", "max_total_bytes": 2**62 + 1}, "validation_error", "max_total_bytes"),
    ({"name": "P", "allowed_kinds": ["exe"]}, "validation_error", "allowed_kinds"),
    ({"name": "P", "allowed_kinds": []}, "validation_error", "allowed_kinds"),
    ({"name": "P", "password": "abc"}, "validation_error", "password"),
    ({"name": "P", "expires_at": "tomorrow"}, "validation_error", "expires_at"),
    ({"name": "P", "expires_at": "2099-01-01T00:00:00"}, "validation_error", "expires_at"),  # no offset
    ({"name": "P", "enabled": "perhaps"}, "validation_error", "enabled"),
    ({"name": "P", "uses": 3}, "validation_error", "uses"),  # read-only
    ({"name": "P", "token": "mine"}, "validation_error", "token"),
])
def test_bad_bodies_are_422_with_per_field_errors(client, admin, body, error_code, field):
    error = assert_api_error(client.post("/api/v1/invites", json=body, headers=admin), 422, error_code)
    assert field in error["errors"]["json"], error
    assert db.session.scalars(select(Invite)).all() == []


@pytest.mark.parametrize("body, error_code", [
    ({"name": "   "}, "invalid_name"),
    ({"name": "bad\u0000name"}, "invalid_name"),
    ({"name": "P", "expires_at": "2001-01-01T00:00:00Z"}, "expires_in_past"),
    ({"name": "P", "allow_uploads": False, "allow_urls": False}, "nothing_allowed"),
])
def test_rules_the_service_checks_are_422_with_their_code(client, admin, body, error_code):
    assert_api_error(client.post("/api/v1/invites", json=body, headers=admin), 422, error_code)
    assert db.session.scalars(select(Invite)).all() == []


def test_a_body_that_is_not_an_object_is_422(client, admin):
    for data in ("[1, 2]", '"name"', "not json"):
        response = client.post("/api/v1/invites", data=data, content_type="application/json", headers=admin)
        assert response.status_code in (400, 422)
        assert_api_error(response, response.status_code)


# -- changing -------------------------------------------------------------------------------------------


def test_patch_changes_only_what_it_names(client, admin):
    body = create(client, admin, post_title="Folder", max_uses=3, password=PASSWORD, max_file_bytes=1000)
    url = f"/api/v1/invites/{body['id']}"
    expires = (utcnow() + timedelta(hours=5)).replace(microsecond=0)
    changes = [
        ({"name": "Renamed"}, {"name": "Renamed"}),
        ({"post_title": None}, {"post_title": None}),
        ({"expires_at": expires.isoformat()}, {"expires_at": expires.strftime("%Y-%m-%dT%H:%M:%S.000Z")}),
        ({"expires_at": None}, {"expires_at": None}),
        ({"max_uses": 1}, {"max_uses": 1}),
        ({"max_uses": None}, {"max_uses": None}),
        ({"password": None}, {"has_password": False}),
        ({"password": "new-password"}, {"has_password": True}),
        ({"allow_uploads": False}, {"allow_uploads": False}),
        ({"allow_urls": False, "allow_uploads": True}, {"allow_urls": False, "allow_uploads": True}),
        ({"allow_private_urls": True}, {"allow_private_urls": True}),
        ({"max_file_bytes": None, "max_total_bytes": 42}, {"max_file_bytes": None, "max_total_bytes": 42}),
        ({"allowed_kinds": ["other"]}, {"allowed_kinds": ["other"]}),
        ({"enabled": False}, {"enabled": False, "state": "disabled"}),
        ({"enabled": True}, {"enabled": True, "state": "active"}),
    ]
    current = body
    for patch, expected in changes:
        response = client.patch(url, json=patch, headers=admin)
        assert response.status_code == 200, (patch, response.get_data(as_text=True))
        answer = response.get_json()
        assert set(answer) == INVITE_KEYS
        assert {key: answer[key] for key in expected} == expected, patch
        untouched = set(INVITE_KEYS) - set(expected) - {"items", "bytes", "sessions"}
        assert {k: answer[k] for k in untouched} == {k: current[k] for k in untouched}, patch
        assert client.get(url, headers=admin).get_json() == answer
        current = answer
    assert current["token"] == body["token"]  # changing an invite keeps its link


def test_an_empty_patch_changes_nothing(client, admin):
    body = create(client, admin)
    response = client.patch(f"/api/v1/invites/{body['id']}", json={}, headers=admin)
    assert response.status_code == 200 and response.get_json() == body


@pytest.mark.parametrize("patch, error_code", [
    ({"name": ""}, "validation_error"),
    ({"max_uses": -1}, "validation_error"),
    ({"id": 5}, "validation_error"),
    ({"state": "active"}, "validation_error"),
    ({"has_password": False}, "validation_error"),
    ({"allow_uploads": False, "allow_urls": False}, "nothing_allowed"),
    ({"expires_at": "1999-12-31T23:59:59+00:00"}, "expires_in_past"),
    ({"name": "Fine", "allowed_kinds": ["nope"]}, "validation_error"),
])
def test_a_refused_patch_is_422_and_changes_nothing(client, admin, patch, error_code):
    body = create(client, admin, post_title="Before")
    url = f"/api/v1/invites/{body['id']}"
    assert_api_error(client.patch(url, json={**patch, "post_title": "After"}, headers=admin), 422, error_code)
    assert client.get(url, headers=admin).get_json() == body


def test_an_expired_invite_can_be_renamed_with_its_expiry_sent_back(client, admin):
    """A client that sends the whole object back keeps working once the link has expired."""
    body = create(client, admin, expires_at=(utcnow() + timedelta(hours=1)).isoformat())
    past = utcnow() - timedelta(hours=1)
    db.session.execute(update(Invite).where(Invite.id == body["id"]).values(expires_at=past))
    db.session.commit()
    shown = client.get(f"/api/v1/invites/{body['id']}", headers=admin).get_json()
    assert shown["state"] == "expired"
    writable = {key: shown[key] for key in ("name", "post_title", "expires_at", "max_uses", "allow_uploads",
                                            "allow_urls", "allow_private_urls", "max_file_bytes", "max_total_bytes",
                                            "allowed_kinds", "enabled")}
    response = client.patch(f"/api/v1/invites/{body['id']}", json={**writable, "name": "Renamed"}, headers=admin)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["name"] == "Renamed" and response.get_json()["state"] == "expired"


# -- deleting -------------------------------------------------------------------------------------------


def test_delete_answers_204_and_the_link_stops_working(client, admin):
    body = create(client, admin)
    url = f"/api/v1/invites/{body['id']}"
    response = client.delete(url, headers=admin)
    assert response.status_code == 204 and response.get_data() == b""
    assert invites.find_by_token(body["token"]) is None
    assert_api_error(client.get(url, headers=admin), 404, "invite_not_found")
    assert_api_error(client.delete(url, headers=admin), 404, "invite_not_found")


# -- the list -------------------------------------------------------------------------------------------


def test_the_list_pages_with_total_and_link_headers(client, admin):
    ids = [create(client, admin, name=f"Link {n:02d}")["id"] for n in range(5)]
    response = client.get("/api/v1/invites?per_page=2&page=2", headers=admin)
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"items", "total", "page", "per_page", "pages"}
    assert (body["total"], body["page"], body["per_page"], body["pages"]) == (5, 2, 2, 3)
    assert [item["id"] for item in body["items"]] == [ids[2], ids[1]]  # newest first
    assert all(set(item) == INVITE_KEYS for item in body["items"])
    assert response.headers["X-Total-Count"] == "5"
    links = {}
    for part in response.headers["Link"].split(", "):
        target, rel = part.split("; ")
        links[rel.split('"')[1]] = parse_qs(urlsplit(target.strip("<>")).query)
    assert set(links) == {"first", "prev", "next", "last"}
    assert links["next"]["page"] == ["3"] and links["last"]["page"] == ["3"] and links["prev"]["page"] == ["1"]
    assert links["next"]["per_page"] == ["2"]


def test_the_list_searches_and_sorts(client, admin):
    create(client, admin, name="Summer party", post_title="Beach")
    create(client, admin, name="band", post_title="Summer tour")
    create(client, admin, name="Autumn")
    names = lambda query: [i["name"] for i in client.get(f"/api/v1/invites?{query}", headers=admin).get_json()["items"]]  # noqa: E731
    assert names("q=SUMMER&sort=name") == ["band", "Summer party"]
    assert names("q=beach") == ["Summer party"]
    assert names("sort=name&order=desc") == ["Summer party", "band", "Autumn"]
    assert names("sort=created&order=asc") == ["Summer party", "band", "Autumn"]
    assert names("q=nothing-like-this") == []


@pytest.mark.parametrize("query", ["sort=password", "order=sideways", "per_page=0", "per_page=201", "page=0",
                                   "page=x", "q=" + "x" * 201])
def test_bad_list_arguments_are_422(client, admin, query):
    assert_api_error(client.get(f"/api/v1/invites?{query}", headers=admin), 422)


def test_the_list_shows_what_came_through_each_link(client, admin):
    body = create(client, admin)
    invite = db.session.get(Invite, body["id"])
    guest = invites.open_session(invite, None)
    invites.count_use(guest)
    db.session.commit()
    item = client.get("/api/v1/invites", headers=admin).get_json()["items"][0]
    assert (item["uses"], item["sessions"], item["state"]) == (1, 1, "active")
    assert item["last_used_at"] is not None


def test_after_a_new_secret_key_the_api_hands_out_the_new_working_link(app, client, admin):
    body = create(client, admin)
    app.config["SECRET_KEY"] = "rotated-secret-key"
    item = client.get("/api/v1/invites", headers=admin).get_json()["items"][0]
    assert item["token"] != body["token"]
    assert invites.find_by_token(item["token"]).id == body["id"]
    assert invites.find_by_token(body["token"]) is None


# -- the document, and generated requests ----------------------------------------------------------------


def test_the_document_describes_the_invite_operations(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    paths = spec["paths"]
    assert set(paths["/api/v1/invites"]) >= {"get", "post"}
    assert set(paths["/api/v1/invites/{invite_id}"]) >= {"get", "patch", "delete"}
    schema = spec["components"]["schemas"]["Invite"]
    assert set(schema["properties"]) == INVITE_KEYS and "password" not in schema["properties"]
    create_schema = spec["components"]["schemas"]["InviteCreate"]
    assert create_schema["required"] == ["name"]
    assert create_schema["properties"]["password"]["writeOnly"] is True
    assert paths["/api/v1/invites"]["post"]["responses"]["201"]["headers"]["Location"]
    for path in ("/api/v1/invites", "/api/v1/invites/{invite_id}"):
        for operation in paths[path].values():
            if isinstance(operation, dict) and "responses" in operation:
                assert {"401", "403"} <= set(operation["responses"]), operation.get("summary")
                assert operation["security"] == [{"bearer": []}]


@pytest.mark.timeout(200)
def test_generated_requests_get_no_5xx_and_answers_match_the_document(app, client):
    """Schemathesis on the five invite operations with the static (admin) token. "Valid data
    accepted" is not checked for POST/PATCH: an expiry already past and "neither uploads nor
    links" are rules the document cannot state (422 with their own code)."""
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings
    from schemathesis.specs.openapi.checks import positive_data_acceptance

    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    operations = [op for op in operations if op.path.startswith("/api/v1/invites")]
    assert sorted(op.label for op in operations) == [
        "DELETE /api/v1/invites/{invite_id}", "GET /api/v1/invites", "GET /api/v1/invites/{invite_id}",
        "PATCH /api/v1/invites/{invite_id}", "POST /api/v1/invites"]
    invites.create_invite(None, {"name": "Target 1"})  # ids the generated requests may hit
    invites.create_invite(None, {"name": "Target 2"})
    from webapp.extensions import limiter

    limiter.enabled = False  # generated wrong tokens would soon be answered 429 (tests/test_sessions.py)
    try:
        for operation in operations:
            excluded = [positive_data_acceptance] if operation.method.upper() in ("POST", "PATCH") else []

            @given(case=operation.as_strategy())
            @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def check(case):
                case.call_and_validate(headers={"Authorization": f"Bearer {API_TOKEN}"}, excluded_checks=excluded)

            check()
    finally:
        limiter.enabled = True
    # Whatever was generated, no stored invite lost its link or hash.
    for invite in db.session.scalars(select(Invite)):
        assert invite.token_hash == invites.hash_token(invites.token_for(invite))
