"""The guest page behind an invite link (in-process): the page, the password gate and its rate
limit, closed links, one-time links, guest isolation, links under the guest policy, the guest's
own live events, and the optional public upload page at /."""
from __future__ import annotations

import dataclasses
import json
import re
from datetime import timedelta

import pytest
from support.web import ADMIN_PASSWORD, ADMIN_USERNAME, CSRF_META, form_csrf, sign_in
from test_guest_uploads import CHUNK, Guest, assert_no_server_paths, file_bytes, make_invite, sha

from jobs.engines.base import Progress
from webapp.extensions import db
from webapp.models.job import Outcome

PUBLIC_URL = "http://93.184.216.34/photos/1.jpg"  # an IP literal: public, and no DNS needed


@pytest.fixture
def settings(settings, tmp_path):
    return dataclasses.replace(settings, upload_chunk_bytes=CHUNK, data_dir=tmp_path / "data")


@pytest.fixture(autouse=True)
def _fresh_g_per_request(client):
    """Each request starts with a fresh `g`, as in production (see the `client` fixture)."""


def html_of(response) -> str:
    return response.get_data(as_text=True)


# -- the page --------------------------------------------------------------------------------------


def test_the_guest_page_is_a_page_of_its_own(app):
    """No account menu or navigation, the drop zone and picker, the links box, the CSRF token;
    nothing of the server's (paths) and nothing of the library."""
    invite, token = make_invite(max_file_bytes=50 * 1024 * 1024)
    guest = Guest(app, token)
    page = guest.page
    assert page.status_code == 200
    html = html_of(page)
    assert "Party photos" in html
    assert 'id="file-input"' in html and "Choose files" in html and 'accept="image/*,video/*"' in html
    assert "Drop files here" in html and "Send links" in html
    assert 'class="mainnav"' not in html and "account-menu" not in html and "Sign out" not in html
    assert guest.csrf and "guest.js" in html and "guest.css" in html
    assert "up to 50.0 MB each" in html
    assert page.headers["Cache-Control"] == "no-store" and page.headers["Referrer-Policy"] == "same-origin"
    assert_no_server_paths(app, page)
    assert "Summer party" not in html  # the folder it goes to is the admin's business
    items = guest.client.get(guest.url("/items"), headers=guest.headers)
    assert items.status_code == 200 and items.get_json() == {"items": []}


def test_a_second_visit_keeps_the_same_session(app):
    from webapp.models import GuestSession

    _, token = make_invite()
    guest = Guest(app, token)
    guest.client.get(guest.url(""))
    guest.client.get(guest.url(""))
    assert db.session.query(GuestSession).count() == 1
    Guest(app, token)
    assert db.session.query(GuestSession).count() == 2


# -- the password gate -----------------------------------------------------------------------------


def test_the_password_gate(app):
    _, token = make_invite(password="open sesame")
    guest = Guest(app, token)
    gate = html_of(guest.page)
    assert guest.page.status_code == 200
    assert 'type="password"' in gate and 'id="file-input"' not in gate

    locked = guest.start("a.jpg", 10)
    assert locked.status_code == 401 and locked.get_json()["error_code"] == "password_required"
    assert guest.client.get(guest.url("/items"), headers=guest.headers).status_code == 401

    wrong = guest.client.post(guest.url("/password"), data={"csrf_token": form_csrf(guest.page), "password": "nope"})
    assert wrong.status_code == 401
    assert "That is not the password" in html_of(wrong) and 'aria-invalid="true"' in html_of(wrong)

    right = guest.client.post(guest.url("/password"), data={"csrf_token": form_csrf(wrong), "password": "open sesame"})
    assert right.status_code == 303 and right.headers["Location"].endswith(f"/i/{token}")
    page = guest.client.get(guest.url(""))
    assert 'id="file-input"' in html_of(page)
    assert guest.start("a.jpg", 10).status_code == 201

    # Another visitor is not let in by the first one's password.
    other = Guest(app, token)
    assert other.start("a.jpg", 10).status_code == 401


def test_password_attempts_are_rate_limited_with_an_inline_message(app):
    _, token = make_invite(password="open sesame")
    guest = Guest(app, token)
    csrf = form_csrf(guest.page)
    for _ in range(10):
        assert guest.client.post(guest.url("/password"), data={"csrf_token": csrf, "password": "x"}).status_code == 401
    limited = guest.client.post(guest.url("/password"), data={"csrf_token": csrf, "password": "open sesame"})
    assert limited.status_code == 429
    html = html_of(limited)
    assert "Too many tries" in html and 'type="password"' in html and "Traceback" not in html
    assert limited.headers.get("Retry-After")
    # The limit is per link: another invite's gate still answers.
    _, other_token = make_invite(name="Other", password="another one")
    other = Guest(app, other_token)
    assert other.client.post(other.url("/password"), data={"csrf_token": form_csrf(other.page),
                                                          "password": "x"}).status_code == 401


# -- closed links ----------------------------------------------------------------------------------


def test_closed_links_show_a_friendly_page(app, client):
    from webapp.models.base import utcnow
    from webapp.services.guests import invites

    unknown = client.get("/i/not-a-real-token-at-all")
    assert unknown.status_code == 404
    assert "No invite here" in html_of(unknown) and "copied whole" in html_of(unknown)

    disabled, disabled_token = make_invite(name="Off")
    invites.update_invite(disabled, {"enabled": False})
    off = client.get(f"/i/{disabled_token}")
    assert off.status_code == 410 and "switched off" in html_of(off)

    expired, expired_token = make_invite(name="Old")
    expired.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    old = client.get(f"/i/{expired_token}")
    assert old.status_code == 410 and "has expired" in html_of(old)

    for page in (unknown, off, old):
        html = html_of(page)
        assert "Traceback" not in html and 'id="file-input"' not in html and 'class="error-code"' in html

    # An open page learns it in its JSON calls.
    _, token = make_invite(name="Soon off")
    guest = Guest(app, token)
    invites.update_invite(invites.find_by_token(token), {"enabled": False})
    refused = guest.start("a.jpg", 10)
    assert refused.status_code == 410 and refused.get_json()["error_code"] == "invite_disabled"


def test_a_one_time_link_refuses_a_second_session(app):
    from webapp.models import Invite

    invite, token = make_invite(max_uses=1)
    first, second = Guest(app, token), Guest(app, token)  # both opened it before anyone sent anything
    assert second.page.status_code == 200

    # A refused request does not use the link up.
    assert first.start("doc.pdf", 10, "application/pdf").status_code == 422
    db.session.expire_all()
    assert db.session.get(Invite, invite.id).uses == 0

    data = file_bytes(CHUNK + 1, seed=11)
    assert first.upload("a.jpg", data)["upload"]["status"] == "stored"
    db.session.expire_all()
    assert db.session.get(Invite, invite.id).uses == 1

    late = second.start("b.jpg", 10)
    assert late.status_code == 410 and late.get_json()["error_code"] == "invite_used_up"
    third = Guest(app, token)
    assert third.page.status_code == 410 and "already been used" in html_of(third.page)
    # The session that used it keeps working (and sees its page).
    assert first.client.get(first.url("")).status_code == 200
    assert first.start("c.jpg", 10).status_code == 201
    db.session.expire_all()
    assert db.session.get(Invite, invite.id).uses == 1


# -- isolation -------------------------------------------------------------------------------------


def test_a_guest_sees_and_touches_only_their_own_items(app):
    from webapp.services.accounts import identity as accounts
    from webapp.services.queue.submissions import submit

    _, token = make_invite(allow_private_urls=True)
    alice, bob = Guest(app, token), Guest(app, token)
    owner = accounts.create_user("owner", "ownerpassword")
    submit(["https://example.com/secret-album"], principal=accounts.Principal(user=owner), source="gui")

    data = file_bytes(2 * CHUNK, seed=12)
    stored = alice.upload("alice.jpg", data)
    pending = alice.start("half.jpg", 2 * CHUNK).get_json()["upload"]["upload_id"]
    sent = alice.client.post(alice.url("/links"), json={"urls": ["http://127.0.0.1:9/alice-gallery"]},
                             headers=alice.headers)
    assert sent.status_code == 202
    job_id = sent.get_json()["items"][0]["job_id"]

    alice_items = alice.client.get(alice.url("/items"), headers=alice.headers)
    names = [item["name"] for item in alice_items.get_json()["items"]]
    assert names == ["alice.jpg", "half.jpg", "http://127.0.0.1:9/alice-gallery"]

    bob_items = bob.client.get(bob.url("/items"), headers=bob.headers)
    assert bob_items.get_json() == {"items": []}
    upload_id = stored["upload"]["upload_id"]
    for response in (
        bob.status(upload_id), bob.status(pending), bob.finish(pending),
        bob.chunk(pending, 0, data[:CHUNK]),
        bob.client.delete(bob.url(f"/uploads/{pending}"), headers=bob.headers),
        bob.client.post(bob.url(f"/links/{job_id}/retry"), headers=bob.headers),
    ):
        assert response.status_code == 404, response.get_json()
        assert "alice" not in html_of(response)
    # Alice's half-sent upload is untouched by all that.
    assert alice.status(pending).get_json()["upload"]["received"] == 0
    assert "secret-album" not in html_of(alice_items) + html_of(bob_items)
    assert_no_server_paths(app, alice_items, bob_items, sent, alice.client.get(alice.url(""), headers={}))


# -- links -----------------------------------------------------------------------------------------


def test_links_go_through_the_guest_policy(app):
    from webapp.models import Invite, Submission

    invite, token = make_invite()
    guest = Guest(app, token)

    def send(body):
        return guest.client.post(guest.url("/links"), json=body, headers=guest.headers)

    private = send({"urls": ["http://127.0.0.1:8080/admin"]})
    assert private.status_code == 403
    body = private.get_json()
    assert body["error_code"] == "private_address"
    assert body["refused"][0]["url"] == "http://127.0.0.1:8080/admin" and "loopback" in body["refused"][0]["reason"]
    for address in ("http://10.0.0.1/x", "http://169.254.169.254/latest/meta-data", "http://[::1]/x",
                    "http://224.0.0.1/x", "http://0.0.0.0/x"):
        refused = send({"urls": [address]})
        assert refused.status_code == 403 and refused.get_json()["error_code"] == "private_address", address

    other_scheme = send({"text": "ftp://example.org/file.jpg"})
    assert other_scheme.status_code == 422 and other_scheme.get_json()["refused"]
    for field in ({"engine": "yt-dlp"}, {"preset": "best"}, {"cookies": "x"}, {"args": "--exec rm"},
                  {"post_title": "Mine"}, {"force": True}):
        answer = send({"urls": [PUBLIC_URL], **field})
        assert answer.status_code == 400 and answer.get_json()["error_code"] == "guest_field_refused", field
    db.session.expire_all()
    assert db.session.get(Invite, invite.id).uses == 0  # nothing refused counted as a use
    assert db.session.query(Submission).count() == 0

    sent = send({"text": f"look at this {PUBLIC_URL} !"})
    assert sent.status_code == 202
    item = sent.get_json()["items"][0]
    assert item["url"] == PUBLIC_URL and item["status"] == "queued"
    submission = db.session.query(Submission).one()
    assert submission.guest_session_id is not None and submission.invite_id == invite.id
    assert submission.trust == "guest" and submission.post_title == "Summer party"
    assert submission.source == "invite" and submission.user_id is None
    assert submission.jobs[0].requested_engine is None and submission.jobs[0].preset is None
    db.session.expire_all()
    assert db.session.get(Invite, invite.id).uses == 1


def test_private_addresses_are_allowed_when_the_invite_says_so(app):
    from webapp.models import Submission

    _, token = make_invite(allow_private_urls=True)
    guest = Guest(app, token)
    sent = guest.client.post(guest.url("/links"), json={"urls": ["http://127.0.0.1:8081/gallery/x"]},
                             headers=guest.headers)
    assert sent.status_code == 202, sent.get_json()
    assert db.session.query(Submission).one().trust == "guest"  # the worker asks the invite when it runs


def test_links_switched_off_are_refused(app):
    _, token = make_invite(allow_urls=False)
    guest = Guest(app, token)
    assert "Send links" not in html_of(guest.page)
    answer = guest.client.post(guest.url("/links"), json={"urls": [PUBLIC_URL]}, headers=guest.headers)
    assert answer.status_code == 403 and answer.get_json()["error_code"] == "links_not_allowed"


def test_sending_links_is_rate_limited_per_address_and_link(app):
    """30 sends (or retries) a minute from one address on one link; then a JSON 429 the page
    shows inline, and what was sent before stays queued."""
    from webapp.models import Job

    _, token = make_invite(allow_private_urls=True)
    guest = Guest(app, token)
    for n in range(30):
        sent = guest.client.post(guest.url("/links"), json={"urls": [f"http://127.0.0.1:9/limit-{n}"]},
                                 headers=guest.headers)
        assert sent.status_code == 202, sent.get_json()
    limited = guest.client.post(guest.url("/links"), json={"urls": ["http://127.0.0.1:9/one-too-many"]},
                                headers=guest.headers)
    assert limited.status_code == 429 and limited.headers.get("Retry-After")
    assert limited.get_json()["error_code"] == "rate_limited" and "wait a minute" in limited.get_json()["detail"]
    # Retrying counts against the same allowance.
    job_id = db.session.query(Job.id).filter(Job.url == "http://127.0.0.1:9/limit-0").scalar()
    assert guest.client.post(guest.url(f"/links/{job_id}/retry"), headers=guest.headers).status_code == 429
    assert db.session.query(Job).filter(Job.url.like("http://127.0.0.1:9/limit-%")).count() == 30
    assert db.session.query(Job).filter(Job.url.like("%one-too-many")).count() == 0
    # Another invite link from the same address has an allowance of its own.
    _, other_token = make_invite(name="Other", allow_private_urls=True)
    other = Guest(app, other_token)
    assert other.client.post(other.url("/links"), json={"urls": ["http://127.0.0.1:9/other"]},
                             headers=other.headers).status_code == 202


def test_a_link_already_in_the_library_shows_no_one_elses_job(app):
    """The job someone else queued for the same URL is not shown: not its title, nor its id."""
    from webapp.models import Job
    from webapp.services.accounts import identity as accounts
    from webapp.services.queue.submissions import submit

    owner = accounts.create_user("owner", "ownerpassword")
    result = submit([PUBLIC_URL], principal=accounts.Principal(user=owner), source="gui")
    job = db.session.get(Job, result.entries[0].job_id)
    job.title = "The owner's private album title"
    db.session.commit()

    _, token = make_invite()
    guest = Guest(app, token)
    sent = guest.client.post(guest.url("/links"), json={"urls": [PUBLIC_URL]}, headers=guest.headers)
    assert sent.status_code == 202
    item = sent.get_json()["items"][0]
    assert item["status"] == "duplicate" and item["name"] == PUBLIC_URL and "job_id" not in item
    listed = guest.client.get(guest.url("/items"), headers=guest.headers)
    assert "private album" not in html_of(listed) + html_of(sent)
    shown = listed.get_json()["items"][0]
    assert "job_id" not in shown and not shown["id"].startswith("job-")


def test_a_failed_link_can_be_retried_by_its_guest(app):
    from webapp.models import Job

    _, token = make_invite(allow_private_urls=True)
    guest = Guest(app, token)
    sent = guest.client.post(guest.url("/links"), json={"urls": ["http://127.0.0.1:9/broken"]}, headers=guest.headers)
    job = db.session.get(Job, sent.get_json()["items"][0]["job_id"])
    job.claim("tests")
    job.finish(Outcome.FAILED, "HTTP Error 500 writing /srv/secret/library/x.part")
    db.session.commit()
    listed = guest.client.get(guest.url("/items"), headers=guest.headers).get_json()["items"][0]
    assert listed["can_retry"] is True and "/srv/secret" not in listed["error"] and "HTTP Error 500" in listed["error"]
    retried = guest.client.post(guest.url(f"/links/{job.id}/retry"), headers=guest.headers)
    assert retried.status_code == 200 and retried.get_json()["item"]["status"] == "queued"


def test_safe_error_removes_server_paths_but_keeps_links(app):
    from webapp.services.guests.guest_actions import safe_error

    root = app.config["HAUL"].storage_root
    text = f"ERROR: could not write {root}/Party/x.jpg (see /var/log/haul/worker.log) for https://a.example/b/c"
    cleaned = safe_error(text)
    assert str(root) not in cleaned and "/var/log" not in cleaned
    assert "https://a.example/b/c" in cleaned


# -- live events -----------------------------------------------------------------------------------


def test_the_guest_feed_passes_only_the_guests_own_jobs(app):
    from webapp.models import GuestSession, Job
    from webapp.services.accounts import identity as accounts
    from webapp.services.guests.guest_actions import GuestFeed
    from webapp.services.queue import events
    from webapp.services.queue.events import EventRecord
    from webapp.services.queue.submissions import submit

    _, token = make_invite(allow_private_urls=True)
    alice, bob = Guest(app, token), Guest(app, token)
    a = alice.client.post(alice.url("/links"), json={"urls": ["http://127.0.0.1:9/a"]}, headers=alice.headers)
    b = bob.client.post(bob.url("/links"), json={"urls": ["http://127.0.0.1:9/b"]}, headers=bob.headers)
    a_job = db.session.get(Job, a.get_json()["items"][0]["job_id"])
    b_job = db.session.get(Job, b.get_json()["items"][0]["job_id"])
    owner = accounts.create_user("owner", "ownerpassword")
    c = submit(["https://example.com/c"], principal=accounts.Principal(user=owner), source="gui")
    c_job = db.session.get(Job, c.entries[0].job_id)
    alice_id = next(g.id for g in db.session.query(GuestSession) if g.id != b_job.submission.guest_session_id)

    feed = GuestFeed(alice_id)

    def record(kind, job, **data):
        return EventRecord(1, kind, job.submission_id, job.id, job.user_id, {**events.job_snapshot(job), **data})

    a_job.claim("tests")
    a_job.progress(Progress(bytes_done=50, bytes_total=200, current_file="/srv/lib/a.jpg"))
    db.session.commit()
    mine = feed.items_of(record(events.PROGRESS, a_job))
    assert [item["id"] for item in mine] == [f"job-{a_job.id}"]
    assert mine[0]["percent"] == 25.0 and "current_file" not in mine[0] and "/srv/lib" not in json.dumps(mine)
    assert feed.items_of(record(events.PROGRESS, b_job)) == []
    assert feed.items_of(record(events.COMPLETED, c_job, files=["x/y.jpg"])) == []
    queued = EventRecord(2, events.QUEUED, a_job.submission_id, None, None, {"job_ids": [a_job.id]})
    assert [item["id"] for item in feed.items_of(queued)] == [f"job-{a_job.id}"]
    assert feed.items_of(EventRecord(3, events.QUEUE_PAUSED, None, None, None, {})) == []
    assert feed.items_of(EventRecord(4, events.QUEUED, c_job.submission_id, None, owner.id,
                                     {"job_ids": [c_job.id]})) == []


def test_the_event_stream_sends_the_guests_own_changes_only(app):
    """The real SSE route: a change of another guest's job is not sent, then one of ours is."""
    from webapp.models import Job
    from webapp.services.queue import events

    _, token = make_invite(allow_private_urls=True)
    alice, bob = Guest(app, token), Guest(app, token)
    a = alice.client.post(alice.url("/links"), json={"urls": ["http://127.0.0.1:9/a"]}, headers=alice.headers)
    b = bob.client.post(bob.url("/links"), json={"urls": ["http://127.0.0.1:9/b"]}, headers=bob.headers)
    a_id, b_id = a.get_json()["items"][0]["job_id"], b.get_json()["items"][0]["job_id"]

    stream = alice.client.get(alice.url("/events"), headers={"Accept": "text/event-stream"}, buffered=False)
    assert stream.status_code == 200 and stream.mimetype == "text/event-stream"
    frames = iter(stream.response)
    assert "event: hello" in next(frames).decode()
    for job_id, done in ((b_id, 10), (a_id, 30)):
        job = db.session.get(Job, job_id)
        job.claim("tests")
        job.progress(Progress(bytes_done=done, bytes_total=100))
        events.publish_job(events.PROGRESS, job)
        db.session.commit()
    frame = next(frames).decode()
    while frame.startswith(":"):  # keep-alives
        frame = next(frames).decode()
    assert "event: item" in frame
    payload = json.loads(frame.split("data: ", 1)[1])
    assert payload["id"] == f"job-{a_id}" and payload["percent"] == 30.0
    stream.close()


def test_a_guest_holds_no_more_live_streams_than_the_limit(app):
    """The attack: a guest opens stream after stream to use up the server's connections. The one
    past `max_streams` is refused with a 429 before it starts; another guest is not held up, and
    a stream closed gives its place back."""
    from webapp.services.admin import runtime_settings

    runtime_settings.save({runtime_settings.MAX_STREAMS: 2})
    _, token = make_invite()
    greedy, other = Guest(app, token), Guest(app, token)
    accept = {"Accept": "text/event-stream"}
    held = [greedy.client.get(greedy.url("/events"), headers=accept, buffered=False) for _ in range(2)]
    assert [stream.status_code for stream in held] == [200, 200]
    refused = greedy.client.get(greedy.url("/events"), headers=accept, buffered=False)
    assert refused.status_code == 429 and refused.get_json()["error_code"] == "too_many_streams"
    theirs = other.client.get(other.url("/events"), headers=accept, buffered=False)
    assert theirs.status_code == 200
    # Closed last-opened first: the test client keeps each open stream's request context stacked.
    theirs.close()
    held.pop().close()
    again = greedy.client.get(greedy.url("/events"), headers=accept, buffered=False)
    assert again.status_code == 200
    again.close()
    held.pop().close()


# -- the public upload page ------------------------------------------------------------------------


def test_the_public_page_is_off_by_default(client):
    response = client.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.fixture
def public_app(settings):
    """An app with HAUL_PUBLIC_UPLOADS on."""
    from flask import g
    from flask_migrate import upgrade

    from webapp import create_app

    app = create_app(dataclasses.replace(settings, public_uploads=True), role="test", TESTING=True)
    app.teardown_request(lambda exc: g.__dict__.clear())
    with app.app_context():
        upgrade()
        yield app
        db.session.remove()
        db.engine.dispose()


def test_the_public_page_takes_uploads_from_anonymous_visitors(public_app):
    from webapp.models import Invite
    from webapp.services.accounts import identity as accounts
    from webapp.services.guests import invites

    visitor = public_app.test_client()
    page = visitor.get("/")
    assert page.status_code == 200
    html = html_of(page)
    assert 'id="file-input"' in html and "Send links" not in html
    assert re.search(r'<a class="signin[^"]*" href="/login">Sign in</a>', html)
    invite = db.session.query(Invite).filter_by(is_public_page=True).one()
    assert invite.allow_uploads and not invite.allow_urls and invite.max_uses is None and invite.expires_at is None
    assert invite.kinds == ("image", "video") and invite.password_hash is None

    token = invites.token_for(invite)
    assert f'data-base="/i/{token}"' in html
    guest = Guest(public_app, token)
    guest.client = visitor  # the same browser that opened /
    guest.csrf = CSRF_META.search(html).group(1)
    data = file_bytes(CHUNK + 7, seed=21)
    assert guest.upload("street.jpg", data)["upload"]["status"] == "stored"
    stored = public_app.config["HAUL"].storage_root / "uploads" / invite.slug / "street.jpg"
    assert stored.read_bytes() == data and sha(stored.read_bytes()) == sha(data)
    links = visitor.post(f"/i/{token}/links", json={"urls": [PUBLIC_URL]}, headers=guest.headers)
    assert links.status_code == 403 and links.get_json()["error_code"] == "links_not_allowed"

    # A second visitor gets the same built-in invite, not a new one.
    assert public_app.test_client().get("/").status_code == 200
    assert db.session.query(Invite).filter_by(is_public_page=True).count() == 1
    # The admin's invite list does not offer it.
    from webapp.errors import NotFound

    with pytest.raises(NotFound):
        invites.get_invite(invite.id)

    # Signed-in people still get their queue.
    accounts.create_user(ADMIN_USERNAME, ADMIN_PASSWORD, role="admin")
    person = public_app.test_client()
    signed_in = sign_in(person)
    assert signed_in.status_code == 302
    queue = person.get("/")
    assert queue.status_code == 200 and "Add links" in html_of(queue) and 'id="file-input"' not in html_of(queue)


def test_the_public_invite_stops_answering_when_the_page_is_switched_off(public_app, settings):
    from webapp.guest.routes import public_invite
    from webapp.services.guests import invites

    public_app.test_client().get("/")
    token = invites.token_for(public_invite())
    public_app.config["HAUL"] = dataclasses.replace(public_app.config["HAUL"], public_uploads=False)
    closed = public_app.test_client().get(f"/i/{token}")
    assert closed.status_code == 404


# -- configuration ---------------------------------------------------------------------------------


def test_the_two_settings_and_their_errors(tmp_path):
    from webapp.config import ConfigError, load_settings

    env = {"HAUL_DATA_DIR": str(tmp_path / "d"), "HAUL_SECRET_KEY": "x" * 20}
    defaults = load_settings(env, env_file=None, check_tool_args=False)
    assert defaults.public_uploads is False and defaults.upload_chunk_bytes == 16 * 1024 * 1024
    chosen = load_settings({**env, "HAUL_PUBLIC_UPLOADS": "yes", "HAUL_UPLOAD_CHUNK_BYTES": "65536"},
                           env_file=None, check_tool_args=False)
    assert chosen.public_uploads is True and chosen.upload_chunk_bytes == 65536
    for name, value in (("HAUL_PUBLIC_UPLOADS", "maybe"), ("HAUL_UPLOAD_CHUNK_BYTES", "lots"),
                        ("HAUL_UPLOAD_CHUNK_BYTES", "100"), ("HAUL_UPLOAD_CHUNK_BYTES", str(2**40))):
        with pytest.raises(ConfigError) as error:
            load_settings({**env, name: value}, env_file=None, check_tool_args=False)
        assert str(error.value).startswith(name + ":")
