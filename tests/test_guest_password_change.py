"""Changing an invite's password ends the guest sessions opened before it (in-process).

Whoever held the link and its old password — a guest the admin no longer wants, someone who
read it over a shoulder — keeps nothing after the change: their next page is the password form
again, their JSON calls are refused, and their open live stream ends. Set, changed or removed,
from the admin page or PATCH /api/v1/invites/<id>; saving the same password again ends nothing.
"""
from __future__ import annotations

import dataclasses
import time

import pytest
from support.web import form_csrf, form_post
from test_guest_page import html_of
from test_guest_uploads import CHUNK, Guest, make_invite
from test_invites_page import edit_form

from webapp.extensions import db
from webapp.services.accounts import identity as accounts
from webapp.services.guests import invites

OLD, NEW = "old password", "new password"


@pytest.fixture
def settings(settings, tmp_path):
    return dataclasses.replace(settings, upload_chunk_bytes=CHUNK, data_dir=tmp_path / "data")


@pytest.fixture(autouse=True)
def _fresh_g_per_request(client):
    """Each request starts with a fresh `g`, as in production (see the `client` fixture)."""


def unlocked_guest(app, token: str, password: str = OLD) -> Guest:
    guest = Guest(app, token)
    answer = guest.client.post(guest.url("/password"), data={"csrf_token": form_csrf(guest.page), "password": password})
    assert answer.status_code == 303
    assert guest.start("before.jpg", 10).status_code == 201
    return guest


def is_password_form(response) -> bool:
    html = html_of(response)
    return response.status_code == 200 and 'type="password"' in html and 'id="file-input"' not in html


def test_a_new_password_from_the_admin_page_sends_old_guests_back_to_the_form(app, admin_client):
    invite, token = make_invite(password=OLD)
    guest = unlocked_guest(app, token)

    saved = form_post(admin_client, f"/invites/{invite.id}", edit_form(invite, password=NEW))
    assert saved.status_code in (302, 303), html_of(saved)

    assert is_password_form(guest.client.get(guest.url("")))
    refused = guest.start("after.jpg", 10)
    assert refused.status_code == 401 and refused.get_json()["error_code"] == "password_required"
    assert guest.client.get(guest.url("/items"), headers=guest.headers).status_code == 401
    # The old password opens nothing any more; the new one lets the guest in as a new visitor.
    page = guest.client.get(guest.url(""))
    wrong = guest.client.post(guest.url("/password"), data={"csrf_token": form_csrf(page), "password": OLD})
    assert wrong.status_code == 401
    right = guest.client.post(guest.url("/password"), data={"csrf_token": form_csrf(wrong), "password": NEW})
    assert right.status_code == 303
    assert guest.client.get(guest.url("/items"), headers=guest.headers).get_json() == {"items": []}


def test_setting_or_removing_the_password_through_the_api_ends_sessions_too(app, client, admin):
    headers = {"Authorization": f"Bearer {accounts.create_token(admin, 'admin', None)[1]}"}

    # No password yet: the guest is in without one, then the admin sets one.
    invite, token = make_invite()
    guest = Guest(app, token)
    assert guest.start("a.jpg", 10).status_code == 201
    answer = client.patch(f"/api/v1/invites/{invite.id}", json={"password": NEW}, headers=headers)
    assert answer.status_code == 200, answer.get_json()
    assert is_password_form(guest.client.get(guest.url("")))
    assert guest.start("b.jpg", 10).get_json()["error_code"] == "password_required"

    # Removed: the old session is over all the same (the guest comes in as a new visitor).
    second, second_token = make_invite(name="Second", password=OLD)
    old = unlocked_guest(app, second_token)
    assert client.patch(f"/api/v1/invites/{second.id}", json={"password": None}, headers=headers).status_code == 200
    listed = old.client.get(old.url("/items"), headers=old.headers)
    assert listed.status_code == 200 and listed.get_json() == {"items": []}  # not the old session's upload


def test_saving_the_same_password_again_ends_nothing(app):
    invite, token = make_invite(password=OLD)
    guest = unlocked_guest(app, token)
    changed_at = db.session.get(type(invite), invite.id).password_changed_at
    invites.update_invite(invites.get_invite(invite.id), {"password": OLD, "name": "Renamed"})
    assert db.session.get(type(invite), invite.id).password_changed_at == changed_at
    assert guest.start("still.jpg", 10).status_code == 201


def test_a_password_change_ends_the_guests_live_stream(app, monkeypatch):
    """The stream checks its session at each keep-alive (15 s; shortened here): after the
    change it says "ended" and closes, so no more of the session's items reach the old guest."""
    from webapp import stream_loop

    monkeypatch.setattr(stream_loop, "KEEPALIVE_SECONDS", 0.2)
    invite, token = make_invite(password=OLD)
    guest = unlocked_guest(app, token)
    stream = guest.client.get(guest.url("/events"), headers={"Accept": "text/event-stream"}, buffered=False)
    assert stream.status_code == 200
    frames = iter(stream.response)
    assert "event: hello" in next(frames).decode()
    assert next(frames).decode().startswith(": keep-alive")  # the session is still open: it goes on

    invites.update_invite(invites.get_invite(invite.id), {"password": NEW})
    seen, deadline = [], time.monotonic() + 10
    for frame in frames:
        seen.append(frame.decode())
        assert time.monotonic() < deadline, seen
    stream.close()
    assert "event: ended" in seen[-1] and "Reload the page" in seen[-1], seen
