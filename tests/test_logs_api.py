"""/api/v1/logs (list with filters and pages, download, delete: admins only) and
/api/v1/queue/{id}/log (a job's own log: its owner and admins; another's job 404)."""
from __future__ import annotations

import dataclasses
import json

import pytest
from conftest import assert_api_error

from webapp import app_log
from webapp.extensions import db
from webapp.models.job_log import JobLog
from webapp.services.accounts.identity import Principal, create_user
from webapp.services.queue.submissions import submit


@pytest.fixture
def settings(settings, tmp_path):
    """A data dir of the test's own: the log files are the test's alone."""
    data = tmp_path / "own-data"
    data.mkdir()
    return dataclasses.replace(settings, data_dir=data)


def write_records(data_dir, role, records):
    path = app_log.role_file(data_dir, role)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        for record in records:
            fh.write(json.dumps({"user_id": None, "request_id": None, "job_id": None, "pid": 1,
                                 "process": role, **record}) + "\n")


def record(n, level="INFO", module="jobs.runner", message=None, **extra):
    return {"time": f"2026-01-01T00:00:{n:02d}.000Z", "level": level, "module": module,
            "message": message or f"message {n}", **extra}


def enable_haul_loggers():
    """The migrations' logging.config.fileConfig (run by the `app` fixture) disables the loggers made
    before it; the web and the worker never run it."""
    import logging

    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and name.startswith(("webapp", "jobs")):
            logger.disabled = False


@pytest.fixture
def logged(app, settings):
    """Records in two roles' files, interleaved in time (the current files and a rotated one)."""
    enable_haul_loggers()
    # The migrations' fileConfig also took the root logger's handlers away: the file's back.
    app_log.configure(settings.data_dir, "web", "INFO")
    write_records(settings.data_dir, "worker", [record(1, module="jobs.runner", job_id=5, message="job 5 started"),
                                                record(3, level="WARNING", module="jobs.engines.direct",
                                                       job_id=5, message="slow server")])
    rotated = app_log.role_file(settings.data_dir, "web").with_name("haul-web.log.1")
    write_records(settings.data_dir, "web", [record(0, module="webapp.auth", message="old sign-in")])
    app_log.role_file(settings.data_dir, "web").rename(rotated)
    write_records(settings.data_dir, "web", [record(2, level="ERROR", module="webapp.error_pages",
                                                    message="unhandled error on GET /x"),
                                             record(4, module="webapp.auth", message="alice signed in")])
    return settings.data_dir


def messages(response):
    return [item["message"] for item in response.get_json()["items"]]


def test_the_log_lists_newest_first_across_the_processes_files(client, api_callers, logged):
    response = client.get("/api/v1/logs", headers=api_callers["admin"])
    assert response.status_code == 200
    assert messages(response)[:5] == ["alice signed in", "slow server", "unhandled error on GET /x",
                                      "job 5 started", "old sign-in"]
    item = response.get_json()["items"][0]
    assert {"time", "level", "module", "message", "job_id", "user_id", "request_id", "process"} <= set(item)


@pytest.mark.parametrize("query, expected", [
    ("level=WARNING", ["slow server", "unhandled error on GET /x"]),
    ("level=ERROR", ["unhandled error on GET /x"]),
    ("module=jobs", ["slow server", "job 5 started"]),
    ("module=webapp.auth", ["alice signed in", "old sign-in"]),
    ("job_id=5", ["slow server", "job 5 started"]),
    ("q=SIGNED+in", ["alice signed in"]),
    ("process=worker", ["slow server", "job 5 started"]),
    ("process=worker&level=WARNING", ["slow server"]),
])
def test_the_filters(client, api_callers, logged, query, expected):
    response = client.get(f"/api/v1/logs?{query}", headers=api_callers["admin"])
    assert response.status_code == 200
    assert [m for m in messages(response) if not m.startswith("the application log")] == expected


def test_pages_say_whether_another_follows(client, api_callers, logged):
    first = client.get("/api/v1/logs?per_page=2&module=webapp", headers=api_callers["admin"]).get_json()
    assert [i["message"] for i in first["items"]] == ["alice signed in", "unhandled error on GET /x"]
    assert first["has_more"] is True
    response = client.get("/api/v1/logs?per_page=2&page=2&module=webapp", headers=api_callers["admin"])
    assert messages(response) == ["old sign-in"] and response.get_json()["has_more"] is False
    assert 'rel="prev"' in response.headers["Link"] and 'rel="next"' not in response.headers["Link"]
    assert "module=webapp" in response.headers["Link"]


@pytest.mark.parametrize("query", ["level=LOUD", "job_id=abc", "job_id=0", "process=browser", "per_page=0",
                                   "per_page=201", "page=0", "module=not%20a%20name"])
def test_bad_filters_are_422(client, api_callers, logged, query):
    assert_api_error(client.get(f"/api/v1/logs?{query}", headers=api_callers["admin"]), 422)


def test_the_download_is_the_filtered_log_oldest_first(client, api_callers, logged):
    response = client.get("/api/v1/logs/download?module=webapp", headers=api_callers["admin"])
    assert response.status_code == 200 and response.mimetype == "application/x-ndjson"
    assert "attachment" in response.headers["Content-Disposition"]
    lines = [json.loads(line)["message"] for line in response.get_data(as_text=True).splitlines()]
    assert lines == ["old sign-in", "unhandled error on GET /x", "alice signed in"]
    text = client.get("/api/v1/logs/download?format=text&job_id=5", headers=api_callers["admin"])
    assert text.mimetype == "text/plain"
    body = text.get_data(as_text=True).splitlines()
    assert len(body) == 2 and "[job 5]" in body[0] and body[1].endswith("slow server")


def test_delete_empties_the_log_and_says_who(client, api_callers, logged):
    response = client.delete("/api/v1/logs", headers=api_callers["admin"])
    assert response.status_code == 200 and response.get_json()["freed_bytes"] > 0
    assert not app_log.role_file(logged, "web").with_name("haul-web.log.1").exists()
    left = messages(client.get("/api/v1/logs", headers=api_callers["admin"]))
    assert not any(m in left for m in ("alice signed in", "slow server", "old sign-in"))
    assert any(m.startswith("the application log was cleared by root") for m in left)


@pytest.mark.parametrize("method, path", [("get", "/api/v1/logs"), ("get", "/api/v1/logs/download"),
                                          ("delete", "/api/v1/logs")])
def test_only_admins_reach_the_log(client, api_callers, logged, method, path):
    assert_api_error(getattr(client, method)(path, headers=api_callers["user"]), 403)
    assert_api_error(getattr(client, method)(path, headers=api_callers["read"]), 403)
    assert_api_error(getattr(client, method)(path, headers=api_callers["anonymous"]), 401)
    assert app_log.role_file(logged, "web").stat().st_size > 0  # nothing cleared


def test_a_jobs_log_is_its_owners_and_the_admins(client, api_callers, app):
    bob = create_user("bob", "bobpassword1")
    alices = submit(["http://example.com/a-log"], principal=Principal(user=api_callers.alice)).entries[0].job_id
    bobs = submit(["http://example.com/b-log"], principal=Principal(user=bob)).entries[0].job_id
    text = "── attempt 1 ──\n00:00:01 ERROR   yt-dlp: HTTP Error 404"
    db.session.add(JobLog(job_id=alices, text=text, truncated=False))
    db.session.commit()
    mine = client.get(f"/api/v1/queue/{alices}/log", headers=api_callers["user"])
    assert mine.status_code == 200
    assert mine.get_json() == {"job_id": alices, "text": text,
                               "truncated": False, "problems": ["yt-dlp: HTTP Error 404"]}
    assert client.get(f"/api/v1/queue/{alices}/log", headers=api_callers["admin"]).status_code == 200
    assert_api_error(client.get(f"/api/v1/queue/{bobs}/log", headers=api_callers["user"]), 404, "job_not_found")
    assert_api_error(client.get("/api/v1/queue/999999/log", headers=api_callers["admin"]), 404)
    assert_api_error(client.get(f"/api/v1/queue/{2**63}/log", headers=api_callers["admin"]), 404)
    empty = client.get(f"/api/v1/queue/{bobs}/log", headers=api_callers["admin"]).get_json()
    assert empty["text"] == "" and empty["problems"] == []


def test_the_log_endpoints_are_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"get"} <= set(paths["/api/v1/logs"]) and "delete" in paths["/api/v1/logs"]
    assert "get" in paths["/api/v1/logs/download"] and "get" in paths["/api/v1/queue/{job_id}/log"]
