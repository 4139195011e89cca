"""End to end: subscriptions with the real gunicorn web process, Huey consumer (and its periodic
scheduler task) and yt-dlp against a feed on the local media site, driven through /api/v1.

Each test follows a feed of its own name (the media site lives for the whole session)."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
import requests

from tests.support.stack import HaulStack

API_TOKEN = "e2e-subscriptions-token-0123456789abcdef"


@pytest.fixture(scope="module")
def stack(media_site, tmp_path_factory):
    """A stack of its own: these tests restart and kill its processes."""
    with HaulStack(tmp_path_factory.mktemp("subscriptions"), api_token=API_TOKEN) as running:
        yield running


def api(stack, method: str, path: str, expect=(200,), session=None, **kwargs):
    answer = (session or stack.session).request(method, f"{stack.base_url}/api/v1{path}", timeout=30, **kwargs)
    assert answer.status_code in expect, f"{method} {path}: {answer.status_code} {answer.text}"
    return answer.json() if answer.content else None


def follow(stack, media_site, feed: str, session=None, **fields) -> dict:
    body = {"name": f"Feed {feed}", "url": media_site.url(f"/feed/{feed}.xml"), "schedule": "every 1 hour",
            "enabled": False, **fields}
    return api(stack, "POST", "/subscriptions", expect=(201,), session=session, json=body)


def run_and_wait(stack, subscription_id: int, session=None, timeout: float = 90) -> dict:
    run = api(stack, "POST", f"/subscriptions/{subscription_id}/run", expect=(202,), session=session)
    assert run["status"] == "listing", run
    return wait_for_run(stack, subscription_id, run["id"], session=session, timeout=timeout)


def wait_for_run(stack, subscription_id: int, run_id: int, session=None, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        runs = api(stack, "GET", f"/subscriptions/{subscription_id}/runs", session=session,
                   params={"per_page": 50})["items"]
        run = next(r for r in runs if r["id"] == run_id)
        if run["status"] in ("completed", "failed", "skipped"):
            return run
        assert time.monotonic() < deadline, f"run {run_id} still {run['status']}: {run}"
        time.sleep(0.2)


def children(stack, parent_id: int, session=None, where: str = "downloads") -> list[dict]:
    """A collection's children: from the library once it finished, from the queue while it runs."""
    return api(stack, "GET", f"/{where}/{parent_id}/children", session=session,
               params={"per_page": 200})["items"]


def feed_numbers(items: list[dict]) -> list[int]:
    return sorted(int(item["url"].rsplit("-", 1)[1]) for item in items)


def test_first_run_fetches_the_newest_then_only_what_is_new(stack, media_site):
    feed = media_site.feed("follow", count=5)
    subscription = follow(stack, media_site, "follow", first_run="newest", first_run_count=2)

    first = run_and_wait(stack, subscription["id"])
    assert first["status"] == "completed", first
    assert (first["found"], first["queued"], first["downloaded"], first["failed"]) == (5, 2, 2, 0)
    assert feed_numbers(children(stack, first["job_id"])) == [4, 5]

    second = run_and_wait(stack, subscription["id"])
    assert second["status"] == "completed", second
    assert (second["found"], second["new"], second["queued"]) == (5, 0, 0)

    feed.add(3)
    third = run_and_wait(stack, subscription["id"])
    assert (third["found"], third["new"], third["queued"], third["downloaded"]) == (8, 3, 3, 3)
    made = children(stack, third["job_id"])
    assert feed_numbers(made) == [6, 7, 8]
    assert all(child["status"] == "completed" and [f["kind"] for f in child["files"]] == ["media", "nfo"]
               for child in made)


def test_filters_exclude_what_they_should(stack, media_site):
    feed = media_site.feed("filtered", count=0)
    january = datetime(2026, 1, 10, tzinfo=timezone.utc)
    feed.add(title="Episode one", duration=30, published=january)
    feed.add(title="The trailer", duration=30, published=january)  # excluded by title
    feed.add(title="Episode long", duration=4000, published=january)  # longer than the maximum
    feed.add(title="Episode old", duration=30, published=datetime(2025, 6, 1, tzinfo=timezone.utc))  # too old
    feed.add(title="Episode two", duration=30, published=january)
    subscription = follow(stack, media_site, "filtered", first_run="all", title_exclude="trailer",
                          max_duration=3600, published_after="2026-01-01")
    run = run_and_wait(stack, subscription["id"])
    assert (run["found"], run["new"], run["queued"], run["downloaded"]) == (5, 2, 2, 2), run
    assert feed_numbers(children(stack, run["job_id"])) == [1, 5]  # "Episode one" and "Episode two"

    preview = api(stack, "POST", "/subscriptions/preview", json={
        "url": media_site.url("/feed/filtered.xml"), "title_include": "long", "first_run": "all"})
    assert [item["title"] for item in preview["would_fetch"]] == ["Episode long"]


def test_a_run_falling_due_during_a_slow_run_is_skipped(stack, media_site):
    media_site.feed("slowrun", count=3)
    subscription = follow(stack, media_site, "slowrun", first_run="all")
    url = media_site.url("/feed/slowrun.xml?links=slow")
    api(stack, "PATCH", f"/subscriptions/{subscription['id']}", json={"url": url})
    first = api(stack, "POST", f"/subscriptions/{subscription['id']}/run", expect=(202,))
    second = api(stack, "POST", f"/subscriptions/{subscription['id']}/run", expect=(202,))
    assert second["status"] == "skipped" and f"Run {first['id']}" in second["error"]
    # The scheduler's pass meets the same rule: due now, while the first run still goes.
    stack.sql("UPDATE subscriptions SET enabled = :on, next_run_at = :due WHERE id = :id", on=True,
              due=stack.timestamp(datetime.now(timezone.utc) - timedelta(seconds=5)), id=subscription["id"])
    deadline = time.monotonic() + 90
    while True:
        runs = api(stack, "GET", f"/subscriptions/{subscription['id']}/runs")["items"]
        scheduled = [r for r in runs if r["trigger"] == "schedule"]
        if scheduled:
            break
        assert time.monotonic() < deadline, runs
        time.sleep(0.5)
    done = wait_for_run(stack, subscription["id"], first["id"], timeout=120)
    assert done["status"] == "completed" and done["downloaded"] == 3, done
    runs = api(stack, "GET", f"/subscriptions/{subscription['id']}/runs")["items"]
    # Started while the first was going: skipped, never doubled (one run downloaded the items).
    assert scheduled[0]["status"] == "skipped" or scheduled[0]["started_at"] > done["finished_at"]
    assert sum(1 for r in runs if r["status"] != "skipped" and r["queued"]) == 1


def test_kill_9_of_the_worker_during_a_run_loses_nothing_and_fetches_nothing_twice(stack, media_site):
    media_site.feed("killed", count=4)
    subscription = follow(stack, media_site, "killed", first_run="all")
    api(stack, "PATCH", f"/subscriptions/{subscription['id']}",
        json={"url": media_site.url("/feed/killed.xml?links=slow")})
    run = api(stack, "POST", f"/subscriptions/{subscription['id']}/run", expect=(202,))
    deadline = time.monotonic() + 60
    while True:  # its children are queued and one is downloading
        current = next(r for r in api(stack, "GET", f"/subscriptions/{subscription['id']}/runs")["items"]
                       if r["id"] == run["id"])
        if current["status"] == "downloading" and any(
                child["status"] == "downloading" for child in children(stack, current["job_id"], where="queue")):
            break
        assert time.monotonic() < deadline, current
        time.sleep(0.1)
    stack.kill_worker()
    stack.start_worker()
    done = wait_for_run(stack, subscription["id"], run["id"], timeout=180)
    assert done["status"] == "completed" and (done["queued"], done["downloaded"]) == (4, 4), done
    made = children(stack, done["job_id"])
    assert len(made) == 4 and len({child["url"] for child in made}) == 4
    files = [f["path"] for child in made for f in child["files"] if f["kind"] == "media"]
    assert len(files) == 4 and len(set(files)) == 4
    # The archive holds each item once; another run finds nothing new.
    again = run_and_wait(stack, subscription["id"])
    assert (again["found"], again["new"], again["queued"]) == (4, 0, 0)


def test_two_users_following_one_source_each_get_their_own_files(stack, media_site):
    media_site.feed("shared", count=2)
    sessions = []
    for name in ("sub-ann", "sub-bob"):
        api(stack, "POST", "/users", expect=(201,), json={"username": name, "password": "correct horse 42"})
        tokens = api(stack, "POST", "/auth/login", json={"username": name, "password": "correct horse 42"})
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {tokens['access_token']}"
        sessions.append(session)
    with stack.users_may_reach_private_addresses():
        finished = []
        for session in sessions:
            subscription = follow(stack, media_site, "shared", session=session, first_run="all")
            finished.append((session, run_and_wait(stack, subscription["id"], session=session)))
    paths = []
    for session, run in finished:
        assert (run["status"], run["downloaded"]) == ("completed", 2), run
        made = children(stack, run["job_id"], session=session)
        assert all(child["duplicate_of"] is None for child in made)
        paths.append({f["path"] for child in made for f in child["files"] if f["kind"] == "media"})
    assert len(paths[0]) == 2 and len(paths[1]) == 2 and not paths[0] & paths[1]


def test_schedules_survive_a_restart_and_a_missed_run_runs_once(stack, media_site):
    media_site.feed("restart", count=2)
    api(stack, "PATCH", "/settings", json={"subscription_min_interval_minutes": 1})
    subscription = follow(stack, media_site, "restart", first_run="all", schedule="every 1 minute")
    stack.stop_worker()
    stack.stop_web()
    # Down for ten slots: it was due ten minutes ago.
    stack.sql("UPDATE subscriptions SET enabled = :on, next_run_at = :due WHERE id = :id", on=True,
              due=stack.timestamp(datetime.now(timezone.utc) - timedelta(minutes=10)), id=subscription["id"])
    stack.start_web()
    stack.start_worker()
    deadline = time.monotonic() + 60
    while not (runs := api(stack, "GET", f"/subscriptions/{subscription['id']}/runs")["items"]):
        assert time.monotonic() < deadline, "the missed run never started"
        time.sleep(0.2)
    first = wait_for_run(stack, subscription["id"], runs[0]["id"])
    assert first["status"] == "completed" and first["downloaded"] == 2, first
    shown = api(stack, "GET", f"/subscriptions/{subscription['id']}")
    assert datetime.fromisoformat(shown["next_run"].replace("Z", "+00:00")) > datetime.now(timezone.utc)
    # One run for the ten missed slots; the next comes on the one-minute schedule.
    runs = api(stack, "GET", f"/subscriptions/{subscription['id']}/runs")["items"]
    assert len(runs) == 1, runs
    deadline = time.monotonic() + 150
    while len(runs := api(stack, "GET", f"/subscriptions/{subscription['id']}/runs")["items"]) < 2:
        assert time.monotonic() < deadline, "the schedule never fired again"
        time.sleep(1)
    assert runs[0]["trigger"] == "schedule"
    api(stack, "PATCH", f"/subscriptions/{subscription['id']}", json={"enabled": False})
