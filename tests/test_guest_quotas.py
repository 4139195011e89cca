"""Attacks on an invite's byte limits and on the guest rate limits (in-process, the real routes).

An invite's total holds for the invite, not per guest cookie: fresh cookie jars (new guest
sessions) get no fresh allowance, parallel starts cannot all squeeze in, and uploads and link
jobs share it. New guest sessions and upload starts are limited per address, and that address
cannot be forged with X-Forwarded-For unless a trusted proxy says so. The public upload page
has limits of its own by default.
"""
from __future__ import annotations

import dataclasses
import re
import threading
from pathlib import Path

import pytest
from test_guest_uploads import CHUNK, Guest, file_bytes, make_invite

from jobs.engines.base import Progress
from webapp.extensions import db

SIZE = 5_000  # one guest's file: two chunks, far under any session's share


@pytest.fixture
def settings(settings, tmp_path):
    return dataclasses.replace(settings, upload_chunk_bytes=CHUNK, data_dir=tmp_path / "data")


@pytest.fixture(autouse=True)
def _fresh_g_per_request(client):
    """Each request starts with a fresh `g`, as in production (see the `client` fixture)."""


def library_bytes(app) -> int:
    root = Path(app.config["HAUL"].storage_root)
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def visitor(app, token: str, address: str) -> Guest:
    """A guest with a fresh cookie jar, opening the link from `address`."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    guest = Guest.__new__(Guest)
    guest.client, guest.token = client, token
    guest.page = client.get(f"/i/{token}")
    found = re.search(r'name="csrf-token" content="([^"]+)"', guest.page.get_data(as_text=True))
    guest.csrf = found.group(1) if found else ""
    return guest


# -- the invite's total holds across cookie jars ---------------------------------------------------


def test_the_guest_total_holding_across_ten_fresh_cookie_jars(app):
    """Ten guests, each in a browser of their own, each sending one file well under what one
    session could send: together they fill the invite's total exactly, and an eleventh fresh
    jar is refused before a byte is stored."""
    from webapp.models import GuestSession, Upload

    invite, token = make_invite(max_total_bytes=10 * SIZE, max_file_bytes=10 * SIZE)
    for n in range(10):
        done = Guest(app, token).upload(f"photo-{n}.jpg", file_bytes(SIZE, seed=100 + n))
        assert done["upload"]["status"] == "stored"
    assert db.session.query(GuestSession).count() == 10

    eleventh = Guest(app, token)
    refused = eleventh.start("one-more.jpg", SIZE)
    assert refused.status_code == 413, refused.get_json()
    body = refused.get_json()
    assert body["error_code"] == "quota_exceeded" and body["bytes_left"] == 0
    assert body["max_total_bytes"] == 10 * SIZE
    small = eleventh.start("tiny.jpg", 1)
    assert small.status_code == 413 and small.get_json()["error_code"] == "quota_exceeded"
    assert db.session.query(Upload).count() == 10
    assert library_bytes(app) == 10 * SIZE


def test_parallel_starts_from_many_sessions_cannot_overrun_the_total_together(app):
    """Twelve fresh sessions start an upload at the same moment against room for ten: exactly
    ten are let in (their bytes reserved), two are told quota_exceeded."""
    from webapp.models import Upload

    invite, token = make_invite(max_total_bytes=10 * SIZE)
    guests = [Guest(app, token) for _ in range(12)]
    barrier = threading.Barrier(len(guests))
    answers: list = [None] * len(guests)

    def start(index: int) -> None:
        barrier.wait()
        response = guests[index].start(f"at-once-{index}.jpg", SIZE)
        answers[index] = (response.status_code, response.get_json())

    threads = [threading.Thread(target=start, args=(i,)) for i in range(len(guests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    statuses = sorted(status for status, _ in answers)
    assert statuses == [201] * 10 + [413] * 2, answers
    assert {body["error_code"] for status, body in answers if status == 413} == {"quota_exceeded"}
    db.session.expire_all()
    assert db.session.query(Upload).count() == 10


def test_uploads_and_link_jobs_share_the_invites_total(app):
    """What the invite's link jobs wrote and are downloading counts against the uploads' room,
    and a used-up total refuses new links before anything is queued."""
    from webapp.models import Job, JobFile
    from webapp.models.base import utcnow

    invite, token = make_invite(max_total_bytes=10 * SIZE, allow_private_urls=True)
    sender = Guest(app, token)
    sent = sender.client.post(sender.url("/links"), json={"urls": ["http://127.0.0.1:9/album"]},
                              headers=sender.headers)
    assert sent.status_code == 202, sent.get_json()
    job = db.session.get(Job, sent.get_json()["items"][0]["job_id"])
    # The worker's doing, as it records it: a finished file, and a second attempt under way.
    job.files.append(JobFile(path="Summer party/127.0.0.1/album/a.jpg", size=6 * SIZE, sha256="a" * 64,
                             created_at=utcnow()))
    job.claim("tests")
    job.progress(Progress(bytes_done=2 * SIZE))
    db.session.commit()

    uploader = Guest(app, token)  # another cookie jar
    refused = uploader.start("big.jpg", 3 * SIZE)
    assert refused.status_code == 413 and refused.get_json()["error_code"] == "quota_exceeded"
    assert refused.get_json()["bytes_left"] == 2 * SIZE
    assert uploader.start("fits.jpg", 2 * SIZE).status_code == 201

    before = db.session.query(Job).count()
    more = uploader.client.post(uploader.url("/links"), json={"urls": ["http://127.0.0.1:9/another"]},
                                headers=uploader.headers)
    assert more.status_code == 413 and more.get_json()["error_code"] == "quota_exceeded"
    retry = sender.client.post(sender.url(f"/links/{job.id}/retry"), headers=sender.headers)
    assert retry.status_code == 413 and retry.get_json()["error_code"] == "quota_exceeded"
    assert db.session.query(Job).count() == before


def test_a_cancelled_upload_gives_its_room_back_to_every_session(app):
    invite, token = make_invite(max_total_bytes=2 * SIZE)
    first, second = Guest(app, token), Guest(app, token)
    upload_id = first.start("a.jpg", 2 * SIZE).get_json()["upload"]["upload_id"]
    assert second.start("b.jpg", SIZE).status_code == 413
    assert first.client.delete(first.url(f"/uploads/{upload_id}"), headers=first.headers).status_code == 204
    assert second.start("b.jpg", SIZE).status_code == 201


# -- the public upload page -------------------------------------------------------------------------


@pytest.fixture
def public_app(settings):
    from flask import g
    from flask_migrate import upgrade

    from webapp import create_app

    app = create_app(dataclasses.replace(settings, public_uploads=True, public_upload_max_file_bytes=3 * SIZE,
                                         public_upload_max_bytes_per_day=4 * SIZE), role="test", TESTING=True)
    app.teardown_request(lambda exc: g.__dict__.clear())
    with app.app_context():
        upgrade()
        yield app
        db.session.remove()
        db.engine.dispose()


def test_the_public_page_has_a_largest_file_and_a_daily_total(public_app):
    """Anyone may reach it: a file over the page's limit and a day's total over its limit are
    refused whoever sends them; what came in more than a day ago no longer counts."""
    from datetime import timedelta

    from webapp.guest.routes import public_invite
    from webapp.models import Upload
    from webapp.services.guests import invites

    page = public_app.test_client().get("/")
    assert "up to 14.6 KB each, 19.5 KB a day in all" in page.get_data(as_text=True)
    token = invites.token_for(public_invite())
    assert Guest(public_app, token).start("huge.jpg", 3 * SIZE + 1).get_json()["error_code"] == "file_too_large"
    for n in range(4):
        done = Guest(public_app, token).upload(f"street-{n}.jpg", file_bytes(SIZE, seed=n))
        assert done["upload"]["status"] == "stored"
    refused = Guest(public_app, token).start("late.jpg", 1)
    assert refused.status_code == 413 and refused.get_json()["error_code"] == "quota_exceeded"
    assert "a day in all" in refused.get_json()["detail"]

    for upload in db.session.query(Upload):
        upload.created_at -= timedelta(days=1, minutes=1)
    db.session.commit()
    assert Guest(public_app, token).start("next-day.jpg", SIZE).status_code == 201


def test_the_public_pages_limits_have_defaults_and_are_checked(tmp_path):
    from webapp.config import ConfigError, load_settings

    env = {"HAUL_DATA_DIR": str(tmp_path / "d"), "HAUL_SECRET_KEY": "x" * 20}
    defaults = load_settings(env, env_file=None, check_tool_args=False)
    assert defaults.public_upload_max_file_bytes == 100 * 1024 * 1024
    assert defaults.public_upload_max_bytes_per_day == 1024 ** 3
    assert defaults.guest_sessions_per_hour == 30 and defaults.guest_upload_starts_per_hour == 600
    chosen = load_settings({**env, "HAUL_PUBLIC_UPLOAD_MAX_FILE_BYTES": "0",
                            "HAUL_PUBLIC_UPLOAD_MAX_BYTES_PER_DAY": "5000", "HAUL_GUEST_SESSIONS_PER_HOUR": "100",
                            "HAUL_GUEST_UPLOAD_STARTS_PER_HOUR": "50"}, env_file=None, check_tool_args=False)
    assert chosen.public_upload_max_file_bytes == 0 and chosen.public_upload_max_bytes_per_day == 5000
    assert chosen.guest_sessions_per_hour == 100 and chosen.guest_upload_starts_per_hour == 50
    for name, value in (("HAUL_PUBLIC_UPLOAD_MAX_FILE_BYTES", "-1"), ("HAUL_PUBLIC_UPLOAD_MAX_BYTES_PER_DAY", "1 GB"),
                        ("HAUL_GUEST_SESSIONS_PER_HOUR", "0"), ("HAUL_GUEST_UPLOAD_STARTS_PER_HOUR", "lots")):
        with pytest.raises(ConfigError) as error:
            load_settings({**env, name: value}, env_file=None, check_tool_args=False)
        assert str(error.value).startswith(name + ":")


# -- rate limits per address ------------------------------------------------------------------------


def test_new_guest_sessions_are_limited_per_address(app):
    """A script without cookies opens the link again and again: 30 new sessions an hour from
    one address, then an inline 429 page; someone coming back with their session, and other
    addresses, are not affected."""
    from webapp.models import GuestSession

    _, token = make_invite()
    first = visitor(app, token, "203.0.113.5")
    assert first.page.status_code == 200
    for _ in range(29):
        assert visitor(app, token, "203.0.113.5").page.status_code == 200
    _, other_token = make_invite(name="Another link")
    refused = visitor(app, other_token, "203.0.113.5").page  # the allowance is the address's, not the link's
    assert refused.status_code == 429
    html = refused.get_data(as_text=True)
    assert "Too many new visits" in html and 'id="file-input"' not in html and "Traceback" not in html
    assert 0 < int(refused.headers["Retry-After"]) <= 3600
    assert db.session.query(GuestSession).count() == 30

    assert first.client.get(f"/i/{token}").status_code == 200  # a returning guest
    assert first.start("a.jpg", 10).status_code == 201
    assert visitor(app, token, "198.51.100.9").page.status_code == 200  # another address
    assert db.session.query(GuestSession).count() == 31


def test_a_forged_forwarded_for_does_not_buy_new_sessions(app, settings):
    """Without a trusted proxy, X-Forwarded-For is the visitor's own word and is ignored."""
    from webapp.models import GuestSession

    _, token = make_invite()
    for n in range(30):
        answer = app.test_client().get(f"/i/{token}", headers={"X-Forwarded-For": f"192.0.2.{n}"})
        assert answer.status_code == 200
    forged = app.test_client().get(f"/i/{token}", headers={"X-Forwarded-For": "192.0.2.200"})
    assert forged.status_code == 429
    assert db.session.query(GuestSession).count() == 30


@pytest.fixture
def proxied_app(settings):
    """An app behind one trusted reverse proxy (HAUL_TRUSTED_PROXIES=1)."""
    from flask import g
    from flask_migrate import upgrade

    from webapp import create_app

    app = create_app(dataclasses.replace(settings, trusted_proxies=1, guest_sessions_per_hour=2),
                     role="test", TESTING=True)
    app.teardown_request(lambda exc: g.__dict__.clear())
    with app.app_context():
        upgrade()
        yield app
        db.session.remove()
        db.engine.dispose()


def test_behind_a_trusted_proxy_each_visitor_has_an_allowance(proxied_app):
    _, token = make_invite()

    def open_from(address):
        return proxied_app.test_client().get(f"/i/{token}", headers={"X-Forwarded-For": address}).status_code

    assert [open_from("203.0.113.1") for _ in range(3)] == [200, 200, 429]
    assert open_from("203.0.113.2") == 200  # another visitor behind the same proxy


@pytest.fixture
def few_starts_app(settings):
    from flask import g
    from flask_migrate import upgrade

    from webapp import create_app

    app = create_app(dataclasses.replace(settings, guest_upload_starts_per_hour=5), role="test", TESTING=True)
    app.teardown_request(lambda exc: g.__dict__.clear())
    with app.app_context():
        upgrade()
        yield app
        db.session.remove()
        db.engine.dispose()


def test_upload_starts_are_limited_per_address(few_starts_app):
    """Five starts an hour here (HAUL_GUEST_UPLOAD_STARTS_PER_HOUR): the sixth is a JSON 429 the
    page shows on the file, whichever session or link it comes from; another address may go on."""
    from webapp.models import Upload

    _, token = make_invite()
    _, other_token = make_invite(name="Another link")
    first = Guest(few_starts_app, token)
    for n in range(3):
        assert first.start(f"a-{n}.jpg", 10).status_code == 201
    second = Guest(few_starts_app, other_token)  # a fresh jar from the same address, another link
    for n in range(2):
        assert second.start(f"b-{n}.jpg", 10).status_code == 201
    limited = second.start("b-3.jpg", 10)
    assert limited.status_code == 429
    assert limited.get_json()["error_code"] == "rate_limited" and "last hour" in limited.get_json()["detail"]
    assert limited.headers.get("Retry-After")
    assert db.session.query(Upload).count() == 5

    elsewhere = visitor(few_starts_app, token, "198.51.100.20")
    assert elsewhere.start("c.jpg", 10).status_code == 201
