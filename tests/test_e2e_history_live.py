"""The history page's event stream over HTTP, against the live server and the real worker: a job that
finishes appears first, its thumbnails replace the placeholders, and nobody gets someone else's."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest
import requests
from support.live_clients import SSEReader, signed_in_browser
from support.stack import ROOT

PASSWORD = "history-live-password-1"


def _create_user(stack, username: str, admin: bool = False) -> None:
    args = [sys.executable, "-m", "flask", "--app", "wsgi", "users", "create", username, "--password", PASSWORD]
    subprocess.run(args + (["--admin"] if admin else []), cwd=ROOT, env=stack.env, check=True, capture_output=True)


@pytest.fixture(scope="module")
def people(stack) -> dict[str, requests.Session]:
    _create_user(stack, "historian", admin=True)
    _create_user(stack, "neighbour")
    return {name: signed_in_browser(stack.base_url, name, PASSWORD) for name in ("historian", "neighbour")}


def page_last_event_id(session, stack, query: str = "") -> int:
    page = session.get(stack.base_url + "/history" + query, timeout=10).text
    return int(re.search(r"last_event_id=(\d+)", page).group(1))


def history_stream(stack, session, **params) -> SSEReader:
    return SSEReader(stack, path="/history/events", browser=session, params=params)


def entry_frame(job_id: int, *, inserted: bool | None = None, thumbnail: bool = False):
    def matches(frame) -> bool:
        data = frame["data"]
        if f'<article id="entry-{job_id}" class=' not in data:
            return False
        if inserted is not None and ('hx-swap-oob="afterbegin:#history-entries"' in data) != inserted:
            return False
        return not thumbnail or '/thumbnail" alt=""' in data
    return matches


def test_a_finishing_job_appears_first_and_its_thumbnail_follows(stack, media_site, people):
    admin = people["historian"]
    since = page_last_event_id(admin, stack)
    reader = history_stream(stack, admin, last_event_id=since)
    try:
        job_id = stack.submit([media_site.url("/img/27182.png")])["jobs"][0]["id"]
        appeared = reader.until(entry_frame(job_id, inserted=True), timeout=60, parse_json=False)
        # The worker makes the thumbnail once it is quiet, then the entry is drawn again with it.
        redrawn = reader.until(entry_frame(job_id, inserted=False, thumbnail=True), timeout=60, parse_json=False)
    finally:
        reader.close()
    assert all(frame["event"] == "history" for frame in appeared + redrawn)
    first = appeared[-1]["data"]
    assert "file-icon" in first  # the placeholder, before the thumbnail
    assert 'hx-swap-oob="true"' in redrawn[-1]["data"]
    ids = [int(frame["id"]) for frame in appeared + redrawn]
    assert ids == sorted(ids) and ids[0] > since


def test_a_filtered_page_gets_no_new_entries_and_a_user_none_of_anothers(stack, media_site, people):
    admin, neighbour = people["historian"], people["neighbour"]
    filtered = history_stream(stack, admin, q="nothing-like-this",
                              last_event_id=page_last_event_id(admin, stack, "?q=nothing-like-this"))
    theirs = history_stream(stack, neighbour, last_event_id=page_last_event_id(neighbour, stack))
    try:
        hidden = stack.submit([media_site.url("/img/27183.png")])["jobs"][0]["id"]
        stack.wait_for_job(hidden, timeout=60)
        with stack.users_may_reach_private_addresses():
            login = requests.post(stack.base_url + "/api/v1/auth/login", timeout=10,
                                  json={"username": "neighbour", "password": PASSWORD})
            access = login.json()["access_token"]
            sent = requests.post(stack.base_url + "/api/v1/queue", timeout=10,
                                 headers={"Authorization": f"Bearer {access}"},
                                 json={"urls": [media_site.url("/img/27184.png")]})
            assert sent.status_code in (201, 202), sent.text
            own = sent.json()["jobs"][0]["id"]
            stack.wait_for_job(own, timeout=60)
        # The neighbour's first entry is their own job, inserted; the admin's never came.
        got = theirs.until(entry_frame(own, inserted=True), timeout=60, parse_json=False)
        assert not any(f'id="entry-{hidden}"' in frame["data"] for frame in got)
        # The filtered page: the neighbour's job finishing is an update of an entry it does not
        # show (ignored by htmx), never an insertion; the admin sees everyone's, so it is sent.
        seen = filtered.until(entry_frame(own), timeout=60, parse_json=False)
        assert not any("afterbegin" in frame["data"] for frame in seen)
    finally:
        filtered.close()
        theirs.close()


def test_the_stream_refuses_someone_not_signed_in(stack):
    response = requests.get(stack.base_url + "/history/events", timeout=10, allow_redirects=False,
                            headers={"Accept": "text/event-stream"})
    assert response.status_code in (302, 401)
