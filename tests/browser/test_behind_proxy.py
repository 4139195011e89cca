"""Haul behind nginx over HTTPS, in a real browser: the way most people run it.

nginx is configured by docs/deploy/nginx.conf (tests/support/reverse_proxy.py) and terminates TLS with
a self-signed certificate (the browser context accepts it); Haul runs with
HAUL_TRUSTED_PROXIES=1. Over HTTPS, Flask-WTF also checks that every form and htmx request
comes with a Referer of this site, so these tests catch a page whose referrer policy would
withhold it, and links built with the proxy's address instead of the visitor's.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from support.reverse_proxy import NginxProxy
from support.stack import HaulStack

from browser.conftest import ADMIN_PASSWORD, ADMIN_USERNAME, API_TOKEN, PHONE, login, open_context
from browser.test_bookmarklet import bookmarklet_code
from browser.test_guest import choose_files, item, noise_png, sha_file
from browser.test_queue import add_links, assert_not_reloaded, find_job_ids, mark_window, wait_live

CHUNK = 65536


@pytest.fixture(scope="module")
def gui_stack(media_site, tmp_path_factory):
    """This module's live stack (overrides the shared one): it trusts one proxy; small upload chunks."""
    env = {"HAUL_ADMIN_USERNAME": ADMIN_USERNAME, "HAUL_ADMIN_PASSWORD": ADMIN_PASSWORD,
           "HAUL_TRUSTED_PROXIES": "1", "HAUL_UPLOAD_CHUNK_BYTES": str(CHUNK)}
    with HaulStack(tmp_path_factory.mktemp("proxied"), api_token=API_TOKEN, extra_env=env) as running:
        yield running


@pytest.fixture(scope="module")
def proxy(gui_stack, tmp_path_factory):
    with NginxProxy(tmp_path_factory.mktemp("nginx"), gui_stack.port) as running:
        yield running


@pytest.fixture
def https_context(browser, proxy):
    """Factory of browser contexts on the proxy's https:// address; closed after the test."""
    contexts = []

    def factory(**options):
        context = open_context(browser, proxy.base_url, ignore_https_errors=True, **options)
        contexts.append(context)
        return context

    yield factory
    for context in contexts:
        context.close()


def api(gui_stack, proxy, method: str, path: str, **kwargs):
    """A request through the proxy with the stack's static admin token."""
    kwargs.setdefault("timeout", 10)
    return gui_stack.session.request(method, proxy.base_url + path, verify=str(proxy.certificate), **kwargs)


def test_sign_in_and_a_link_finishing_live_over_https(https_context, gui_stack, media_site, proxy):
    page = https_context().new_page()
    login(page, ADMIN_USERNAME, ADMIN_PASSWORD)
    assert page.url.startswith(proxy.base_url)
    session = next(c for c in page.context.cookies() if c["name"] == "session")
    assert session["secure"] is True, "over HTTPS the session cookie is marked Secure"

    wait_live(page)  # the queue's event stream, through nginx
    mark_window(page)
    url = media_site.url("/slow/proxied.jpg?kb=512&rate=256")  # two seconds of progress
    add_links(page, url)  # a form post: Flask-WTF's HTTPS referrer check passes
    expect(page.locator("#add-links .notice.success")).to_contain_text("Queued 1 link")
    job_id = find_job_ids(gui_stack, [url])[url]
    # The row moves to the finished list as the stream says, without a reload.
    expect(page.locator(f"#finished-jobs #job-{job_id} .chip")).to_have_text("completed", timeout=30_000)
    assert_not_reloaded(page)


def test_links_handed_out_carry_the_public_https_address(https_context, gui_stack, proxy):
    made = api(gui_stack, proxy, "POST", "/api/v1/invites", json={"name": "Over HTTPS"})
    assert made.status_code == 201, made.text
    assert made.json()["url"].startswith(f"{proxy.base_url}/i/")

    page = https_context().new_page()
    login(page, ADMIN_USERNAME, ADMIN_PASSWORD)
    page.goto("/invites")
    expect(page.locator(f"#invite-{made.json()['id']}-copy")).to_have_attribute(
        "data-copy-link", made.json()["url"])
    # The bookmarklet opens its popup on the address the browser used, not Haul's own.
    assert f'"{proxy.base_url}/send"' in bookmarklet_code(page)


def test_a_guest_uploads_and_sends_a_link_over_https(https_context, gui_stack, media_site, proxy, tmp_path):
    made = api(gui_stack, proxy, "POST", "/api/v1/invites",
               json={"name": "Guests over HTTPS", "post_title": "Proxied album", "allow_private_urls": True})
    assert made.status_code == 201, made.text
    invite = made.json()
    guest = https_context(viewport=PHONE, is_mobile=True,
                          has_touch=True).new_page()
    guest.goto(invite["url"])
    expect(guest.locator("#live-status")).to_have_text("Live")

    photo = tmp_path / "over-https.png"
    noise_png(photo, 200, 200, 11)  # ~120 KB: two chunks of 64 KiB
    choose_files(guest, [photo])
    expect(item(guest, "over-https.png").locator(".chip")).to_have_text("Uploaded", timeout=30_000)
    stored = list((gui_stack.storage_root / "Proxied album" / "uploads").rglob("over-https.png"))
    assert len(stored) == 1 and sha_file(stored[0]) == sha_file(photo)

    guest.get_by_role("textbox", name=re.compile("^Links")).fill(media_site.url("/img/41.png"))
    guest.get_by_role("button", name="Send links").click()
    expect(guest.locator("li.item[data-kind=link] .chip")).to_have_text("Done", timeout=60_000)
