"""The admin's invite links page in a real browser, against the live web server.

One walk through what an admin does with a link: create it on the page (highlighted and
scrolled to), copy it, show its QR code, read its details, edit it, switch it off and on, and
delete several at once; then the page as a phone shows it. Screenshots for the README:
docs/screenshots/invites-desktop.png and invites-phone.png.
"""
from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import Page, expect

from browser.conftest import PHONE, shot

LINK = re.compile(r"^http://127\.0\.0\.1:\d+/i/[A-Za-z0-9_-]{43}$")


def toast(page: Page, text: str):
    return page.locator("#toasts .toast", has_text=text)


def row(page: Page, name: str):
    return page.locator("tr.invite-row", has=page.locator(".invite-name", has_text=re.compile(f"^{re.escape(name)}$")))


def dialog_settled(page: Page) -> None:
    """Wait for htmx to finish settling the dialog's form: it focuses the [autofocus] field then,
    20 ms after the swap, and a field filled before that would lose the focus halfway."""
    expect(page.locator("#invite-dialog-body.htmx-settling")).to_have_count(0)


def api_invite(gui_stack, **fields) -> dict:
    response = gui_stack.session.post(gui_stack.base_url + "/api/v1/invites", json=fields, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def no_invites(gui_stack):
    """Every invite deleted before and after the test: each starts from an empty page."""
    def clear():
        listed = gui_stack.session.get(gui_stack.base_url + "/api/v1/invites?per_page=200", timeout=10).json()
        for item in listed["items"]:
            gui_stack.session.delete(f"{gui_stack.base_url}/api/v1/invites/{item['id']}", timeout=10)
    clear()
    yield
    clear()


def test_an_admin_creates_shares_edits_switches_and_deletes_invite_links(admin_page: Page, gui_stack, no_invites):
    page = admin_page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    # Older links first, so the new one has rows to stand out from (and may need scrolling to).
    for number in range(1, 13):
        api_invite(gui_stack, name=f"Older link {number:02d}", post_title=f"Event {number}")
    soon = (datetime.now(timezone.utc) + timedelta(seconds=2)).isoformat()
    api_invite(gui_stack, name="Short-lived", expires_at=soon)
    api_invite(gui_stack, name="Switched off", enabled=False)
    time.sleep(2.1)  # "Short-lived" has expired now

    page.goto("/invites")
    expect(page.get_by_role("heading", name="Invite links", level=1)).to_be_visible()
    expect(row(page, "Short-lived").locator(".invite-state")).to_have_text("Expired")
    expect(row(page, "Switched off").locator(".invite-state")).to_have_text("Disabled")
    expect(row(page, "Older link 01").locator(".invite-state")).to_have_text("Active")

    # Create one through the form.
    page.get_by_text("New invite link").click()
    page.get_by_label("Name", exact=True).fill("Summer party")
    page.get_by_label("Post title (folder)").fill("Summer party 2026")
    page.get_by_label("A number of times").check()
    page.get_by_label("Number of uses").fill("5")
    page.get_by_label("Password", exact=True).fill("lemonade")
    page.get_by_text("Limits and addresses").click()
    page.get_by_label("Largest file").fill("500 MB")
    page.get_by_role("button", name="Create link").click()
    expect(toast(page, "Created the invite link “Summer party”.")).to_be_visible()
    created = row(page, "Summer party")
    expect(created).to_have_class(re.compile(r"\bis-new\b"))
    expect(created).to_be_in_viewport()
    expect(created.locator(".chip.state-new")).to_have_text("New")
    expect(created).to_contain_text("5")
    expect(created).to_contain_text("password")
    listed = gui_stack.session.get(gui_stack.base_url + "/api/v1/invites?q=Summer", timeout=10).json()["items"]
    assert [(i["name"], i["max_uses"], i["has_password"], i["max_file_bytes"], i["post_title"]) for i in listed] == [
        ("Summer party", 5, True, 500 * 1024**2, "Summer party 2026")]
    link = listed[0]["url"]
    assert LINK.match(link), link
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "invites-desktop", full_page=False)

    # Copy the link: the clipboard holds it.
    created.get_by_role("button", name="Copy the link of Summer party").click()
    expect(toast(page, "Link copied.")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == link

    # Its QR code, in a dialog: an SVG made on the server, and the link to copy.
    created.get_by_role("link", name="QR code of Summer party").click()
    dialog = page.locator("#invite-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading", name="QR code · Summer party")).to_be_visible()
    expect(dialog.locator("figure.qr-frame svg path").first).to_be_attached()
    expect(dialog.get_by_label("The invite link")).to_have_value(link)
    assert dialog.locator("svg").get_attribute("viewBox")
    dialog.get_by_role("link", name="Close").click()
    expect(dialog).to_be_hidden()
    expect(created.get_by_role("link", name="QR code of Summer party")).to_be_focused()

    # Details.
    created.get_by_role("link", name="Details of Summer party").click()
    expect(dialog.get_by_role("heading", name="Details · Summer party")).to_be_visible()
    facts = dialog.locator("dl.facts")
    expect(facts).to_contain_text("0 of 5")
    expect(facts).to_contain_text("500.0 MB")
    expect(facts).to_contain_text("Set")  # the password, never shown
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    # Edit: a bad value is refused inside the dialog; a good one saves and closes it.
    created.get_by_role("link", name="Edit Summer party").click()
    expect(dialog.get_by_label("Name", exact=True)).to_have_value("Summer party")
    dialog_settled(page)
    expect(dialog.get_by_label("Name", exact=True)).to_be_focused()  # typing starts in the name
    expect(dialog.get_by_label("Number of uses")).to_have_value("5")
    dialog.get_by_label("Name", exact=True).fill("Summer party 2026")
    dialog.get_by_label("Largest file").fill("lots")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.locator(".field-error")).to_have_text("Write a size such as 500 MB or 2 GB")
    expect(dialog).to_be_visible()
    dialog_settled(page)
    # The focus is on the refused field, not back on the name (where the next keys would land:
    # a CI run once typed "2 GB" into the name that way).
    expect(dialog.get_by_label("Largest file")).to_be_focused()
    dialog.get_by_label("Largest file").fill("2 GB")
    dialog.get_by_label("Unlimited").check()
    dialog.get_by_role("button", name="Save").click()
    expect(toast(page, "Saved “Summer party 2026”.")).to_be_visible()
    expect(dialog).to_be_hidden()
    edited = row(page, "Summer party 2026")
    expect(edited).to_contain_text("unlimited")
    saved = gui_stack.session.get(gui_stack.base_url + "/api/v1/invites?q=Summer", timeout=10).json()["items"][0]
    assert (saved["max_uses"], saved["max_file_bytes"], saved["has_password"]) == (None, 2 * 1024**3, True)
    assert saved["url"] == link  # editing keeps the link

    # Off and on again.
    edited.get_by_role("button", name="Disable Summer party 2026").click()
    expect(toast(page, "“Summer party 2026” is off.")).to_be_visible()
    expect(edited.locator(".invite-state")).to_have_text("Disabled")
    edited.get_by_role("button", name="Enable Summer party 2026").click()
    expect(edited.locator(".invite-state")).to_have_text("Active")

    # Search narrows the list (and the URL says so).
    page.get_by_label("Search", exact=True).fill("older link 0")
    expect(page.locator("tr.invite-row")).to_have_count(9)
    assert "q=older" in page.url
    # A change to one row keeps the view it was made in.
    row(page, "Older link 01").get_by_role("button", name="Disable Older link 01").click()
    expect(row(page, "Older link 01").locator(".invite-state")).to_have_text("Disabled")
    expect(page.locator("tr.invite-row")).to_have_count(9)
    row(page, "Older link 01").get_by_role("button", name="Enable Older link 01").click()
    expect(row(page, "Older link 01").locator(".invite-state")).to_have_text("Active")
    expect(page.locator("tr.invite-row")).to_have_count(9)
    page.get_by_label("Search", exact=True).fill("")
    expect(page.locator("tr.invite-row")).to_have_count(15)

    # Sort by name from the heading; the order controls follow.
    page.get_by_role("link", name="Invite", exact=True).click()
    expect(page.locator("tr.invite-row .invite-name").first).to_have_text("Older link 01")
    expect(page.get_by_label("Sort by")).to_have_value("name")
    # By expiry from the control: soonest first (its usual way), never-expiring last; a short URL.
    page.get_by_label("Sort by").select_option("expires")
    expect(page.get_by_label("Order")).to_have_value("asc")
    expect(page.locator("tr.invite-row .invite-name").first).to_have_text("Short-lived")
    page.wait_for_url(re.compile(r"/invites\?sort=expires$"))

    # Several at once: tick two, the bulk bar counts them, delete after the confirmation.
    bulk_delete = page.locator("#invite-bulk").get_by_role("button", name="Delete")
    expect(bulk_delete).to_be_disabled()
    row(page, "Short-lived").get_by_label("Select Short-lived").check()
    row(page, "Switched off").get_by_label("Select Switched off").check()
    expect(page.locator("#invite-selected-count")).to_have_text("2 of 15 selected")
    messages = []
    page.once("dialog", lambda confirm: (messages.append(confirm.message), confirm.accept()))
    bulk_delete.click()
    expect(toast(page, "Deleted 2 invite links.")).to_be_visible()
    assert messages and messages[0].startswith("Delete 2 invite links?")
    expect(page.locator("tr.invite-row")).to_have_count(13)
    expect(row(page, "Short-lived")).to_have_count(0)
    expect(row(page, "Switched off")).to_have_count(0)

    # Select all, switch them all off.
    page.get_by_label("Select all").check()
    page.locator("#invite-bulk").get_by_role("button", name="Disable").click()
    expect(toast(page, "Switched 13 invite links off.")).to_be_visible()
    expect(page.locator(".invite-state.state-active")).to_have_count(0)

    # One delete from its row, after the confirmation.
    page.once("dialog", lambda confirm: confirm.accept())
    row(page, "Summer party 2026").get_by_role("button", name="Delete Summer party 2026").click()
    expect(toast(page, "Deleted “Summer party 2026”.")).to_be_visible()
    expect(page.locator("tr.invite-row")).to_have_count(12)


def test_the_invites_page_on_a_phone(new_context, _admin_session, gui_stack, no_invites):
    """Rows become cards, nothing runs off the side, and the dialog fits the screen."""
    api_invite(gui_stack, name="Family photos", post_title="Grandma's 90th", max_uses=1)
    api_invite(gui_stack, name="Band rehearsal videos", max_uses=20, password="drums-drums")
    api_invite(gui_stack, name="Old trip", enabled=False)
    context = new_context(viewport=PHONE, storage_state=_admin_session["storage"], is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto("/invites")
    first = row(page, "Family photos")
    expect(first).to_be_visible()
    expect(page.locator("table.invite-table thead")).to_be_hidden()
    assert first.evaluate("el => getComputedStyle(el).display") == "grid"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE[0]
    # The label of each fact comes from data-label on a card.
    expect(first.locator("td[data-label=Uses]")).to_contain_text("one-time")
    # The cards in the shot, below the sticky top bar.
    page.evaluate("window.scrollTo(0, document.getElementById('invite-list').offsetTop - 110)")
    shot(page, "invites-phone", full_page=False)

    first.get_by_role("link", name="QR code of Family photos").click()
    dialog = page.locator("#invite-dialog")
    expect(dialog.locator("svg")).to_be_visible()
    box = dialog.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE[0]
