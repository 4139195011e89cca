"""/api/v1/scheduler: the media-downloader seed's scheduler contract (shared/seeds/001, "Scheduler
Endpoints"), field by field, over Haul's subscriptions — for clients written against the seed."""
from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import assert_api_error
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Subscription, SubscriptionRun
from webapp.models.base import isoformat, utcnow
from webapp.services.accounts import identity as accounts

SEED_JOB_KEYS = {"id", "name", "platform", "source", "content_type", "schedule", "schedule_human", "enabled",
                 "last_run", "last_run_status", "last_run_items", "next_run", "total_runs", "success_count",
                 "failure_count", "config"}
HISTORY_KEYS = {"id", "job_id", "started_at", "completed_at", "duration_seconds", "status", "items_downloaded",
                "error_message"}
SEED_BODY = {"name": "Eva Longoria Stories", "platform": "instagram", "source": "https://media.example/u/eva",
             "content_type": "stories", "schedule": "0 */6 * * *", "enabled": True,
             "config": {"max_downloads": 50, "downloader": "fastdl"}}


@pytest.fixture
def bob_header(api_callers):
    bob = accounts.create_user("bob", "bobpassword")
    return {"Authorization": f"Bearer {accounts.create_token(bob, 'test')[1]}"}


def create(client, header, **overrides) -> dict:
    response = client.post("/api/v1/scheduler/jobs", headers=header, json={**SEED_BODY, **overrides})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def finish(run_id: int, status: str, downloaded: int, seconds: int, error: str | None = None) -> None:
    """Give a run the outcome a worker would have written."""
    run = db.session.get(SubscriptionRun, run_id)
    run.status, run.downloaded, run.error = status, downloaded, error
    run.finished_at = run.started_at + timedelta(seconds=seconds)
    db.session.commit()


def test_create_answers_the_seeds_created_shape(client, api_callers):
    body = create(client, api_callers["user"])
    assert set(body) == {"id", "name", "next_run", "enabled"}
    assert isinstance(body["id"], str) and body["id"].isdigit()
    assert body["name"] == "Eva Longoria Stories" and body["enabled"] is True
    assert body["next_run"].endswith("Z")
    stored = db.session.get(Subscription, int(body["id"]))
    # source is the URL followed; config.max_downloads the most a run queues; an unknown downloader is ignored
    assert (stored.url, stored.max_items, stored.engine, stored.cron) == (
        "https://media.example/u/eva", 50, None, "0 */6 * * *")


def test_list_has_every_seed_field(client, api_callers):
    user = api_callers["user"]
    job_id = create(client, user, config={"max_downloads": 15, "downloader": "yt-dlp"})["id"]
    listing = client.get("/api/v1/scheduler/jobs", headers=user)
    assert listing.status_code == 200 and set(listing.get_json()) == {"jobs"}
    (job,) = listing.get_json()["jobs"]
    assert set(job) == SEED_JOB_KEYS
    assert job["id"] == job_id
    assert (job["platform"], job["source"], job["content_type"]) == ("media.example", "https://media.example/u/eva",
                                                                      "collection")
    assert (job["schedule"], job["schedule_human"]) == ("0 */6 * * *", "At minute 0 past every 6th hour (UTC)")
    assert job["enabled"] is True and job["next_run"].endswith("Z")
    assert (job["last_run"], job["last_run_status"], job["last_run_items"]) == (None, None, None)
    assert (job["total_runs"], job["success_count"], job["failure_count"]) == (0, 0, 0)
    assert job["config"] == {"max_downloads": 15, "downloader": "yt-dlp"}


def test_run_is_202_queued_with_a_task_id_and_history_follows_the_runs(client, api_callers):
    user = api_callers["user"]
    job_id = create(client, user)["id"]
    response = client.post(f"/api/v1/scheduler/jobs/{job_id}/run", headers=user)
    assert response.status_code == 202
    body = response.get_json()
    assert set(body) == {"task_id", "status", "message"}
    assert body["status"] == "queued" and body["message"] == "Job execution queued"
    first = int(body["task_id"])
    assert db.session.get(SubscriptionRun, first).subscription_id == int(job_id)

    skipped = client.post(f"/api/v1/scheduler/jobs/{job_id}/run", headers=user).get_json()
    assert skipped["status"] == "skipped" and "still listing" in skipped["message"]

    finish(first, "completed", downloaded=8, seconds=225)
    third = int(client.post(f"/api/v1/scheduler/jobs/{job_id}/run", headers=user).get_json()["task_id"])
    finish(third, "failed", downloaded=0, seconds=3, error="HTTP Error 404")

    (job,) = client.get("/api/v1/scheduler/jobs", headers=user).get_json()["jobs"]
    assert (job["total_runs"], job["success_count"], job["failure_count"]) == (3, 1, 1)
    assert (job["last_run_status"], job["last_run_items"]) == ("failure", 0)
    assert job["last_run"] == isoformat(db.session.get(SubscriptionRun, third).started_at)

    history = client.get("/api/v1/scheduler/history", headers=user)
    assert history.status_code == 200 and set(history.get_json()) == {"history"}
    entries = history.get_json()["history"]
    assert [e["id"] for e in entries] == [third, int(skipped["task_id"]), first]  # newest first
    assert all(set(e) == HISTORY_KEYS for e in entries)
    done = entries[2]
    assert (done["job_id"], done["status"], done["duration_seconds"], done["items_downloaded"],
            done["error_message"]) == (job_id, "success", 225, 8, None)
    assert done["completed_at"].endswith("Z") and done["started_at"].endswith("Z")
    assert (entries[0]["status"], entries[0]["error_message"]) == ("failure", "HTTP Error 404")
    assert entries[1]["status"] == "skipped"

    failures = client.get("/api/v1/scheduler/history?status=failure", headers=user).get_json()["history"]
    assert [e["id"] for e in failures] == [third]
    assert len(client.get("/api/v1/scheduler/history?limit=1", headers=user).get_json()["history"]) == 1
    assert client.get(f"/api/v1/scheduler/history?job_id={job_id}", headers=user).get_json()["history"]
    assert client.get("/api/v1/scheduler/history?job_id=nope", headers=user).get_json() == {"history": []}


def test_patch_answers_the_seeds_shape_and_disabling_clears_next_run(client, api_callers):
    user = api_callers["user"]
    job_id = create(client, user)["id"]
    response = client.patch(f"/api/v1/scheduler/jobs/{job_id}", headers=user,
                            json={"schedule": "0 */8 * * *", "enabled": False})
    assert response.status_code == 200
    assert response.get_json() == {"id": job_id, "schedule": "0 */8 * * *", "enabled": False, "next_run": None}
    enabled = client.patch(f"/api/v1/scheduler/jobs/{job_id}", headers=user, json={"enabled": True}).get_json()
    assert enabled["enabled"] is True and enabled["next_run"] > utcnow().isoformat()[:10]


def test_delete_is_204_and_the_job_is_gone(client, api_callers):
    user = api_callers["user"]
    job_id = create(client, user)["id"]
    response = client.delete(f"/api/v1/scheduler/jobs/{job_id}", headers=user)
    assert response.status_code == 204 and response.get_data() == b""
    assert client.get("/api/v1/scheduler/jobs", headers=user).get_json() == {"jobs": []}
    assert_api_error(client.delete(f"/api/v1/scheduler/jobs/{job_id}", headers=user), 404, "subscription_not_found")


def test_the_subscriptions_rules_apply(client, api_callers, bob_header):
    user = api_callers["user"]
    assert_api_error(client.post("/api/v1/scheduler/jobs", headers=user, json={**SEED_BODY, "schedule": "* * * * *"}),
                     422, "schedule_too_frequent")
    assert_api_error(client.post("/api/v1/scheduler/jobs", headers=user,
                                 json={**SEED_BODY, "source": "http://127.0.0.1/feed"}), 422, "private_address")
    assert_api_error(client.post("/api/v1/scheduler/jobs", headers=api_callers["submit"], json=SEED_BODY), 403,
                     "insufficient_scope")
    job_id = create(client, user)["id"]
    for method, path in (("patch", ""), ("delete", ""), ("post", "/run")):
        response = getattr(client, method)(f"/api/v1/scheduler/jobs/{job_id}{path}", headers=bob_header,
                                           json={"enabled": False} if method == "patch" else None)
        assert_api_error(response, 404, "subscription_not_found")
    assert client.get("/api/v1/scheduler/jobs", headers=bob_header).get_json() == {"jobs": []}
    client.post(f"/api/v1/scheduler/jobs/{job_id}/run", headers=user)
    assert client.get("/api/v1/scheduler/history", headers=bob_header).get_json() == {"history": []}
    assert len(client.get("/api/v1/scheduler/history", headers=api_callers["admin"]).get_json()["history"]) == 1
    assert db.session.scalar(select(Subscription.enabled)) is True
