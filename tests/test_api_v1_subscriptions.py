"""/api/v1/subscriptions in process: CRUD, every refusal's error_code, the admin's minimum
interval, who reaches whose subscription, token scopes, runs (started, skipped, paged), forget,
preview (with the tools' listing replaced: it would reach the network) and the run events on the
live streams.

No worker runs: a run stays `listing` with its collection job queued, which is what "a run is
going" means to the next one.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from conftest import API_TOKEN, assert_api_error
from sqlalchemy import func, select

from webapp.core.item_filters import Item
from webapp.core.listings import Listing
from webapp.downloads.notifications import seed_message
from webapp.extensions import db
from webapp.live_api import messages, replay
from webapp.models import Job, Subscription, SubscriptionItem, SubscriptionRun, User
from webapp.services.accounts import identity as accounts
from webapp.services.accounts.identity import Principal
from webapp.services.admin import runtime_settings
from webapp.services.queue import dispatch, events
from webapp.services.subscriptions import manage

CHANNEL = "https://media.example/channel/news"
BODY = {"name": "News", "url": CHANNEL, "schedule": "every 6 hours"}
SUBSCRIPTION_KEYS = {
    "id", "user_id", "owner", "name", "url", "domain", "schedule", "schedule_human", "engine", "preset", "post_title",
    "max_items", "published_after", "within_days", "title_include", "title_exclude", "min_duration", "max_duration",
    "skip_live", "skip_shorts", "enabled", "first_run", "first_run_count", "next_run", "last_run_at", "created_at",
    "updated_at", "summary"}
RUN_KEYS = {"id", "subscription_id", "trigger", "status", "job_id", "started_at", "finished_at", "found", "new",
            "queued", "downloaded", "failed", "error"}


@pytest.fixture
def bob_header(api_callers):
    bob = accounts.create_user("bob", "bobpassword")
    return {"Authorization": f"Bearer {accounts.create_token(bob, 'test')[1]}"}


def alice_user() -> User:
    """api_callers' alice, in this session (the requests end the session her row was loaded in)."""
    return db.session.scalar(select(User).where(User.username == "alice"))


def alice_id() -> int:
    return alice_user().id


def create(client, header, **overrides) -> dict:
    response = client.post("/api/v1/subscriptions", headers=header, json={**BODY, **overrides})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def parse_when(text: str) -> datetime:
    return datetime.fromisoformat(text)


# CRUD -------------------------------------------------------------------------------------------


def test_create_show_list_patch_and_delete(client, api_callers):
    user = api_callers["user"]
    before = datetime.now(UTC)
    body = create(client, user, max_items=10, title_exclude="trailer", published_after="2026-01-02")
    assert set(body) == SUBSCRIPTION_KEYS
    assert body["owner"] == "alice" and body["user_id"] == alice_id()
    assert (body["name"], body["url"], body["domain"]) == ("News", CHANNEL, "media.example")
    assert (body["schedule"], body["schedule_human"]) == ("every 6 hours", "Every 6 hours")
    assert body["enabled"] is True and body["skip_live"] is True and body["skip_shorts"] is False
    assert (body["first_run"], body["first_run_count"]) == ("newest", 5)
    assert body["published_after"] == "2026-01-02" and body["max_items"] == 10
    # the first run starts at the scheduler's next pass: due now
    assert before - timedelta(seconds=1) <= parse_when(body["next_run"]) <= datetime.now(UTC)
    assert body["summary"]["total_runs"] == 0 and body["summary"]["last_run"] is None

    sub_id = body["id"]
    assert client.get(f"/api/v1/subscriptions/{sub_id}", headers=user).get_json()["name"] == "News"
    listing = client.get("/api/v1/subscriptions", headers=user)
    assert listing.status_code == 200 and listing.headers["X-Total-Count"] == "1"
    assert [item["id"] for item in listing.get_json()["items"]] == [sub_id]

    patched = client.patch(f"/api/v1/subscriptions/{sub_id}", headers=user,
                           json={"name": "Daily news", "schedule": "0 3 * * *", "max_items": None})
    assert patched.status_code == 200, patched.get_data(as_text=True)
    patched = patched.get_json()
    assert (patched["name"], patched["schedule"], patched["max_items"]) == ("Daily news", "0 3 * * *", None)
    assert patched["schedule_human"] == "Every day at 03:00 UTC"
    next_run = parse_when(patched["next_run"])  # counted from now by the new schedule
    assert (next_run.hour, next_run.minute) == (3, 0) and next_run > datetime.now(UTC)
    assert patched["title_exclude"] == "trailer"  # not named, not changed

    paused = client.patch(f"/api/v1/subscriptions/{sub_id}", headers=user, json={"enabled": False}).get_json()
    assert paused["enabled"] is False and paused["next_run"] is None
    assert db.session.get(Subscription, sub_id).next_run_at is None

    deleted = client.delete(f"/api/v1/subscriptions/{sub_id}", headers=user)
    assert deleted.status_code == 200 and deleted.get_json()["deleted"] is True
    assert_api_error(client.get(f"/api/v1/subscriptions/{sub_id}", headers=user), 404, "subscription_not_found")


def test_a_disabled_subscription_is_created_without_a_next_run(client, api_callers):
    body = create(client, api_callers["user"], enabled=False)
    assert body["enabled"] is False and body["next_run"] is None


# Validation -------------------------------------------------------------------------------------


@pytest.mark.parametrize("change, error_code", [
    ({"name": ""}, "invalid_name"),
    ({"name": "x" * 201}, "invalid_name"),
    ({"url": "not a url"}, "invalid_url"),
    ({"url": "ftp://example.com/feed"}, "invalid_url"),
    ({"url": "http://127.0.0.1:8000/feed"}, "private_address"),
    ({"url": "http://192.168.1.10/feed"}, "private_address"),
    ({"schedule": "sometimes"}, "invalid_schedule"),
    ({"schedule": "61 * * * *"}, "invalid_schedule"),
    ({"schedule": "every 5 minutes"}, "schedule_too_frequent"),
    ({"schedule": "*/5 * * * *"}, "schedule_too_frequent"),
    ({"engine": "wget"}, "invalid_engine"),
    ({"preset": "4k"}, "invalid_preset"),
    ({"post_title": "x" * 301}, "invalid_post_title"),
    ({"max_items": 0}, "invalid_max_items"),
    ({"max_items": 1001}, "invalid_max_items"),
    ({"published_after": "02/01/2026"}, "invalid_filters"),
    ({"published_after": "2026-02-30"}, "invalid_filters"),
    ({"within_days": 0}, "invalid_filters"),
    ({"title_include": "(unclosed"}, "invalid_filters"),
    ({"min_duration": -1}, "invalid_filters"),
    ({"min_duration": 600, "max_duration": 60}, "invalid_filters"),
    ({"first_run": "everything"}, "invalid_first_run"),
    ({"first_run_count": 0}, "invalid_first_run_count"),
    ({"colour": "blue"}, "unknown_field"),
])
def test_each_bad_value_is_422_with_its_error_code_and_nothing_is_stored(client, api_callers, change, error_code):
    body = assert_api_error(client.post("/api/v1/subscriptions", headers=api_callers["user"], json={**BODY, **change}),
                            422, error_code)
    assert body["detail"]
    assert db.session.scalar(select(func.count(Subscription.id))) == 0


@pytest.mark.parametrize("missing, error_code", [("name", "invalid_name"), ("url", "invalid_url"),
                                                 ("schedule", "invalid_schedule")])
def test_name_url_and_schedule_are_required(client, api_callers, missing, error_code):
    body = {key: value for key, value in BODY.items() if key != missing}
    assert_api_error(client.post("/api/v1/subscriptions", headers=api_callers["user"], json=body), 422, error_code)


def test_a_patch_is_checked_as_a_create_is(client, api_callers):
    sub = create(client, api_callers["user"])
    response = client.patch(f"/api/v1/subscriptions/{sub['id']}", headers=api_callers["user"],
                            json={"schedule": "every minute"})
    assert_api_error(response, 422, "schedule_too_frequent")
    assert db.session.get(Subscription, sub["id"]).interval_seconds == 6 * 3600


def test_an_admin_may_follow_a_private_address_and_users_when_the_setting_allows(client, api_callers):
    private = {"url": "http://192.168.1.10/feed"}
    assert create(client, api_callers["admin"], **private)["url"] == "http://192.168.1.10/feed"
    assert_api_error(client.post("/api/v1/subscriptions", headers=api_callers["user"], json={**BODY, **private}),
                     422, "private_address")
    runtime_settings.save({runtime_settings.PRIVATE_FOR_USERS: True})
    assert create(client, api_callers["user"], **private)["owner"] == "alice"


def test_an_admin_cannot_point_a_users_subscription_at_a_private_address(client, api_callers):
    """Its runs are submitted as the user's, so the user's network policy holds for its URL."""
    sub_id = create(client, api_callers["user"])["id"]
    assert_api_error(client.patch(f"/api/v1/subscriptions/{sub_id}", headers=api_callers["admin"],
                                  json={"url": "http://192.168.1.10/feed"}), 422, "private_address")
    assert db.session.get(Subscription, sub_id).url == CHANNEL


def test_the_minimum_interval_is_the_admins_setting(client, api_callers):
    user = api_callers["user"]
    assert_api_error(client.post("/api/v1/subscriptions", headers=user, json={**BODY, "schedule": "every 10 minutes"}),
                     422, "schedule_too_frequent")
    assert create(client, user, schedule="every 15 minutes")["schedule"] == "every 15 minutes"
    client.patch("/api/v1/settings", headers=api_callers["admin"], json={"subscription_min_interval_minutes": 5})
    assert create(client, user, schedule="every 10 minutes")["schedule_human"] == "Every 10 minutes"
    client.patch("/api/v1/settings", headers=api_callers["admin"], json={"subscription_min_interval_minutes": 120})
    body = assert_api_error(client.post("/api/v1/subscriptions", headers=user,
                                        json={**BODY, "schedule": "every hour"}), 422, "schedule_too_frequent")
    assert "2 hours" in body["detail"]


# Who reaches what -------------------------------------------------------------------------------


def test_another_users_subscription_is_404_for_a_user_and_visible_to_an_admin(client, api_callers, bob_header):
    sub_id = create(client, api_callers["user"])["id"]
    for method, path, body in (("get", "", None), ("patch", "", {"name": "mine now"}), ("delete", "", None),
                               ("post", "/run", None), ("get", "/runs", None), ("post", "/forget", {"all": True})):
        response = getattr(client, method)(f"/api/v1/subscriptions/{sub_id}{path}", headers=bob_header, json=body)
        assert_api_error(response, 404, "subscription_not_found")
    assert client.get("/api/v1/subscriptions", headers=bob_header).get_json()["total"] == 0
    assert db.session.get(Subscription, sub_id).name == "News"
    assert db.session.scalar(select(func.count(SubscriptionRun.id))) == 0

    admin = api_callers["admin"]
    assert client.get(f"/api/v1/subscriptions/{sub_id}", headers=admin).get_json()["owner"] == "alice"
    assert client.get("/api/v1/subscriptions", headers=admin).get_json()["total"] == 1
    create(client, admin, name="Admin's own")
    mine = client.get(f"/api/v1/subscriptions?user_id={alice_id()}", headers=admin).get_json()
    assert [item["id"] for item in mine["items"]] == [sub_id]
    # a user's user_id filter cannot widen their view
    bobs = client.get(f"/api/v1/subscriptions?user_id={alice_id()}", headers=bob_header).get_json()
    assert bobs["total"] == 0
    assert client.patch(f"/api/v1/subscriptions/{sub_id}", headers=admin, json={"enabled": False}).status_code == 200


def test_an_unknown_or_huge_id_is_404(client, api_callers):
    for sub_id in (999, 2**63):
        assert_api_error(client.get(f"/api/v1/subscriptions/{sub_id}", headers=api_callers["admin"]), 404,
                         "subscription_not_found")


def test_a_submit_only_token_can_neither_create_nor_read(client, api_callers):
    submit = api_callers["submit"]
    assert_api_error(client.post("/api/v1/subscriptions", headers=submit, json=BODY), 403, "insufficient_scope")
    assert_api_error(client.get("/api/v1/subscriptions", headers=submit), 403, "insufficient_scope")
    sub_id = create(client, api_callers["user"])["id"]
    assert_api_error(client.post(f"/api/v1/subscriptions/{sub_id}/run", headers=submit), 403, "insufficient_scope")
    assert_api_error(client.delete(f"/api/v1/subscriptions/{sub_id}", headers=submit), 403, "insufficient_scope")
    assert db.session.scalar(select(func.count(Subscription.id))) == 1


def test_a_read_only_token_reads_but_does_not_change(client, api_callers):
    sub_id = create(client, api_callers["user"])["id"]
    read = api_callers["read"]
    assert client.get(f"/api/v1/subscriptions/{sub_id}", headers=read).status_code == 200
    assert client.get(f"/api/v1/subscriptions/{sub_id}/runs", headers=read).status_code == 200
    assert_api_error(client.post("/api/v1/subscriptions", headers=read, json=BODY), 403, "insufficient_scope")
    assert_api_error(client.patch(f"/api/v1/subscriptions/{sub_id}", headers=read, json={"name": "x"}), 403)
    assert_api_error(client.get("/api/v1/subscriptions", headers=api_callers["anonymous"]), 401, "missing_token")
    assert_api_error(client.get("/api/v1/subscriptions", headers=api_callers["revoked"]), 401, "invalid_token")


# Runs -------------------------------------------------------------------------------------------


def test_run_now_starts_a_run_and_a_second_one_while_it_goes_is_skipped(client, api_callers):
    user = api_callers["user"]
    sub_id = create(client, user)["id"]
    first = client.post(f"/api/v1/subscriptions/{sub_id}/run", headers=user)
    assert first.status_code == 202
    run = first.get_json()
    assert set(run) == RUN_KEYS
    assert (run["status"], run["trigger"], run["subscription_id"]) == ("listing", "manual", sub_id)
    job = db.session.get(Job, run["job_id"])
    assert job.url == CHANNEL and job.status == "queued" and job.user_id == alice_id()

    second = client.post(f"/api/v1/subscriptions/{sub_id}/run", headers=user)
    assert second.status_code == 202
    skipped = second.get_json()
    assert skipped["status"] == "skipped" and skipped["job_id"] is None
    assert f"Run {run['id']} was still listing" in skipped["error"]

    summary = client.get(f"/api/v1/subscriptions/{sub_id}", headers=user).get_json()["summary"]
    assert summary["total_runs"] == 2 and summary["last_run"]["status"] == "skipped"
    assert [r["status"] for r in summary["recent"]] == ["listing", "skipped"]  # oldest first
    assert (summary["success_count"], summary["failure_count"]) == (0, 0)


def test_runs_are_paged_newest_first_and_filtered_by_status(client, api_callers):
    user = api_callers["user"]
    sub_id = create(client, user)["id"]
    for _ in range(5):
        client.post(f"/api/v1/subscriptions/{sub_id}/run", headers=user)
    first = client.get(f"/api/v1/subscriptions/{sub_id}/runs?per_page=2", headers=user)
    assert first.status_code == 200 and first.headers["X-Total-Count"] == "5"
    body = first.get_json()
    assert (body["total"], body["pages"], len(body["items"])) == (5, 3, 2)
    ids = [r["id"] for r in body["items"]]
    assert ids == sorted(ids, reverse=True)
    last = client.get(f"/api/v1/subscriptions/{sub_id}/runs?per_page=2&page=3", headers=user).get_json()
    assert len(last["items"]) == 1 and last["items"][0]["status"] == "listing"
    skipped = client.get(f"/api/v1/subscriptions/{sub_id}/runs?status=skipped", headers=user).get_json()
    assert skipped["total"] == 4
    assert_api_error(client.get(f"/api/v1/subscriptions/{sub_id}/runs?status=bogus", headers=user), 422)


def test_run_all_checks_the_callers_enabled_subscriptions(client, api_callers, bob_header):
    user = api_callers["user"]
    one = create(client, user)["id"]
    create(client, user, name="Paused", enabled=False)
    create(client, bob_header, name="Bob's")
    client.post(f"/api/v1/subscriptions/{one}/run", headers=user)  # still going: the next is skipped
    two = create(client, user, name="Other", url="https://media.example/channel/other")["id"]
    response = client.post("/api/v1/subscriptions/run", headers=user)
    assert response.status_code == 202
    body = response.get_json()
    assert [r["subscription_id"] for r in body["started"]] == [two]
    assert [r["subscription_id"] for r in body["skipped"]] == [one]


def test_forget_items_by_key_or_all(client, api_callers):
    user = api_callers["user"]
    sub_id = create(client, user)["id"]
    for key in ("yt:a", "yt:b", "yt:c"):
        db.session.add(SubscriptionItem(subscription_id=sub_id, item_key=key, url=f"https://media.example/{key}"))
    db.session.commit()
    response = client.post(f"/api/v1/subscriptions/{sub_id}/forget", headers=user, json={"item_keys": ["yt:a"]})
    assert response.status_code == 200 and response.get_json() == {"forgotten": 1}
    assert client.post(f"/api/v1/subscriptions/{sub_id}/forget", headers=user,
                       json={"all": True}).get_json() == {"forgotten": 2}
    assert_api_error(client.post(f"/api/v1/subscriptions/{sub_id}/forget", headers=user, json={}), 422,
                     "invalid_item_keys")


def test_delete_keeps_the_runs_jobs_unless_asked_to_delete_files(client, api_callers):
    user = api_callers["user"]
    kept_id = create(client, user)["id"]
    kept_job = client.post(f"/api/v1/subscriptions/{kept_id}/run", headers=user).get_json()["job_id"]
    body = client.delete(f"/api/v1/subscriptions/{kept_id}", headers=user).get_json()
    assert body["jobs_deleted"] == 0 and body["delete_files"] is False
    assert db.session.get(Job, kept_job) is not None  # stays in history

    gone_id = create(client, user, name="Gone")["id"]
    gone_job = client.post(f"/api/v1/subscriptions/{gone_id}/run", headers=user).get_json()["job_id"]
    body = client.delete(f"/api/v1/subscriptions/{gone_id}?delete_files=true", headers=user).get_json()
    assert body["jobs_deleted"] == 1 and body["jobs_kept"] == []
    db.session.expire_all()
    assert db.session.get(Job, gone_job) is None  # the waiting run's job was cancelled, then deleted
    assert db.session.scalar(select(func.count(SubscriptionRun.id)).where(
        SubscriptionRun.subscription_id == gone_id)) == 0


def test_delete_files_removes_the_files_of_the_jobs_its_runs_downloaded(app, client, api_callers):
    import hashlib
    from pathlib import Path

    from webapp.models import JobFile
    from webapp.models.job import Outcome

    user = api_callers["user"]
    sub_id = create(client, user)["id"]
    parent_id = client.post(f"/api/v1/subscriptions/{sub_id}/run", headers=user).get_json()["job_id"]
    parent = db.session.get(Job, parent_id)
    # as the worker leaves it: one child downloaded with its file on disk, the listing done
    child = Job(submission_id=parent.submission_id, url="https://media.example/v/1", domain="media.example",
                user_id=parent.user_id, status="queued", parent_id=parent_id, position=1)
    db.session.add(child)
    db.session.flush()
    content = b"video bytes"
    relative = "News/media.example/news/episode-1.mp4"
    full = Path(app.config["HAUL"].storage_root) / relative
    full.parent.mkdir(parents=True, exist_ok=True)
    full.write_bytes(content)
    child.files.append(JobFile(path=relative, size=len(content), sha256=hashlib.sha256(content).hexdigest()))
    for job in (child, parent):
        job.claim("tests")
        job.finish(Outcome("completed"))
    db.session.commit()

    body = client.delete(f"/api/v1/subscriptions/{sub_id}?delete_files=true", headers=user).get_json()
    assert (body["jobs_deleted"], body["files_removed"], body["jobs_kept"]) == (2, 1, [])
    assert not full.exists()
    assert db.session.scalar(select(func.count(Job.id))) == 0


# Preview ----------------------------------------------------------------------------------------


@pytest.fixture
def listed(monkeypatch):
    """The worker's listing replaced by a fixed one; the calls it got are recorded."""
    calls = []
    now = datetime.now(UTC)
    entries = [
        Item("https://media.example/v/1", "Episode 3", now - timedelta(days=1), 600.0, item_key="x:1"),
        Item("https://media.example/v/2", "Episode 2 trailer", now - timedelta(days=2), 60.0, item_key="x:2"),
        Item("https://media.example/v/3", "Episode 1", now - timedelta(days=3), 620.0, item_key="x:3"),
    ]

    def list_collection(url, engine, public_only, timeout=60.0):
        calls.append({"url": url, "engine": engine, "public_only": public_only})
        return Listing("news", "News channel", "generic", list(entries))

    monkeypatch.setattr(dispatch, "list_collection", list_collection)
    return calls


def test_preview_lists_what_would_be_fetched_and_what_skipped(client, api_callers, listed):
    response = client.post("/api/v1/subscriptions/preview", headers=api_callers["user"],
                           json={"url": CHANNEL, "title_exclude": "trailer", "first_run": "newest",
                                 "first_run_count": 1})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert (body["title"], body["found"], body["new"]) == ("News channel", 3, 2)
    assert [item["url"] for item in body["would_fetch"]] == ["https://media.example/v/1"]
    assert body["would_fetch"][0]["title"] == "Episode 3" and body["would_fetch"][0]["duration"] == 600.0
    assert [(s["url"], s["title"]) for s in body["skipped"]] == [("https://media.example/v/2", "Episode 2 trailer")]
    assert "trailer" in body["skipped"][0]["reason"]
    assert listed == [{"url": CHANNEL, "engine": None, "public_only": True}]  # a user: public addresses only
    assert db.session.scalar(select(func.count(Subscription.id))) == 0  # nothing written
    assert db.session.scalar(select(func.count(Job.id))) == 0


def test_a_preview_of_an_existing_subscription_checks_its_archive(app, api_callers, listed):
    principal = Principal(alice_user())
    sub = manage.create({**BODY, "first_run": "all"}, principal)
    db.session.add(SubscriptionItem(subscription_id=sub.id, item_key="x:1", url="https://media.example/v/1"))
    db.session.commit()
    result = manage.preview({}, principal, sub)
    assert (result.found, result.new) == (3, 2)
    assert [item["url"] for item in result.would_fetch] == ["https://media.example/v/2", "https://media.example/v/3"]


def test_an_admins_preview_may_list_private_addresses(client, api_callers, listed):
    client.post("/api/v1/subscriptions/preview", headers=api_callers["admin"], json={"url": "http://192.168.1.10/f"})
    assert listed[-1]["public_only"] is False
    assert_api_error(client.post("/api/v1/subscriptions/preview", headers=api_callers["user"],
                                 json={"url": "http://192.168.1.10/f"}), 422, "private_address")


def test_a_listing_that_fails_is_422_listing_failed_with_the_tools_message(client, api_callers, monkeypatch):
    def list_collection(url, engine, public_only, timeout=60.0):
        raise dispatch.ListingFailed("ERROR: Unsupported URL: https://media.example/channel/news")

    monkeypatch.setattr(dispatch, "list_collection", list_collection)
    body = assert_api_error(client.post("/api/v1/subscriptions/preview", headers=api_callers["user"],
                                        json={"url": CHANNEL}), 422, "listing_failed")
    assert "Unsupported URL" in body["detail"]
    assert_api_error(client.post("/api/v1/subscriptions/preview", headers=api_callers["user"], json={}), 422,
                     "invalid_url")


# Live events ------------------------------------------------------------------------------------


def _sse_events(app, client, header) -> list[str]:
    """The event names a stream replays from the start (the hub is closed: it ends after the replay)."""
    response = client.get("/api/v1/events", headers={**header, "Last-Event-ID": "0"})
    assert response.status_code == 200
    return [line[len("event: "):] for line in response.get_data(as_text=True).splitlines()
            if line.startswith("event: ")]


def test_run_events_reach_the_owners_stream_and_admins_but_not_another_user(app, client, api_callers, bob_header):
    user = api_callers["user"]
    sub_id = create(client, user)["id"]
    client.post(f"/api/v1/subscriptions/{sub_id}/run", headers=user)
    client.post(f"/api/v1/subscriptions/{sub_id}/run", headers=user)
    app.extensions["haul_event_hub"].close()
    assert [e for e in _sse_events(app, client, user) if e.startswith("run_")] == ["run_started", "run_skipped"]
    assert [e for e in _sse_events(app, client, api_callers["admin"]) if e.startswith("run_")] == [
        "run_started", "run_skipped"]
    assert [e for e in _sse_events(app, client, bob_header) if e.startswith("run_")] == []
    assert [e for e in _sse_events(app, client, api_callers["submit"]) if e.startswith("run_")] == []


def test_run_events_carry_the_runs_data_on_the_websocket_and_the_seeds_notifications(client, api_callers,
                                                                                    bob_header):
    user = api_callers["user"]
    sub_id = create(client, user)["id"]
    run = client.post(f"/api/v1/subscriptions/{sub_id}/run", headers=user).get_json()
    records, _gap = replay.missed_since(0)
    started = next(r for r in records if r.type == events.RUN_STARTED)
    assert started.user_id == alice_id()

    ws = messages.ws_message(started)
    assert ws["type"] == "subscription_run" and ws["data"]["event"] == "run_started"
    assert (ws["data"]["subscription_id"], ws["data"]["run_id"], ws["data"]["subscription"]) == (sub_id, run["id"],
                                                                                               "News")
    assert messages.Viewer(alice_id(), False).may_see(started)
    assert not messages.Viewer(alice_id() + 99, False).may_see(started)

    alice = Principal(alice_user())
    seed = seed_message(started, alice)
    assert seed["type"] == "run_started" and seed["run_id"] == run["id"] and seed["status"] == "listing"
    bob = accounts.create_user("carol", "carolpassword")
    assert seed_message(started, Principal(bob)) is None


def test_guests_live_feed_never_gets_run_events(client, api_callers):
    from webapp.services.guests.guest_actions import GuestFeed

    sub_id = create(client, api_callers["user"])["id"]
    client.post(f"/api/v1/subscriptions/{sub_id}/run", headers=api_callers["user"])
    records, _gap = replay.missed_since(0)
    runs = [r for r in records if r.type in events.RUN_EVENTS]
    assert runs
    feed = GuestFeed("some-guest-session")
    assert all(feed.items_of(record) == [] for record in runs)


def test_the_static_token_owns_what_it_creates_as_an_admin(client):
    header = {"Authorization": f"Bearer {API_TOKEN}"}
    body = create(client, header, url="http://10.0.0.5/feed")
    assert body["user_id"] is None and body["owner"] is None
