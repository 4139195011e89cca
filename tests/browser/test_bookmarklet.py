"""The bookmarklet in a real browser: taken from the account page, run on a page of the local
media site (another origin), its popup on Haul's origin sends with the session's CSRF token,
the real worker downloads the page, and the popup closes itself.

The bookmarklet's code is the `javascript:` href of the account page's link, evaluated in the
media-site page as the browser would run it from the bookmarks bar.
"""
from __future__ import annotations

from urllib.parse import unquote, urlencode, urlsplit

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

from browser.conftest import ADMIN_PASSWORD, ADMIN_USERNAME, shot

POPUP = {"width": 420, "height": 360}


def bookmarklet_code(page: Page) -> str:
    """The bookmarklet as the account page offers it, decoded from its javascript: URL."""
    page.goto("/account")
    link = page.locator("#bookmarklet")
    expect(link).to_be_visible()
    href = link.get_attribute("href")
    assert href.startswith("javascript:"), href
    return unquote(href[len("javascript:"):])


@pytest.fixture
def code(admin_page) -> str:
    return bookmarklet_code(admin_page)


def run_bookmarklet(page: Page, code: str) -> Page:
    """Click the bookmarklet on `page`: its popup, once loaded."""
    with page.expect_popup() as opened:
        page.evaluate(code)
    popup = opened.value
    popup.wait_for_load_state()
    return popup


def wait_closed(popup: Page) -> None:
    """Until the popup has closed itself. (Playwright dispatches events only inside its calls,
    so a close cannot slip between the check and the wait.)"""
    if not popup.is_closed():
        popup.wait_for_event("close")
    assert popup.is_closed()


def close_by_button(popup: Page) -> None:
    """Click the popup's Close button and wait until the window has closed itself.

    The button's handler closes the window, and that can happen before Chromium answers
    Playwright's click; the click then fails with "Target page … has been closed". Only
    that error is forgiven, and the wait after it still fails if the window stays open."""
    button = popup.get_by_role("button", name="Close")
    try:
        button.click()
    except PlaywrightError as error:
        if "has been closed" not in str(error):
            raise
    wait_closed(popup)


def queued_job(stack, url: str) -> dict:
    response = stack.session.get(f"{stack.base_url}/api/v1/queue", params={"source": "bookmarklet",
                                                                         "status": "queued,downloading,completed,failed"},
                                 timeout=10)
    assert response.status_code == 200, response.text
    matches = [job for job in response.json()["items"] if job["url"] == url]
    assert len(matches) == 1, response.json()
    return matches[0]


def test_the_account_page_offers_the_bookmarklet(admin_page, code, gui_stack):
    section = admin_page.locator("#send")
    expect(section.get_by_role("heading", name="Send from your browser")).to_be_visible()
    assert f"'{gui_stack.base_url}/send'" in code.replace('"', "'")
    assert "window.open(" in code and "'haul'" in code and "width=420,height=360" in code
    expect(section.get_by_role("link", name="Install the userscript")).to_have_attribute("href", "/static/haul.user.js")
    admin_page.set_viewport_size({"width": 1000, "height": 640})
    section.scroll_into_view_if_needed()
    shot(admin_page, "settings-send")
    # Clicking it on Haul's own page sends nothing: it explains to drag it instead.
    admin_page.locator("#bookmarklet").click()
    expect(admin_page.locator("#bookmarklet-hint")).to_be_visible()
    assert urlsplit(admin_page.url).path == "/account" and len(admin_page.context.pages) == 1


def test_the_bookmarklet_queues_the_page_and_the_popup_closes_itself(admin_page, code, gui_stack, media_site):
    page = admin_page.context.new_page()
    target = media_site.url("/gallery/bookmarked?count=2")
    page.goto(target)
    expect(page).to_have_title("Gallery bookmarked")

    popup = run_bookmarklet(page, code)
    assert urlsplit(popup.url).netloc == urlsplit(gui_stack.base_url).netloc
    # One click is enough: the popup sends by itself and says so.
    expect(popup.locator("#send-result")).to_have_attribute("data-state", "queued")
    expect(popup.get_by_role("heading", name="Queued")).to_be_visible()
    wait_closed(popup)

    job = queued_job(gui_stack, target)
    assert job["source"] == "bookmarklet"
    assert job["submitted_by"]["user"] == ADMIN_USERNAME and job["submitted_by"]["via"] == "session"
    done = gui_stack.wait_for_job(job["id"], timeout=60)
    assert done["status"] == "completed", done
    assert len(done["files"]) == 2

    # It is on Haul's pages too.
    admin_page.goto(f"/history/{job['id']}")
    expect(admin_page.locator("main")).to_contain_text("bookmarked")


def test_the_popup_screenshot_and_its_close_request(new_context, admin_page, media_site):
    """The popup at its real size, kept open long enough for the screenshot: here window.close
    only records that the popup asked to close."""
    code = bookmarklet_code(admin_page)
    context = new_context(storage_state=admin_page.context.storage_state())
    context.add_init_script("window.close = function () { window.__haulCloseAsked = true; };")
    page = context.new_page()
    page.goto(media_site.url("/gallery/screenshot?count=1"))
    popup = run_bookmarklet(page, code)
    popup.set_viewport_size(POPUP)
    expect(popup.get_by_role("heading", name="Queued")).to_be_visible()
    expect(popup.locator(".send-page-title")).to_have_text("Gallery screenshot")
    shot(popup, "bookmarklet-popup")
    popup.wait_for_function("window.__haulCloseAsked === true")


def test_the_same_page_twice_says_already_in_haul(admin_page, code, media_site, gui_stack):
    page = admin_page.context.new_page()
    target = media_site.url("/gallery/twice?count=1")
    page.goto(target)
    first = run_bookmarklet(page, code)
    expect(first.get_by_role("heading", name="Queued")).to_be_visible()
    wait_closed(first)
    job = queued_job(gui_stack, target)

    again = run_bookmarklet(page, code)
    expect(again.get_by_role("heading", name="Already in Haul")).to_be_visible()
    link = again.locator("#job-link")
    expect(link).to_have_attribute("href", f"/history/{job['id']}")
    again.set_viewport_size(POPUP)
    shot(again, "bookmarklet-duplicate")
    # It stays open until closed by hand.
    expect(again.locator("#closing")).to_have_count(0)
    close_by_button(again)
    assert queued_job(gui_stack, target)["id"] == job["id"]


def test_a_page_that_is_not_http_shows_the_error(admin_page, code):
    page = admin_page.context.new_page()
    page.goto("about:blank")
    popup = run_bookmarklet(page, code)
    # Not opened from an http(s) page: it waits for the button, which has the focus.
    send = popup.get_by_role("button", name="Send to Haul")
    expect(send).to_be_focused()
    expect(popup.locator("#send-url")).to_have_text("about:blank")
    popup.keyboard.press("Enter")
    expect(popup.get_by_role("heading", name="Not sent")).to_be_visible()
    expect(popup.locator("#send-error")).to_contain_text("only http and https URLs are accepted")
    popup.set_viewport_size(POPUP)
    shot(popup, "bookmarklet-error")
    close_by_button(popup)


def test_a_post_title_typed_in_the_popup_is_used(admin_page, media_site, gui_stack):
    """Opened from elsewhere than the page it sends (here: typed), the popup waits for the
    button, so there is time for a post title."""
    target = media_site.url("/gallery/titled?count=1")
    popup = admin_page.context.new_page()
    popup.set_viewport_size(POPUP)
    popup.goto("/send?" + urlencode({"url": target, "title": "Gallery titled"}))
    expect(popup.locator("#send-form")).to_have_attribute("data-auto", "no")
    popup.get_by_label("Post title").fill("Cat pictures")
    popup.get_by_role("button", name="Send to Haul").click()
    expect(popup.get_by_role("heading", name="Queued")).to_be_visible()
    expect(popup.locator("#send-result")).to_contain_text("Cat pictures")
    job = queued_job(gui_stack, target)
    download = gui_stack.session.get(f"{gui_stack.base_url}/downloads/{job['download_id']}", timeout=10).json()
    assert download["post_title"] == "Cat pictures"


def test_signed_out_the_popup_signs_in_and_then_sends(new_context, code, media_site, gui_stack):
    context = new_context()
    page = context.new_page()
    target = media_site.url("/gallery/signin?count=1")
    page.goto(target)
    popup = run_bookmarklet(page, code)
    expect(popup.get_by_role("heading", name="Sign in to Haul")).to_be_visible()
    expect(popup.locator("main")).to_contain_text("Sign in to send this page to Haul.")
    popup.get_by_label("Username").fill(ADMIN_USERNAME)
    popup.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
    popup.get_by_role("button", name="Sign in").click()
    expect(popup.get_by_role("heading", name="Queued")).to_be_visible()
    wait_closed(popup)
    assert queued_job(gui_stack, target)["url"] == target
