"""The iOS Shortcuts endpoints in process: access for every kind of caller, the answers' shapes,
duplicates, the base64 upload stored in the library (right folder, right hash, never outside the
storage root, never twice), its limits, and schemathesis over these four operations."""
from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from conftest import API_TOKEN, assert_api_error
from sqlalchemy import func, select

from webapp.api.schemas.shortcuts import MAX_BASE64_BODY_BYTES
from webapp.extensions import db
from webapp.models import Job, JobFile, Submission

CALLERS = ("anonymous", "revoked", "submit", "read", "user", "admin", "static")
SUBMITTERS = {"submit", "user", "admin", "static"}
READERS = {"read", "user", "admin", "static"}
JOB_KEYS = {"id", "download_id", "url", "domain", "status", "engine", "requested_engine", "preset", "priority",
            "source",
            "submitted_by", "title", "resource_id", "progress", "error", "attempts", "files", "created_at",
            "started_at", "finished_at", "duplicate", "kind", "parent_id", "position", "item_key", "duplicate_of",
            "run_now", "scheduled_for"}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def job_count() -> int:
    return db.session.scalar(select(func.count(Job.id)))


def partial_files(settings) -> list[Path]:
    folder = settings.data_dir / "partial"
    return [p for p in folder.iterdir() if p.name.startswith("api-")] if folder.exists() else []


ENDPOINTS = [
    ("post", "/api/v1/upload/url", lambda who: {"url": f"https://example.com/share/{who}.jpg"}, SUBMITTERS, 201),
    ("post", "/api/v1/upload/urls",
     lambda who: {"urls": [f"https://example.com/a/{who}", f"https://example.org/b/{who}"]}, SUBMITTERS, 201),
    ("post", "/api/v1/upload/base64", lambda who: {"filename": f"{who}.txt", "data": b64(f"file of {who}".encode())},
     SUBMITTERS, 201),
    ("get", "/api/v1/supported-platforms", None, READERS, 200),
]


@pytest.mark.parametrize("method, path, body, allowed, success", ENDPOINTS, ids=[e[1] for e in ENDPOINTS])
def test_access_for_every_kind_of_caller(client, api_callers, method, path, body, allowed, success):
    """No or a revoked token: 401; the uploads need the submit scope (a read-only token: 403), the
    platforms list the read scope (a submit-only token: 403); nothing is queued for a refused caller."""
    for who in CALLERS:
        before = job_count()
        response = getattr(client, method)(path, json=body(who) if body else None, headers=api_callers[who])
        if who in ("anonymous", "revoked"):
            assert_api_error(response, 401)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
        elif who not in allowed:
            assert_api_error(response, 403, "insufficient_scope")
        else:
            assert response.status_code == success, (who, response.get_data(as_text=True))
            assert response.headers["X-Request-ID"]
            continue
        assert job_count() == before, who


# Links ------------------------------------------------------------------------------------------


def test_one_link_is_queued_with_the_queue_apis_job(client, api_callers):
    response = client.post("/api/v1/upload/url", json={"url": "https://example.com/photo/1", "post_title": "Trip"},
                           headers=api_callers["submit"])
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"download_id", "post_title", "queued", "duplicates", "message", "jobs"}
    assert (body["post_title"], body["queued"], body["duplicates"]) == ("Trip", 1, 0)
    [job] = body["jobs"]
    assert set(job) == JOB_KEYS
    assert (job["url"], job["status"], job["duplicate"], job["source"]) == (
        "https://example.com/photo/1", "queued", False, "api")
    assert job["submitted_by"] == {"user": "alice", "token": "test", "via": "token"}
    assert body["message"] == "Queued: https://example.com/photo/1"
    # The same job the queue API shows.
    shown = client.get(f"/api/v1/queue/{job['id']}", headers=api_callers["user"]).get_json()
    assert {key: shown[key] for key in shown if key != "progress"} == {
        key: job[key] for key in job if key not in ("duplicate", "progress")}
    submission = db.session.get(Submission, body["download_id"])
    assert submission.post_title == "Trip" and submission.token_id is not None


def test_sharing_a_link_again_answers_the_existing_job(client, api_callers):
    headers = api_callers["submit"]
    first = client.post("/api/v1/upload/url", json={"url": "https://example.com/v/9"}, headers=headers).get_json()
    again = client.post("/api/v1/upload/url", json={"url": "https://example.com/v/9#t=3"}, headers=headers)
    assert again.status_code == 201
    body = again.get_json()
    assert (body["queued"], body["duplicates"]) == (0, 1)
    [job] = body["jobs"]
    assert job["id"] == first["jobs"][0]["id"] and job["duplicate"] is True
    assert set(job) == JOB_KEYS  # the caller's own job: in full
    assert body["message"] == "Already there (queued): https://example.com/v/9"
    assert db.session.scalar(select(func.count(Job.id)).where(Job.url == "https://example.com/v/9")) == 1


def test_a_link_someone_else_queued_is_named_but_not_shown(client, api_callers):
    url = "https://example.com/someone-elses"
    mine = client.post("/api/v1/upload/url", json={"url": url}, headers=api_callers["admin"]).get_json()
    body = client.post("/api/v1/upload/url", json={"url": url}, headers=api_callers["submit"]).get_json()
    assert body["jobs"] == [{"id": mine["jobs"][0]["id"], "url": url, "status": "queued", "duplicate": True}]


def test_several_links_keep_their_order_and_mark_duplicates(client, api_callers):
    headers = api_callers["submit"]
    client.post("/api/v1/upload/url", json={"url": "https://example.com/2"}, headers=headers)
    urls = ["https://example.com/1", "https://example.com/2", "https://example.com/3"]
    response = client.post("/api/v1/upload/urls", json={"urls": urls, "post_title": "Batch"}, headers=headers)
    assert response.status_code == 201
    body = response.get_json()
    assert [job["url"] for job in body["jobs"]] == urls
    assert [job["duplicate"] for job in body["jobs"]] == [False, True, False]
    assert (body["queued"], body["duplicates"], body["message"]) == (2, 1, "Queued 2 links, 1 already there")
    assert len({job["download_id"] for job in body["jobs"] if not job["duplicate"]}) == 1


def test_ten_links_are_taken_eleven_are_refused(client, api_callers):
    headers = api_callers["submit"]
    ten = [f"https://example.com/ten/{n}" for n in range(10)]
    assert client.post("/api/v1/upload/urls", json={"urls": ten}, headers=headers).status_code == 201
    before = job_count()
    eleven = [f"https://example.com/eleven/{n}" for n in range(11)]
    body = assert_api_error(client.post("/api/v1/upload/urls", json={"urls": eleven}, headers=headers), 422,
                            "validation_error")
    assert "urls" in body["detail"]
    assert job_count() == before


@pytest.mark.parametrize("path, payload", [
    ("/api/v1/upload/url", {}),
    ("/api/v1/upload/url", {"url": ""}),
    ("/api/v1/upload/url", {"url": 42}),
    ("/api/v1/upload/urls", {"urls": []}),
    ("/api/v1/upload/urls", {"urls": "https://example.com/"}),
    ("/api/v1/upload/url", {"url": "https://example.com/", "post_title": "x" * 301}),
])
def test_bad_bodies_are_422(client, api_callers, path, payload):
    assert_api_error(client.post(path, json=payload, headers=api_callers["submit"]), 422, "validation_error")


def test_a_link_that_is_not_http_is_422_and_nothing_is_queued(client, api_callers):
    before = job_count()
    response = client.post("/api/v1/upload/urls", json={"urls": ["https://example.com/ok", "ftp://example.com/x"]},
                           headers=api_callers["submit"])
    body = assert_api_error(response, 422, "invalid_urls")
    assert body["invalid_urls"][0]["url"] == "ftp://example.com/x"
    assert job_count() == before


# A file as base64 -------------------------------------------------------------------------------


def upload(client, headers, data: bytes | str, filename="photo.jpg", **fields):
    payload = {"filename": filename, "data": data if isinstance(data, str) else b64(data), **fields}
    return client.post("/api/v1/upload/base64", json=payload, headers=headers)


def test_a_file_is_stored_under_the_post_title_with_its_hash(client, api_callers, settings):
    content = b"\xff\xd8\xff\xe0 a tiny jpeg-ish file " * 50
    response = upload(client, api_callers["submit"], content, filename="beach.jpg", post_title="Holiday")
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body == {"job_id": body["job_id"], "filename": "beach.jpg", "size": len(content), "sha256": sha256(content),
                    "duplicate": False, "message": "Saved beach.jpg"}  # no path for a non-admin
    stored = settings.storage_root / "Holiday" / "uploads" / "api" / "beach.jpg"
    assert stored.read_bytes() == content
    job = db.session.get(Job, body["job_id"])
    assert (job.status, job.engine, job.source) == ("completed", "upload", "api")
    assert job.user_id == api_callers.alice.id and job.submission.token_id is not None
    assert job.submission.submitted_via == "token"
    assert [(f.path, f.sha256, f.size) for f in job.files] == [
        ("Holiday/uploads/api/beach.jpg", sha256(content), len(content))]
    assert partial_files(settings) == []


def test_admins_see_the_path_and_without_a_post_title_it_goes_to_uploads_api(client, api_callers, settings):
    content = b"admin's file"
    body = upload(client, api_callers["admin"], content, filename="notes.txt").get_json()
    assert body["path"] == "uploads/api/notes.txt"
    assert (settings.storage_root / body["path"]).read_bytes() == content


def test_the_same_content_is_not_stored_twice(client, api_callers, settings):
    content = b"the same bytes twice"
    first = upload(client, api_callers["submit"], content, filename="one.bin", post_title="Dup").get_json()
    again = upload(client, api_callers["admin"], content, filename="two.bin", post_title="Dup")
    assert again.status_code == 201
    body = again.get_json()
    assert body["duplicate"] is True and body["job_id"] == first["job_id"]
    assert (body["filename"], body["sha256"], body["path"]) == ("one.bin", sha256(content), "Dup/uploads/api/one.bin")
    assert body["message"] == "Already in the library: one.bin"
    assert sorted(p.name for p in (settings.storage_root / "Dup" / "uploads" / "api").iterdir()) == ["one.bin"]
    assert db.session.scalar(select(func.count(JobFile.id)).where(JobFile.sha256 == sha256(content))) == 1
    assert partial_files(settings) == []


def test_someone_elses_file_is_only_said_to_be_there(client, api_callers, settings):
    """The attack: upload a file you suspect someone has, to learn what they named it and where
    it lies. The answer says "already in the library" and nothing about their file."""
    content = b"the admin's private scan"
    upload(client, api_callers["admin"], content, filename="passport-scan.jpg", post_title="Private papers")
    probe = upload(client, api_callers["user"], content, filename="guess.jpg")
    assert probe.status_code == 201
    body = probe.get_json()
    assert body["duplicate"] is True and body["message"] == "Already in the library"
    assert body["filename"] == "guess.jpg" and "path" not in body
    text = probe.get_data(as_text=True)
    assert "passport" not in text and "Private papers" not in text
    # Her own file again: she is told which of hers it is.
    mine = upload(client, api_callers["user"], b"alice's own", filename="mine.jpg").get_json()
    again = upload(client, api_callers["user"], b"alice's own", filename="copy.jpg").get_json()
    assert again["message"] == "Already in the library: mine.jpg" and again["job_id"] == mine["job_id"]


def test_a_taken_name_gets_a_number(client, api_callers, settings):
    upload(client, api_callers["submit"], b"first", filename="same.txt")
    body = upload(client, api_callers["submit"], b"second", filename="same.txt").get_json()
    assert body["filename"] == "same (2).txt"
    assert (settings.storage_root / "uploads" / "api" / "same (2).txt").read_bytes() == b"second"


@pytest.mark.parametrize("filename, post_title", [
    ("../../etc/x", None),
    ("..\\..\\..\\evil.txt", "../../../escape"),
    ("/etc/passwd", "/absolute"),
    ("..", ".."),
])
def test_hostile_names_stay_inside_the_storage_root(client, api_callers, settings, tmp_path, filename, post_title):
    content = f"traversal {filename} {post_title}".encode()
    response = upload(client, api_callers["admin"], content, filename=filename, post_title=post_title)
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    stored = (settings.storage_root / body["path"]).resolve()
    assert stored.is_relative_to(settings.storage_root.resolve())
    assert ".." not in body["path"].split("/") and "/" not in body["filename"]
    assert stored.read_bytes() == content
    assert body["path"].split("/")[-3:-1] == ["uploads", "api"]
    outside = [p for p in tmp_path.rglob("*") if p.is_file() and not p.resolve().is_relative_to(
        settings.storage_root.resolve()) and p.name != "haul.db" and not p.name.startswith("haul.db")]
    assert outside == []


def test_line_breaks_missing_padding_and_a_data_url_are_taken(client, api_callers, settings):
    content = bytes(range(256)) * 7  # 1,792 bytes: its base64 needs padding
    encoded = b64(content)
    wrapped = "\r\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76))
    body = upload(client, api_callers["submit"], wrapped, filename="wrapped.bin").get_json()
    assert (body["sha256"], body["size"]) == (sha256(content), len(content))
    other = content + b"!"
    body = upload(client, api_callers["submit"], b64(other).rstrip("="), filename="unpadded.bin").get_json()
    assert body["sha256"] == sha256(other)
    third = content + b"!!"
    body = upload(client, api_callers["submit"], "data:application/octet-stream;base64," + b64(third),
                  filename="data-url.bin").get_json()
    assert body["sha256"] == sha256(third)


def test_a_file_decoded_in_many_slices_comes_out_whole(client, api_callers, settings, monkeypatch):
    """The decoder works a slice at a time; slices that split line breaks and groups join up."""
    from webapp.api import shortcuts

    monkeypatch.setattr(shortcuts, "_DECODE_CHARS", 7)
    content = bytes((n * 37) % 251 for n in range(5000))
    encoded = b64(content)
    wrapped = "\n".join(encoded[i:i + 64] for i in range(0, len(encoded), 64))
    body = upload(client, api_callers["submit"], wrapped, filename="sliced.bin").get_json()
    assert (body["sha256"], body["size"]) == (sha256(content), len(content))
    assert (settings.storage_root / "uploads" / "api" / "sliced.bin").read_bytes() == content


@pytest.mark.parametrize("data", ["not base64 at all!", "QUJD\u00e9", "QUJDRA==QUJD", "Q", "QUJDR===", "===="])
def test_bad_base64_is_422_and_leaves_nothing_behind(client, api_callers, settings, data):
    before = job_count()
    body = assert_api_error(upload(client, api_callers["submit"], data, filename="bad.bin"), 422, "invalid_base64")
    assert body["detail"].startswith("data is not valid base64")
    assert job_count() == before
    assert partial_files(settings) == []
    assert not (settings.storage_root / "uploads" / "api" / "bad.bin").exists()


def test_missing_fields_are_422(client, api_callers):
    headers = api_callers["submit"]
    assert_api_error(client.post("/api/v1/upload/base64", json={"data": b64(b"x")}, headers=headers), 422)
    assert_api_error(client.post("/api/v1/upload/base64", json={"filename": "x"}, headers=headers), 422)
    assert_api_error(client.post("/api/v1/upload/base64", json={"filename": "x", "data": ""}, headers=headers), 422)


def test_a_file_larger_than_the_apps_usual_body_limit_is_taken(client, api_callers, settings):
    """The app refuses bodies over 1 MiB elsewhere; this route takes up to MAX_BASE64_BODY_BYTES."""
    content = bytes(n % 256 for n in range(3 * 1024 * 1024))  # 4 MiB of base64
    response = upload(client, api_callers["submit"], content, filename="big.bin")
    assert response.status_code == 201, response.get_data(as_text=True)[:500]
    assert response.get_json()["sha256"] == sha256(content)
    assert_api_error(client.post("/api/v1/upload/url", json={"url": "https://example.com/" + "a" * (1024 * 1024)},
                                 headers=api_callers["submit"]), 413)


def test_a_body_over_the_limit_is_413_before_it_is_read(client, api_callers, settings):
    before = job_count()
    payload = b'{"filename": "huge.bin", "data": "' + b"A" * MAX_BASE64_BODY_BYTES + b'"}'
    response = client.post("/api/v1/upload/base64", data=payload, content_type="application/json",
                           headers=api_callers["submit"])
    body = assert_api_error(response, 413, "payload_too_large")
    assert f"at most {MAX_BASE64_BODY_BYTES:,} bytes" in body["detail"]
    assert job_count() == before and partial_files(settings) == []


def test_the_upload_needs_a_token_before_the_size_matters(client):
    payload = b'{"filename": "huge.bin", "data": "' + b"A" * (2 * 1024 * 1024) + b'"}'
    response = client.post("/api/v1/upload/base64", data=payload, content_type="application/json")
    assert_api_error(response, 401)


# Supported platforms ----------------------------------------------------------------------------


def test_supported_platforms_are_plain_site_names_of_both_tools(client, api_callers):
    from gallery_dl import version as gdl_version
    from yt_dlp import version as ytdlp_version

    response = client.get("/api/v1/supported-platforms", headers=api_callers["read"])
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"count", "sites", "tools"}
    sites = body["sites"]
    assert body["count"] == len(sites) > 1000
    assert sites == sorted(set(sites)) and all(isinstance(name, str) and ":" not in name for name in sites)
    assert {"youtube", "instagram", "vimeo", "reddit"} <= set(sites)
    assert "generic" not in sites and "directlink" not in sites
    assert body["tools"]["gallery-dl"]["version"] == gdl_version.__version__
    assert body["tools"]["yt-dlp"]["version"] == ytdlp_version.__version__


def test_supported_platforms_search_and_tool(client, api_callers):
    headers = api_callers["read"]
    body = client.get("/api/v1/supported-platforms?search=TUBE", headers=headers).get_json()
    assert "youtube" in body["sites"] and all("tube" in name for name in body["sites"])
    gallery = client.get("/api/v1/supported-platforms?tool=gallery-dl", headers=headers).get_json()
    assert set(gallery["tools"]) == {"gallery-dl"} and "pixiv" in gallery["sites"]
    assert client.get("/api/v1/supported-platforms?search=no-such-site", headers=headers).get_json()["sites"] == []
    assert_api_error(client.get("/api/v1/supported-platforms?tool=wget", headers=headers), 422, "validation_error")


# The document and the fuzzer --------------------------------------------------------------------


def test_the_document_states_scopes_limits_and_errors(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in ("/api/v1/upload/url", "/api/v1/upload/urls", "/api/v1/upload/base64"):
        operation = paths[path]["post"]
        assert operation["description"].startswith("Scope: submit")
        assert {"201", "401", "403", "422"} <= set(operation["responses"])
    assert "413" in paths["/api/v1/upload/base64"]["post"]["responses"]
    assert paths["/api/v1/supported-platforms"]["get"]["description"].startswith("Scope: read")


@pytest.mark.timeout(240)
def test_generated_requests_get_no_5xx_and_match_the_document(app, client):
    """Schemathesis over these four operations (tests/test_api_fuzz.py covers the others)."""
    import schemathesis
    from hypothesis import HealthCheck, given
    from hypothesis import settings as hypothesis_settings

    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    ours = [op for op in operations if op.path.startswith(("/api/v1/upload/", "/api/v1/supported-platforms"))]
    assert sorted(op.path for op in ours) == ["/api/v1/supported-platforms", "/api/v1/upload/base64",
                                              "/api/v1/upload/url", "/api/v1/upload/urls"]
    from webapp.extensions import limiter

    limiter.enabled = False  # generated wrong tokens would soon be answered 429 (tests/test_sessions.py)
    try:
        for operation in ours:
            @given(case=operation.as_strategy())
            @hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck),
                                 database=None)
            def check(case):
                case.call_and_validate(headers={"Authorization": f"Bearer {API_TOKEN}"})

            check()
    finally:
        limiter.enabled = True
