"""Sending links from anywhere while signed in (webapp/sharing), through the Flask test client.

The bookmarklet's popup (GET shows, only a CSRF-checked POST queues), the installable web app
(manifest, icons, service worker), the share target (a POST /share from the OS queues nothing;
the pending page's link and file endpoints do, with the CSRF token), and the userscript file.
CSRF protection is on, as in production.
"""
from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urljoin, urlsplit

import pytest
from PIL import Image
from sqlalchemy import func, select
from support.web import CSRF_META, USER_PASSWORD, csrf, sign_in_as

from webapp.extensions import db
from webapp.models import ApiToken, Job, JobFile, Submission
from webapp.services.accounts import identity as accounts
from webapp.services.guests import upload_store

PAGE = "https://example.com/gallery/cats"


def job_count() -> int:
    return db.session.scalar(select(func.count(Job.id)))


def jobs() -> list[Job]:
    db.session.expire_all()
    return db.session.scalars(select(Job).order_by(Job.id)).all()


def text_of(response) -> str:
    return response.get_data(as_text=True)


# The installable web app ------------------------------------------------------------------------


def test_the_manifest_names_the_app_its_icons_and_the_share_target(client):
    response = client.get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response.mimetype == "application/manifest+json"
    manifest = json.loads(response.get_data())
    assert manifest["name"] == "Haul" and manifest["short_name"] == "Haul"
    assert manifest["start_url"] == "/" and manifest["display"] == "standalone"
    css = (Path(__file__).resolve().parent.parent / "static/css/haul.css").read_text()
    assert manifest["theme_color"].lower() in css.lower() and manifest["background_color"].lower() in css.lower()
    assert manifest["share_target"] == {
        "action": "/share", "method": "POST", "enctype": "multipart/form-data",
        "params": {"title": "title", "text": "text", "url": "url",
                   "files": [{"name": "files", "accept": ["image/*", "video/*"]}]},
    }
    purposes = set()
    for icon in manifest["icons"]:
        served = client.get(icon["src"])
        assert served.status_code == 200, icon["src"]
        body = served.get_data()
        assert body.startswith(b"\x89PNG\r\n\x1a\n") and icon["type"] == "image/png"
        with Image.open(io.BytesIO(body)) as image:
            assert image.format == "PNG"
            assert f"{image.width}x{image.height}" == icon["sizes"]
        purposes.add((icon["sizes"], icon["purpose"]))
        served.close()
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= purposes


def test_the_service_worker_is_served_from_the_root_uncached(client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response.mimetype in ("text/javascript", "application/javascript")
    assert response.headers["Service-Worker-Allowed"] == "/"
    assert "no-cache" in response.headers["Cache-Control"]
    body = text_of(response)
    assert 'addEventListener("fetch"' in body and "Response.redirect" in body
    response.close()


def test_signed_in_pages_register_the_service_worker_and_link_the_manifest(client, alice):
    signed_out = text_of(client.get("/login"))
    assert 'rel="manifest" href="/manifest.webmanifest"' in signed_out
    assert "js/pwa.js" not in signed_out
    sign_in_as(client, alice)
    page = text_of(client.get("/account"))
    assert re.search(r'<script src="/static/js/pwa\.js" data-sw="/sw\.js" data-scope="/" defer>', page)
    assert client.get("/static/js/pwa.js").status_code == 200


# The bookmarklet and its popup -------------------------------------------------------------------


def test_the_account_page_offers_the_bookmarklet_without_any_token(client, alice):
    sign_in_as(client, alice)
    page = text_of(client.get("/account"))
    assert "Send from your browser" in page
    href = re.search(r'<a class="bookmarklet" id="bookmarklet" href="([^"]+)"', page).group(1)
    code = unquote(href.replace("&#39;", "'").replace("&amp;", "&"))
    assert code.startswith("javascript:")
    assert '"http://localhost/send"' in code
    assert "window.open(s,'haul','width=420,height=360')" in code
    assert "location.href" in code and "document" in code
    assert "haul_" not in code and "token" not in code.lower()
    # The person's bookmarklet key, which lets the popup send without a click (no API token).
    db.session.refresh(alice)
    assert alice.bookmarklet_key and len(alice.bookmarklet_key) >= 32
    assert f"+'&k={alice.bookmarklet_key}'" in code
    assert 'href="/static/haul.user.js"' in page


def test_the_popup_shows_the_link_and_a_send_form_and_queues_nothing(client, alice):
    sign_in_as(client, alice)
    response = client.get("/send", query_string={"url": PAGE, "title": "Cats  of\n the week"})
    assert response.status_code == 200
    page = text_of(response)
    assert PAGE in page and "Cats of the week" in page
    assert 'method="post" action="/send"' in page and 'name="csrf_token"' in page
    assert 'id="send-button" autofocus' in page
    assert 'name="post_title"' in page and re.search(r'id="post_title" name="post_title"(?![^>]*value=)', page)
    # Opened from somewhere else than the page being sent: it waits for the click.
    assert 'data-auto="no"' in page
    assert job_count() == 0


def _key_of(client, user) -> str:
    client.get("/account")  # the account page makes the key its bookmarklet carries
    db.session.refresh(user)
    return user.bookmarklet_key


def test_a_site_opening_the_popup_on_its_own_origin_gets_no_auto_send(client, alice):
    """The attack: any site may window.open('/send?url=<a link on its own origin>'); the Referer
    then matches the link. Without the person's bookmarklet key the popup only shows the link
    and waits for their click."""
    sign_in_as(client, alice)
    _key_of(client, alice)
    bob = accounts.create_user("bob", "bob-password-1")
    bobs_key = accounts.bookmarklet_key(bob)
    db.session.commit()
    for key in (None, "", "guessed-key", bobs_key):
        query = {"url": PAGE, **({"k": key} if key is not None else {})}
        page = text_of(client.get("/send", query_string=query, headers={"Referer": "https://example.com/"}))
        assert 'data-auto="no"' in page, key
    assert job_count() == 0


def test_the_popup_sends_by_itself_with_the_persons_bookmarklet_key(client, alice):
    sign_in_as(client, alice)
    key = _key_of(client, alice)
    # Whatever the Referer says (a page may send none at all).
    for referer in ({"Referer": "https://example.com/"}, {}):
        page = text_of(client.get("/send", query_string={"url": PAGE, "k": key}, headers=referer))
        assert 'data-auto="yes"' in page
    assert job_count() == 0  # the popup's own script sends, by POST with the CSRF token


def test_a_new_bookmarklet_disarms_the_old_one(client, alice):
    sign_in_as(client, alice)
    old = _key_of(client, alice)
    rotated = client.post("/account/bookmarklet/rotate", data={"csrf_token": csrf(client)})
    assert rotated.status_code == 302 and rotated.headers["Location"].endswith("/account#send")
    db.session.refresh(alice)
    assert alice.bookmarklet_key and alice.bookmarklet_key != old
    stale = text_of(client.get("/send", query_string={"url": PAGE, "k": old}))
    assert 'data-auto="no"' in stale
    page = text_of(client.get("/account"))
    assert f"&amp;k={alice.bookmarklet_key}" in page or f"k={alice.bookmarklet_key}" in unquote(page)
    assert "New bookmarklet made" in page


def test_making_a_new_bookmarklet_needs_the_csrf_token(client, alice):
    sign_in_as(client, alice)
    old = _key_of(client, alice)
    assert client.post("/account/bookmarklet/rotate").status_code == 400
    db.session.refresh(alice)
    assert alice.bookmarklet_key == old


def test_a_popup_without_a_link_says_so(client, alice):
    sign_in_as(client, alice)
    response = client.get("/send")
    assert response.status_code == 400
    assert "Nothing to send" in text_of(response) and "<form" not in text_of(response)


def test_sending_without_the_csrf_token_is_refused(client, alice):
    sign_in_as(client, alice)
    response = client.post("/send", data={"url": PAGE, "title": "Cats"})
    assert response.status_code == 400
    page = text_of(response)
    assert "Not sent" in page and "reload the page" in page
    assert job_count() == 0
    # A GET never queues either, whatever it carries.
    client.get("/send", query_string={"url": PAGE, "csrf_token": csrf(client)})
    assert job_count() == 0


def test_sending_with_the_token_queues_a_bookmarklet_job_without_a_post_title(client, alice):
    sign_in_as(client, alice)
    response = client.post("/send", data={"csrf_token": csrf(client), "url": PAGE, "title": "Cats",
                                          "post_title": ""})
    assert response.status_code == 200
    page = text_of(response)
    assert "Queued" in page and 'data-state="queued"' in page
    [job] = jobs()
    assert job.url == PAGE and job.source == "bookmarklet" and job.user_id == alice.id
    submission = db.session.get(Submission, job.submission_id)
    assert submission.post_title is None and submission.submitted_via == "session"
    assert f'href="/history/{job.id}"' in page


def test_an_optional_post_title_is_kept(client, alice):
    sign_in_as(client, alice)
    client.post("/send", data={"csrf_token": csrf(client), "url": PAGE, "title": "Cats", "post_title": "Pets"})
    [job] = jobs()
    assert db.session.get(Submission, job.submission_id).post_title == "Pets"


def test_sending_the_same_link_again_says_already_in_haul_with_a_link(client, alice):
    sign_in_as(client, alice)
    client.post("/send", data={"csrf_token": csrf(client), "url": PAGE})
    [job] = jobs()
    again = client.post("/send", data={"csrf_token": csrf(client), "url": PAGE})
    assert again.status_code == 409
    page = text_of(again)
    assert "Already in Haul" in page and f'href="/history/{job.id}"' in page
    assert job_count() == 1
    assert client.get(f"/history/{job.id}").status_code == 200  # the link leads somewhere


def test_someone_elses_duplicate_is_not_linked(client, alice):
    bob = accounts.create_user("bob", "bob-password-1")
    sign_in_as(client, bob)
    client.post("/send", data={"csrf_token": csrf(client), "url": PAGE})
    sign_in_as(client, alice)
    page = text_of(client.post("/send", data={"csrf_token": csrf(client), "url": PAGE}))
    assert "Already in Haul" in page and "/history/" not in page


def test_an_invalid_link_shows_why(client, alice):
    sign_in_as(client, alice)
    response = client.post("/send", data={"csrf_token": csrf(client), "url": "about:blank", "title": "New tab"})
    assert response.status_code == 422
    page = text_of(response)
    assert "Not sent" in page and "only http and https URLs are accepted" in page
    assert job_count() == 0


def test_signed_out_the_popup_signs_in_first_and_comes_back_to_the_link(client, alice):
    key = accounts.bookmarklet_key(alice)
    db.session.commit()
    response = client.get("/send", query_string={"url": PAGE + "?a=1&b=2", "title": "Cats & dogs", "k": key},
                          headers={"Referer": "https://example.com/"})
    assert response.status_code == 302
    target = urlsplit(response.headers["Location"])
    assert target.path == "/login"
    next_path = parse_qs(target.query)["next"][0]
    assert next_path.startswith("/send?") and not next_path.startswith("//")
    # The key waits in the session, not in the sign-in page's address.
    assert parse_qs(urlsplit(next_path).query) == {"url": [PAGE + "?a=1&b=2"], "title": ["Cats & dogs"]}

    login_page = client.get(response.headers["Location"])
    assert "Sign in to send this page to Haul." in text_of(login_page)
    token = CSRF_META.search(text_of(login_page)).group(1)
    signed_in = client.post("/login?next=" + quote(next_path, safe=""),
                            data={"csrf_token": token, "username": "alice", "password": USER_PASSWORD})
    assert signed_in.status_code == 302
    assert signed_in.headers["Location"] == next_path
    popup = client.get(next_path)
    assert popup.status_code == 200
    page = text_of(popup)
    assert PAGE + "?a=1&amp;b=2" in page and "Cats &amp; dogs" in page
    # It was opened by the person's bookmarklet before signing in: it still sends by itself.
    assert 'data-auto="yes"' in page
    assert job_count() == 0


def test_signed_out_a_popup_with_someone_elses_key_waits_after_sign_in(client, alice):
    bob = accounts.create_user("bob", "bob-password-1")
    bobs_key = accounts.bookmarklet_key(bob)
    db.session.commit()
    response = client.get("/send", query_string={"url": PAGE, "k": bobs_key})
    next_path = parse_qs(urlsplit(response.headers["Location"]).query)["next"][0]
    token = CSRF_META.search(text_of(client.get(response.headers["Location"]))).group(1)
    client.post("/login?next=" + quote(next_path, safe=""),
                data={"csrf_token": token, "username": "alice", "password": USER_PASSWORD})
    assert 'data-auto="no"' in text_of(client.get(next_path))


def test_a_signed_out_send_queues_nothing(client, alice):
    response = client.post("/send", data={"csrf_token": csrf(client, "/login"), "url": PAGE})
    assert response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/login"
    assert job_count() == 0


@pytest.mark.parametrize("target", ["/\\evil.example/x", "//evil.example/x", "https://evil.example/x",
                                    "/\tevil", "send"])
def test_sign_in_never_follows_next_off_the_site(client, alice, target):
    """The popup relies on login's `next`: it stays on this site whatever it is given."""
    token = csrf(client, "/login")
    response = client.post("/login?next=" + quote(target, safe=""),
                           data={"csrf_token": token, "username": "alice", "password": USER_PASSWORD})
    assert response.status_code == 302
    raw = response.headers["Location"]
    assert "\\" not in raw and "\t" not in raw  # what browsers would read as "//"
    assert raw.startswith("/") and not raw.startswith("//")
    assert urlsplit(urljoin("http://localhost/send", raw)).netloc == "localhost"


# The share target ---------------------------------------------------------------------------------


def test_a_share_that_reaches_the_server_explains_and_queues_nothing(client, alice):
    """No service worker yet: the OS's POST /share has no CSRF token. It gets a page saying
    to open Haul once, signed in or not, whatever it carries; never a 500, never a job."""
    shared = {"title": "Cats", "text": "Look " + PAGE, "url": PAGE}
    for signed_in in (False, True):
        if signed_in:
            sign_in_as(client, alice)
        response = client.post("/share", data=shared)
        assert response.status_code == 400
        page = text_of(response)
        assert "Open Haul once" in page and "nothing was queued" in page
    big = client.post("/share", data={**shared, "files": (io.BytesIO(b"\0" * (3 * 1024 * 1024)), "clip.mp4")},
                      content_type="multipart/form-data")
    assert big.status_code == 400 and "Open Haul once" in text_of(big)
    with_token = client.post("/share", data={**shared, "csrf_token": csrf(client)})
    assert with_token.status_code == 400
    assert job_count() == 0
    assert db.session.scalar(select(func.count(JobFile.id))) == 0


def test_the_pending_page_needs_a_sign_in_and_keeps_the_pending_id(client, alice):
    response = client.get("/share?pending=abc123")
    assert response.status_code == 302
    target = urlsplit(response.headers["Location"])
    assert target.path == "/login" and parse_qs(target.query)["next"] == ["/share?pending=abc123"]
    sign_in_as(client, alice)
    page = text_of(client.get("/share?pending=abc123"))
    assert 'data-pending="abc123"' in page and "js/share.js" in page
    assert 'data-send-url="/share/send"' in page and 'data-upload-url="/share/upload"' in page


def share_send(client, token=True, **fields):
    headers = {"Accept": "application/json"}
    if token:
        headers["X-CSRFToken"] = token if isinstance(token, str) else csrf(client)
    return client.post("/share/send", data=fields, headers=headers)


def test_the_pending_page_queues_the_link_found_in_the_text(client, alice):
    sign_in_as(client, alice)
    response = share_send(client, title="Cats of the week", text=f"Look at this: {PAGE}. So good", url="")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["state"] == "queued" and body["url"] == PAGE
    [job] = jobs()
    assert job.url == PAGE and job.source == "share" and job.user_id == alice.id
    assert body["job_id"] == job.id and body["job_url"] == f"/history/{job.id}"
    assert db.session.get(Submission, job.submission_id).post_title is None

    again = share_send(client, url=PAGE)
    assert again.status_code == 409 and again.get_json()["state"] == "duplicate"
    assert again.get_json()["job_id"] == job.id
    assert job_count() == 1


def test_the_url_field_wins_and_the_post_title_is_used(client, alice):
    sign_in_as(client, alice)
    response = share_send(client, url="https://example.com/a", text="and https://example.com/b", post_title="Trip")
    assert response.get_json()["url"] == "https://example.com/a"
    [job] = jobs()
    assert db.session.get(Submission, job.submission_id).post_title == "Trip"


def test_the_pending_page_refusals(client, alice):
    assert share_send(client, token=False, url=PAGE).status_code in (400, 401)
    sign_in_as(client, alice)
    no_token = share_send(client, token=False, url=PAGE)
    assert no_token.status_code == 400 and no_token.get_json()["error_code"] == "csrf_failed"
    no_link = share_send(client, title="Just words", text="no link in here")
    assert no_link.status_code == 422 and no_link.get_json()["error_code"] == "no_link"
    assert job_count() == 0
    token = csrf(client)  # a valid token, then signed out
    with client.session_transaction() as session:
        session.pop("_user_id")
    signed_out = share_send(client, token=token, url=PAGE)
    assert signed_out.status_code == 401 and signed_out.get_json()["error_code"] == "not_signed_in"
    assert job_count() == 0


def upload(client, content: bytes, filename: str, post_title: str | None = None, token=True):
    data = {"file": (io.BytesIO(content), filename)}
    if post_title is not None:
        data["post_title"] = post_title
    if token:
        data["csrf_token"] = csrf(client)
    return client.post("/share/upload", data=data, content_type="multipart/form-data",
                       headers={"Accept": "application/json"})


def partial_files(app) -> list[Path]:
    folder = app.config["HAUL"].data_dir / upload_store.PARTIAL_DIRNAME
    return sorted(folder.glob("share-*")) if folder.exists() else []


def test_a_shared_file_is_stored_under_uploads_shared(app, client, alice, settings):
    sign_in_as(client, alice)
    before = partial_files(app)
    content = b"\x89PNG fake picture " * 10
    response = upload(client, content, "holiday.png")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["state"] == "stored" and body["size"] == len(content)
    root = settings.storage_root
    stored = root / "uploads" / "shared" / "holiday.png"
    assert stored.read_bytes() == content
    job = db.session.get(Job, body["job_id"])
    assert job.source == "share" and job.status == "completed" and job.user_id == alice.id
    assert job.files[0].sha256 == hashlib.sha256(content).hexdigest()
    assert db.session.get(Submission, job.submission_id).submitted_via == "session"

    titled = upload(client, b"another picture", "beach.jpg", post_title="Summer 2026")
    assert titled.status_code == 201
    assert (root / "Summer 2026" / "uploads" / "shared" / "beach.jpg").read_bytes() == b"another picture"
    assert partial_files(app) == before  # nothing left behind in data_dir/partial


def test_the_same_content_is_not_stored_twice(client, alice, settings):
    sign_in_as(client, alice)
    first = upload(client, b"same bytes", "one.png").get_json()
    again = upload(client, b"same bytes", "two.png")
    assert again.status_code == 200
    body = again.get_json()
    assert body["state"] == "duplicate" and body["job_id"] == first["job_id"]
    folder = settings.storage_root / "uploads" / "shared"
    assert sorted(p.name for p in folder.iterdir()) == ["one.png"]
    assert db.session.scalar(select(func.count(JobFile.id))) == 1


def test_a_file_name_with_dot_dots_stays_inside_the_storage_root(app, client, alice, settings):
    sign_in_as(client, alice)
    root = settings.storage_root.resolve()
    response = upload(client, b"sneaky", "../../../outside.png", post_title="../../escape")
    assert response.status_code == 201, response.get_json()
    job = db.session.get(Job, response.get_json()["job_id"])
    stored = (root / job.files[0].path).resolve()
    assert root in stored.parents and stored.read_bytes() == b"sneaky"
    assert not (root.parent / "outside.png").exists() and not (root.parent.parent / "outside.png").exists()
    assert [p for p in root.parent.rglob("outside.png") if root not in p.resolve().parents] == []


def test_a_file_bigger_than_the_apps_1_mib_limit_is_taken(app, client, alice, settings, monkeypatch):
    """Up to 2 GiB on this route, written to data_dir/partial as it arrives: never Werkzeug's
    spool (memory, then /tmp)."""
    import werkzeug.formparser

    def no_spool(*args, **kwargs):
        raise AssertionError("the upload was spooled instead of written to data_dir/partial")

    monkeypatch.setattr(werkzeug.formparser, "SpooledTemporaryFile", no_spool)
    sign_in_as(client, alice)
    content = bytes(range(256)) * (12 * 1024)  # 3 MiB
    assert len(content) > app.config["MAX_CONTENT_LENGTH"]
    response = upload(client, content, "clip.mp4")
    assert response.status_code == 201, response.get_json()
    assert (settings.storage_root / "uploads" / "shared" / "clip.mp4").read_bytes() == content
    # Elsewhere the 1 MiB limit still holds.
    token = csrf(client)
    too_big = client.post("/share/send", data={"csrf_token": token, "text": "x" * (2 * 1024 * 1024)},
                          headers={"Accept": "application/json"})
    assert too_big.status_code == 413


def test_upload_refusals_store_nothing(app, client, alice, settings):
    before = partial_files(app)
    assert upload(client, b"anonymous", "a.png", token=False).status_code in (400, 401)
    sign_in_as(client, alice)
    no_token = upload(client, b"no token", "a.png", token=False)
    assert no_token.status_code == 400 and no_token.get_json()["error_code"] == "csrf_failed"
    empty = upload(client, b"", "empty.png")
    assert empty.status_code == 422
    no_file = client.post("/share/upload", data={"csrf_token": csrf(client)}, headers={"Accept": "application/json"})
    assert no_file.status_code == 400 and no_file.get_json()["error_code"] == "no_file"
    assert db.session.scalar(select(func.count(JobFile.id))) == 0
    assert not (settings.storage_root / "uploads").exists()
    assert partial_files(app) == before


# The userscript --------------------------------------------------------------------------------


def test_the_userscript_is_served_with_a_valid_metadata_block(client):
    response = client.get("/static/haul.user.js")
    assert response.status_code == 200
    source = text_of(response)
    response.close()
    block = re.search(r"^// ==UserScript==\n(.*?)^// ==/UserScript==$", source, re.S | re.M)
    assert block, "no metadata block"
    meta: dict[str, list[str]] = {}
    for line in block.group(1).splitlines():
        match = re.match(r"^// @(\S+)(?:\s+(.*))?$", line)
        assert match, f"not a metadata line: {line!r}"
        meta.setdefault(match.group(1), []).append((match.group(2) or "").strip())
    for key in ("name", "namespace", "version", "description"):
        assert len(meta.get(key, [])) == 1 and meta[key][0], key
    assert re.fullmatch(r"\d+\.\d+\.\d+", meta["version"][0])
    assert meta["match"] == ["*://*/*"]
    assert set(meta["grant"]) == {"GM_xmlhttpRequest", "GM_notification", "GM_getValue", "GM_setValue",
                                  "GM_registerMenuCommand"}
    assert meta["connect"] == ["*"]
    # What it talks to: the queue API with a bearer token, and the notifications socket.
    assert '"/api/v1/queue"' in source and '"Bearer "' in source and "/ws/notifications?token=" in source
    for status in ("201", "409", "401"):
        assert f"answer.status === {status}" in source


def test_the_userscript_token_has_only_the_submit_scope(client, alice):
    sign_in_as(client, alice)
    response = client.post("/account/userscript-token", data={"csrf_token": csrf(client)})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    token = re.search(r'id="new-token-value" class="mono" value="([^"]+)"', text_of(response)).group(1)
    row = db.session.scalar(select(ApiToken).where(ApiToken.user_id == alice.id))
    assert row.scopes == "submit" and row.name == "userscript"
    principal = accounts.resolve_bearer(token, None)
    assert principal.user.id == alice.id and principal.scopes == frozenset({"submit"})
    assert client.post("/account/userscript-token", data={}).status_code == 400
    assert db.session.scalar(select(func.count(ApiToken.id))) == 1
