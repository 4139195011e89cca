"""/api/v1/queue in process: every endpoint's statuses, shapes and access for each kind of caller.

No worker runs here: jobs stay `queued` unless a test claims them (jobs.runner) or sets a
finished status. Jobs are made through the real submission path (the API or the service).
"""
from __future__ import annotations

import pytest
from conftest import assert_api_error
from sqlalchemy import func, select

from jobs import runner
from webapp.extensions import db
from webapp.models import Event, Job, Submission
from webapp.models.job import Outcome
from webapp.services.accounts.identity import Principal
from webapp.services.queue import pause as queue_state
from webapp.services.queue.submissions import submit

LIST_KEYS = {"items", "total", "page", "per_page", "pages", "counts"}
JOB_KEYS = {"id", "download_id", "url", "domain", "status", "engine", "requested_engine", "preset", "priority",
            "source",
            "submitted_by", "title", "resource_id", "progress", "error", "attempts", "files", "created_at",
            "started_at", "finished_at"}
STATUSES = {"queued", "paused", "downloading", "completed", "failed", "cancelled"}
BIG = 2**63  # one past the database's integer


# helpers --------------------------------------------------------------------------------------


def add(owner, *urls, **kwargs) -> list[int]:
    """Queue URLs as `owner` (a User) through the submission service; the new job ids."""
    result = submit(list(urls), principal=Principal(owner), **kwargs)
    return [entry.job_id for entry in result.entries if not entry.duplicate]


def set_status(job_id: int, status: str) -> None:
    """Give a job a finished status as the worker would (finished_at set, dedupe key released)."""
    job = db.session.get(Job, job_id)
    job.claim("tests")
    job.finish(Outcome(status))
    db.session.commit()


def row(job_id: int) -> Job:
    found = db.session.get(Job, job_id)
    db.session.refresh(found)
    return found


def ids(response) -> list[int]:
    return [item["id"] for item in response.get_json()["items"]]


def event_types() -> list[str]:
    return list(db.session.scalars(select(Event.type).order_by(Event.id)))


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def stored() -> dict:
    """Every row of every table, read anew from the database; not the `last_used_at` a token's
    use writes, which is bookkeeping of the credential, not a change by the request."""
    db.session.expire_all()
    return {table.name: db.session.execute(select(*(column for column in table.columns if column.name != "last_used_at"))
                                           .order_by(*table.primary_key.columns)).all()
            for table in db.metadata.sorted_tables}


@pytest.fixture
def jobs(api_callers):
    """Alice has three queued jobs, a failed and a completed one; root has one queued and one failed."""
    alice, root = api_callers.alice, api_callers.root
    made = {
        "a1": add(alice, "https://example.com/a1.jpg")[0],
        "a2": add(alice, "https://example.com/a2.jpg")[0],
        "a3": add(alice, "https://other.example/a3.jpg")[0],
        "a_failed": add(alice, "https://example.com/af.jpg")[0],
        "a_done": add(alice, "https://example.com/ad.jpg")[0],
        "r1": add(root, "https://example.com/r1.jpg")[0],
        "r_failed": add(root, "https://example.com/rf.jpg")[0],
    }
    set_status(made["a_failed"], "failed")
    set_status(made["a_done"], "completed")
    set_status(made["r_failed"], "failed")
    return made


# access: every endpoint -----------------------------------------------------------------------

# (method, path, body): each needs a valid token; {job} is one of alice's queued jobs.
ENDPOINTS = [
    ("get", "/api/v1/queue", None),
    ("post", "/api/v1/queue", {"url": "https://example.com/new.jpg"}),
    ("get", "/api/v1/queue/stats", None),
    ("get", "/api/v1/queue/{job}", None),
    ("patch", "/api/v1/queue/{job}", {"priority": 5}),
    ("delete", "/api/v1/queue/{job}", None),
    ("post", "/api/v1/queue/{job}/cancel", None),
    ("post", "/api/v1/queue/{job}/retry", None),
    ("post", "/api/v1/queue/retry", {}),
    ("post", "/api/v1/queue/clear", {"status": ["completed"]}),
    ("post", "/api/v1/queue/reorder", {"item_ids": ["{job}"]}),
    ("post", "/api/v1/queue/pause", None),
    ("post", "/api/v1/queue/resume", None),
]
READS = {("get", "/api/v1/queue"), ("get", "/api/v1/queue/stats"), ("get", "/api/v1/queue/{job}")}
ADMIN_ONLY = {"/api/v1/queue/pause", "/api/v1/queue/resume"}


def call(client, method, path, body, headers, job_id):
    path = path.replace("{job}", str(job_id))
    if body is not None:
        body = {key: [job_id if v == "{job}" else v for v in value] if isinstance(value, list) else value
                for key, value in body.items()}
    return getattr(client, method)(path, json=body, headers=headers)


@pytest.mark.parametrize("method,path,body", ENDPOINTS)
@pytest.mark.parametrize("caller", ["anonymous", "revoked"])
def test_no_valid_token_is_401_everywhere(client, api_callers, jobs, method, path, body, caller):
    response = call(client, method, path, body, api_callers[caller], jobs["a1"])
    assert_api_error(response, 401, "missing_token" if caller == "anonymous" else "invalid_token")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("method,path,body", ENDPOINTS)
def test_a_read_token_reads_but_changes_nothing(client, api_callers, jobs, method, path, body):
    before = stored()
    response = call(client, method, path, body, api_callers["read"], jobs["a1"])
    if (method, path) in READS:
        assert response.status_code == 200, response.get_data(as_text=True)
    else:
        assert_api_error(response, 403, "insufficient_scope")
    after = stored()
    changed = {name for name in before if before[name] != after[name]}
    assert changed == set(), {name: (before[name], after[name]) for name in changed}
    assert not queue_state.is_paused()


@pytest.mark.parametrize("method,path,body", [e for e in ENDPOINTS if e[1] in ADMIN_ONLY])
@pytest.mark.parametrize("caller", ["submit", "user"])
def test_queue_wide_pause_and_resume_are_for_admins(client, api_callers, method, path, body, caller):
    assert_api_error(call(client, method, path, body, api_callers[caller], 1), 403, "admin_required")
    assert not queue_state.is_paused()


# A read token is refused changes before the job is looked up (403, above): it tries reads only.
@pytest.mark.parametrize("caller,method,path,body", [
    (caller, *endpoint) for endpoint in ENDPOINTS if "{job}" in endpoint[1]
    for caller in ("user", "submit", "read") if caller != "read" or endpoint[:2] in READS])
def test_alice_cannot_reach_roots_job(client, api_callers, jobs, method, path, body, caller):
    """Someone else's job answers as if it did not exist (404, never 403)."""
    response = call(client, method, path, body, api_callers[caller], jobs["r1"])
    assert_api_error(response, 404, "job_not_found")
    assert row(jobs["r1"]).status == "queued" and row(jobs["r1"]).priority == 0


@pytest.mark.parametrize("method,path,body", [e for e in ENDPOINTS if "{job}" in e[1] and "reorder" not in e[1]])
def test_ids_beyond_the_database_integer_are_404(client, api_callers, method, path, body):
    assert_api_error(call(client, method, path, body, api_callers["static"], BIG), 404, "job_not_found")


@pytest.mark.parametrize("method,path,body", [e for e in ENDPOINTS if "{job}" in e[1] and "reorder" not in e[1]])
def test_unknown_jobs_are_404(client, api_callers, method, path, body):
    assert_api_error(call(client, method, path, body, api_callers["admin"], 999999), 404, "job_not_found")


# GET /api/v1/queue ----------------------------------------------------------------------------


def test_list_defaults_to_active_jobs_in_the_order_workers_take_them(client, api_callers, jobs):
    urgent = add(api_callers.root, "https://example.com/urgent.jpg", priority=10)[0]
    running = runner.claim_next_job()  # the urgent one starts
    assert running == urgent
    response = client.get("/api/v1/queue", headers=api_callers["admin"])
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == LIST_KEYS
    assert ids(response) == [urgent, jobs["a1"], jobs["a2"], jobs["a3"], jobs["r1"]]
    assert set(body["items"][0]) >= JOB_KEYS
    assert body["items"][0]["status"] == "downloading"
    assert body["total"] == 5 and body["page"] == 1 and body["per_page"] == 50 and body["pages"] == 1
    assert set(body["counts"]) == STATUSES
    assert body["counts"] == {"queued": 4, "paused": 0, "downloading": 1, "completed": 1, "failed": 2,
                              "cancelled": 0}
    assert response.headers["X-Total-Count"] == "5"


def test_a_user_lists_only_their_own_jobs(client, api_callers, jobs):
    for caller in ("user", "read"):
        response = client.get("/api/v1/queue?status=queued,failed,completed", headers=api_callers[caller])
        assert set(ids(response)) == {jobs["a1"], jobs["a2"], jobs["a3"], jobs["a_failed"], jobs["a_done"]}
        assert response.get_json()["counts"]["failed"] == 1


def test_a_submit_token_lists_only_the_jobs_it_added(client, api_callers, jobs):
    mine = client.post("/api/v1/queue", json={"url": "https://example.com/mine.jpg"}, headers=api_callers["submit"])
    assert mine.status_code == 201
    response = client.get("/api/v1/queue", headers=api_callers["submit"])
    assert ids(response) == [mine.get_json()["jobs"][0]["id"]]
    assert response.get_json()["counts"]["queued"] == 1
    assert client.get("/api/v1/queue/stats", headers=api_callers["submit"]).get_json()["counts"]["queued"] == 1


def test_status_filter_repeated_or_comma_separated(client, api_callers, jobs):
    admin = api_callers["admin"]
    repeated = client.get("/api/v1/queue?status=failed&status=completed", headers=admin)
    commas = client.get("/api/v1/queue?status=failed,completed", headers=admin)
    assert ids(repeated) == ids(commas)
    assert set(ids(repeated)) == {jobs["a_failed"], jobs["a_done"], jobs["r_failed"]}
    assert repeated.get_json()["counts"]["queued"] == 4  # counts ignore the status filter


def test_domain_and_source_filters(client, api_callers, jobs):
    admin = api_callers["admin"]
    assert ids(client.get("/api/v1/queue?domain=other.example", headers=admin)) == [jobs["a3"]]
    assert ids(client.get("/api/v1/queue?domain=OTHER.example", headers=admin)) == [jobs["a3"]]
    gui = add(api_callers.alice, "https://example.com/from-page.jpg", source="gui")[0]
    response = client.get("/api/v1/queue?source=gui", headers=admin)
    assert ids(response) == [gui]
    assert response.get_json()["counts"]["queued"] == 1


def test_pagination_headers_and_links(client, api_callers, jobs):
    response = client.get("/api/v1/queue?per_page=2&page=2&status=queued", headers=api_callers["admin"])
    assert response.status_code == 200
    body = response.get_json()
    assert len(body["items"]) == 2 and body["total"] == 4 and body["pages"] == 2
    assert response.headers["X-Total-Count"] == "4"
    links = response.headers["Link"]
    for rel in ("first", "prev", "last"):
        assert f'rel="{rel}"' in links
    assert 'rel="next"' not in links
    assert "status=queued" in links and "per_page=2" in links
    first = client.get("/api/v1/queue?per_page=2&status=queued", headers=api_callers["admin"])
    assert 'rel="next"' in first.headers["Link"] and set(ids(first)).isdisjoint(ids(response))


def test_an_empty_queue_is_one_empty_page(client, api_callers):
    response = client.get("/api/v1/queue", headers=api_callers["user"])
    assert response.status_code == 200
    assert response.get_json()["items"] == [] and response.get_json()["pages"] == 1
    assert response.headers["X-Total-Count"] == "0" and 'rel="first"' in response.headers["Link"]


def test_cleared_jobs_are_not_on_the_queue(client, api_callers, jobs):
    client.post("/api/v1/queue/clear", json={"status": ["completed"]}, headers=api_callers["user"])
    response = client.get("/api/v1/queue?status=completed", headers=api_callers["user"])
    assert ids(response) == [] and response.get_json()["counts"]["completed"] == 0


@pytest.mark.parametrize("query", ["per_page=201", "per_page=0", "page=0", "page=x", "status=bogus",
                                   "status=queued,nope", "source=nowhere", "status="])
def test_bad_list_queries_are_422(client, api_callers, query):
    body = assert_api_error(client.get(f"/api/v1/queue?{query}", headers=api_callers["user"]), 422)
    assert body["error_code"] in ("validation_error", "invalid_pagination")


def test_a_token_in_the_query_is_not_accepted_outside_live_streams(client, api_callers, jobs):
    """Tokens in URLs end up in access logs and browser history: only the EventSource and
    WebSocket endpoints, whose browser clients cannot send a header, take `?token=`."""
    token = api_callers["user"]["Authorization"].split()[1]
    assert_api_error(client.get(f"/api/v1/queue?token={token}"), 401, "missing_token")
    assert_api_error(client.post(f"/api/v1/queue?token={token}", json={"url": "https://example.com/q.jpg"}),
                     401, "missing_token")
    # With the header, the parameter is simply ignored (it is not a filter).
    assert client.get(f"/api/v1/queue?token={token}", headers=api_callers["user"]).status_code == 200


# POST /api/v1/queue ---------------------------------------------------------------------------


def test_submit_one_url_answers_201_with_the_job(client, api_callers):
    response = client.post("/api/v1/queue", headers=api_callers["submit"], json={
        "url": "https://example.com/one.jpg", "post_title": "Trip", "engine": "gallery-dl",
        "preset": "720p", "priority": 7})
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"download_id", "post_title", "label", "queued_at", "jobs", "duplicates"}
    assert body["post_title"] == "Trip" and body["duplicates"] == []
    [job] = body["jobs"]
    assert set(job) >= JOB_KEYS
    assert job["status"] == "queued" and job["priority"] == 7 and job["requested_engine"] == "gallery-dl"
    assert job["source"] == "api" and job["submitted_by"]["user"] == "alice" and job["submitted_by"]["via"] == "token"
    assert row(job["id"]).preset == "720p" and job["preset"] == "720p"
    assert "queued" in event_types()
    # The seed API reads the same submission.
    assert client.get(f"/downloads/{body['download_id']}", headers=api_callers["submit"]).status_code == 200


def test_submit_many_urls(client, api_callers):
    urls = [f"https://example.com/many/{n}.jpg" for n in range(5)]
    response = client.post("/api/v1/queue", json={"urls": urls}, headers=api_callers["user"])
    assert response.status_code == 201
    assert [job["url"] for job in response.get_json()["jobs"]] == urls


def test_the_answer_is_the_stored_job_without_reading_it_back(client, api_callers):
    """POST answers from the rows it inserted (RETURNING); each must be exactly what GET of the
    stored job answers, so the shortcut cannot drift from the model's defaults."""
    body = {"urls": ["http://example.com/same/1", "http://example.com/same/2"], "post_title": "T",
            "priority": 5, "engine": "yt-dlp", "preset": "720p"}
    answered = client.post("/api/v1/queue", json=body, headers=api_callers["user"]).get_json()["jobs"]
    assert len(answered) == 2
    for job in answered:
        stored = client.get(f"/api/v1/queue/{job['id']}", headers=api_callers["user"]).get_json()
        assert job == stored


def test_a_duplicate_is_409_with_the_existing_job_and_writes_nothing(client, api_callers, jobs):
    submissions, events_before = count(Submission), count(Event)
    response = client.post("/api/v1/queue", json={"url": "https://example.com/a1.jpg"}, headers=api_callers["user"])
    body = assert_api_error(response, 409, "duplicate")
    assert body["duplicate_of"] == jobs["a1"]
    assert body["duplicates"] == [{"url": "https://example.com/a1.jpg", "duplicate_of": jobs["a1"]}]
    assert count(Submission) == submissions and count(Event) == events_before


def test_a_completed_url_is_a_duplicate_too_but_a_failed_one_is_not(client, api_callers, jobs):
    done = client.post("/api/v1/queue", json={"url": "https://example.com/ad.jpg"}, headers=api_callers["user"])
    assert assert_api_error(done, 409, "duplicate")["duplicate_of"] == jobs["a_done"]
    failed = client.post("/api/v1/queue", json={"url": "https://example.com/af.jpg"}, headers=api_callers["user"])
    assert failed.status_code == 201


def test_all_duplicates_of_many_is_409_naming_each(client, api_callers, jobs):
    urls = ["https://example.com/a1.jpg", "https://example.com/a2.jpg"]
    body = assert_api_error(client.post("/api/v1/queue", json={"urls": urls}, headers=api_callers["user"]), 409)
    assert body["duplicate_of"] == jobs["a1"]
    assert [d["duplicate_of"] for d in body["duplicates"]] == [jobs["a1"], jobs["a2"]]


def test_a_mixed_request_queues_the_new_ones_and_lists_the_duplicates(client, api_callers, jobs):
    urls = ["https://example.com/a1.jpg", "https://example.com/fresh.jpg"]
    response = client.post("/api/v1/queue", json={"urls": urls}, headers=api_callers["user"])
    assert response.status_code == 201
    body = response.get_json()
    assert [job["url"] for job in body["jobs"]] == ["https://example.com/fresh.jpg"]
    assert body["duplicates"] == [{"url": "https://example.com/a1.jpg", "duplicate_of": jobs["a1"]}]


def test_force_queues_a_duplicate_again(client, api_callers, jobs):
    response = client.post("/api/v1/queue", json={"url": "https://example.com/a1.jpg", "force": True},
                           headers=api_callers["user"])
    assert response.status_code == 201
    assert response.get_json()["jobs"][0]["id"] != jobs["a1"]


def test_the_seed_api_still_answers_202_for_duplicates(client, api_callers, jobs):
    """POST /downloads keeps its contract: a duplicate is an entry of a 202 answer, not a 409."""
    response = client.post("/downloads", json={"urls": ["https://example.com/a1.jpg"]}, headers=api_callers["user"])
    assert response.status_code == 202
    assert response.get_json()["jobs"][0]["duplicate_of"] == jobs["a1"]


@pytest.mark.parametrize("body", [
    {}, {"url": "https://example.com/x.jpg", "urls": ["https://example.com/y.jpg"]}, {"urls": []},
    {"url": ""}, {"url": 5}, {"urls": "https://example.com/x.jpg"},
    {"url": "https://example.com/x.jpg", "engine": "wget"},
    {"url": "https://example.com/x.jpg", "priority": 1001}, {"url": "https://example.com/x.jpg", "priority": "1"},
    {"url": "https://example.com/x.jpg", "surprise": 1},
    {"urls": [f"https://example.com/{n}" for n in range(201)]},
    {"url": "https://example.com/x.jpg", "post_title": "x" * 301},
])
def test_invalid_submissions_are_422_and_queue_nothing(client, api_callers, body):
    assert_api_error(client.post("/api/v1/queue", json=body, headers=api_callers["user"]), 422, "validation_error")
    assert count(Job) == 0


def test_invalid_urls_are_named(client, api_callers):
    response = client.post("/api/v1/queue", json={"urls": ["https://example.com/ok.jpg", "not a link"]},
                           headers=api_callers["user"])
    body = assert_api_error(response, 422, "invalid_urls")
    assert [problem["url"] for problem in body["invalid_urls"]] == ["not a link"]
    assert count(Job) == 0


def test_a_body_that_is_not_json_is_an_error_not_a_500(client, api_callers):
    response = client.post("/api/v1/queue", data="{nope", content_type="application/json",
                           headers=api_callers["user"])
    assert response.status_code in (400, 422)
    assert {"detail", "error_code", "request_id"} <= set(response.get_json())


# GET /api/v1/queue/<id> -------------------------------------------------------------------------


def test_show_a_job_to_its_owner_and_admins(client, api_callers, jobs):
    for caller in ("user", "read", "admin", "static"):
        response = client.get(f"/api/v1/queue/{jobs['a1']}", headers=api_callers[caller])
        assert response.status_code == 200 and response.get_json()["id"] == jobs["a1"]
        assert set(response.get_json()) >= JOB_KEYS


def test_a_submit_token_shows_only_its_own_jobs(client, api_callers, jobs):
    assert_api_error(client.get(f"/api/v1/queue/{jobs['a1']}", headers=api_callers["submit"]), 404, "job_not_found")
    mine = client.post("/api/v1/queue", json={"url": "https://example.com/s.jpg"}, headers=api_callers["submit"])
    job_id = mine.get_json()["jobs"][0]["id"]
    assert client.get(f"/api/v1/queue/{job_id}", headers=api_callers["submit"]).status_code == 200


# PATCH /api/v1/queue/<id> -----------------------------------------------------------------------


def test_patch_pauses_and_resumes(client, api_callers, jobs):
    url = f"/api/v1/queue/{jobs['a1']}"
    response = client.patch(url, json={"status": "paused"}, headers=api_callers["user"])
    assert response.status_code == 200 and response.get_json()["status"] == "paused"
    assert client.patch(url, json={"status": "paused"}, headers=api_callers["user"]).get_json()["status"] == "paused"
    claimed = [runner.claim_next_job() for _ in range(5)]
    assert jobs["a1"] not in claimed  # a paused job is never started
    response = client.patch(url, json={"status": "queued"}, headers=api_callers["admin"])
    assert response.status_code == 200 and response.get_json()["status"] == "queued"
    assert event_types().count("status") >= 2


def test_a_user_cannot_jump_the_queue_with_a_priority(client, api_callers, jobs):
    response = client.patch(f"/api/v1/queue/{jobs['a3']}", json={"priority": 50}, headers=api_callers["user"])
    assert_api_error(response, 403, "priority_reserved")
    queued = client.post("/api/v1/queue", json={"url": "https://example.com/jump.jpg", "priority": 11},
                         headers=api_callers["user"])
    assert_api_error(queued, 403, "priority_reserved")
    assert row(jobs["a3"]).priority == 0


def test_patch_changes_priority_and_the_order(client, api_callers, jobs):
    response = client.patch(f"/api/v1/queue/{jobs['a3']}", json={"priority": 50}, headers=api_callers["admin"])
    assert response.status_code == 200 and response.get_json()["priority"] == 50
    assert ids(client.get("/api/v1/queue", headers=api_callers["user"]))[0] == jobs["a3"]
    assert runner.claim_next_job() == jobs["a3"]
    assert "reordered" in event_types()


def test_patch_both_at_once(client, api_callers, jobs):
    response = client.patch(f"/api/v1/queue/{jobs['a2']}", json={"priority": -5, "status": "paused"},
                            headers=api_callers["user"])
    body = response.get_json()
    assert body["priority"] == -5 and body["status"] == "paused"


def test_patch_a_job_in_the_wrong_state_is_409_and_changes_nothing(client, api_callers, jobs):
    done = f"/api/v1/queue/{jobs['a_done']}"
    before = stored()
    assert_api_error(client.patch(done, json={"priority": 3}, headers=api_callers["user"]), 409, "not_waiting")
    assert_api_error(client.patch(done, json={"status": "queued"}, headers=api_callers["user"]), 409, "not_paused")
    assert row(jobs["a_done"]).priority == 0
    assert stored() == before
    running = runner.claim_next_job()
    before = stored()
    response = client.patch(f"/api/v1/queue/{running}", json={"status": "paused", "priority": 9},
                            headers=api_callers["admin"])
    assert_api_error(response, 409, "not_waiting")
    assert row(running).status == "downloading" and row(running).priority == 0
    assert stored() == before


@pytest.mark.parametrize("body", [{}, {"status": "failed"}, {"priority": 1.5}, {"priority": 5000}, {"title": "x"}])
def test_bad_patches_are_422(client, api_callers, jobs, body):
    assert_api_error(client.patch(f"/api/v1/queue/{jobs['a1']}", json=body, headers=api_callers["user"]),
                     422, "validation_error")


def test_a_submit_token_patches_only_its_own_jobs(client, api_callers, jobs):
    assert_api_error(client.patch(f"/api/v1/queue/{jobs['a1']}", json={"priority": 1},
                                  headers=api_callers["submit"]), 404)
    mine = client.post("/api/v1/queue", json={"url": "https://example.com/p.jpg"}, headers=api_callers["submit"])
    job_id = mine.get_json()["jobs"][0]["id"]
    response = client.patch(f"/api/v1/queue/{job_id}", json={"priority": 1}, headers=api_callers["submit"])
    assert response.status_code == 200


# DELETE /api/v1/queue/<id> ----------------------------------------------------------------------


def test_delete_a_waiting_job_cancels_it_and_takes_it_off_the_queue(client, api_callers, jobs):
    response = client.delete(f"/api/v1/queue/{jobs['a1']}", headers=api_callers["user"])
    assert response.status_code == 204 and response.get_data() == b""
    removed = row(jobs["a1"])
    assert removed.status == "cancelled" and removed.cleared_at is not None
    assert jobs["a1"] not in ids(client.get("/api/v1/queue?status=cancelled,queued", headers=api_callers["user"]))
    # History keeps it: GET still answers, and deleting again changes nothing.
    assert client.get(f"/api/v1/queue/{jobs['a1']}", headers=api_callers["user"]).get_json()["status"] == "cancelled"
    events = event_types().count("cleared")
    assert client.delete(f"/api/v1/queue/{jobs['a1']}", headers=api_callers["user"]).status_code == 204
    assert event_types().count("cleared") == events == 1


def test_delete_a_finished_job_clears_it(client, api_callers, jobs):
    assert client.delete(f"/api/v1/queue/{jobs['a_done']}", headers=api_callers["admin"]).status_code == 204
    assert row(jobs["a_done"]).status == "completed" and row(jobs["a_done"]).cleared_at is not None


def test_delete_a_running_job_is_409(client, api_callers, jobs):
    running = runner.claim_next_job()
    assert_api_error(client.delete(f"/api/v1/queue/{running}", headers=api_callers["admin"]), 409, "still_running")
    assert row(running).status == "downloading"


# cancel and retry of one job ------------------------------------------------------------------


def test_cancel_and_retry_one_job(client, api_callers, jobs):
    url = f"/api/v1/queue/{jobs['a2']}"
    assert client.post(f"{url}/cancel", headers=api_callers["user"]).get_json()["status"] == "cancelled"
    assert_api_error(client.post(f"{url}/cancel", headers=api_callers["user"]), 409, "not_cancellable")
    response = client.post(f"{url}/retry", headers=api_callers["user"])
    assert response.status_code == 202 and response.get_json()["status"] == "queued"


def test_retry_when_the_url_is_queued_again_names_the_job(client, api_callers, jobs):
    again = client.post("/api/v1/queue", json={"url": "https://example.com/af.jpg"}, headers=api_callers["user"])
    body = assert_api_error(client.post(f"/api/v1/queue/{jobs['a_failed']}/retry", headers=api_callers["user"]),
                            409, "duplicate")
    assert body["duplicate_of"] == again.get_json()["jobs"][0]["id"]


# POST /api/v1/queue/retry -----------------------------------------------------------------------


def test_bulk_retry_without_ids_retries_every_failed_job_of_the_caller(client, api_callers, jobs):
    response = client.post("/api/v1/queue/retry", json={}, headers=api_callers["user"])
    assert response.status_code == 200
    body = response.get_json()
    assert [job["id"] for job in body["retried"]] == [jobs["a_failed"]] and body["errors"] == []
    assert row(jobs["a_failed"]).status == "queued" and row(jobs["r_failed"]).status == "failed"
    # No body at all means the same; now there is nothing left to retry.
    response = client.post("/api/v1/queue/retry", headers=api_callers["user"])
    assert response.status_code == 200 and response.get_json() == {"retried": [], "errors": []}


def test_bulk_retry_by_an_admin_reaches_everyone(client, api_callers, jobs):
    body = client.post("/api/v1/queue/retry", json={"item_ids": []}, headers=api_callers["static"]).get_json()
    assert {job["id"] for job in body["retried"]} == {jobs["a_failed"], jobs["r_failed"]}


def test_bulk_retry_reports_each_id_it_could_not_retry(client, api_callers, jobs):
    wanted = [jobs["a_failed"], jobs["a1"], jobs["r_failed"], 999999]
    body = client.post("/api/v1/queue/retry", json={"item_ids": wanted}, headers=api_callers["user"]).get_json()
    assert [job["id"] for job in body["retried"]] == [jobs["a_failed"]]
    assert [(e["id"], e["error_code"]) for e in body["errors"]] == [
        (jobs["a1"], "not_retryable"), (jobs["r_failed"], "job_not_found"), (999999, "job_not_found")]
    assert row(jobs["r_failed"]).status == "failed"


@pytest.mark.parametrize("body", [{"item_ids": "1"}, {"item_ids": [0]}, {"item_ids": [BIG]}, {"item_ids": ["x"]},
                                  {"ids": [1]}])
def test_bad_bulk_retries_are_422(client, api_callers, body):
    assert_api_error(client.post("/api/v1/queue/retry", json=body, headers=api_callers["user"]), 422)


# POST /api/v1/queue/clear -----------------------------------------------------------------------


def test_clear_takes_finished_jobs_of_the_caller_off_the_queue(client, api_callers, jobs):
    response = client.post("/api/v1/queue/clear", json={"status": ["failed", "completed"]}, headers=api_callers["user"])
    assert response.status_code == 200 and response.get_json() == {"cleared": 2}
    assert row(jobs["a_failed"]).cleared_at is not None and row(jobs["r_failed"]).cleared_at is None
    assert "cleared_many" in event_types()
    assert client.post("/api/v1/queue/clear", json={"status": ["failed"]}, headers=api_callers["admin"]).get_json() \
        == {"cleared": 1}


def test_a_submit_token_clears_only_the_jobs_it_added(client, api_callers, jobs):
    mine = client.post("/api/v1/queue", json={"url": "https://example.com/c.jpg"}, headers=api_callers["submit"])
    set_status(mine.get_json()["jobs"][0]["id"], "failed")
    response = client.post("/api/v1/queue/clear", json={"status": ["failed"]}, headers=api_callers["submit"])
    assert response.get_json() == {"cleared": 1}
    assert row(jobs["a_failed"]).cleared_at is None


@pytest.mark.parametrize("body", [{}, {"status": []}, {"status": ["queued"]}, {"status": "failed"}])
def test_bad_clears_are_422(client, api_callers, body):
    response = client.post("/api/v1/queue/clear", json=body, headers=api_callers["user"])
    assert_api_error(response, 422, "validation_error")


# POST /api/v1/queue/reorder ---------------------------------------------------------------------


def test_reorder_moves_the_named_jobs_to_the_front_in_that_order(client, api_callers, jobs):
    urgent = add(api_callers.root, "https://example.com/urgent.jpg", priority=10)[0]
    response = client.post("/api/v1/queue/reorder", json={"item_ids": [jobs["a3"], jobs["a1"]]},
                           headers=api_callers["user"])
    assert response.status_code == 200
    assert ids(response) == [jobs["a3"], jobs["a1"]]
    # A user's jobs go to the front of their own, in the places those hold: root's urgent job and
    # the rest of the queue are not passed.
    assert ids(client.get("/api/v1/queue", headers=api_callers["admin"])) == [
        urgent, jobs["a3"], jobs["a1"], jobs["a2"], jobs["r1"]]
    assert [runner.claim_next_job() for _ in range(3)] == [urgent, jobs["a3"], jobs["a1"]]


def test_an_admins_reorder_moves_jobs_ahead_of_everyone(client, api_callers, jobs):
    urgent = add(api_callers.root, "https://example.com/urgent.jpg", priority=10)[0]
    response = client.post("/api/v1/queue/reorder", json={"item_ids": [jobs["r1"], jobs["a2"]]},
                           headers=api_callers["admin"])
    assert response.status_code == 200
    assert ids(client.get("/api/v1/queue", headers=api_callers["admin"])) == [
        jobs["r1"], jobs["a2"], urgent, jobs["a1"], jobs["a3"]]
    assert "reordered" in event_types()


def test_reorder_moves_paused_jobs_too(client, api_callers, jobs):
    client.patch(f"/api/v1/queue/{jobs['a2']}", json={"status": "paused"}, headers=api_callers["user"])
    client.post("/api/v1/queue/reorder", json={"item_ids": [jobs["a2"]]}, headers=api_callers["user"])
    assert ids(client.get("/api/v1/queue", headers=api_callers["user"]))[0] == jobs["a2"]


def test_reorder_is_all_or_nothing(client, api_callers, jobs):
    before = ids(client.get("/api/v1/queue", headers=api_callers["admin"]))
    assert_api_error(client.post("/api/v1/queue/reorder", json={"item_ids": [jobs["a2"], jobs["r1"]]},
                                 headers=api_callers["user"]), 404, "job_not_found")
    assert_api_error(client.post("/api/v1/queue/reorder", json={"item_ids": [jobs["a2"], jobs["a_done"]]},
                                 headers=api_callers["user"]), 409, "not_movable")
    assert ids(client.get("/api/v1/queue", headers=api_callers["admin"])) == before


@pytest.mark.parametrize("body", [{}, {"item_ids": []}, {"item_ids": [3, 3]}, {"item_ids": [-1]}, {"item_ids": [BIG]}])
def test_bad_reorders_are_422(client, api_callers, body):
    response = client.post("/api/v1/queue/reorder", json=body, headers=api_callers["user"])
    assert_api_error(response, 422, "validation_error")


# pause, resume, stats -------------------------------------------------------------------------


def test_an_admin_pauses_and_resumes_the_queue(client, api_callers, jobs):
    response = client.post("/api/v1/queue/pause", headers=api_callers["admin"])
    assert response.status_code == 200 and response.get_json() == {"paused": True, "waiting": 4}
    assert queue_state.is_paused() and runner.claim_next_job() is None
    assert client.get("/api/v1/queue/stats", headers=api_callers["read"]).get_json()["paused"] is True
    response = client.post("/api/v1/queue/resume", headers=api_callers["static"])
    assert response.status_code == 200 and response.get_json() == {"paused": False, "waiting": 4}
    assert not queue_state.is_paused()
    assert [t for t in event_types() if t.startswith("queue_")] == ["queue_paused", "queue_resumed"]


def test_an_admin_token_without_submit_cannot_pause(client, api_callers):
    from webapp.services.accounts import identity as accounts

    _, token = accounts.create_token(api_callers.root, "watcher", "read admin")
    assert_api_error(client.post("/api/v1/queue/pause", headers={"Authorization": f"Bearer {token}"}),
                     403, "insufficient_scope")


def test_stats(client, api_callers, jobs):
    running = runner.claim_next_job()
    db.session.get(Job, running).speed = 1500.0
    db.session.commit()
    response = client.get("/api/v1/queue/stats", headers=api_callers["admin"])
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"paused", "counts", "active", "finished", "speed", "oldest_waiting_at"}
    assert body["paused"] is False and body["active"] == 4 and body["finished"] == 3 and body["speed"] == 1500.0
    assert body["counts"]["downloading"] == 1 and body["oldest_waiting_at"].endswith("Z")
    mine = client.get("/api/v1/queue/stats", headers=api_callers["user"]).get_json()
    assert mine["counts"]["failed"] == 1 and mine["finished"] == 2


def test_stats_of_an_empty_queue(client, api_callers):
    body = client.get("/api/v1/queue/stats", headers=api_callers["submit"]).get_json()
    assert body["active"] == 0 and body["speed"] == 0.0 and body["oldest_waiting_at"] is None


# the document ---------------------------------------------------------------------------------


def test_every_queue_operation_states_its_scope(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    operations = [(path, method, op) for path, ops in paths.items() if path.startswith("/api/v1/queue")
                  for method, op in ops.items() if method != "parameters"]
    # with GET /queue/{id}/children, …/log, and start/stop/status and …/{id}/now (queue_run.py)
    assert len(operations) == 19
    for path, method, op in operations:
        assert "Scope:" in op.get("description", ""), (path, method)
        assert op["security"] == [{"bearer": []}]
