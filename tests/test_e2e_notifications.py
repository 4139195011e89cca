"""End to end: notifications from the live stack (gunicorn web + Huey worker) downloading from the
local media site, received by local HTTP receivers: a signed JSON webhook and Apprise's json://.

The right events arrive with valid signatures (a job completed with its title and link, a job
failed only after its last retry, a collection's new items, an invite used); a target that hangs
or refuses connections neither slows nor fails a job, and shows its error in the API and Settings.
"""
from __future__ import annotations

import re

import pytest
import requests
from test_notifications import Receiver, closed_port, signature_valid

ADMIN, PASSWORD = "nora", "nora-password-1"


@pytest.fixture(scope="module")
def admin(stack):
    """A signed-in admin's API session (targets belong to a user; the static token has none)."""
    made = stack.session.post(stack.base_url + "/api/v1/users", json={"username": ADMIN, "password": PASSWORD,
                                                                       "role": "admin"}, timeout=10)
    assert made.status_code == 201, made.text
    pair = requests.post(stack.base_url + "/api/v1/auth/login", json={"username": ADMIN, "password": PASSWORD},
                         timeout=10)
    assert pair.status_code == 200, pair.text
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {pair.json()['access_token']}"
    return session


@pytest.fixture(scope="module")
def receivers(stack, admin):
    """A webhook receiver hearing every personal event, and an Apprise json:// one hearing completions."""
    with Receiver() as hook, Receiver() as apprise_json:
        made = admin.post(stack.base_url + "/api/v1/notifications", timeout=10, json={
            "name": "hook", "kind": "webhook", "url": hook.url,
            "events": ["job_completed", "job_failed", "new_items", "invite_used"]})
        assert made.status_code == 201, made.text
        hook.secret = made.json()["secret"]
        made = admin.post(stack.base_url + "/api/v1/notifications", timeout=10, json={
            "name": "apprise", "kind": "apprise", "url": f"json://127.0.0.1:{apprise_json.port}/",
            "events": ["job_completed"]})
        assert made.status_code == 201, made.text
        yield hook, apprise_json


def submit(stack, admin, url: str) -> int:
    answer = admin.post(stack.base_url + "/api/v1/queue", json={"url": url, "force": True}, timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()["jobs"][0]["id"]


def of_job(event: str, job_id: int):
    return lambda r: (r["json"] or {}).get("event") == event and r["json"].get("job_id") == job_id


def test_a_completed_job_is_told_with_its_title_and_link_signed(stack, media_site, admin, receivers):
    hook, apprise_json = receivers
    link = media_site.url("/img/41.png")
    job_id = submit(stack, admin, link)
    assert stack.wait_for_job(job_id)["status"] == "completed"
    request = hook.wait_for(of_job("job_completed", job_id))
    assert signature_valid(request, hook.secret)
    assert request["headers"]["X-Haul-Event"] == "job_completed"
    body = request["json"]
    assert body["url"] == link and body["data"]["files"] == 1 and body["data"]["domain"] == "127.0.0.1"
    assert body["title"].startswith("Downloaded: ") and link in body["message"]
    told = apprise_json.wait_for(lambda r: link in (r["json"] or {}).get("message", ""))
    assert told["json"]["title"].startswith("Downloaded: ")


def test_a_failed_job_is_told_once_after_its_last_retry(stack, media_site, admin, receivers):
    hook, _ = receivers
    job_id = submit(stack, admin, media_site.url("/flaky/notify-fail/1.png?fail=50"))
    job = stack.wait_for_job(job_id, timeout=60)
    assert job["status"] == "failed" and job["attempts"] == 3
    request = hook.wait_for(of_job("job_failed", job_id))
    assert signature_valid(request, hook.secret)
    assert "gave up after 3 attempts" in request["json"]["data"]["error"]
    assert request["json"]["title"].startswith("Download failed: ")
    assert sum(1 for r in hook.requests if of_job("job_failed", job_id)(r)) == 1  # the retries told nobody


def test_a_collections_new_items_are_told(stack, media_site, admin, receivers):
    hook, _ = receivers
    media_site.feed("notify", count=2)
    feed = media_site.url("/feed/notify.xml")
    parent_id = submit(stack, admin, feed)
    request = hook.wait_for(of_job("new_items", parent_id), timeout=60)
    assert signature_valid(request, hook.secret)
    assert request["json"]["data"]["count"] == 2 and request["json"]["url"] == feed
    assert stack.wait_for_job(parent_id, timeout=60)["status"] == "completed"
    hook.wait_for(of_job("job_completed", parent_id))  # the collection, once: not each child
    children = [r for r in hook.requests if (r["json"] or {}).get("event") == "job_completed"
                and "/video/notify-" in (r["json"].get("url") or "")]
    assert children == []


def test_an_invite_used_is_told_to_its_creator(stack, media_site, admin, receivers):
    hook, _ = receivers
    made = admin.post(stack.base_url + "/api/v1/invites", json={"name": "for grandma", "allow_private_urls": True},
                      timeout=10)
    assert made.status_code == 201, made.text
    guest = requests.Session()
    base = f"{stack.base_url}/i/{made.json()['token']}"
    page = guest.get(base, timeout=10)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.text)[1]
    sent = guest.post(base + "/links", json={"urls": [media_site.url("/img/42.png")]}, timeout=10,
                      headers={"X-CSRFToken": token, "Accept": "application/json"})
    assert sent.status_code == 202, sent.text
    request = hook.wait_for(lambda r: (r["json"] or {}).get("event") == "invite_used")
    assert signature_valid(request, hook.secret)
    assert request["json"]["title"] == "Invite used: for grandma" and request["json"]["data"]["uses"] == 1


def test_a_hanging_or_refusing_target_neither_slows_nor_fails_a_job(stack, media_site, admin):
    refused_url = f"http://127.0.0.1:{closed_port()}/hook"
    with Receiver(hang=True) as hanging:
        ids = []
        for name, url in (("hangs", hanging.url), ("refuses", refused_url)):
            made = admin.post(stack.base_url + "/api/v1/notifications", timeout=10, json={
                "name": name, "kind": "webhook", "url": url, "events": ["job_completed"]})
            assert made.status_code == 201, made.text
            ids.append(made.json()["id"])
        first = submit(stack, admin, media_site.url("/img/43.png"))
        assert stack.wait_for_job(first)["status"] == "completed"
        hanging.holding.wait(30)
        assert hanging.holding.is_set()
        # The next job runs and finishes while the notifier still waits on the hanging target.
        second = submit(stack, admin, media_site.url("/img/44.png"))
        job = stack.wait_for_job(second)
        assert job["status"] == "completed"
        assert len(hanging.requests) == 1 and not hanging._release.is_set()  # still held
        refusing = _wait_for_error(stack, admin, ids[1])
        assert "refused" in refusing["last_error"].lower() and refusing["consecutive_failures"] >= 1
        assert "/hook" not in refusing["last_error"]
        page = _settings_page(stack)
        assert f'id="notification-{ids[1]}-error"' in page and "Connection refused" in page
        for target_id in ids:
            admin.delete(f"{stack.base_url}/api/v1/notifications/{target_id}", timeout=10)


def _wait_for_error(stack, admin, target_id: int, timeout: float = 30) -> dict:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = admin.get(f"{stack.base_url}/api/v1/notifications/{target_id}", timeout=10).json()
        if body["last_error"]:
            return body
        time.sleep(0.1)
    raise AssertionError(f"target {target_id} shows no error: {body}")


def _settings_page(stack) -> str:
    """Settings → Notifications as the admin sees it in a browser session."""
    browser = requests.Session()
    login = browser.get(stack.base_url + "/login", timeout=10)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', login.text)[1]
    signed_in = browser.post(stack.base_url + "/login", data={"csrf_token": token, "username": ADMIN,
                                                              "password": PASSWORD}, timeout=10)
    assert signed_in.status_code == 200, signed_in.status_code
    page = browser.get(stack.base_url + "/settings/notifications", timeout=10)
    assert page.status_code == 200
    return page.text


@pytest.fixture(scope="module")
def user(stack):
    """A user's API session (no admin: public addresses only)."""
    made = stack.session.post(stack.base_url + "/api/v1/users", json={"username": "ula", "password": "ula-password-1",
                                                                       "role": "user"}, timeout=10)
    assert made.status_code == 201, made.text
    pair = requests.post(stack.base_url + "/api/v1/auth/login", json={"username": "ula", "password": "ula-password-1"},
                         timeout=10)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {pair.json()['access_token']}"
    return session


def test_a_users_targets_reach_public_addresses_only_even_through_a_redirect(stack, user, public_address):
    """A user's test goes through the worker's network guard: a public receiver gets it signed; an
    Apprise target on a public host redirecting to 127.0.0.1 is refused there, and nothing reaches it."""
    with Receiver() as private, Receiver(host=public_address) as public, \
            Receiver(host=public_address, redirect_to=private.url) as redirecting:
        assert user.post(stack.base_url + "/api/v1/notifications", timeout=10, json={
            "name": "lan", "kind": "webhook", "url": private.url, "events": ["job_completed"]}).status_code == 422
        made = user.post(stack.base_url + "/api/v1/notifications", timeout=10, json={
            "name": "public", "kind": "webhook", "url": public.url, "events": ["job_completed"]})
        assert made.status_code == 201, made.text
        tested = user.post(f"{stack.base_url}/api/v1/notifications/{made.json()['id']}/test", timeout=40)
        assert tested.status_code == 200, tested.text
        assert signature_valid(public.wait_for(lambda r: True), made.json()["secret"])

        sneaky = user.post(stack.base_url + "/api/v1/notifications", timeout=10, json={
            "name": "sneaky", "kind": "apprise", "url": f"json://{public_address}:{redirecting.port}/",
            "events": ["job_completed"]})
        assert sneaky.status_code == 201, sneaky.text
        tested = user.post(f"{stack.base_url}/api/v1/notifications/{sneaky.json()['id']}/test", timeout=40)
        assert tested.status_code == 502, (tested.text, len(private.requests), len(redirecting.requests),
                                           stack.log("worker.log")[-3000:])
        assert "non-public address" in tested.json()["detail"]
        assert len(redirecting.requests) == 1 and private.requests == []


def test_the_worker_killed_under_serve_is_told_by_the_next_worker(tmp_path, media_site):
    """`flask serve`: the launcher writes "worker down" when the worker dies; the restarted worker sends it."""
    from test_e2e_serve import ctrl_c, launch, prepared, role, serving, wait_for

    from support.stack import kill_tree

    served = prepared(tmp_path)
    launcher = launch(served)
    everything = [launcher.pid]
    try:
        worker, web = serving(served, launcher)
        everything += [worker.pid, web.pid]
        made = served.session.post(served.base_url + "/api/v1/users", json={
            "username": "olga", "password": "olga-password-1", "role": "admin"}, timeout=10)
        assert made.status_code == 201, made.text
        pair = requests.post(served.base_url + "/api/v1/auth/login", timeout=10,
                             json={"username": "olga", "password": "olga-password-1"}).json()
        with Receiver() as hook:
            target = requests.post(served.base_url + "/api/v1/notifications", timeout=10,
                                   headers={"Authorization": f"Bearer {pair['access_token']}"},
                                   json={"name": "ops", "kind": "webhook", "url": hook.url, "all_users": True,
                                         "events": ["worker_down"]})
            assert target.status_code == 201, target.text
            worker.kill()
            new_worker = wait_for(lambda: role(launcher, "worker", other_than=(worker.pid,)), 30, "no new worker")
            everything.append(new_worker.pid)
            request = hook.wait_for(lambda r: (r["json"] or {}).get("event") == "worker_down", timeout=30)
            assert signature_valid(request, target.json()["secret"])
            assert "killed by SIGKILL" in request["json"]["message"] and "starting it again" in request["json"]["message"]
        ctrl_c(launcher, everything)
    finally:
        kill_tree(launcher, also=everything)
