"""Every source, end to end: a link or file sent through each real entry point is recorded with
its source, and the history page's source filter and GET /api/v1/downloads?source= find it (and
only the jobs of that source); the page's filter and the OpenAPI document offer every source.

In-process (Flask test client, CSRF on as in production). The jobs are finished the way the
worker leaves them, since the history lists finished jobs only.
"""
from __future__ import annotations

import base64
import dataclasses
import io
import re

import pytest
from sqlalchemy import select
from test_guest_uploads import Guest, file_bytes, make_invite

from webapp.core.vocabulary import (
    API,
    BOOKMARKLET,
    CLI,
    COMPLETED,
    GUI,
    IMPORT,
    INVITE,
    SHARE,
    SOURCES,
    SUBSCRIPTION,
)
from webapp.extensions import db
from webapp.models import Job
from webapp.models.base import utcnow
from webapp.services.accounts import identity as accounts
from webapp.services.accounts.identity import Principal
from webapp.services.library import rescan
from webapp.services.queue.submissions import submit

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
HX = {"HX-Request": "true"}  # as the page sends them (htmx)
PUBLIC = "http://93.184.216.34"  # an IP literal: public (a guest's links must be), no DNS needed


@pytest.fixture
def settings(settings, tmp_path):
    """A data dir of this test's own: uploads pass through data_dir/partial."""
    return dataclasses.replace(settings, data_dir=tmp_path / "data")


@pytest.fixture
def admin(app):
    return accounts.create_user("root", "rootpassword", role="admin")


@pytest.fixture
def signed_in(client, admin):
    with client.session_transaction() as session:
        session["_user_id"] = str(admin.id)
        session["_fresh"] = True
    return client


@pytest.fixture
def token(admin) -> dict:
    return {"Authorization": f"Bearer {accounts.create_token(admin, 'phone')[1]}"}


def csrf(client, path: str = "/account") -> str:
    return CSRF_META.search(client.get(path).get_data(as_text=True)).group(1)


def jobs_of(source: str) -> set[int]:
    db.session.expire_all()
    return set(db.session.scalars(select(Job.id).where(Job.source == source)))


def finish_all() -> None:
    """Every job still waiting ends as the worker ends a download."""
    db.session.expire_all()
    for job in db.session.scalars(select(Job).where(Job.status != COMPLETED)):
        job.status, job.finished_at, job.dedupe_key = COMPLETED, utcnow(), None
    db.session.commit()


# -- the entry points: each sends one link (and a file where it takes files) ----------------------


def through_the_gui(client, token, admin) -> None:
    """The queue page's form, then "download again" on the history entry it became."""
    added = client.post("/queue/add", data={"csrf_token": csrf(client, "/"), "urls": f"{PUBLIC}/gui/form"}, headers=HX)
    assert added.status_code == 200, added.get_data(as_text=True)
    finish_all()
    [job_id] = jobs_of(GUI)
    again = client.post(f"/history/{job_id}/again", data={"csrf_token": csrf(client, "/history")}, headers=HX)
    assert again.status_code == 204 and "again as job" in again.headers["HX-Trigger"]


def through_the_api(client, token, admin) -> None:
    """/api/v1/queue, the seed API (POST /downloads) and the iOS Shortcuts' link and file endpoints."""
    assert client.post("/api/v1/queue", json={"urls": [f"{PUBLIC}/api/queue"]}, headers=token).status_code == 201
    assert client.post("/downloads", json={"urls": [f"{PUBLIC}/api/seed"]}, headers=token).status_code == 202
    assert client.post("/api/v1/upload/url", json={"url": f"{PUBLIC}/api/shortcut"}, headers=token).status_code == 201
    picture = base64.b64encode(file_bytes(900, seed=1)).decode()
    stored = client.post("/api/v1/upload/base64", json={"filename": "shortcut.jpg", "data": picture}, headers=token)
    assert stored.status_code == 201, stored.get_json()


def through_the_bookmarklet(client, token, admin) -> None:
    sent = client.post("/send", data={"csrf_token": csrf(client), "url": f"{PUBLIC}/bookmarklet", "title": "A page"})
    assert sent.status_code == 200 and "Queued" in sent.get_data(as_text=True)


def through_the_share_sheet(client, token, admin) -> None:
    """The share target's pending page: a shared link, then a shared file."""
    headers = {"Accept": "application/json", "X-CSRFToken": csrf(client)}
    sent = client.post("/share/send", data={"text": f"Look: {PUBLIC}/shared/link"}, headers=headers)
    assert sent.status_code == 201, sent.get_json()
    stored = client.post("/share/upload", data={"csrf_token": csrf(client), "file": (io.BytesIO(file_bytes(800, seed=2)), "shared.jpg")},
                         content_type="multipart/form-data", headers={"Accept": "application/json"})
    assert stored.status_code in (200, 201), stored.get_json()


def through_an_invite(client, token, admin) -> None:
    """A guest behind an invite link: a link, then a file in chunks."""
    _, invite_token = make_invite()
    guest = Guest(client.application, invite_token)
    sent = guest.client.post(guest.url("/links"), json={"urls": [f"{PUBLIC}/guest/link"]}, headers=guest.headers)
    assert sent.status_code == 202, sent.get_json()
    guest.upload("guest.jpg", file_bytes(1000, seed=3))


def with_no_entry_point(source: str):
    """Subscriptions and a command line client have no entry point yet: sent as they would send."""
    def send(client, token, admin) -> None:
        submit([f"{PUBLIC}/{source}/feed"], principal=Principal(user=admin), source=source)
    return send


def through_a_rescan(client, token, admin) -> None:
    """A file copied into the library by hand, found by the admin's library rescan."""
    root = client.application.config["HAUL"].storage_root
    folder = root / "Copied in" / "by-hand"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "found.jpg").write_bytes(file_bytes(2000, seed=9))
    settle = rescan.SETTLE_SECONDS
    rescan.SETTLE_SECONDS = 0.0  # the file was written just now; nothing else is writing
    try:
        state = rescan.begin(admin.id, admin.username, "session")
        assert rescan.run(state["id"])["counts"]["imported_jobs"] == 1
    finally:
        rescan.SETTLE_SECONDS = settle


ENTRY_POINTS = {
    GUI: (through_the_gui, 2),
    API: (through_the_api, 4),
    BOOKMARKLET: (through_the_bookmarklet, 1),
    SHARE: (through_the_share_sheet, 2),
    INVITE: (through_an_invite, 2),
    SUBSCRIPTION: (with_no_entry_point(SUBSCRIPTION), 1),
    CLI: (with_no_entry_point(CLI), 1),
    IMPORT: (through_a_rescan, 1),
}


def test_every_source_has_an_entry_point_here():
    assert set(ENTRY_POINTS) == set(SOURCES)


@pytest.fixture
def sent(signed_in, token, admin) -> dict[str, set[int]]:
    """Every entry point used once, every job finished: {source: its job ids}."""
    for send, _ in ENTRY_POINTS.values():
        send(signed_in, token, admin)
    finish_all()
    return {source: jobs_of(source) for source in SOURCES}


@pytest.mark.parametrize("source", SOURCES)
def test_the_history_and_the_downloads_api_find_each_sources_jobs(signed_in, token, sent, source):
    """Recorded with its source by its entry point; each filter lists those jobs and no other."""
    assert len(sent[source]) == ENTRY_POINTS[source][1], sent
    page = signed_in.get("/history", query_string={"source": source})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Source must be one of" not in html
    assert {int(n) for n in re.findall(r'<article id="entry-(\d+)"', html)} == sent[source]
    assert re.search(rf'<option value="{source}" selected>', html)

    answer = signed_in.get("/api/v1/downloads", query_string={"source": source}, headers=token)
    assert answer.status_code == 200, answer.get_json()
    assert {item["id"] for item in answer.get_json()["items"]} == sent[source]
    assert answer.get_json()["total"] == len(sent[source])


def test_the_history_filter_offers_every_source_in_order(signed_in):
    html = signed_in.get("/history").get_data(as_text=True)
    select_box = html[html.index('id="history-source"'):]
    select_box = select_box[:select_box.index("</select>")]
    assert re.findall(r'<option value="(\w*)"', select_box) == ["", *SOURCES]


def test_an_unknown_source_is_explained_not_ignored(signed_in, token):
    page = signed_in.get("/history", query_string={"source": "fax"}).get_data(as_text=True)
    assert f"Source must be one of {', '.join(SOURCES)}" in page
    answer = signed_in.get("/api/v1/downloads", query_string={"source": "fax"}, headers=token)
    assert answer.status_code == 422


def test_the_openapi_document_lists_every_source(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in ("/api/v1/downloads", "/api/v1/queue"):
        [parameter] = [p for p in paths[path]["get"]["parameters"] if p["name"] == "source"]
        assert parameter["schema"]["enum"] == list(SOURCES), path
