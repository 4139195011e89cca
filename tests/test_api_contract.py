"""The seed API (POST/GET /downloads) and /api/v1/queue, in process: shapes, errors, access.

No worker runs here: enqueued wake-up tasks just sit in the session's Huey file, so every
job stays `queued` unless a test changes it.
"""
from __future__ import annotations

import json

import pytest
from conftest import API_TOKEN
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Event, Job
from webapp.models.job import Outcome
from webapp.services.accounts import identity as accounts

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
DOWNLOAD_KEYS = {"download_id", "post_title", "label", "urls", "queued_at", "jobs"}
JOB_KEYS = {"id", "url", "status", "duplicate_of"}




def post_downloads(client, body=None, headers=AUTH, **kwargs):
    if body is not None:
        kwargs["json"] = body
    return client.post("/downloads", headers=headers, **kwargs)


def assert_json_error(response, status, error_code=None):
    """Errors are JSON {"detail", "error_code"} with the given status."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    body = response.get_json()
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["error_code"], str) and body["error_code"]
    if error_code:
        assert body["error_code"] == error_code
    return body


# POST /downloads -----------------------------------------------------------------------------


def test_post_json_body(client):
    """A JSON body answers 202 with exactly the seed contract's keys; each new job is queued."""
    response = post_downloads(
        client,
        {"urls": ["http://example.com/a", "http://example.com/b"], "post_title": "Post", "label": "lbl"},
    )
    assert response.status_code == 202
    body = response.get_json()
    assert set(body) == DOWNLOAD_KEYS
    assert body["post_title"] == "Post"
    assert body["label"] == "lbl"
    assert body["urls"] == ["http://example.com/a", "http://example.com/b"]
    assert body["queued_at"].endswith("Z")
    assert len(body["jobs"]) == 2
    for job, url in zip(body["jobs"], body["urls"]):
        assert set(job) == JOB_KEYS
        assert isinstance(job["id"], int)
        assert job["url"] == url
        assert job["status"] == "queued"
        assert job["duplicate_of"] is None
    assert body["jobs"][0]["id"] != body["jobs"][1]["id"]
    rows = db.session.scalars(select(Job).where(Job.submission_id == body["download_id"])).all()
    assert sorted(j.id for j in rows) == sorted(j["id"] for j in body["jobs"])


def test_post_single_url_field(client):
    """The body may carry one "url" string instead of a "urls" list."""
    response = post_downloads(client, {"url": "http://example.com/single"})
    assert response.status_code == 202
    assert response.get_json()["urls"] == ["http://example.com/single"]


def test_post_query_parameters(client):
    """With no body, url=…&url=…&post_title=…&label=… in the query string works the same."""
    response = client.post(
        "/downloads?url=http://example.com/q1&url=http://example.com/q2&post_title=T&label=L", headers=AUTH
    )
    assert response.status_code == 202
    body = response.get_json()
    assert set(body) == DOWNLOAD_KEYS
    assert body["post_title"] == "T" and body["label"] == "L"
    assert [j["url"] for j in body["jobs"]] == ["http://example.com/q1", "http://example.com/q2"]
    assert [j["status"] for j in body["jobs"]] == ["queued", "queued"]


def test_same_url_again_is_a_duplicate(client):
    """A URL already queued answers with the existing job instead of a new one."""
    first = post_downloads(client, {"urls": ["http://example.com/dup"]}).get_json()["jobs"][0]
    again = post_downloads(client, {"urls": ["http://example.com/dup"]})
    assert again.status_code == 202
    job = again.get_json()["jobs"][0]
    assert job["status"] == "duplicate"
    assert job["duplicate_of"] == first["id"]
    assert job["id"] == first["id"]
    assert db.session.query(Job).filter_by(url="http://example.com/dup").count() == 1


def test_same_url_twice_in_one_request(client):
    """The second mention of a URL in one request is a duplicate of the first."""
    body = post_downloads(client, {"urls": ["http://example.com/twice", "http://example.com/twice"]}).get_json()
    first, second = body["jobs"]
    assert first["status"] == "queued" and first["duplicate_of"] is None
    assert second["status"] == "duplicate" and second["duplicate_of"] == first["id"]
    assert db.session.query(Job).filter_by(url="http://example.com/twice").count() == 1


def test_force_makes_a_new_job(client):
    """"force": true queues the URL again even though it is already queued."""
    first = post_downloads(client, {"urls": ["http://example.com/forced"]}).get_json()["jobs"][0]
    forced = post_downloads(client, {"urls": ["http://example.com/forced"], "force": True}).get_json()["jobs"][0]
    assert forced["status"] == "queued"
    assert forced["duplicate_of"] is None
    assert forced["id"] != first["id"]


def test_normalisation_dedupes(client):
    """HTTP://Example.COM:80/a#frag is the same link as http://example.com/a."""
    first = post_downloads(client, {"urls": ["http://example.com/a"]}).get_json()["jobs"][0]
    body = post_downloads(client, {"urls": ["HTTP://Example.COM:80/a#frag"]}).get_json()
    assert body["urls"] == ["http://example.com/a"]
    assert body["jobs"][0]["status"] == "duplicate"
    assert body["jobs"][0]["duplicate_of"] == first["id"]


def test_cancelled_url_can_be_sent_again(client):
    """A cancelled job does not block the URL: sending it again makes a new job."""
    first = post_downloads(client, {"urls": ["http://example.com/again"]}).get_json()["jobs"][0]
    assert client.post(f"/api/v1/queue/{first['id']}/cancel", headers=AUTH).status_code == 200
    second = post_downloads(client, {"urls": ["http://example.com/again"]}).get_json()["jobs"][0]
    assert second["status"] == "queued" and second["id"] != first["id"]


# GET /downloads/<id> -------------------------------------------------------------------------


def test_get_download(client):
    """GET answers the same object, each job with its progress, error and files."""
    posted = post_downloads(client, {"urls": ["http://example.com/g1", "http://example.com/g1"], "label": "x"})
    posted = posted.get_json()
    response = client.get(f"/downloads/{posted['download_id']}", headers=AUTH)
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == DOWNLOAD_KEYS
    for key in ("download_id", "post_title", "label", "urls", "queued_at"):
        assert body[key] == posted[key]
    assert len(body["jobs"]) == 2
    for got, sent in zip(body["jobs"], posted["jobs"]):
        assert set(got) == JOB_KEYS | {"progress", "error", "files"}
        assert {k: got[k] for k in JOB_KEYS} == sent
        assert got["error"] is None
        assert got["files"] == []
        assert got["progress"]["bytes_done"] == 0
        assert got["progress"]["percent"] is None


def test_get_unknown_download_is_404_json(client):
    """An unknown download id answers 404 JSON."""
    response = client.get("/downloads/00000000-0000-0000-0000-000000000000", headers=AUTH)
    assert_json_error(response, 404, "download_not_found")


# Errors --------------------------------------------------------------------------------------


def test_no_token_is_401_with_challenge(client):
    """No token: 401 JSON with a WWW-Authenticate header."""
    response = client.post("/downloads", json={"urls": ["http://example.com/x"]})
    assert_json_error(response, 401, "missing_token")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert db.session.query(Job).count() == 0


def test_wrong_token_is_401(client):
    """A token nobody issued: 401 JSON."""
    response = post_downloads(client, {"urls": ["http://example.com/x"]}, headers={"Authorization": "Bearer nope-nope"})
    assert_json_error(response, 401, "invalid_token")
    assert "WWW-Authenticate" in response.headers
    assert db.session.query(Job).count() == 0


def test_get_without_token_is_401(client):
    """Reading a download needs a token too."""
    assert_json_error(client.get("/downloads/whatever"), 401)
    assert_json_error(client.get("/api/v1/queue/1"), 401)


@pytest.mark.parametrize(
    ("data", "status", "error_code"),
    [
        ("{not json", 400, "invalid_json"),
        ('"just a string"', 400, "invalid_body"),
        ('["http://example.com/a"]', 400, "invalid_body"),
        ("{}", 400, "no_urls"),
        ('{"urls": []}', 400, "no_urls"),
        ('{"urls": ""}', 400, "no_urls"),
        ('{"urls": 5}', 400, "invalid_body"),
        ('{"urls": {"a": 1}}', 400, "invalid_body"),
        ('{"urls": ["http://example.com/a"], "post_title": 5}', 422, "invalid_post_title"),
        ('{"urls": ["http://example.com/a"], "label": "' + "x" * 301 + '"}', 422, "invalid_label"),
        ('{"urls": ["http://example.com/a"], "force": "yes"}', 422, "invalid_force"),
        ('{"urls": ["http://example.com/a"], "engine": "wget"}', 422, "invalid_engine"),
    ],
)
def test_bad_bodies(client, data, status, error_code):
    """Bad bodies are JSON errors (never 500) and queue nothing."""
    response = client.post("/downloads", data=data, headers={**AUTH, "Content-Type": "application/json"})
    assert_json_error(response, status, error_code)
    assert db.session.query(Job).count() == 0


def test_no_urls_in_query_form(client):
    """No body and no url parameters: 400 no_urls."""
    assert_json_error(client.post("/downloads?label=x", headers=AUTH), 400, "no_urls")


def test_invalid_urls_are_422_naming_each(client):
    """Every bad URL is named in the detail and listed in invalid_urls; nothing is queued."""
    bad = ["ftp://example.com/f", "javascript:alert(1)", "http://user:pw@example.com/"]
    response = post_downloads(client, {"urls": ["http://example.com/fine", *bad, 7]})
    body = assert_json_error(response, 422, "invalid_urls")
    for url in bad:
        assert url in body["detail"]
    listed = body["invalid_urls"]
    assert [item["url"] for item in listed] == [*bad, "7"]
    assert all(item["reason"] for item in listed)
    assert db.session.query(Job).count() == 0


def test_too_many_urls_is_422(client):
    """At most 200 URLs per request."""
    urls = [f"http://example.com/{i}" for i in range(201)]
    assert_json_error(post_downloads(client, {"urls": urls}), 422, "too_many_urls")
    assert db.session.query(Job).count() == 0


def test_two_hundred_urls_are_fine(client):
    """Exactly 200 URLs are accepted."""
    urls = [f"http://example.com/{i}" for i in range(200)]
    response = post_downloads(client, {"urls": urls})
    assert response.status_code == 202
    assert len(response.get_json()["jobs"]) == 200


def test_body_over_one_mib_is_413(client):
    """A body over 1 MiB is refused with 413 JSON."""
    data = json.dumps({"urls": ["http://example.com/a"], "label": "x" * (1024 * 1024)})
    response = client.post("/downloads", data=data, headers={**AUTH, "Content-Type": "application/json"})
    assert_json_error(response, 413)
    assert db.session.query(Job).count() == 0


# /api/v1/queue/<id> ---------------------------------------------------------------------------


def _one_job(client, url="http://example.com/q", headers=AUTH) -> int:
    response = post_downloads(client, {"urls": [url]}, headers=headers)
    assert response.status_code == 202
    return response.get_json()["jobs"][0]["id"]


def test_queue_show(client):
    """GET /api/v1/queue/<id> answers the job."""
    job_id = _one_job(client)
    response = client.get(f"/api/v1/queue/{job_id}", headers=AUTH)
    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == job_id
    assert body["url"] == "http://example.com/q"
    assert body["domain"] == "example.com"
    assert body["status"] == "queued"
    assert body["attempts"] == 0
    assert body["files"] == []


def test_queue_unknown_is_404(client):
    """An unknown job id answers 404 JSON."""
    assert_json_error(client.get("/api/v1/queue/999999", headers=AUTH), 404, "job_not_found")
    assert_json_error(client.post("/api/v1/queue/999999/cancel", headers=AUTH), 404)
    assert_json_error(client.post("/api/v1/queue/999999/retry", headers=AUTH), 404)


def test_cancel_and_retry(client):
    """Cancel a queued job (200, event recorded), not twice (409); retry it (202); not while queued (409)."""
    job_id = _one_job(client)

    response = client.post(f"/api/v1/queue/{job_id}/cancel", headers=AUTH)
    assert response.status_code == 200
    assert response.get_json()["status"] == "cancelled"
    assert response.get_json()["finished_at"] is not None
    assert db.session.scalar(select(Event).where(Event.job_id == job_id, Event.type == "cancelled")) is not None

    assert_json_error(client.post(f"/api/v1/queue/{job_id}/cancel", headers=AUTH), 409, "not_cancellable")

    response = client.post(f"/api/v1/queue/{job_id}/retry", headers=AUTH)
    assert response.status_code == 202
    assert response.get_json()["status"] == "queued"
    assert response.get_json()["finished_at"] is None

    assert_json_error(client.post(f"/api/v1/queue/{job_id}/retry", headers=AUTH), 409, "not_retryable")


def test_retry_refused_when_the_url_was_queued_again(client):
    """Retrying a cancelled job whose URL has a newer active job is a 409 naming that job."""
    old = _one_job(client, "http://example.com/r")
    client.post(f"/api/v1/queue/{old}/cancel", headers=AUTH)
    new = _one_job(client, "http://example.com/r")
    body = assert_json_error(client.post(f"/api/v1/queue/{old}/retry", headers=AUTH), 409, "duplicate")
    assert body["duplicate_of"] == new


# Who sees what ------------------------------------------------------------------------------


def test_users_see_only_their_own_jobs(client):
    """A user's token cannot see an admin-submitted job (404), sees its own; the admin sees both."""
    user = accounts.create_user("alice", "longpassword")
    _, token = accounts.create_token(user, "script")
    as_user = {"Authorization": f"Bearer {token}"}

    admin_job = _one_job(client, "http://example.com/admins")
    assert_json_error(client.get(f"/api/v1/queue/{admin_job}", headers=as_user), 404, "job_not_found")
    assert_json_error(client.post(f"/api/v1/queue/{admin_job}/cancel", headers=as_user), 404)

    posted = post_downloads(client, {"urls": ["http://example.com/users"]}, headers=as_user).get_json()
    user_job = posted["jobs"][0]["id"]
    assert client.get(f"/api/v1/queue/{user_job}", headers=as_user).status_code == 200
    assert client.get(f"/downloads/{posted['download_id']}", headers=as_user).status_code == 200

    assert client.get(f"/api/v1/queue/{user_job}", headers=AUTH).status_code == 200
    assert client.get(f"/downloads/{posted['download_id']}", headers=AUTH).status_code == 200
    assert db.session.get(Job, user_job).user_id == user.id


def test_users_cannot_read_others_downloads(client):
    """GET /downloads/<id> of someone else's submission is 404 for a user."""
    user = accounts.create_user("alice", "longpassword")
    _, token = accounts.create_token(user, "script")
    download_id = post_downloads(client, {"urls": ["http://example.com/hidden"]}).get_json()["download_id"]
    response = client.get(f"/downloads/{download_id}", headers={"Authorization": f"Bearer {token}"})
    assert_json_error(response, 404, "download_not_found")


def test_a_duplicate_of_someone_elses_job_shows_only_its_id_url_and_status(client):
    """The attack: a user sends a link they suspect the admin downloaded, then reads their own
    download: the duplicate names the admin's job but not its files, paths, error or current file."""
    from webapp.models import JobFile

    user = accounts.create_user("alice", "longpassword")
    as_user = {"Authorization": f"Bearer {accounts.create_token(user, 'script')[1]}"}
    admin_job = _one_job(client, "https://example.com/admins-private-video")
    job = db.session.get(Job, admin_job)
    job.claim("tests")
    job.finish(Outcome.COMPLETED)
    job.error, job.current_file = "secret error text", "Private/secret-current.mp4"
    job.files.append(JobFile(path="Private/example.com/x/secret-name.mp4", size=5, sha256="0" * 64, mime="video/mp4"))
    db.session.commit()

    posted = post_downloads(client, {"urls": ["https://example.com/admins-private-video"]}, headers=as_user)
    assert posted.status_code == 202
    answer = client.get(f"/downloads/{posted.get_json()['download_id']}", headers=as_user)
    [entry] = answer.get_json()["jobs"]
    assert (entry["id"], entry["status"], entry["duplicate_of"]) == (admin_job, "duplicate", admin_job)
    assert entry["files"] == [] and entry["error"] is None and entry["progress"] is None
    assert "secret" not in answer.get_data(as_text=True) and "Private" not in answer.get_data(as_text=True)
    # The admin, reading the same download, sees the job in full.
    full = client.get(f"/downloads/{posted.get_json()['download_id']}", headers=AUTH).get_json()["jobs"][0]
    assert full["files"][0]["path"] == "Private/example.com/x/secret-name.mp4"


def test_revoked_token_is_refused(client):
    """A revoked personal token answers 401."""
    user = accounts.create_user("alice", "longpassword")
    row, token = accounts.create_token(user, "script")
    accounts.revoke_token(row.id)
    response = post_downloads(client, {"urls": ["http://example.com/x"]}, headers={"Authorization": f"Bearer {token}"})
    assert_json_error(response, 401, "invalid_token")


# CSRF ----------------------------------------------------------------------------------------


def test_csrf_is_on_for_forms_and_off_for_bearer_api(app, client):
    """Form posts need a CSRF token (400 without); the bearer-token API needs none."""
    assert app.config.get("WTF_CSRF_ENABLED", True) is True
    accounts.create_user("alice", "longpassword")  # so /login does not redirect to /setup
    response = client.post("/login", data={"username": "alice", "password": "longpassword"})
    assert response.status_code == 400
    with client.session_transaction() as session:
        assert "_user_id" not in session  # not signed in
    assert post_downloads(client, {"urls": ["http://example.com/csrf"]}).status_code == 202


def test_wrong_method_is_405_json(client):
    """A wrong method on an API path is 405 JSON with an Allow header."""
    response = client.get("/downloads", headers=AUTH)
    body = assert_json_error(response, 405, "method_not_allowed")
    assert body["detail"]
    assert "POST" in response.headers["Allow"]
