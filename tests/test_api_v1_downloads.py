"""/api/v1/downloads in process: the library's list, one download, its files and thumbnail, delete,
stats and bulk actions — shapes, errors, and access for every kind of caller.

Finished jobs are made as the worker leaves them: rows through the real submit path, files
written under the test's storage root, then the status set. No worker runs.
"""
from __future__ import annotations

import hashlib
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import assert_api_error
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Event, Job, JobFile
from webapp.models.job import Outcome
from webapp.services.accounts.identity import Principal
from webapp.services.library import files as file_service
from webapp.services.library import history, history_search
from webapp.services.queue.submissions import submit

DOWNLOAD_KEYS = {"id", "url", "domain", "title", "status", "source", "engine", "submitted_by", "error", "attempts",
                 "post_title", "label", "created_at", "finished_at", "files", "file_count", "total_bytes",
                 "thumbnail_url", "kind", "parent_id", "position", "item_key", "duplicate_of", "metadata"}
FILE_KEYS = {"id", "path", "name", "size", "sha256", "mime", "url", "thumbnail_url", "has_thumbnail", "kind", "gone"}
PAGE_KEYS = {"items", "total", "page", "per_page", "pages"}
STATS_KEYS = {"period", "group_by", "since", "total_downloads", "completed", "failed", "cancelled", "success_rate",
              "total_size_bytes", "total_files", "by_domain", "by_source", "timeline"}
READERS = ("read", "user", "admin", "static")


# -- helpers -----------------------------------------------------------------------------------


def finish(app, job: Job, *, status="completed", files=(), title=None, error=None, created_at=None) -> Job:
    """Leave `job` as the worker would: `files` are (path relative to the storage root, bytes) on disk."""
    root = Path(app.config["HAUL"].storage_root)
    for relative, content in files:
        full = root / relative
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_bytes(content)
        job.files.append(JobFile(path=relative, size=len(content), sha256=hashlib.sha256(content).hexdigest(),
                                 mime=file_service.guess_mime(relative)))
    job.claim("tests")
    job.finish(Outcome(status), error)
    job.title, job.engine = title, "direct"
    if created_at:
        job.created_at = created_at
    db.session.commit()
    return job


def make_download(app, url, *, user=None, source="api", post_title=None, **finished) -> Job:
    """A finished job submitted by `user` (None: the static token), through the real submit path."""
    result = submit([url], principal=Principal(user=user) if user else None, source=source, force=True,
                    post_title=post_title)
    return finish(app, db.session.get(Job, result.entries[0].job_id), **finished)


def via_token(app, client, headers, url, **finished) -> Job:
    """A finished job submitted with the token in `headers` (so that token "added" it)."""
    response = client.post("/downloads", json={"urls": [url]}, headers=headers)
    assert response.status_code == 202, response.get_data(as_text=True)
    return finish(app, db.session.get(Job, response.get_json()["jobs"][0]["id"]), **finished)


def content(label: str, size: int = 1000) -> bytes:
    """Bytes unique to this test run (thumbnails are shared by content across the session)."""
    seed = (label + os.urandom(8).hex()).encode()
    return (seed * (size // len(seed) + 1))[:size]


def make_thumbnail(app, sha256: str) -> bytes:
    path = file_service.thumbnail_path(app.config["HAUL"].thumbnail_dir, sha256)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"RIFF\x00\x00\x00\x00WEBPVP8 fake"
    path.write_bytes(data)
    return data


def links(response) -> dict[str, str]:
    """rel → URL of the Link header."""
    return {rel: url for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', response.headers.get("Link", ""))}


@pytest.fixture
def library(app, api_callers):
    """alice's completed download with two files, and root's with one."""
    alice_job = make_download(app, "http://example.com/alice", user=api_callers.alice, title="Alice's post",
                              post_title="Holiday", files=[("Holiday/example.com/a/one.png", content("one")),
                                                           ("Holiday/example.com/a/two.txt", content("two", 50))])
    root_job = make_download(app, "http://other.org/root", user=api_callers.root,
                             files=[("other.org/r/secret.bin", content("secret"))])
    return {"alice": alice_job, "root": root_job}


# -- access ------------------------------------------------------------------------------------


def read_paths(job_id):
    return [f"/api/v1/downloads/{job_id}", f"/api/v1/downloads/{job_id}/file",
            f"/api/v1/downloads/{job_id}/thumbnail"]


@pytest.mark.parametrize("caller", ["anonymous", "revoked"])
def test_every_endpoint_needs_a_valid_token(client, api_callers, library, caller):
    headers = api_callers[caller]
    job_id = library["alice"].id
    requests = [("get", "/api/v1/downloads"), ("get", "/api/v1/downloads/stats"), ("delete", f"/api/v1/downloads/{job_id}")]
    requests += [("get", path) for path in read_paths(job_id)]
    # Each check from an address of its own: more than ten wrong tokens from one address in a
    # minute are answered 429 (tests/test_sessions.py), which is not what this test is about.
    for number, (method, path) in enumerate(requests):
        address = {"REMOTE_ADDR": f"10.0.1.{number}"}
        assert_api_error(getattr(client, method)(path, headers=headers, environ_base=address), 401)
        assert client.get(path, headers=headers, environ_base=address).headers["WWW-Authenticate"].startswith("Bearer")
    response = client.post("/api/v1/downloads/bulk", json={"action": "delete", "ids": [job_id]}, headers=headers,
                           environ_base={"REMOTE_ADDR": "10.0.2.1"})
    assert_api_error(response, 401)
    assert db.session.get(Job, job_id) is not None


def test_reading_needs_the_read_scope(client, api_callers, library):
    """A submit-only token may not read the library (403), whatever the job."""
    headers = api_callers["submit"]
    for path in ["/api/v1/downloads", "/api/v1/downloads/stats", *read_paths(library["alice"].id)]:
        assert_api_error(client.get(path, headers=headers), 403, "insufficient_scope")


def test_changing_needs_the_submit_scope(client, api_callers, library):
    headers = api_callers["read"]
    job_id = library["alice"].id
    assert_api_error(client.delete(f"/api/v1/downloads/{job_id}", headers=headers), 403, "insufficient_scope")
    response = client.post("/api/v1/downloads/bulk", json={"action": "delete", "ids": [job_id]}, headers=headers)
    assert_api_error(response, 403, "insufficient_scope")
    assert db.session.get(Job, job_id) is not None


@pytest.mark.parametrize("caller", READERS)
def test_who_sees_which_downloads(client, api_callers, library, app, caller):
    """alice (read, user) sees her own; root's answer 404 exactly as a missing id. Admins see both."""
    make_thumbnail(app, library["alice"].files[0].sha256)
    make_thumbnail(app, library["root"].files[0].sha256)
    headers = api_callers[caller]
    listed = [item["id"] for item in client.get("/api/v1/downloads", headers=headers).get_json()["items"]]
    admin = caller in ("admin", "static")
    assert listed == ([library["root"].id, library["alice"].id] if admin else [library["alice"].id])
    for path in read_paths(library["alice"].id):
        assert client.get(path, headers=headers).status_code == 200, path
    for path in read_paths(library["root"].id):
        response = client.get(path, headers=headers)
        if admin:
            assert response.status_code == 200, path
        else:
            body = assert_api_error(response, 404, "download_not_found")
            missing = assert_api_error(client.get(path.replace(str(library["root"].id), "999999"), headers=headers),
                                       404, "download_not_found")
            assert body["detail"].replace(str(library["root"].id), "N") == missing["detail"].replace("999999", "N")
    stats = client.get("/api/v1/downloads/stats", headers=headers).get_json()
    assert stats["total_downloads"] == (2 if admin else 1)


def test_alice_cannot_delete_or_retry_roots_downloads(client, api_callers, library):
    root_id = library["root"].id
    assert_api_error(client.delete(f"/api/v1/downloads/{root_id}", headers=api_callers["user"]),
                     404, "download_not_found")
    response = client.post("/api/v1/downloads/bulk", json={"action": "delete", "ids": [root_id]},
                           headers=api_callers["user"])
    assert response.get_json() == {"success": 0, "failed": 1, "errors": [
        {"id": root_id, "detail": f"No download with id {root_id}", "error_code": "download_not_found"}]}
    assert db.session.get(Job, root_id) is not None


def test_a_submit_only_token_acts_only_on_what_it_added(app, client, api_callers, library):
    """Like /api/v1/queue: a bookmarklet's token deletes what it submitted, not the rest of alice's."""
    own = via_token(app, client, api_callers["submit"], "http://example.com/from-bookmarklet")
    assert_api_error(client.delete(f"/api/v1/downloads/{library['alice'].id}", headers=api_callers["submit"]),
                     404, "download_not_found")
    assert client.delete(f"/api/v1/downloads/{own.id}", headers=api_callers["submit"]).status_code == 204
    assert db.session.get(Job, own.id) is None
    assert db.session.get(Job, library["alice"].id) is not None


def test_admins_act_on_everyones_downloads(client, api_callers, library):
    assert client.delete(f"/api/v1/downloads/{library['alice'].id}", headers=api_callers["admin"]).status_code == 204
    assert client.delete(f"/api/v1/downloads/{library['root'].id}", headers=api_callers["static"]).status_code == 204


# -- list --------------------------------------------------------------------------------------


def test_list_shape_and_paths_relative_to_the_storage_root(app, client, api_callers, library):
    make_thumbnail(app, library["alice"].files[0].sha256)
    response = client.get("/api/v1/downloads", headers=api_callers["user"])
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert str(app.config["HAUL"].storage_root) not in text and str(app.config["HAUL"].data_dir) not in text
    body = response.get_json()
    assert set(body) == PAGE_KEYS
    assert (body["total"], body["page"], body["per_page"], body["pages"]) == (1, 1, 50, 1)
    item = body["items"][0]
    assert set(item) == DOWNLOAD_KEYS
    job = library["alice"]
    assert item["id"] == job.id and item["url"] == "http://example.com/alice" and item["domain"] == "example.com"
    assert (item["status"], item["source"], item["engine"], item["attempts"]) == ("completed", "api", "direct", 1)
    assert item["title"] == "Alice's post" and item["post_title"] == "Holiday" and item["error"] is None
    assert item["submitted_by"] == {"user": "alice", "token": None, "via": "session"}
    assert item["created_at"].endswith("Z") and item["finished_at"].endswith("Z")
    assert item["file_count"] == 2 and item["total_bytes"] == 1050
    assert item["thumbnail_url"] == f"/api/v1/downloads/{job.id}/thumbnail"
    first, second = item["files"]
    assert set(first) == FILE_KEYS
    assert first["path"] == "Holiday/example.com/a/one.png" and first["name"] == "one.png"
    assert first["size"] == 1000 and first["mime"] == "image/png" and first["sha256"] == job.files[0].sha256
    assert first["url"] == f"/api/v1/downloads/{job.id}/file?file_id={job.files[0].id}"
    assert first["thumbnail_url"] == f"/api/v1/downloads/{job.id}/thumbnail?file_id={job.files[0].id}"
    assert first["has_thumbnail"] is True and second["has_thumbnail"] is False
    assert second["mime"] == "text/plain"
    assert response.headers["X-Total-Count"] == "1"


def test_list_holds_only_finished_jobs_newest_first(app, client, api_callers, library):
    queued = submit(["http://example.com/still-queued"], principal=Principal(user=api_callers.alice), force=True)
    failed = make_download(app, "http://example.com/broken", user=api_callers.alice, status="failed", error="HTTP 404")
    body = client.get("/api/v1/downloads", headers=api_callers["user"]).get_json()
    ids = [item["id"] for item in body["items"]]
    assert ids == [failed.id, library["alice"].id]
    assert queued.entries[0].job_id not in ids
    assert body["items"][0]["error"] == "HTTP 404" and body["items"][0]["files"] == []
    assert body["items"][0]["thumbnail_url"] is None and body["items"][0]["total_bytes"] == 0


def test_list_filters(app, client, api_callers):
    alice = api_callers.alice
    old = datetime(2026, 1, 10, 12, tzinfo=UTC)
    a = make_download(app, "http://www.Example.com/cats", user=alice, title="Cute cats", created_at=old,
                      files=[("example.com/cats/tabby.jpg", b"x")])
    b = make_download(app, "http://example.org/dogs", user=alice, status="failed", source="gui")
    c = make_download(app, "http://example.net/birds", user=alice, status="cancelled",
                      created_at=datetime(2026, 2, 1, 12, tzinfo=UTC))

    def ids(**query):
        response = client.get("/api/v1/downloads", query_string=query, headers=api_callers["user"])
        assert response.status_code == 200, response.get_data(as_text=True)
        return [item["id"] for item in response.get_json()["items"]]

    assert ids() == [c.id, b.id, a.id]
    assert ids(status="failed") == [b.id]
    assert ids(source="gui") == [b.id]
    assert ids(domain="WWW.example.com") == [a.id]
    assert ids(search="cats") == [a.id]  # in the URL and the title
    assert ids(search="tabby") == [a.id]  # in a file's path
    assert ids(search='"cute cats" example') == [a.id]
    assert ids(search="nothing-like-this") == []
    assert ids(date_from="2026-01-10", date_to="2026-01-10") == [a.id]
    assert ids(date_to="2026-01-31") == [a.id]
    assert ids(date_from="2026-01-11", date_to="2026-02-01") == [c.id]
    assert ids(date_from="2026-01-11", date_to="2026-01-31") == []  # whole UTC days
    assert ids(search="cats", status="failed") == []
    assert ids(date_from="2026-02-02", date_to="2026-02-01") == []  # an empty window, not an error
    assert ids(date_from="0001-01-01", date_to="9999-12-31") == [c.id, b.id, a.id]  # the calendar's edges


def test_the_list_and_the_history_page_agree(app, client, api_callers):
    """Same filters, same search, same jobs: both come from services.history."""
    alice = api_callers.alice
    for n in range(6):
        make_download(app, f"http://example.com/item-{n}", user=alice, title=f"Item {n} {'even' if n % 2 == 0 else 'odd'}",
                      status="completed" if n < 4 else "failed")
    principal = Principal(user=alice)
    for query, page_args in [({"search": "even"}, {"q": "even"}), ({"status": "failed"}, {"status": "failed"}),
                             ({"search": "item", "status": "completed"}, {"q": "item", "status": "completed"})]:
        api = [item["id"] for item in client.get("/api/v1/downloads", query_string=query,
                                                 headers=api_callers["user"]).get_json()["items"]]
        filters, _ = history.parse_filters(page_args, principal)
        page = [entry.job.id for entry in history.list_history(filters, principal).entries]
        assert api == page and api


@pytest.mark.parametrize("query, field", [
    ({"status": "queued"}, "status"), ({"status": "bogus"}, "status"), ({"source": "carrier-pigeon"}, "source"),
    ({"date_from": "2026-13-01"}, "date_from"), ({"date_to": "yesterday"}, "date_to"),
    ({"per_page": "201"}, "per_page"), ({"per_page": "0"}, "per_page"), ({"page": "0"}, "page"),
    ({"page": "two"}, "page"), ({"search": "x" * 501}, "search"),
])
def test_bad_filters_answer_422(client, api_callers, query, field):
    response = client.get("/api/v1/downloads", query_string=query, headers=api_callers["user"])
    body = assert_api_error(response, 422, "validation_error")
    assert field in body["errors"]["query"], body


def test_pages_and_their_headers(app, client, api_callers):
    for n in range(5):
        make_download(app, f"http://example.com/p{n}", user=api_callers.alice)
    response = client.get("/api/v1/downloads?per_page=2&page=2&status=completed", headers=api_callers["user"])
    body = response.get_json()
    assert (body["total"], body["page"], body["per_page"], body["pages"], len(body["items"])) == (5, 2, 2, 3, 2)
    assert response.headers["X-Total-Count"] == "5"
    rels = links(response)
    assert set(rels) == {"first", "prev", "next", "last"}
    assert "page=1" in rels["first"] and "page=1" in rels["prev"] and "page=3" in rels["next"] and "page=3" in rels["last"]
    assert all("status=completed" in url and "per_page=2" in url and url.startswith("/api/v1/downloads?")
               for url in rels.values())
    last = client.get(rels["last"], headers=api_callers["user"])
    assert len(last.get_json()["items"]) == 1 and "next" not in links(last)
    beyond = client.get("/api/v1/downloads?per_page=2&page=9", headers=api_callers["user"])
    assert beyond.status_code == 200 and beyond.get_json()["items"] == []
    seen = [i["id"] for p in (1, 2, 3) for i in client.get(f"/api/v1/downloads?per_page=2&page={p}",
                                                              headers=api_callers["user"]).get_json()["items"]]
    assert len(seen) == len(set(seen)) == 5


def test_a_search_too_common_to_count_has_no_total_but_still_pages(app, client, api_callers, monkeypatch):
    """Like the history page: when every term is common the newest jobs are scanned, and no total is counted."""
    for n in range(3):
        make_download(app, f"http://example.com/common-{n}", user=api_callers.alice)
    monkeypatch.setattr(history_search, "DENSE_JOBS", 1)
    response = client.get("/api/v1/downloads?search=common&per_page=2", headers=api_callers["user"])
    body = response.get_json()
    assert body["total"] is None and body["pages"] is None and len(body["items"]) == 2
    assert "X-Total-Count" not in response.headers
    assert set(links(response)) == {"first", "next"}
    second = client.get(links(response)["next"], headers=api_callers["user"])
    assert len(second.get_json()["items"]) == 1 and set(links(second)) == {"first", "prev"}


# -- one download ------------------------------------------------------------------------------


def test_show_download_lists_every_file(app, client, api_callers):
    files = [(f"example.com/many/{n:02}.txt", content(f"f{n}", 10)) for n in range(15)]
    job = make_download(app, "http://example.com/many", user=api_callers.alice, files=files)
    listed = client.get("/api/v1/downloads", headers=api_callers["user"]).get_json()["items"][0]
    assert len(listed["files"]) == history.FILES_PER_ENTRY and listed["file_count"] == 15
    response = client.get(f"/api/v1/downloads/{job.id}", headers=api_callers["user"])
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == DOWNLOAD_KEYS
    assert [f["path"] for f in body["files"]] == [path for path, _ in files]
    assert body["file_count"] == 15 and body["total_bytes"] == 150


def test_unknown_active_and_huge_ids(app, client, api_callers):
    headers = api_callers["admin"]
    queued = submit(["http://example.com/waiting"], principal=None, force=True).entries[0].job_id
    for suffix in ("", "/file", "/thumbnail"):
        assert_api_error(client.get(f"/api/v1/downloads/{queued}{suffix}", headers=headers), 404, "not_finished")
        assert_api_error(client.get(f"/api/v1/downloads/123456{suffix}", headers=headers), 404, "download_not_found")
        for huge in (2**63 - 1, 2**63, 10**30):
            assert_api_error(client.get(f"/api/v1/downloads/{huge}{suffix}", headers=headers), 404)
    assert_api_error(client.delete(f"/api/v1/downloads/{queued}", headers=headers), 404, "not_finished")
    assert_api_error(client.delete(f"/api/v1/downloads/{2**64}", headers=headers), 404, "download_not_found")
    assert db.session.get(Job, queued).status == "queued"


# -- files -------------------------------------------------------------------------------------


@pytest.fixture
def two_files(app, api_callers):
    first, second = bytes(range(256)) * 4, content("second", 300)
    job = make_download(app, "http://example.com/two", user=api_callers.alice,
                        files=[("example.com/two/first.bin", first), ("example.com/two/second.mp4", second)])
    return job, first, second


def test_file_is_served_as_a_safe_attachment(client, api_callers, two_files):
    job, first, _ = two_files
    response = client.get(f"/api/v1/downloads/{job.id}/file", headers=api_callers["read"])
    assert response.status_code == 200 and response.data == first
    assert response.headers["Content-Disposition"].startswith("attachment") and "first.bin" in response.headers[
        "Content-Disposition"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["ETag"].strip('"') == job.files[0].sha256
    assert "private" in response.headers["Cache-Control"]


def test_picking_a_file_by_id_or_index(client, api_callers, two_files):
    job, first, second = two_files
    headers = api_callers["user"]
    base = f"/api/v1/downloads/{job.id}/file"
    assert client.get(f"{base}?index=0", headers=headers).data == first
    by_index = client.get(f"{base}?index=1", headers=headers)
    assert by_index.data == second and by_index.mimetype == "video/mp4"
    listed = client.get(f"/api/v1/downloads/{job.id}", headers=headers).get_json()["files"]
    assert client.get(listed[1]["url"], headers=headers).data == second
    assert_api_error(client.get(f"{base}?index=2", headers=headers), 404, "file_not_found")
    assert_api_error(client.get(f"{base}?file_id=999999", headers=headers), 404, "file_not_found")
    assert_api_error(client.get(f"{base}?file_id={2**70}", headers=headers), 404, "file_not_found")
    assert_api_error(client.get(f"{base}?index={2**70}", headers=headers), 404, "file_not_found")
    assert client.get(f"{base}?index=0&file_id={listed[1]['id']}", headers=headers).data == second  # file_id wins
    assert_api_error(client.get(f"{base}?index=-1", headers=headers), 422)
    assert_api_error(client.get(f"{base}?file_id=abc", headers=headers), 422)


def test_a_file_of_another_download_is_not_reachable_through_this_one(app, client, api_callers, two_files, library):
    job, _, _ = two_files
    roots_file = library["root"].files[0].id
    assert_api_error(client.get(f"/api/v1/downloads/{job.id}/file?file_id={roots_file}", headers=api_callers["admin"]),
                     404, "file_not_found")


def test_range_requests(client, api_callers, two_files):
    job, first, _ = two_files
    url = f"/api/v1/downloads/{job.id}/file"
    headers = api_callers["user"]
    part = client.get(url, headers={**headers, "Range": "bytes=10-19"})
    assert part.status_code == 206 and part.data == first[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(first)}" and part.headers["Content-Length"] == "10"
    tail = client.get(url, headers={**headers, "Range": "bytes=-5"})
    assert tail.status_code == 206 and tail.data == first[-5:]
    open_ended = client.get(url, headers={**headers, "Range": f"bytes={len(first) - 3}-"})
    assert open_ended.status_code == 206 and open_ended.data == first[-3:]
    beyond = client.get(url, headers={**headers, "Range": f"bytes={len(first)}-{len(first) + 10}"})
    body = assert_api_error(beyond, 416, "range_not_satisfiable")
    assert beyond.headers["Content-Range"] == f"bytes */{len(first)}" and body["request_id"]
    assert client.get(url, headers={**headers, "Range": "bytes=abc"}).status_code in (200, 416)


def test_conditional_requests(client, api_callers, two_files):
    job, first, _ = two_files
    url = f"/api/v1/downloads/{job.id}/file"
    headers = api_callers["user"]
    etag = client.get(url, headers=headers).headers["ETag"]
    assert client.get(url, headers={**headers, "If-None-Match": etag}).status_code == 304
    same = client.get(url, headers={**headers, "Range": "bytes=0-3", "If-Range": etag})
    assert same.status_code == 206 and same.data == first[:4]
    changed = client.get(url, headers={**headers, "Range": "bytes=0-3", "If-Range": '"something-else"'})
    assert changed.status_code == 200 and changed.data == first
    assert client.head(url, headers=headers).status_code == 200


def test_missing_files_answer_clear_404s(app, client, api_callers, two_files):
    job, _, _ = two_files
    headers = api_callers["user"]
    empty = make_download(app, "http://example.com/empty", user=api_callers.alice, status="failed")
    assert_api_error(client.get(f"/api/v1/downloads/{empty.id}/file", headers=headers), 404, "no_files")
    root = Path(app.config["HAUL"].storage_root)
    (root / job.files[0].path).unlink()
    body = assert_api_error(client.get(f"/api/v1/downloads/{job.id}/file", headers=headers), 404, "file_gone")
    assert str(root) not in body["detail"]
    assert client.get(f"/api/v1/downloads/{job.id}/file?index=1", headers=headers).status_code == 200


def test_a_record_pointing_outside_the_storage_root_serves_nothing(app, client, api_callers, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"not yours")
    job = make_download(app, "http://example.com/escape", user=api_callers.alice)
    root = Path(app.config["HAUL"].storage_root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "link.txt").symlink_to(outside)
    for path in ("../outside.txt", "link.txt", str(outside)):
        db.session.add(JobFile(job_id=job.id, path=path, size=9, sha256="0" * 64))
    db.session.commit()
    for index in range(3):
        response = client.get(f"/api/v1/downloads/{job.id}/file?index={index}", headers=api_callers["user"])
        assert_api_error(response, 404, "file_gone")


# -- thumbnails --------------------------------------------------------------------------------


def test_thumbnails(app, client, api_callers, two_files):
    job, _, _ = two_files
    headers = api_callers["read"]
    url = f"/api/v1/downloads/{job.id}/thumbnail"
    assert_api_error(client.get(url, headers=headers), 404, "thumbnail_not_ready")
    data = make_thumbnail(app, job.files[1].sha256)  # only the second file has one yet: it is the cover
    response = client.get(url, headers=headers)
    assert response.status_code == 200 and response.data == data and response.mimetype == "image/webp"
    assert response.headers["X-Content-Type-Options"] == "nosniff" and "private" in response.headers["Cache-Control"]
    assert client.get(f"{url}?index=1", headers=headers).data == data
    assert_api_error(client.get(f"{url}?index=0", headers=headers), 404, "thumbnail_not_ready")
    assert_api_error(client.get(f"{url}?file_id={job.files[0].id}", headers=headers), 404, "thumbnail_not_ready")
    assert_api_error(client.get(f"{url}?index=5", headers=headers), 404, "file_not_found")
    empty = make_download(app, "http://example.com/nothing", user=api_callers.alice, status="cancelled")
    assert_api_error(client.get(f"/api/v1/downloads/{empty.id}/thumbnail", headers=headers), 404, "no_files")
    listed = client.get(f"/api/v1/downloads/{job.id}", headers=headers).get_json()["files"]
    assert [f["has_thumbnail"] for f in listed] == [False, True]


# -- delete ------------------------------------------------------------------------------------


def deleted_events(job_id: int) -> list[Event]:
    return list(db.session.scalars(select(Event).where(Event.job_id == job_id, Event.type == history.DELETED)))


def test_delete_keeps_the_files_by_default(app, client, api_callers, two_files):
    job, _, _ = two_files
    job_id = job.id
    paths = [Path(app.config["HAUL"].storage_root) / f.path for f in job.files]
    response = client.delete(f"/api/v1/downloads/{job_id}", headers=api_callers["user"])
    assert response.status_code == 204 and response.data == b""
    db.session.expire_all()
    assert db.session.get(Job, job_id) is None
    assert all(path.is_file() for path in paths)
    assert len(deleted_events(job_id)) == 1
    assert_api_error(client.get(f"/api/v1/downloads/{job_id}", headers=api_callers["user"]), 404, "download_not_found")


def test_delete_with_files_removes_them(app, client, api_callers, two_files):
    job, _, _ = two_files
    job_id = job.id
    paths = [Path(app.config["HAUL"].storage_root) / f.path for f in job.files]
    response = client.delete(f"/api/v1/downloads/{job_id}?delete_file=true", headers=api_callers["user"])
    assert response.status_code == 204
    db.session.expire_all()
    assert db.session.get(Job, job_id) is None
    assert not any(path.exists() for path in paths)
    assert not paths[0].parent.exists()  # the folder left empty went too
    assert len(deleted_events(job_id)) == 1


def test_delete_query_is_validated(client, api_callers, two_files):
    job, _, _ = two_files
    assert_api_error(client.delete(f"/api/v1/downloads/{job.id}?delete_file=perhaps", headers=api_callers["user"]),
                     422, "validation_error")
    assert db.session.get(Job, job.id) is not None


# -- bulk --------------------------------------------------------------------------------------


def test_bulk_delete_with_good_and_bad_ids(app, client, api_callers, library):
    alice = api_callers.alice
    one = make_download(app, "http://example.com/b1", user=alice, files=[("example.com/b1/x.txt", b"1")])
    two = make_download(app, "http://example.com/b2", user=alice, status="failed")
    queued = submit(["http://example.com/b3"], principal=Principal(user=alice), force=True).entries[0].job_id
    file_on_disk = Path(app.config["HAUL"].storage_root) / "example.com/b1/x.txt"
    ids = [one.id, two.id, one.id, library["root"].id, queued, 424242, 2**63, -1]
    response = client.post("/api/v1/downloads/bulk", json={"action": "delete", "ids": ids, "delete_files": True},
                           headers=api_callers["user"])
    assert response.status_code == 200
    body = response.get_json()
    assert (body["success"], body["failed"]) == (2, 5)
    errors = {error["id"]: error["error_code"] for error in body["errors"]}
    assert errors == {library["root"].id: "download_not_found", queued: "not_finished", 424242: "download_not_found",
                      2**63: "download_not_found", -1: "download_not_found"}
    assert all(set(error) == {"id", "detail", "error_code"} and error["detail"] for error in body["errors"])
    db.session.expire_all()
    assert db.session.get(Job, one.id) is None and db.session.get(Job, two.id) is None
    assert db.session.get(Job, library["root"].id) is not None and db.session.get(Job, queued) is not None
    assert not file_on_disk.exists()
    assert len(deleted_events(one.id)) == 1 and len(deleted_events(two.id)) == 1


def test_bulk_delete_keeps_files_unless_asked(app, client, api_callers):
    job = make_download(app, "http://example.com/keep", user=api_callers.alice, files=[("example.com/keep/k.txt", b"k")])
    response = client.post("/api/v1/downloads/bulk", json={"action": "delete", "ids": [job.id]},
                           headers=api_callers["user"])
    assert response.get_json() == {"success": 1, "failed": 0, "errors": []}
    assert (Path(app.config["HAUL"].storage_root) / "example.com/keep/k.txt").is_file()


def test_bulk_retry_uses_the_retry_rule(app, client, api_callers, library):
    alice = api_callers.alice
    failed = make_download(app, "http://example.com/r1", user=alice, status="failed", error="timeout")
    cancelled = make_download(app, "http://example.com/r2", user=alice, status="cancelled")
    completed = library["alice"]
    response = client.post("/api/v1/downloads/bulk",
                           json={"action": "retry", "ids": [failed.id, cancelled.id, completed.id, library["root"].id]},
                           headers=api_callers["user"])
    body = response.get_json()
    assert (body["success"], body["failed"]) == (2, 2)
    assert {e["id"]: e["error_code"] for e in body["errors"]} == {completed.id: "not_retryable",
                                                                 library["root"].id: "download_not_found"}
    db.session.expire_all()
    for job_id in (failed.id, cancelled.id):
        job = db.session.get(Job, job_id)
        assert job.status == "queued" and job.error is None and job.attempts == 0
        assert db.session.scalar(select(Event).where(Event.job_id == job_id, Event.type == "status")).data["requeued"]
    assert db.session.get(Job, completed.id).status == "completed"
    # queued again, they left the library
    listed = [i["id"] for i in client.get("/api/v1/downloads", headers=api_callers["user"]).get_json()["items"]]
    assert listed == [completed.id]


def test_bulk_retry_reports_a_duplicate(app, client, api_callers):
    alice = api_callers.alice
    failed = make_download(app, "http://example.com/dup", user=alice, status="failed")
    submit(["http://example.com/dup"], principal=Principal(user=alice))  # queued again meanwhile
    body = client.post("/api/v1/downloads/bulk", json={"action": "retry", "ids": [failed.id]},
                       headers=api_callers["user"]).get_json()
    assert body["success"] == 0 and body["errors"][0]["error_code"] == "duplicate"


@pytest.mark.parametrize("body", [
    {"action": "explode", "ids": [1]}, {"action": "delete", "ids": []}, {"action": "delete"},
    {"action": "delete", "ids": list(range(1, 202))}, {"action": "delete", "ids": ["1"]},
    {"action": "delete", "ids": [1], "delete_files": "maybe"}, {"ids": [1]},
])
def test_bulk_body_is_validated(client, api_callers, body):
    assert_api_error(client.post("/api/v1/downloads/bulk", json=body, headers=api_callers["user"]), 422,
                     "validation_error")


def test_bulk_takes_200_ids(client, api_callers):
    body = client.post("/api/v1/downloads/bulk", json={"action": "delete", "ids": list(range(1, 201))},
                       headers=api_callers["user"]).get_json()
    assert body["failed"] == 200 and body["success"] == 0


# -- stats -------------------------------------------------------------------------------------


def test_stats_figures_match_the_data(app, client, api_callers):
    alice, root = api_callers.alice, api_callers.root
    now = datetime.now(UTC)
    long_ago = now - timedelta(days=40)
    make_download(app, "http://example.com/s1", user=alice, files=[("s/1a", b"a" * 100), ("s/1b", b"b" * 50)])
    make_download(app, "http://example.com/s2", user=alice, source="gui", files=[("s/2", b"c" * 7)])
    make_download(app, "http://example.org/s3", user=alice, status="failed")
    make_download(app, "http://example.net/s4", user=alice, status="cancelled", created_at=long_ago,
                  files=[("s/4", b"d" * 3)])
    make_download(app, "http://root.example/s5", user=root, files=[("s/5", b"e" * 1000)])
    submit(["http://example.com/queued"], principal=Principal(user=alice), force=True)  # not in the library

    response = client.get("/api/v1/downloads/stats", headers=api_callers["user"])
    assert response.status_code == 200
    stats = response.get_json()
    assert set(stats) == STATS_KEYS
    assert (stats["period"], stats["since"]) == ("all", None)
    assert (stats["total_downloads"], stats["completed"], stats["failed"], stats["cancelled"]) == (4, 2, 1, 1)
    assert stats["success_rate"] == 66.7
    assert (stats["total_size_bytes"], stats["total_files"]) == (160, 4)
    assert stats["by_domain"] == {"example.com": 2, "example.net": 1, "example.org": 1}
    assert list(stats["by_domain"]) == ["example.com", "example.net", "example.org"]  # most first, then by name
    assert stats["by_source"] == {"api": 3, "gui": 1}
    assert stats["timeline"] == [
        {"date": long_ago.date().isoformat(), "count": 1, "completed": 0, "failed": 0, "cancelled": 1},
        {"date": now.date().isoformat(), "count": 3, "completed": 2, "failed": 1, "cancelled": 0},
    ]

    week = client.get("/api/v1/downloads/stats?period=week", headers=api_callers["user"]).get_json()
    assert week["since"] == (now.date() - timedelta(days=6)).isoformat() + "T00:00:00.000Z"
    assert (week["total_downloads"], week["cancelled"], week["total_size_bytes"]) == (3, 0, 157)
    assert len(week["timeline"]) == 1
    today = client.get("/api/v1/downloads/stats?period=today", headers=api_callers["user"]).get_json()
    assert today["total_downloads"] == 3
    assert client.get("/api/v1/downloads/stats?period=year", headers=api_callers["user"]).get_json()[
        "total_downloads"] == 4

    everyone = client.get("/api/v1/downloads/stats", headers=api_callers["admin"]).get_json()
    assert (everyone["total_downloads"], everyone["completed"], everyone["total_size_bytes"]) == (5, 3, 1160)
    assert everyone["success_rate"] == 75.0 and everyone["by_domain"]["root.example"] == 1


def test_stats_of_an_empty_library(client, api_callers):
    stats = client.get("/api/v1/downloads/stats?period=month", headers=api_callers["read"]).get_json()
    assert stats["total_downloads"] == 0 and stats["success_rate"] is None
    assert stats["by_domain"] == {} and stats["by_source"] == {} and stats["timeline"] == []
    assert stats["total_size_bytes"] == 0 and stats["total_files"] == 0


def test_stats_period_is_validated(client, api_callers):
    body = assert_api_error(client.get("/api/v1/downloads/stats?period=decade", headers=api_callers["read"]),
                            422, "validation_error")
    assert "period" in body["errors"]["query"]


def test_stats_are_aggregate_queries(app, client, api_callers):
    """A fixed number of statements however many downloads (no query per row)."""
    from sqlalchemy import event

    for n in range(12):
        make_download(app, f"http://site{n % 4}.example/x{n}", user=api_callers.alice, files=[(f"q/{n}", b"z")])
    statements = []
    listener = lambda *args: statements.append(args[2])
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        assert client.get("/api/v1/downloads/stats", headers=api_callers["user"]).status_code == 200
        stats_queries = len([s for s in statements if "jobs" in s])
        statements.clear()
        assert client.get("/api/v1/downloads?per_page=200", headers=api_callers["user"]).status_code == 200
        list_queries = len(statements)
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert stats_queries <= 6
    assert list_queries <= 10  # token, count, page, submissions, files, submitters — not one per download


# -- the document ------------------------------------------------------------------------------


def test_every_endpoint_states_its_scope(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    ours = {(path, method): op for path, ops in paths.items() if path.startswith("/api/v1/downloads")
            for method, op in ops.items() if method != "parameters"}
    assert set(ours) == {("/api/v1/downloads", "get"), ("/api/v1/downloads/{job_id}", "get"),
                         ("/api/v1/downloads/{job_id}", "delete"), ("/api/v1/downloads/{job_id}/file", "get"),
                         ("/api/v1/downloads/{job_id}/thumbnail", "get"), ("/api/v1/downloads/stats", "get"),
                         ("/api/v1/downloads/bulk", "post"), ("/api/v1/downloads/{job_id}/children", "get")}
    for (path, method), op in ours.items():
        assert op["description"].startswith("Scope: "), (path, method)
        assert op["security"] == [{"bearer": []}]
    listed = {p["name"] for p in paths["/api/v1/downloads"]["get"]["parameters"]}
    assert {"page", "per_page", "search", "status", "domain", "source", "date_from", "date_to"} <= listed
