"""Per-site cookies go only with the jobs of those the admin shared them with.

A cookies.txt signs in as whoever exported it. The attacks: a user (or a guest through an
invite) sends a link to a site with an admin's cookies and lets Haul sign in for them; a user
deleted and another created in their place (SQLite may reuse the id) inherits a grant. Real
jobs run against the local media site, which records the Cookie header of every request, so
the tests check what the site received.
"""
from __future__ import annotations

import dataclasses
import io
import re

import pytest
from conftest import assert_api_error
from support.web import csrf, sign_in_as

from jobs import runner
from webapp.errors import Invalid, NotFound
from webapp.extensions import db
from webapp.models import CookieAccess, GuestSession, Job, User
from webapp.services.accounts import identity as accounts
from webapp.services.accounts import user_admin as users
from webapp.services.admin import cookie_access, cookies, runtime_settings
from webapp.services.guests import invites
from webapp.services.queue.submissions import submit

SECRET = "haul_test=secret-cookie-4f2a"
COOKIE_LINE = b"127.0.0.1\tFALSE\t/\tFALSE\t0\thaul_test\tsecret-cookie-4f2a\n"


@pytest.fixture
def settings(settings, tmp_path):
    """A data dir of this test's own: cookie files live there, and must not reach other tests' jobs."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    return dataclasses.replace(settings, data_dir=data_dir)


@pytest.fixture
def people(app):
    """An admin, two users (bob will be chosen, alice not), and a guest session whose invite may
    reach this machine (as users may: the media site is on 127.0.0.1)."""
    runtime_settings.save({"users_private_addresses": True})
    invite = invites.create_invite(None, {"name": "cookie guests", "allow_private_urls": True})
    return People({
        "root": accounts.create_user("root", "root-password", role="admin").id,
        "alice": accounts.create_user("alice", "alice-password").id,
        "bob": accounts.create_user("bob", "bob-password").id,
        "guest": invites.open_session(invite, None).id,
    })


class People(dict):
    """Names to ids; `people[name]` loads the row anew (a job's run ends the session it was loaded in)."""

    def __getitem__(self, name):
        model = GuestSession if name == "guest" else User
        return db.session.get(model, super().__getitem__(name))


@pytest.fixture
def site_cookies(settings):
    """The media site's cookie file (site 127.0.0.1), for admins only as every new file is."""
    return cookie_access.store(settings.data_dir, COOKIE_LINE, "127.0.0.1")


def _send(url: str, who: str, people, engine: str) -> int:
    if who == "guest":
        result = submit([url], principal=None, source="invite", guest=people["guest"], engine=engine)
    else:
        principal = accounts.Principal(user=people[who])
        result = submit([url], principal=principal, source="api", engine=engine)
    return result.entries[0].job_id


def _run(job_id: int) -> Job:
    claimed = runner.claim_next_job()
    assert claimed == job_id
    runner.run_job(job_id)
    job = db.session.get(Job, job_id)
    db.session.refresh(job)
    return job


def _fetch_as(who: str, people, media_site, name: str, engine: str = "gallery-dl") -> list:
    """Run one real job of `who` and answer the Cookie headers the media site received for it."""
    path = f"/gallery/{name}" if engine == "gallery-dl" else f"/video/{name}"
    job = _run(_send(media_site.url(f"{path}?count=2"), who, people, engine))
    assert job.status == "completed", job.error
    assert job.domain == "127.0.0.1"
    sent = media_site.cookies_sent(path)
    assert sent, "the job reached the site"
    return sent


# Real jobs: what the site received ---------------------------------------------------------------


def test_admin_only_cookies_go_with_the_admins_jobs_and_no_one_elses(app, people, site_cookies, media_site):
    assert _fetch_as("root", people, media_site, "ca-admin") == [SECRET]
    assert _fetch_as("alice", people, media_site, "ca-alice") == [None]
    assert _fetch_as("bob", people, media_site, "ca-bob") == [None]
    assert _fetch_as("guest", people, media_site, "ca-guest") == [None]
    # the images of each gallery too, not only its page
    assert set(media_site.cookies_sent("/img/")) >= {SECRET, None}


def test_chosen_users_jobs_use_them_others_and_guests_never(app, settings, people, site_cookies, media_site):
    cookie_access.set_access(settings.data_dir, "127.0.0.1", cookie_access.CHOSEN, [people["bob"].id])
    assert _fetch_as("bob", people, media_site, "cc-bob") == [SECRET]
    assert _fetch_as("alice", people, media_site, "cc-alice") == [None]
    assert _fetch_as("guest", people, media_site, "cc-guest") == [None]
    assert _fetch_as("root", people, media_site, "cc-admin") == [SECRET]


def test_every_user_still_means_no_guest_with_either_tool(app, settings, people, site_cookies, media_site):
    """yt-dlp keeps sessions for reuse: the admin's, built with the cookie file, must not serve the guest."""
    cookie_access.set_access(settings.data_dir, "127.0.0.1", cookie_access.ALL_USERS)
    assert _fetch_as("alice", people, media_site, "cu-alice") == [SECRET]
    assert set(_fetch_as("root", people, media_site, "cu-admin", engine="yt-dlp")) == {SECRET}
    assert set(_fetch_as("guest", people, media_site, "cu-guest", engine="yt-dlp")) == {None}
    assert _fetch_as("guest", people, media_site, "cu-guest-gallery") == [None]


def test_an_admins_submit_only_token_still_sends_the_admins_own_jobs(app, people, site_cookies, media_site):
    """A token limited to sending links submits as a user, but the jobs are the admin's: admins only includes them."""
    token, _secret = accounts.create_token(people["root"], "phone", "submit")
    result = submit([media_site.url("/gallery/ca-admin-token?count=2")],
                    principal=accounts.Principal(user=people["root"], token=token), engine="gallery-dl")
    job = _run(result.entries[0].job_id)
    assert job.submission.trust == "user" and job.status == "completed"
    assert media_site.cookies_sent("/gallery/ca-admin-token") == [SECRET]


# The choice itself ----------------------------------------------------------------------------------


def test_a_deleted_users_grant_goes_with_them(app, settings, people, site_cookies):
    """SQLite may give a deleted user's id to the next new user: the grant must not pass on."""
    bob_id = people["bob"].id
    cookie_access.set_access(settings.data_dir, "127.0.0.1", cookie_access.CHOSEN, [bob_id])
    users.delete_user(people["bob"], people["root"])
    assert cookie_access.access_of("127.0.0.1") == cookie_access.Access()
    carol = accounts.create_user("carol", "carol-password")
    submission = type("Submission", (), {"trust": "user", "user_id": carol.id})()
    assert not cookie_access.may_use(cookie_access.access_of("127.0.0.1"), submission)


def test_a_replaced_file_keeps_its_choice_and_a_new_one_starts_admins_only(app, settings, people, site_cookies):
    cookie_access.set_access(settings.data_dir, "127.0.0.1", cookie_access.ALL_USERS)
    cookie_access.store(settings.data_dir, COOKIE_LINE, "127.0.0.1")
    assert cookie_access.access_of("127.0.0.1").who == cookie_access.ALL_USERS

    # a file removed behind Haul's back leaves its row; a new file of that name starts afresh
    (settings.data_dir / "cookies" / "127.0.0.1.txt").unlink()
    cookie_access.store(settings.data_dir, COOKIE_LINE, "127.0.0.1")
    assert cookie_access.access_of("127.0.0.1").who == cookie_access.ADMINS

    cookie_access.set_access(settings.data_dir, "127.0.0.1", cookie_access.ALL_USERS)
    cookie_access.remove(settings.data_dir, "127.0.0.1")
    assert db.session.get(CookieAccess, "127.0.0.1") is None


@pytest.mark.parametrize("who, ids, message", [
    ("chosen", [], "Choose at least one user"),
    ("chosen", [9999], "No such user: 9999"),
    ("chosen", ["root"], "Users are named by their id"),
    ("everyone", [], "must be one of admins, users, chosen"),
])
def test_a_bad_choice_is_refused_and_nothing_changes(app, settings, people, site_cookies, who, ids, message):
    with pytest.raises(Invalid, match=message):
        cookie_access.set_access(settings.data_dir, "127.0.0.1", who, ids)
    assert cookie_access.access_of("127.0.0.1") == cookie_access.Access()


def test_an_admin_cannot_be_chosen_and_a_site_without_a_file_has_no_choice(app, settings, people, site_cookies):
    with pytest.raises(Invalid, match="root is an admin"):
        cookie_access.set_access(settings.data_dir, "127.0.0.1", "chosen", [people["root"].id])
    with pytest.raises(NotFound):
        cookie_access.set_access(settings.data_dir, "example.org", "users")


def test_the_nearest_file_the_submitter_may_use_is_the_one(app, settings, people):
    """media.example.com's file is the admin's; example.com's is shared: a user's job gets the shared one."""
    cookie_access.store(settings.data_dir, b".example.com\tTRUE\t/\tFALSE\t0\tshared\t1\n", "example.com")
    cookie_access.store(settings.data_dir, b".media.example.com\tTRUE\t/\tFALSE\t0\tmine\t1\n", "media.example.com")
    cookie_access.set_access(settings.data_dir, "example.com", cookie_access.ALL_USERS)
    folder = settings.data_dir / "cookies"
    as_user = type("Submission", (), {"trust": "user", "user_id": people["alice"].id})()
    as_admin = type("Submission", (), {"trust": "admin", "user_id": None})()
    as_guest = type("Submission", (), {"trust": "guest", "user_id": None})()
    assert cookie_access.file_for_job(settings.data_dir, "a.media.example.com", as_user) == folder / "example.com.txt"
    assert cookie_access.file_for_job(settings.data_dir, "a.media.example.com", as_admin) == \
        folder / "media.example.com.txt"
    assert cookie_access.file_for_job(settings.data_dir, "a.media.example.com", as_guest) is None


# The API ----------------------------------------------------------------------------------------


def test_the_api_shows_and_changes_who_may_use_each_file(client, api_callers, settings):
    admin = api_callers["admin"]
    uploaded = client.post("/api/v1/settings/cookies", headers=admin,
                           json={"site": "127.0.0.1", "cookies": COOKIE_LINE.decode()})
    assert uploaded.status_code == 201
    assert uploaded.get_json()["access"] == {"who": "admins", "users": []}

    alice = api_callers.alice
    response = client.patch("/api/v1/settings/cookies/127.0.0.1", headers=admin,
                            json={"who": "chosen", "users": [alice.id]})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["access"] == {"who": "chosen", "users": [{"id": alice.id, "username": "alice"}]}
    listed = client.get("/api/v1/settings/cookies", headers=admin).get_json()
    assert [item["access"]["who"] for item in listed] == ["chosen"]

    body = client.patch("/api/v1/settings/cookies/127.0.0.1", headers=admin, json={"who": "users"}).get_json()
    assert body["access"] == {"who": "users", "users": []}


@pytest.mark.parametrize("body, status, code", [
    ({"who": "chosen", "users": []}, 422, "invalid_access"),
    ({"who": "chosen", "users": [424242]}, 422, "invalid_access"),
    ({"who": "everyone"}, 422, "validation_error"),
    ({"users": [1]}, 422, "validation_error"),
])
def test_a_bad_access_patch_is_refused(client, api_callers, settings, body, status, code):
    cookie_access.store(settings.data_dir, COOKIE_LINE, "127.0.0.1")
    response = client.patch("/api/v1/settings/cookies/127.0.0.1", headers=api_callers["admin"], json=body)
    assert_api_error(response, status, code)
    assert cookie_access.access_of("127.0.0.1").who == "admins"


def test_only_admins_change_the_access_and_only_of_files_that_exist(client, api_callers, settings):
    cookie_access.store(settings.data_dir, COOKIE_LINE, "127.0.0.1")
    for who in ("user", "submit", "read"):
        response = client.patch("/api/v1/settings/cookies/127.0.0.1", headers=api_callers[who], json={"who": "users"})
        assert_api_error(response, 403)
    assert cookie_access.access_of("127.0.0.1").who == "admins"
    assert_api_error(client.patch("/api/v1/settings/cookies/nowhere.example", headers=api_callers["admin"],
                                  json={"who": "users"}), 404, "cookies_not_found")
    assert_api_error(client.patch("/api/v1/settings/cookies/..", headers=api_callers["admin"],
                                  json={"who": "users"}), 404, "cookies_not_found")


# The Settings page ------------------------------------------------------------------------------


def test_the_page_chooses_users_with_htmx_and_without(client, settings, people, site_cookies):
    sign_in_as(client, people["root"])
    token = csrf(client)
    page = client.get("/settings").get_data(as_text=True)
    assert "Admins only" in page and 'name="users" value="%d"' % people["bob"].id in page
    assert 'value="%d"' % people["root"].id not in re.findall(r'name="users" value="\d+"', page)[0]

    response = client.post("/settings/cookies/127.0.0.1/access", data={"who": "chosen", "users": [people["bob"].id]},
                           headers={"HX-Request": "true", "X-CSRFToken": token})
    assert response.status_code == 200
    assert "Admins, bob" in response.get_data(as_text=True)
    assert cookie_access.access_of("127.0.0.1").user_ids == {people["bob"].id}

    plain = client.post("/settings/cookies/127.0.0.1/access", data={"csrf_token": token, "who": "users"})
    assert plain.status_code == 302 and plain.headers["Location"].endswith("/settings#cookies")
    assert cookie_access.access_of("127.0.0.1").who == "users"

    refused = client.post("/settings/cookies/127.0.0.1/access", data={"who": "chosen"},
                          headers={"HX-Request": "true", "X-CSRFToken": token})
    assert refused.status_code == 422
    assert "Choose at least one user" in refused.get_data(as_text=True)
    assert cookie_access.access_of("127.0.0.1").who == "users"


def test_a_user_cannot_share_the_cookies_with_themselves(client, people, site_cookies):
    sign_in_as(client, people["alice"])
    token = csrf(client)
    response = client.post("/settings/cookies/127.0.0.1/access", data={"who": "users"},
                           headers={"HX-Request": "true", "X-CSRFToken": token})
    assert response.status_code == 403
    assert cookie_access.access_of("127.0.0.1").who == "admins"


def test_uploading_on_the_page_says_who_uses_the_file(client, settings, people):
    sign_in_as(client, people["root"])
    token = csrf(client)
    response = client.post("/settings/cookies", data={"cookies-site": "127.0.0.1",
                                                      "cookies-file": (io.BytesIO(COOKIE_LINE), "c.txt")},
                           headers={"HX-Request": "true", "X-CSRFToken": token}, content_type="multipart/form-data")
    assert response.status_code == 200
    assert "Used by: Admins only." in response.headers["HX-Trigger"]
    assert cookies.files_for(settings.data_dir, "127.0.0.1")


@pytest.mark.parametrize("engine, first, second", [
    ("direct", "/img/9511.png", "/img/9512.png"),
    ("yt-dlp", "/media/clip9513.mp4", "/media/clip9514.mp4"),
    ("gallery-dl", "/gallery/ca-set-cookie", "/gallery/ca-after"),
])
def test_cookies_a_site_set_during_one_persons_job_never_go_with_the_next(app, people, media_site,
                                                                       engine, first, second):
    """The worker keeps its HTTP sessions from job to job (kept-alive connections, built
    YoutubeDLs): cookies a site set while the admin's job ran must not be sent with Alice's next
    job on the same thread and session."""
    admins = _run(_send(media_site.url(f"{first}?set_cookie=the-admins-session"), "root", people, engine))
    assert admins.status == "completed", admins.error
    alices = _run(_send(media_site.url(second), "alice", people, engine))
    assert alices.status == "completed", alices.error
    assert media_site.cookies_sent(second) and set(media_site.cookies_sent(second)) == {None}
