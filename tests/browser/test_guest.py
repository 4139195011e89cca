"""The guest page in a real browser (Chromium, phone viewport) against a live Haul: gunicorn +
gevent serving the page and its event stream, the Huey worker downloading guests' links.

Invites are made with webapp.services.guests.invites in an app built on the stack's own data dir (the
same database and secret key as the running server). Chunks are 64 KiB here, so a file of a
few hundred KB goes up in several pieces; one test drops the connection twice mid-way (once
after the server stored a chunk, once before) and the page must carry on by itself.
"""
from __future__ import annotations

import hashlib
import re
import struct
import zlib
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect
from support.stack import HaulStack

from browser.conftest import ADMIN_PASSWORD, ADMIN_USERNAME, API_TOKEN, PHONE, shot

CHUNK = 65536


@pytest.fixture(scope="module")
def gui_stack(media_site, tmp_path_factory):
    """This module's live stack (overrides the shared one): small chunks for uploads."""
    env = {"HAUL_ADMIN_USERNAME": ADMIN_USERNAME, "HAUL_ADMIN_PASSWORD": ADMIN_PASSWORD,
           "HAUL_UPLOAD_CHUNK_BYTES": str(CHUNK)}
    with HaulStack(tmp_path_factory.mktemp("guest"), api_token=API_TOKEN, extra_env=env) as running:
        yield running


@pytest.fixture(scope="module")
def stack_app(gui_stack):
    """An app on the stack's database and secret key, to make invites with the service."""
    from webapp import create_app
    from webapp.config import load_settings
    from webapp.extensions import db

    env = {k: v for k, v in gui_stack.env.items() if k.startswith("HAUL_")}
    app = create_app(load_settings(env, env_file=None, check_tool_args=False), role="worker")
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def make_invite(stack_app, **fields) -> dict:
    from webapp.extensions import db
    from webapp.services.guests import invites

    fields.setdefault("name", "Family photos")
    with stack_app.app_context():
        invite = invites.create_invite(None, fields)
        made = {"token": invites.token_for(invite), "id": invite.id, "slug": invite.slug}
        db.session.remove()
    return made


def change_invite(stack_app, invite_id: int, **values) -> None:
    """Set columns directly (an expiry in the past, say, which the service would refuse)."""
    from webapp.extensions import db
    from webapp.models import Invite

    with stack_app.app_context():
        invite = db.session.get(Invite, invite_id)
        for name, value in values.items():
            setattr(invite, name, value)
        db.session.commit()
        db.session.remove()


def noise_png(path: Path, width: int, height: int, seed: int) -> bytes:
    """A real PNG of random pixels (barely compressible, so it stays about width*height*3 bytes)."""
    rows, state = bytearray(), hashlib.sha256(str(seed).encode()).digest()
    row_bytes = width * 3
    for _ in range(height):
        line = bytearray()
        while len(line) < row_bytes:
            state = hashlib.sha256(state).digest()
            line += state
        rows += b"\x00" + line[:row_bytes]

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(rows), 1)) + chunk(b"IEND", b""))
    path.write_bytes(data)
    return data


def phone_context(new_context):
    return new_context(viewport=PHONE, is_mobile=True, has_touch=True)


def item(page, name: str):
    return page.locator("li.item", has=page.locator(".item-name", has_text=name))


def choose_files(page, paths) -> None:
    """Through the visible "Choose files" button (the bar at the bottom on a phone)."""
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Choose files").click()
    chooser.value.set_files([str(p) for p in paths])


def sha_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- the tests -------------------------------------------------------------------------------------


def test_a_phone_uploads_several_files_through_dropped_connections(stack_app, gui_stack, new_context, tmp_path):
    invite = make_invite(stack_app, post_title="Reunion 2026", allowed_kinds="image video")
    small, medium, big = tmp_path / "small.png", tmp_path / "medium.png", tmp_path / "big.png"
    noise_png(small, 16, 16, 1)
    noise_png(medium, 80, 80, 2)
    big_bytes = noise_png(big, 330, 330, 3)  # ~327 KB: five 64 KiB chunks and a piece
    assert len(big_bytes) > 4 * CHUNK

    context = phone_context(new_context)
    page = context.new_page()
    dropped = {"after_store": 0, "before_send": 0}

    def flaky(route):
        offset = int(re.search(r"offset=(\d+)", route.request.url).group(1))
        if offset == 2 * CHUNK and not dropped["after_store"]:
            dropped["after_store"] += 1
            route.fetch()  # the server stores the chunk…
            route.abort("connectionreset")  # …and the answer is lost on the way back
        elif offset == 4 * CHUNK and not dropped["before_send"]:
            dropped["before_send"] += 1
            route.abort("internetdisconnected")  # the chunk never arrives
        else:
            route.continue_()

    page.route(re.compile(r"/uploads/[^/?]+\?offset=\d+"), flaky)
    page.goto(f"/i/{invite['token']}")
    expect(page.get_by_role("heading", name="Family photos")).to_be_visible()
    expect(page.locator("#live-status")).to_have_text("Live")
    page.evaluate("window.__noReload = 1")

    # Phone first: the picker is a bar stuck to the bottom of the screen.
    bar = page.locator(".guest-bar")
    expect(bar).to_be_visible()
    box = bar.bounding_box()
    assert box["y"] + box["height"] == pytest.approx(PHONE[1], abs=2)
    expect(page.locator(".drop-zone .choose-files")).to_be_hidden()

    choose_files(page, [small, medium, big])
    for name in ("small.png", "medium.png", "big.png"):
        expect(item(page, name).locator(".chip")).to_have_text("Uploaded", timeout=60_000)
    assert dropped == {"after_store": 1, "before_send": 1}
    assert page.evaluate("window.__noReload") == 1

    folder = gui_stack.storage_root / "Reunion 2026" / "uploads" / invite["slug"]
    for original in (small, medium, big):
        assert sha_file(folder / original.name) == sha_file(original)
    # Nothing of the server's on the page: no paths, no library.
    html = page.content()
    assert str(gui_stack.storage_root) not in html and str(gui_stack.data_dir) not in html
    page.unroute(re.compile(r"/uploads/[^/?]+\?offset=\d+"))
    # The picture for the docs: the list of what was sent, under the drop zone and links box.
    page.evaluate("window.scrollTo(0, document.querySelector('.guest-list').offsetTop - 330)")
    shot(page, "guest-phone")

    # The same content again, under another name: reported, not stored twice.
    again = tmp_path / "big-again.png"
    again.write_bytes(big_bytes)
    choose_files(page, [again])
    expect(item(page, "big-again.png").locator(".chip")).to_have_text("Already in the library", timeout=30_000)
    assert not (folder / "big-again.png").exists()
    assert sorted(p.name for p in folder.iterdir()) == ["big.png", "medium.png", "small.png"]

    # After a reload the page lists what this session sent.
    page.reload()
    for name in ("small.png", "medium.png", "big.png", "big-again.png"):
        expect(item(page, name)).to_be_visible()

    # The fallback SHA-256 (plain http on a home network has no WebCrypto) agrees with WebCrypto.
    agree = page.evaluate("""async () => {
        const sizes = [0, 1, 55, 56, 64, 1000, 70000];
        for (const n of sizes) {
            const bytes = new Uint8Array(n).map((_, i) => (i * 31 + n) & 255);
            const want = Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)))
                .map(b => b.toString(16).padStart(2, "0")).join("");
            if (window.haulGuest.sha256Plain(bytes) !== want) return n;
        }
        return true;
    }""")
    assert agree is True


def test_the_password_gate_on_a_phone(stack_app, new_context):
    invite = make_invite(stack_app, name="Wedding guests", password="confetti")
    page = phone_context(new_context).new_page()
    page.goto(f"/i/{invite['token']}")
    expect(page.get_by_role("heading", name="Wedding guests")).to_be_visible()
    expect(page.get_by_role("button", name="Choose files")).to_have_count(0)
    shot(page, "guest-password")

    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("alert")).to_contain_text("not the password")
    page.get_by_label("Password").fill("confetti")
    # Until the guest page has loaded (its stylesheet applied) the desktop button is not hidden
    # yet, and a CI run once saw two "Choose files" there.
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("button", name="Choose files")).to_be_visible()
    expect(page.get_by_label("Password")).to_have_count(0)


def test_an_open_guest_page_ends_when_the_password_changes(stack_app, new_context):
    """The page's live stream checks its session at each keep-alive (every 15 s): after the admin
    changes the password it says so and stops; a reload shows the password form again."""
    from webapp.extensions import db
    from webapp.services.guests import invites

    invite = make_invite(stack_app, name="Band rehearsal", password="first one")
    page = phone_context(new_context).new_page()
    page.goto(f"/i/{invite['token']}")
    page.get_by_label("Password").fill("first one")
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Continue").click()
    expect(page.locator("#live-status")).to_have_text("Live")

    with stack_app.app_context():
        invites.update_invite(invites.get_invite(invite["id"]), {"password": "second one"})
        db.session.remove()
    notice = page.locator("#guest-closed")
    expect(notice).to_be_visible(timeout=40_000)
    expect(notice).to_contain_text("Reload the page")
    expect(page.locator("#live-status")).to_have_text("Ended")
    expect(page.get_by_role("button", name="Choose files")).to_be_disabled()

    page.reload()
    expect(page.get_by_label("Password")).to_be_visible()
    expect(page.get_by_role("button", name="Choose files")).to_have_count(0)


def test_a_link_downloads_live_and_guests_see_only_their_own(stack_app, gui_stack, media_site, new_context,
                                                              tmp_path):
    invite = make_invite(stack_app, name="Shared album", post_title="Album", allow_private_urls=True)
    alice = phone_context(new_context).new_page()
    bob = phone_context(new_context).new_page()
    for page in (alice, bob):
        page.goto(f"/i/{invite['token']}")
        expect(page.locator("#live-status")).to_have_text("Live")
    alice.evaluate("window.__noReload = 1")

    # A slow download (about three seconds) so its progress is seen on the way.
    url = media_site.url("/slow/guest-clip.jpg?kb=768&rate=256")
    alice.get_by_role("textbox", name=re.compile("^Links")).fill(url)
    alice.get_by_role("button", name="Send links").click()
    row = alice.locator("li.item[data-kind=link]")
    expect(row).to_have_count(1)
    expect(row).to_have_attribute("data-status", "downloading", timeout=30_000)
    expect(row.locator(".progress")).to_be_visible()
    expect(row).to_have_attribute("data-status", "completed", timeout=60_000)
    expect(row.locator(".chip")).to_have_text("Done")
    assert alice.evaluate("window.__noReload") == 1
    # The downloaded file is in the library under the invite's post title.
    assert any((gui_stack.storage_root / "Album").rglob("*.jpg"))

    # The phone goes offline in the middle of a file: the page waits, then goes on by itself.
    photo = tmp_path / "alice.png"
    noise_png(photo, 200, 200, 7)  # ~120 KB: two chunks
    went_offline = []

    def offline_at_second_chunk(route):
        if "offset=0" not in route.request.url and not went_offline:
            went_offline.append(route.request.url)
            alice.context.set_offline(True)
            route.abort("internetdisconnected")
        else:
            route.continue_()

    alice.route(re.compile(r"/uploads/[^/?]+\?offset=\d+"), offline_at_second_chunk)
    choose_files(alice, [photo])
    photo_row = item(alice, "alice.png")
    expect(photo_row.locator(".chip")).to_have_text("Reconnecting…")
    expect(photo_row).to_contain_text("Offline")
    alice.context.set_offline(False)
    expect(photo_row.locator(".chip")).to_have_text("Uploaded", timeout=30_000)
    assert len(went_offline) == 1
    alice.unroute(re.compile(r"/uploads/[^/?]+\?offset=\d+"))
    assert sha_file(gui_stack.storage_root / "Album" / "uploads" / invite["slug"] / "alice.png") == sha_file(photo)
    expect(alice.locator("#live-status")).to_have_text("Live")

    # Bob sees none of that, and Alice none of Bob's.
    bob.get_by_role("textbox", name=re.compile("^Links")).fill(media_site.url("/img/77.png"))
    bob.get_by_role("button", name="Send links").click()
    expect(bob.locator("li.item")).to_have_count(1)
    expect(bob.locator("li.item .chip")).to_have_text("Done", timeout=60_000)
    bob.reload()
    expect(bob.locator("li.item")).to_have_count(1)
    expect(bob.locator("li.item")).not_to_contain_text("alice")
    expect(bob.locator("li.item")).not_to_contain_text("guest-clip")
    alice.reload()
    expect(alice.locator("li.item")).to_have_count(2)
    expect(alice.locator("#guest-items")).not_to_contain_text("77.png")

    # Without the invite's permission a link to this machine is refused, with its reason inline.
    strict = make_invite(stack_app, name="Strict")
    page = phone_context(new_context).new_page()
    page.goto(f"/i/{strict['token']}")
    page.get_by_role("textbox", name=re.compile("^Links")).fill(media_site.url("/img/5.png"))
    page.get_by_role("button", name="Send links").click()
    expect(page.locator("#link-problems")).to_contain_text("loopback address")
    expect(page.locator("li.item")).to_have_count(0)


def test_one_time_expired_and_disabled_links(stack_app, new_context, tmp_path):
    from webapp.models.base import utcnow

    once = make_invite(stack_app, name="Just once", max_uses=1)
    first = phone_context(new_context).new_page()
    first.goto(f"/i/{once['token']}")
    photo = tmp_path / "once.png"
    noise_png(photo, 12, 12, 9)
    # The first try cannot reach the server at all: the item stops with a Retry button.
    start = re.compile(r"/i/[^/]+/uploads$")
    first.route(start, lambda route: route.abort("internetdisconnected"))
    choose_files(first, [photo])
    row = item(first, "once.png")
    expect(row.locator(".chip")).to_have_text("Stopped")
    expect(row).to_contain_text("Could not reach the server")
    first.unroute(start)
    row.get_by_role("button", name="Retry once.png").click()
    expect(row.locator(".chip")).to_have_text("Uploaded", timeout=30_000)

    second = phone_context(new_context).new_page()
    answer = second.goto(f"/i/{once['token']}")
    assert answer.status == 410
    expect(second.get_by_role("heading", name="This link has been used")).to_be_visible()
    expect(second.get_by_role("button", name="Choose files")).to_have_count(0)
    # The guest who used it still has their page.
    first.reload()
    expect(item(first, "once.png")).to_be_visible()

    expired = make_invite(stack_app, name="Old party")
    change_invite(stack_app, expired["id"], expires_at=utcnow() - timedelta(hours=1))
    page = phone_context(new_context).new_page()
    assert page.goto(f"/i/{expired['token']}").status == 410
    expect(page.get_by_role("heading", name="This link has expired")).to_be_visible()

    disabled = make_invite(stack_app, name="Switched off")
    change_invite(stack_app, disabled["id"], enabled=False)
    assert page.goto(f"/i/{disabled['token']}").status == 410
    expect(page.get_by_role("heading", name="This link is switched off")).to_be_visible()

    assert page.goto("/i/no-such-invite-token").status == 404
    expect(page.get_by_role("heading", name="No invite here")).to_be_visible()
