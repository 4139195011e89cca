"""Notification targets and their sending, in process: the API's rules and attacks, the webhook's
signature, Apprise's json:// target, the retry schedule, the outbox's reach, the notifier's claim,
the launcher's "worker down", and Settings → Notifications.

A local receiver (`Receiver`, an HTTP server thread on 127.0.0.1) stands for the targets; the
end-to-end tests (tests/test_e2e_notifications.py) reuse it with the live stack.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import assert_api_error
from sqlalchemy import select
from support.web import form_csrf_at, htmx_post, sign_in_as

from webapp.models import NotificationDelivery, NotificationTarget
from webapp.models.base import utcnow
from webapp.services.notifications import launcher, outbox, sending, targets

PUBLIC_HOOK = "https://93.184.216.34/hook"  # an IP literal: public, and checked without DNS


class Receiver:
    """An HTTP server on `host` that records every request (path, headers, JSON body).

    `status` is what it answers; with `hang` set it holds each request until `release()`; with
    `redirect_to` it answers 307 to that URL (a POST stays a POST)."""

    def __init__(self, host: str = "127.0.0.1", status: int = 200, hang: bool = False, redirect_to: str | None = None):
        self.redirect_to = redirect_to
        self.requests: list[dict] = []
        self.status = status
        self.hang = hang
        self.holding = threading.Event()  # set while a request is held
        self._release = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802  (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.requests.append({"path": self.path, "headers": dict(self.headers), "raw": body,
                                              "json": _json(body)})
                if receiver.hang:
                    receiver.holding.set()
                    receiver._release.wait(60)
                if receiver.redirect_to:
                    self.send_response(307)
                    self.send_header("Location", receiver.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(receiver.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.host, self.port = host, self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.release()
        self.server.shutdown()
        self.server.server_close()

    def release(self):
        self._release.set()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hook"

    def events(self) -> list[str]:
        with self._lock:
            return [(r["json"] or {}).get("event") or r["headers"].get("X-Haul-Event") for r in self.requests]

    def wait_for(self, predicate, timeout: float = 30.0) -> dict:
        """The first request matching `predicate(request)`, waiting for it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for request in self.requests:
                    if predicate(request):
                        return request
            time.sleep(0.05)
        raise AssertionError(f"no matching request within {timeout} s; got {self.events()}")


def _json(body: bytes):
    try:
        return json.loads(body)
    except ValueError:
        return None


def signature_valid(request: dict, secret: str) -> bool:
    """The receiver's check: HMAC-SHA256 of "<timestamp>.<body>" with the secret."""
    timestamp = request["headers"]["X-Haul-Timestamp"]
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + request["raw"], hashlib.sha256).hexdigest()
    return hmac.compare_digest(request["headers"]["X-Haul-Signature"], f"sha256={expected}")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def create(client, headers, **fields):
    body = {"name": "phone", "kind": "webhook", "url": PUBLIC_HOOK, "events": ["job_completed"], **fields}
    return client.post("/api/v1/notifications", json=body, headers=headers)


@pytest.fixture
def receiver():
    with Receiver() as running:
        yield running


# -- the API: who reaches what ------------------------------------------------------------------------


def test_a_user_adds_reads_changes_and_removes_their_own_target(client, api_callers):
    made = create(client, api_callers["user"])
    assert made.status_code == 201, made.get_data(as_text=True)
    body = made.get_json()
    assert body["url"] == PUBLIC_HOOK and len(body["secret"]) >= 32  # shown in full this once
    assert made.headers["Location"].endswith(f"/api/v1/notifications/{body['id']}")
    shown = client.get(f"/api/v1/notifications/{body['id']}", headers=api_callers["user"]).get_json()
    assert "secret" not in shown and shown["has_secret"] and shown["url"] == "https://93.184.216.34/…"
    changed = client.patch(f"/api/v1/notifications/{body['id']}", json={"events": ["job_failed", "new_items"],
                                                                       "enabled": False}, headers=api_callers["user"])
    assert changed.status_code == 200 and changed.get_json()["events"] == ["job_failed", "new_items"]
    listed = client.get("/api/v1/notifications", headers=api_callers["user"]).get_json()
    assert [item["id"] for item in listed["items"]] == [body["id"]] and not listed["items"][0]["enabled"]
    assert client.delete(f"/api/v1/notifications/{body['id']}", headers=api_callers["user"]).status_code == 204
    assert client.get("/api/v1/notifications", headers=api_callers["user"]).get_json()["total"] == 0


def test_another_users_target_is_404_to_read_change_test_or_remove(client, api_callers):
    theirs = create(client, api_callers["admin"], url="http://10.0.0.5/hook").get_json()["id"]
    for method, path in (("get", ""), ("patch", ""), ("delete", ""), ("post", "/test")):
        answer = getattr(client, method)(f"/api/v1/notifications/{theirs}{path}", headers=api_callers["user"],
                                         **({"json": {"name": "mine"}} if method == "patch" else {}))
        assert_api_error(answer, 404, "target_not_found")
    assert client.get("/api/v1/notifications?all=1", headers=api_callers["user"]).get_json()["total"] == 0
    everyone = client.get("/api/v1/notifications?all=1", headers=api_callers["admin"]).get_json()
    assert everyone["total"] == 1 and everyone["items"][0]["owner"] == "root"


def test_without_a_read_token_targets_are_out_of_reach(client, api_callers):
    assert_api_error(client.get("/api/v1/notifications", headers=api_callers["anonymous"]), 401)
    assert_api_error(create(client, api_callers["submit"]), 403, "insufficient_scope")
    assert_api_error(create(client, api_callers["static"]), 403, "user_required")


def test_a_user_may_not_make_an_all_users_target_nor_pick_server_events(client, api_callers):
    assert_api_error(create(client, api_callers["user"], all_users=True), 403, "admin_required")
    assert_api_error(create(client, api_callers["user"], events=["worker_down"]), 403, "admin_required")
    mine = create(client, api_callers["user"]).get_json()["id"]
    assert_api_error(client.patch(f"/api/v1/notifications/{mine}", json={"events": ["disk_guard"]},
                                  headers=api_callers["user"]), 403, "admin_required")
    assert_api_error(client.patch(f"/api/v1/notifications/{mine}", json={"all_users": True},
                                  headers=api_callers["user"]), 403, "admin_required")
    admins = create(client, api_callers["admin"], all_users=True, events=["worker_down", "disk_guard"])
    assert admins.status_code == 201 and admins.get_json()["all_users"]


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/hook", "http://localhost/hook", "http://10.1.2.3/",
                                 "http://169.254.169.254/latest", "http://[::1]/hook", "http://[::ffff:127.0.0.1]/"])
def test_a_users_webhook_to_a_private_address_is_refused_an_admins_allowed(client, api_callers, url):
    assert_api_error(create(client, api_callers["user"], url=url), 422, "private_address")
    assert create(client, api_callers["admin"], url=url).status_code == 201


def test_a_users_apprise_target_to_a_private_address_is_refused(client, api_callers):
    refused = create(client, api_callers["user"], kind="apprise", url="json://127.0.0.1:9999/")
    assert_api_error(refused, 422, "private_address")
    assert create(client, api_callers["user"], kind="apprise", url="tgram://123456789:abcdefgh/12345").status_code == 201


def test_bad_targets_are_422_without_echoing_the_url(client, api_callers):
    secret_url = "bogus://hunter2-secret-token@host/"
    answer = create(client, api_callers["admin"], kind="apprise", url=secret_url)
    assert_api_error(answer, 422, "invalid_url")
    assert "hunter2" not in answer.get_data(as_text=True)
    answer = create(client, api_callers["admin"], url="ftp://hunter2@example/")
    assert_api_error(answer, 422, "invalid_url")
    assert "hunter2" not in answer.get_data(as_text=True)
    assert_api_error(create(client, api_callers["admin"], kind="carrier-pigeon"), 422)
    assert_api_error(create(client, api_callers["admin"], events=["everything"]), 422)
    assert_api_error(create(client, api_callers["admin"], secret="short"), 422)


def test_credentials_are_masked_in_lists_and_answers(client, api_callers):
    made = create(client, api_callers["admin"], kind="apprise", url="json://user:pa55word-xyz@10.0.0.9/notify")
    assert made.status_code == 201 and made.get_json()["url"].startswith("json://user:pa55word-xyz@")
    hook = create(client, api_callers["admin"], url="https://10.0.0.9/hooks/tok-abcdef123?key=k-98765")
    secret = hook.get_json()["secret"]
    for path in ("/api/v1/notifications", f"/api/v1/notifications/{made.get_json()['id']}",
                 f"/api/v1/notifications/{hook.get_json()['id']}"):
        text = client.get(path, headers=api_callers["admin"]).get_data(as_text=True)
        assert "pa55word-xyz" not in text and "tok-abcdef123" not in text and "k-98765" not in text
        assert secret not in text


def test_the_events_are_listed_with_labels(client, api_callers):
    items = client.get("/api/v1/notifications/events", headers=api_callers["read"]).get_json()["items"]
    assert [item["name"] for item in items] == ["job_completed", "job_failed", "new_items", "subscription_failed",
                                                "disk_guard", "worker_down", "invite_used"]
    assert {item["name"] for item in items if item["server"]} == {"disk_guard", "worker_down"}


# -- sending: the webhook, Apprise, failures --------------------------------------------------------


def test_send_test_reaches_a_webhook_with_a_valid_signature(client, api_callers, receiver):
    made = create(client, api_callers["admin"], url=receiver.url).get_json()
    answer = client.post(f"/api/v1/notifications/{made['id']}/test", headers=api_callers["admin"])
    assert answer.status_code == 200 and answer.get_json() == {"ok": True}
    request = receiver.wait_for(lambda r: True)
    assert signature_valid(request, made["secret"])
    assert request["headers"]["X-Haul-Event"] == "test" and request["json"]["title"] == "Haul: test notification"
    forged = dict(request, raw=request["raw"] + b" ")
    assert not signature_valid(forged, made["secret"])
    state = client.get(f"/api/v1/notifications/{made['id']}", headers=api_callers["admin"]).get_json()
    assert state["last_success_at"] and state["last_error"] is None


def test_send_test_reaches_apprise_json_target(client, api_callers, receiver):
    made = create(client, api_callers["admin"], kind="apprise", url=f"json://127.0.0.1:{receiver.port}/hook")
    assert made.status_code == 201, made.get_data(as_text=True)
    answer = client.post(f"/api/v1/notifications/{made.get_json()['id']}/test", headers=api_callers["admin"])
    assert answer.status_code == 200, answer.get_data(as_text=True)
    request = receiver.wait_for(lambda r: True)
    assert request["json"]["title"] == "Haul: test notification" and "reach this target" in request["json"]["message"]


def test_a_failing_target_answers_502_and_shows_its_last_error_without_secrets(client, api_callers):
    url = f"http://127.0.0.1:{closed_port()}/hook-secretpath?token=tok-zz9"
    made = create(client, api_callers["admin"], url=url).get_json()
    answer = client.post(f"/api/v1/notifications/{made['id']}/test", headers=api_callers["admin"])
    assert_api_error(answer, 502, "notification_failed")
    assert "refused" in answer.get_json()["detail"].lower()
    state = client.get(f"/api/v1/notifications/{made['id']}", headers=api_callers["admin"])
    body = state.get_json()
    assert "refused" in body["last_error"].lower() and body["last_error_at"] and body["consecutive_failures"] == 1
    for text in (answer.get_data(as_text=True), state.get_data(as_text=True)):
        assert "tok-zz9" not in text and "secretpath" not in text and made["secret"] not in text


def test_a_webhook_answering_500_is_a_failure(client, api_callers):
    with Receiver(status=500) as failing:
        made = create(client, api_callers["admin"], url=failing.url).get_json()
        answer = client.post(f"/api/v1/notifications/{made['id']}/test", headers=api_callers["admin"])
    assert_api_error(answer, 502, "notification_failed")
    assert "HTTP 500" in answer.get_json()["detail"]


def test_a_hanging_webhook_times_out(app, db, admin):
    with Receiver(hang=True) as hanging:
        target = NotificationTarget(owner_id=admin.id, name="slow", kind="webhook", url=hanging.url, secret="s" * 20,
                                    events=["job_completed"], all_users=False, enabled=True, consecutive_failures=0)
        db.session.add(target)
        db.session.commit()
        started = time.monotonic()
        error = sending.send_test(target, timeout=0.5)
        assert "No answer within 0.5 s" == error and time.monotonic() - started < 5


def test_a_private_address_is_refused_again_when_sending(app, db, alice):
    """Saved while public (or changed behind the rules' back): the send checks the peer anyway."""
    with Receiver() as local:
        target = NotificationTarget(owner_id=alice.id, name="sneaky", kind="webhook", url=local.url, secret="s" * 20,
                                    events=["job_completed"], all_users=False, enabled=True, consecutive_failures=0)
        db.session.add(target)
        db.session.commit()
        error = sending.send_test(target)
        assert "private address" in error or "loopback" in error
        assert local.requests == []


# -- retries ---------------------------------------------------------------------------------------------


def test_failed_tries_back_off_then_give_up(app, db, admin):
    target = NotificationTarget(owner_id=admin.id, name="t", kind="webhook", url="http://10.0.0.1/", secret="s" * 20,
                                events=["job_completed"], all_users=False, enabled=True, consecutive_failures=0)
    db.session.add(target)
    db.session.flush()
    delivery = NotificationDelivery(target_id=target.id, event="job_completed", payload={}, status="sending",
                                    attempts=0, next_attempt_at=utcnow())
    db.session.add(delivery)
    clock = utcnow()
    waits = []
    for _ in range(5):
        sending.record_failure(delivery, target, "Connection refused", clock)
        assert delivery.status == "pending"
        waits.append(delivery.next_attempt_at - clock)
        clock = delivery.next_attempt_at
    assert waits == [timedelta(seconds=s) for s in (30, 120, 600, 3600, 6 * 3600)]
    sending.record_failure(delivery, target, "Connection refused", clock)
    assert delivery.status == "failed" and delivery.attempts == 6 and target.consecutive_failures == 6
    sending.record_success(None, target, clock)
    assert target.consecutive_failures == 0 and target.last_error == "Connection refused"


# -- the outbox and the notifier --------------------------------------------------------------------------


def _target(db, owner, url, events, **fields):
    target = NotificationTarget(owner_id=owner.id, name=fields.pop("name", "t"), kind=fields.pop("kind", "webhook"),
                                url=url, secret=fields.pop("secret", "k" * 32), events=events,
                                all_users=fields.pop("all_users", False), enabled=fields.pop("enabled", True),
                                consecutive_failures=0)
    db.session.add(target)
    db.session.commit()
    return target


def test_the_outbox_reaches_the_owner_and_admins_all_users_targets_only(app, db, admin, alice):
    own = _target(db, alice, PUBLIC_HOOK, ["job_completed", "invite_used"])
    admins_all = _target(db, admin, "http://10.0.0.1/", ["job_completed", "worker_down"], all_users=True)
    admins_own = _target(db, admin, "http://10.0.0.2/", ["job_completed"])
    _target(db, alice, PUBLIC_HOOK, ["job_completed"], enabled=False)
    assert outbox.announce("job_completed", {"title": "x"}, user_id=alice.id) == 2
    assert outbox.announce("job_completed", {"title": "y"}, user_id=admin.id) == 2
    assert outbox.announce("worker_down", {"title": "z"}) == 1
    db.session.commit()
    reached = [(d.target_id, d.event) for d in db.session.scalars(select(NotificationDelivery)
                                                                   .order_by(NotificationDelivery.id))]
    assert reached == [(own.id, "job_completed"), (admins_all.id, "job_completed"), (admins_all.id, "job_completed"),
                       (admins_own.id, "job_completed"), (admins_all.id, "worker_down")]


def test_the_notifier_claims_due_deliveries_once_and_sends_them_signed(app, db, admin, receiver):
    from jobs import notify

    target = _target(db, admin, receiver.url, ["job_completed"])
    outbox.announce("job_completed", {"title": "Clip", "url": "http://site/clip", "job_id": 7}, user_id=admin.id)
    db.session.commit()
    claimed = notify.claim_due(10)
    assert len(claimed) == 1 and notify.claim_due(10) == []  # claimed once
    assert notify.send_claimed(claimed[0]) is None
    request = receiver.wait_for(lambda r: True)
    assert signature_valid(request, target.secret)
    assert request["json"]["title"] == "Downloaded: Clip" and request["json"]["url"] == "http://site/clip"
    assert request["json"]["job_id"] == 7 and request["headers"]["X-Haul-Event"] == "job_completed"
    row = db.session.get(NotificationDelivery, claimed[0])
    assert row.status == "sent" and row.attempts == 1 and row.sent_at


def test_a_claim_left_by_a_dead_worker_is_released(app, db, admin):
    from jobs import notify

    _target(db, admin, "http://10.0.0.1/", ["job_completed"])
    outbox.announce("job_completed", {"title": "x"}, user_id=admin.id)
    db.session.commit()
    [claimed] = notify.claim_due(10)
    assert notify.release_stale(now=utcnow() + timedelta(minutes=1)) == 0
    assert notify.release_stale(now=utcnow() + notify.STALE_SENDING + timedelta(seconds=5)) == 1
    assert db.session.get(NotificationDelivery, claimed).status == "pending"


def test_sent_and_given_up_messages_are_pruned_after_a_week_pending_ones_never(app, db, admin):
    from jobs import notify

    target = _target(db, admin, "http://10.0.0.1/", ["job_completed"])
    old = utcnow() - notify.KEEP_FINISHED - timedelta(hours=1)
    for status in ("sent", "failed", "pending"):
        db.session.add(NotificationDelivery(target_id=target.id, event="job_completed", payload={}, status=status,
                                            attempts=1, created_at=old, next_attempt_at=old))
    db.session.add(NotificationDelivery(target_id=target.id, event="job_completed", payload={}, status="sent",
                                        attempts=1))
    db.session.commit()
    assert notify.prune_finished() == 2
    left = sorted((d.status, d.created_at < utcnow() - timedelta(days=1))
                  for d in db.session.scalars(select(NotificationDelivery)))
    assert left == [("pending", True), ("sent", False)]


def test_a_failed_send_is_retried_later_with_its_error_on_the_target(app, db, admin):
    from jobs import notify

    target = _target(db, admin, f"http://127.0.0.1:{closed_port()}/", ["job_completed"])
    target_id = target.id
    outbox.announce("job_completed", {"title": "x"}, user_id=admin.id)
    db.session.commit()
    [claimed] = notify.claim_due(10)
    assert "refused" in notify.send_claimed(claimed).lower()
    row = db.session.get(NotificationDelivery, claimed)
    assert row.status == "pending" and row.attempts == 1
    assert timedelta(seconds=25) < row.next_attempt_at - utcnow() <= timedelta(seconds=30)
    target = db.session.get(NotificationTarget, target_id)
    assert "refused" in target.last_error.lower() and target.consecutive_failures == 1
    assert notify.claim_due(10) == []  # not due yet


def test_worker_down_is_announced_and_sent_at_once_when_the_launcher_gives_up(app, db, admin, receiver):
    _target(db, admin, receiver.url, ["worker_down"], all_users=True)
    assert launcher.worker_exited("web", "exit 1", False) == 0
    assert launcher.worker_exited("worker", "killed by SIGKILL", False) == 1
    assert receiver.requests == []  # the restarted worker sends that one
    assert launcher.worker_exited("worker", "exit 1", True) == 1
    request = receiver.wait_for(lambda r: "gave up" in r["json"]["message"], timeout=10)
    assert request["json"]["event"] == "worker_down"
    # Nobody else will send the earlier one either: both went out.
    assert [d.status for d in db.session.scalars(select(NotificationDelivery))] == ["sent", "sent"]
    assert len(receiver.requests) == 2


def test_the_supervisor_tells_of_an_unexpected_exit_and_survives_a_failing_hook(tmp_path):
    import sys

    from webapp.supervisor import Child, RestartPolicy, Supervisor

    heard, lines = [], []

    def hook(name, how, gave_up):
        heard.append((name, how, gave_up))
        raise RuntimeError("database gone")

    supervisor = Supervisor([Child("worker", [sys.executable, "-c", "raise SystemExit(3)"])], log=lines.append,
                            policy=RestartPolicy(first_delay=0.01, max_crashes=2, window=60), poll_seconds=0.02,
                            adopt_orphans=False, on_exit=hook)
    supervisor.start()
    assert supervisor.supervise() == 1
    assert heard == [("worker", "exit 3", False), ("worker", "exit 3", True)]
    assert any("could not announce" in line for line in lines)


def test_health_summary_counts_targets_and_lists_the_failing(app, db, admin):
    ok = _target(db, admin, "http://10.0.0.1/", ["job_completed"], name="fine")
    bad = _target(db, admin, "http://10.0.0.2/", ["job_completed"], name="broken")
    _target(db, admin, "http://10.0.0.3/", ["job_completed"], enabled=False)
    sending.record_failure(None, bad, "Connection refused", utcnow())
    sending.record_success(None, ok, utcnow())
    db.session.commit()
    summary = targets.health_summary()
    assert summary["targets"] == 3 and summary["enabled"] == 2
    assert [(f["id"], f["name"], f["last_error"]) for f in summary["failing"]] == [(bad.id, "broken",
                                                                                    "Connection refused")]


# -- Settings → Notifications ----------------------------------------------------------------------------


def test_every_user_has_the_tab_and_adds_lists_and_removes_a_target(alice_client):
    page = alice_client.get("/settings/notifications")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "Your targets" in text and 'aria-current="page">Notifications' in text
    assert "n-all-users" not in alice_client.get("/settings/notifications/new").get_data(as_text=True)
    token = form_csrf_at(alice_client, "/settings/notifications/new")
    made = alice_client.post("/settings/notifications/new", data={
        "csrf_token": token, "name": "my hook", "kind": "webhook", "url": PUBLIC_HOOK, "events": ["job_completed"],
        "enabled": "1"})
    assert made.status_code == 200 and 'id="notification-secret"' in made.get_data(as_text=True)
    [target] = NotificationTarget.query.all()
    assert target.secret in made.get_data(as_text=True)  # shown this once
    listed = alice_client.get("/settings/notifications").get_data(as_text=True)
    assert "my hook" in listed and target.secret not in listed and "/hook" not in listed
    removed = htmx_post(alice_client, f"/settings/notifications/{target.id}/delete")
    assert removed.status_code == 200 and "No targets yet" in removed.get_data(as_text=True)


def test_the_form_shows_a_refusal_next_to_the_url(alice_client):
    token = form_csrf_at(alice_client, "/settings/notifications/new")
    answer = alice_client.post("/settings/notifications/new", data={
        "csrf_token": token, "name": "lan", "kind": "webhook", "url": "http://192.168.1.10/secret-path",
        "events": ["job_completed"], "enabled": "1"})
    text = answer.get_data(as_text=True)
    assert answer.status_code == 422 and 'id="n-url-error"' in text and "private address" in text
    assert NotificationTarget.query.count() == 0


def test_send_test_from_the_list_shows_the_result_and_last_error(admin_client, admin):
    with Receiver() as ok:
        target_id = _target(__import__("webapp.extensions").extensions.db, admin, ok.url, ["job_completed"]).id
        answer = htmx_post(admin_client, f"/settings/notifications/{target_id}/test")
        assert answer.status_code == 200 and "Test message sent." in answer.get_data(as_text=True)
        assert ok.requests
    refused = _target(__import__("webapp.extensions").extensions.db, admin,
                      f"http://127.0.0.1:{closed_port()}/x", ["job_completed"], name="down")
    answer = htmx_post(admin_client, f"/settings/notifications/{refused.id}/test")
    text = answer.get_data(as_text=True)
    assert answer.status_code == 200 and f'id="notification-{refused.id}-error"' in text and "refused" in text.lower()


def test_a_user_cannot_reach_anothers_target_in_settings(client, admin, alice, db):
    theirs = _target(db, admin, "http://10.0.0.1/", ["job_completed"], name="admins")
    sign_in_as(client, alice)
    assert client.get(f"/settings/notifications/{theirs.id}/edit").status_code == 404
    assert htmx_post(client, f"/settings/notifications/{theirs.id}/delete").status_code == 404
    assert htmx_post(client, f"/settings/notifications/{theirs.id}/test").status_code == 404
    assert "admins" not in client.get("/settings/notifications").get_data(as_text=True)
    assert db.session.get(NotificationTarget, theirs.id) is not None


# -- what the messages say ---------------------------------------------------------------------------


def test_disk_guard_from_the_disk_guard_reaches_admins_all_users_targets(app, db, admin, alice, receiver):
    from jobs import notify

    _target(db, admin, receiver.url, ["disk_guard"], all_users=True)
    _target(db, alice, PUBLIC_HOOK, ["job_completed"])  # a user's target never hears server events
    assert outbox.announce("disk_guard", {"title": "Disk space low", "message": "1.2 GiB free of 100 GiB"}) == 1
    db.session.commit()
    [claimed] = notify.claim_due(10)
    assert notify.send_claimed(claimed) is None
    body = receiver.wait_for(lambda r: True)["json"]
    assert body["event"] == "disk_guard" and body["title"] == "Disk space low"
    assert body["message"] == "1.2 GiB free of 100 GiB"


def test_apprise_attaches_the_jobs_thumbnail(app, db, admin, receiver):
    from jobs import notify

    from webapp.models import JobFile
    from webapp.services.accounts.identity import Principal
    from webapp.services.library import files
    from webapp.services.queue.submissions import submit

    job_id = submit(["https://example.com/clip"], principal=Principal(admin), force=True).entries[0].job_id
    sha = "ab" * 32
    db.session.add(JobFile(job_id=job_id, path="x/clip.mp4", size=10, sha256=sha))
    db.session.commit()
    thumbnail_dir = app.config["HAUL"].thumbnail_dir
    thumb = files.thumbnail_path(thumbnail_dir, sha)
    thumb.parent.mkdir(parents=True, exist_ok=True)
    thumb.write_bytes(b"RIFF-not-really-webp")
    try:
        _target(db, admin, f"json://127.0.0.1:{receiver.port}/", ["job_completed"], kind="apprise", secret=None)
        outbox.announce("job_completed", {"title": "Clip", "url": "https://example.com/clip", "job_id": job_id,
                                          "files": 1, "bytes": 10}, user_id=admin.id)
        db.session.commit()
        [claimed] = notify.claim_due(10)
        assert notify.send_claimed(claimed, thumbnail_dir) is None
        body = receiver.wait_for(lambda r: True)["json"]
        assert body["title"] == "Downloaded: Clip" and "https://example.com/clip" in body["message"]
        assert "1 file, 10 B" in body["message"]
        assert [a["filename"] for a in body["attachments"]] == [thumb.name]
    finally:
        thumb.unlink()


def test_a_users_test_goes_through_the_worker_and_is_withdrawn_when_none_takes_it(client, api_callers, monkeypatch):
    """The web never connects where a user's URL leads: the worker sends it, under the network guard."""
    monkeypatch.setattr(sending, "TEST_WAIT_SECONDS", 0.5)
    made = create(client, api_callers["user"]).get_json()
    answer = client.post(f"/api/v1/notifications/{made['id']}/test", headers=api_callers["user"])
    assert_api_error(answer, 502, "notification_failed")
    assert "worker did not send it" in answer.get_json()["detail"]
    [row] = NotificationDelivery.query.all()
    assert (row.event, row.status) == ("test", "failed")


def test_a_users_test_is_sent_by_the_notifier_once(app, db, alice):
    """What the worker does with a user's test: one try (no retries), its result on the target."""
    from jobs import notify

    target = _target(db, alice, f"http://127.0.0.1:{closed_port()}/", ["job_completed"])
    delivery_id = sending.queue_test(target)
    [claimed] = notify.claim_due(10)
    assert claimed == delivery_id
    error = notify.send_claimed(claimed)
    assert "private address" in error  # refused before connecting: a user's target, a loopback host
    assert sending.wait_for_test(delivery_id, timeout=1) == error
    row = db.session.get(NotificationDelivery, delivery_id)
    assert row.status == "failed" and row.attempts == 1  # never retried


def test_apprise_sends_from_the_calling_thread_so_the_network_guard_holds(app, db, admin, receiver):
    """Apprise.notify() would run the plugin on a long-lived pool thread the worker's per-thread
    guard does not cover: the plugin is called in the sender's own thread."""
    from jobs import net_guard

    from webapp.services.notifications import messages

    target = _target(db, admin, f"json://127.0.0.1:{receiver.port}/", ["job_completed"], kind="apprise", secret=None)
    message = messages.compose(messages.TEST_EVENT, {})
    sending.send(target, message, public_only=False)  # unguarded: sent (and any pool Apprise keeps is warm)
    assert len(receiver.requests) == 1
    with net_guard.guarded(True) as guard, pytest.raises(sending.SendFailed):
        sending.send(target, message, public_only=False)
    assert guard.refusal is not None and len(receiver.requests) == 1


def test_editing_in_settings_keeps_the_url_left_masked(admin_client, admin, db):
    target = _target(db, admin, "https://10.0.0.7/hooks/tok-777", ["job_completed"], name="old name")
    form = admin_client.get(f"/settings/notifications/{target.id}/edit").get_data(as_text=True)
    assert "tok-777" not in form and 'value="https://10.0.0.7/…"' in form
    token = form_csrf_at(admin_client, f"/settings/notifications/{target.id}/edit")
    saved = admin_client.post(f"/settings/notifications/{target.id}/edit", data={
        "csrf_token": token, "name": "new name", "kind": "webhook", "url": "https://10.0.0.7/…",
        "events": ["job_failed"], "enabled": "1"})
    assert saved.status_code == 302
    row = db.session.get(NotificationTarget, target.id)
    db.session.refresh(row)
    assert (row.name, row.url, row.events) == ("new name", "https://10.0.0.7/hooks/tok-777", ["job_failed"])


def test_the_notifier_thread_sends_what_becomes_due(app, db, admin, receiver):
    from jobs import notify

    target = _target(db, admin, receiver.url, ["job_completed"])
    stop = threading.Event()
    notifier = notify.Notifier(app, stop, poll_seconds=0.05)
    notifier.start()
    try:
        outbox.announce("job_completed", {"title": "Late", "job_id": 3}, user_id=admin.id)
        db.session.commit()
        request = receiver.wait_for(lambda r: True, timeout=10)
        assert signature_valid(request, target.secret) and request["json"]["title"] == "Downloaded: Late"
    finally:
        stop.set()
