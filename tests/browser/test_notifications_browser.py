"""Settings → Notifications in a real browser against a live stack, on a phone: an admin adds an
Apprise json:// target pointed at a local receiver and sends a test (the result shown beside it,
the receiver has it), adds a webhook to a closed port (its secret shown once; the test's failure
shown in red with its time), and removes it after confirming.
Screenshot: docs/screenshots/settings-notifications-phone.png.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from test_notifications import Receiver, closed_port

from browser.conftest import PHONE, shot


@pytest.fixture
def phone_page(new_context, _admin_session) -> Page:
    context = new_context(viewport=PHONE, storage_state=_admin_session["storage"], is_mobile=True, has_touch=True)
    return context.new_page()


def no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE[0], f"the page is {width}px wide on a {PHONE[0]}px phone"


def add_target(page: Page, name: str, kind: str, url: str) -> None:
    page.get_by_role("link", name="Add a target").click()
    page.wait_for_url("**/settings/notifications/new")
    form = page.locator("#notification-form")
    form.get_by_label("Name").fill(name)
    form.get_by_label("Kind").select_option(kind)
    form.get_by_label("URL", exact=True).fill(url)
    form.get_by_label("Job failed (after its last retry)").check()
    no_sideways_scroll(page)
    form.get_by_role("button", name="Add the target").click()


def test_add_targets_send_tests_and_remove_one(phone_page):
    page = phone_page
    with Receiver() as receiver:
        page.goto("/settings")
        page.locator(".settings-tabs").get_by_role("link", name="Notifications").click()
        page.wait_for_url("**/settings/notifications")
        expect(page.locator("#notifications")).to_be_visible()
        no_sideways_scroll(page)

        add_target(page, "Phone (Apprise)", "apprise", f"json://127.0.0.1:{receiver.port}/")
        page.wait_for_url("**/settings/notifications")
        row = page.locator("tr", has_text="Phone (Apprise)")
        expect(row).to_contain_text("Nothing sent yet")
        row.get_by_role("button", name="Send a test to Phone (Apprise)").click()
        row = page.locator("tr", has_text="Phone (Apprise)")
        expect(row.locator(".notification-result")).to_have_text("Test message sent.")
        expect(row).to_contain_text("Last sent")
        assert receiver.wait_for(lambda r: True, timeout=10)["json"]["title"] == "Haul: test notification"

        add_target(page, "Broken hook", "webhook", f"http://127.0.0.1:{closed_port()}/hook")
        secret = page.locator("#notification-secret")
        expect(secret).to_be_visible()
        shown_once = secret.inner_text()
        assert len(shown_once) >= 32
        page.get_by_role("link", name="Done").click()
        page.wait_for_url("**/settings/notifications")
        expect(page.locator("tr", has_text="Broken hook")).to_be_visible()
        expect(page.locator("#notifications")).not_to_contain_text(shown_once)
        broken = page.locator("tr", has_text="Broken hook")
        broken.get_by_role("button", name="Send a test to Broken hook").click()
        broken = page.locator("tr", has_text="Broken hook")
        expect(broken.locator(".notification-result")).to_contain_text("Not delivered: Connection refused")
        error = broken.locator(".notification-error")
        expect(error).to_contain_text("Connection refused")
        expect(error).to_contain_text("UTC")
        assert error.evaluate("e => getComputedStyle(e).color") != page.locator("main h1").evaluate(
            "e => getComputedStyle(e).color")  # in red, not the text colour
        no_sideways_scroll(page)
        shot(page, "settings-notifications-phone", full_page=True)

        page.once("dialog", lambda dialog: dialog.accept())
        broken.get_by_role("button", name="Remove Broken hook").click()
        expect(page.locator("tr", has_text="Broken hook")).to_have_count(0)
        expect(page.locator("tr", has_text="Phone (Apprise)")).to_be_visible()
        # Clean for the next run of this module's stack.
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Remove Phone (Apprise)").click()
        expect(page.locator("#notifications-empty")).to_be_visible()
