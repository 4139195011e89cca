"""Settings, users, account and API tokens in a real browser, against the live web server and worker.

The module's stack is shared: a test that changes a setting puts it back (the `defaults`
fixture), so the others see the environment's defaults.
"""
from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
import requests
from playwright.sync_api import Page, expect

from browser.conftest import ADMIN_USERNAME, create_user, login, shot

PHONE_NARROW = (360, 740)


def path_of(page: Page) -> str:
    return urlsplit(page.url).path


def csrf(page: Page) -> str:
    return page.locator("meta[name=csrf-token]").get_attribute("content")


def toast(page: Page, text: str):
    """The toast saying `text` (toasts stay five seconds or more)."""
    return page.locator("#toasts .toast", has_text=text)


@pytest.fixture
def defaults(admin_page):
    """Put every setting back to the environment's default after the test, even when it fails."""
    yield
    for section in ("downloads", "tools", "access"):
        admin_page.request.post(f"/settings/{section}/reset", headers={"X-CSRFToken": csrf(admin_page)})


def test_a_saved_tool_argument_applies_to_the_next_job_without_a_restart(admin_page: Page, gui_stack, media_site,
                                                                          defaults):
    """5 images before; `--range 1-2` saved in the GUI; the next gallery of 5 gives 2. Same worker process."""
    worker_pid = gui_stack.worker.pid
    before = gui_stack.submit([media_site.url("/gallery/gui-range-before?count=5")])["jobs"][0]["id"]
    assert len(gui_stack.wait_for_job(before, timeout=60)["files"]) == 5

    page = admin_page
    page.goto("/settings")
    args = page.get_by_label("Extra gallery-dl arguments")
    args.fill("--range 1-2")
    page.get_by_role("button", name="Check and save").click()
    expect(toast(page, "Saved; the next job uses it.")).to_be_visible()
    expect(page.locator("#tools .chip.changed")).to_have_text("Changed")

    after = gui_stack.submit([media_site.url("/gallery/gui-range-after?count=5")])["jobs"][0]["id"]
    job = gui_stack.wait_for_job(after, timeout=60)
    assert job["status"] == "completed", job
    assert len(job["files"]) == 2
    assert gui_stack.worker.pid == worker_pid and gui_stack.worker.poll() is None  # no restart

    # A bad switch is refused with gallery-dl's own message, next to the field; nothing changes.
    page.reload()
    args = page.get_by_label("Extra gallery-dl arguments")
    expect(args).to_have_value("--range 1-2")
    args.fill("--range 1-2 --no-such-switch")
    page.get_by_role("button", name="Check and save").click()
    error = page.locator("#tools .field-error")
    expect(error).to_have_text("gallery-dl: unrecognized arguments: --no-such-switch")
    expect(page.get_by_label("Extra gallery-dl arguments")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Extra gallery-dl arguments")).to_have_value("--range 1-2 --no-such-switch")
    page.reload()
    expect(page.get_by_label("Extra gallery-dl arguments")).to_have_value("--range 1-2")
    page.evaluate("window.scrollTo(0, 0)")  # the sticky top bar belongs at the top of a full-page shot
    shot(page, "settings", full_page=True)


def test_download_settings_are_saved_from_the_keyboard(admin_page: Page, defaults):
    """Labels, Tab order and Enter: concurrency and the default preset saved without the mouse."""
    page = admin_page
    page.goto("/settings")
    page.get_by_label("Downloads at once").focus()
    page.keyboard.press("Control+A")
    page.keyboard.type("2")
    page.keyboard.press("Tab")  # to the timeout
    page.keyboard.press("Tab")  # to the default engine
    page.keyboard.press("Tab")  # to the default preset
    focused = page.evaluate("document.activeElement.id")
    assert focused == page.get_by_label("Default preset").get_attribute("id")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", "")
    page.get_by_label("Default preset").select_option("720p")
    page.get_by_label("Downloads at once").press("Enter")
    expect(toast(page, "Saved; the next job uses it.")).to_be_visible()
    page.reload()
    expect(page.get_by_label("Downloads at once")).to_have_value("2")
    expect(page.get_by_label("Default preset")).to_have_value("720p")

    # Out of range: refused inline.
    page.get_by_label("Downloads at once").fill("50")
    page.locator("#downloads").get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#downloads .field-error")).to_have_text("Download concurrency must be between 1 and 16")

    page.get_by_role("button", name="Restore defaults").first.click()
    expect(toast(page, "Back to the defaults from the environment.")).to_be_visible()
    expect(page.get_by_label("Downloads at once")).to_have_value("3")
    expect(page.get_by_label("Default preset")).to_have_value("best")


def test_the_access_section_lets_users_reach_private_addresses_and_caps_streams(admin_page: Page, gui_stack,
                                                                               defaults):
    page = admin_page
    page.goto("/settings#access")
    section = page.locator("#access")
    allow = section.get_by_label("Users may download from private addresses")
    expect(allow).not_to_be_checked()
    allow.check()
    section.get_by_label("Live connections per user, token or guest").fill("5")
    section.get_by_role("button", name="Save", exact=True).click()
    expect(toast(page, "Saved; the next job uses it.")).to_be_visible()
    expect(section.locator(".chip.changed")).to_have_text("Changed")
    settings = gui_stack.session.get(gui_stack.base_url + "/api/v1/settings", timeout=10).json()["settings"]
    assert settings["users_private_addresses"]["value"] is True and settings["max_streams"]["value"] == 5

    # Out of range: refused next to the field, nothing saved.
    page.locator("#access").get_by_label("Live connections per user, token or guest").fill("0")
    page.locator("#access").get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#access .field-error")).to_have_text("Live connections per user must be between 1 and 10000")
    page.reload()
    expect(page.locator("#access").get_by_label("Live connections per user, token or guest")).to_have_value("5")

    page.locator("#access").get_by_role("button", name="Restore defaults").click()
    expect(toast(page, "Back to the defaults from the environment.")).to_be_visible()
    expect(page.locator("#access").get_by_label("Users may download from private addresses")).not_to_be_checked()
    expect(page.locator("#access").get_by_label("Live connections per user, token or guest")).to_have_value("20")


def test_cookie_files_upload_list_share_and_delete(admin_page: Page, gui_stack, tmp_path):
    create_user(gui_stack, "cookie-user", "cookie-user-password")
    page = admin_page
    good = tmp_path / "cookies.txt"
    good.write_text("# Netscape HTTP Cookie File\n.example.com\tTRUE\t/\tFALSE\t0\tsid\tabc\n")
    bad = tmp_path / "notes.txt"
    bad.write_text("this is not a cookie file\n")

    page.goto("/settings#cookies")
    expect(page.locator("#cookies")).to_contain_text("No cookie files yet.")
    page.get_by_label("cookies.txt file").set_input_files(str(bad))
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#cookies .field-error")).to_contain_text("Line 1 is not a Netscape cookie line")

    page.get_by_label("Site", exact=True).fill("https://www.example.com/")
    page.get_by_label("cookies.txt file").set_input_files(str(good))
    page.get_by_role("button", name="Upload").click()
    expect(toast(page, "Cookies for example.com saved (1 cookies)")).to_be_visible()
    listed = page.locator("#cookies table tbody tr")
    expect(listed).to_have_count(1)
    expect(listed.first).to_contain_text("example.com")

    expect(listed.first).to_contain_text("Admins only")  # a new file is for admins' jobs only

    # Share it with one chosen user: "chosen" without anyone is refused inline first.
    page.locator("#cookies-1-access-summary").click()
    page.get_by_label("Admins and these users:").check()
    page.locator("#cookies").get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#cookies .field-error")).to_have_text("Choose at least one user, or choose admins only")
    page.get_by_label("cookie-user").check()
    page.locator("#cookies").get_by_role("button", name="Save", exact=True).click()
    expect(toast(page, "Cookies for example.com are now used by: Admins, cookie-user.")).to_be_visible()
    expect(page.locator("#cookies-1-access-summary")).to_have_text("Admins, cookie-user")

    page.reload()
    expect(page.locator("#cookies table tbody tr")).to_have_count(1)
    expect(page.locator("#cookies-1-access-summary")).to_have_text("Admins, cookie-user")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete the cookies for example.com").click()
    expect(toast(page, "Cookies for example.com deleted.")).to_be_visible()
    expect(page.locator("#cookies")).to_contain_text("No cookie files yet.")


def test_admin_creates_a_user_changes_the_role_and_resets_the_password(admin_page: Page, gui_stack, new_context):
    page = admin_page
    page.goto("/settings/users")
    page.get_by_label("Username").fill("carol")
    page.get_by_label("Password", exact=True).fill("carol-first-pass")
    page.get_by_role("button", name="Add user").click()
    expect(toast(page, "Created user carol.")).to_be_visible()
    expect(page.locator("table.user-list")).to_contain_text("carol")

    page.get_by_label("Role of carol", exact=True).select_option("admin")
    page.get_by_role("button", name="Save the role of carol").click()
    expect(toast(page, "carol is now an admin.")).to_be_visible()
    expect(page.get_by_label("Role of carol", exact=True)).to_have_value("admin")

    page.get_by_label("New password for carol", exact=True).fill("carol-second-pass")
    page.get_by_role("button", name="Set the new password for carol").click()
    expect(toast(page, "New password set for carol; they are signed out everywhere.")).to_be_visible()

    # Your own role cannot be changed here (another admin can): its control is disabled.
    expect(page.get_by_label(f"Role of {ADMIN_USERNAME}", exact=True)).to_be_disabled()

    carol = new_context().new_page()
    login(carol, "carol", "carol-second-pass")
    carol.goto("/settings")
    expect(carol.get_by_role("navigation", name="Settings sections").get_by_role("link", name="Users")).to_be_visible()

    # Back to a plain user: whatever the admin role let her do ends with her sign-in. The queue
    # page she has open goes to the sign-in page by itself (its live stream is told so).
    carol.goto("/")
    expect(carol.locator("#live-status")).to_have_text("Live")
    page.get_by_label("Role of carol", exact=True).select_option("user")
    page.get_by_role("button", name="Save the role of carol").click()
    expect(toast(page, "carol is now a user.")).to_be_visible()
    carol.wait_for_url(lambda url: urlsplit(url).path == "/login")
    login(carol, "carol", "carol-second-pass")
    carol.goto("/settings/users")
    expect(carol.get_by_role("heading", name="Not allowed")).to_be_visible()

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete carol").click()
    expect(toast(page, "Deleted carol.")).to_be_visible()
    expect(page.locator("table.user-list")).not_to_contain_text("carol")


def test_a_user_changes_their_own_password(new_context, gui_stack):
    create_user(gui_stack, "dave", "dave-first-pass")
    page = new_context().new_page()
    login(page, "dave", "dave-first-pass")
    elsewhere = new_context().new_page()  # dave signed in on another device too
    login(elsewhere, "dave", "dave-first-pass")

    # Settings is not a dead end for a non-admin: it opens their account.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    page.wait_for_url(lambda url: urlsplit(url).path == "/account")
    tabs = page.get_by_role("navigation", name="Settings sections")
    expect(tabs.get_by_role("link")).to_have_text(["Account", "API tokens", "Notifications"])

    page.get_by_label("Current password").fill("not-my-password")
    page.get_by_label("New password", exact=True).fill("dave-second-pass")
    page.get_by_label("Repeat the new password").fill("dave-second-pass")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#password .field-error")).to_have_text("The current password is not right")

    page.get_by_label("Current password").fill("dave-first-pass")
    page.get_by_label("New password", exact=True).fill("dave-second-pass")
    page.get_by_label("Repeat the new password").fill("dave-second-pass")
    page.get_by_role("button", name="Change password").click()
    expect(toast(page, "Your password is changed. Every other browser and app is signed out.")).to_be_visible()
    expect(page.get_by_label("Current password")).to_have_value("")
    expect(page.get_by_label("Keep my API tokens working")).not_to_be_checked()
    # The other device is signed out: the queue page it has open hears so on its live stream and
    # goes to the sign-in page by itself, and its next page asks for a sign-in too. This one goes on.
    elsewhere.wait_for_url(lambda url: urlsplit(url).path == "/login")
    elsewhere.goto("/account")
    elsewhere.wait_for_url(lambda url: urlsplit(url).path == "/login")
    page.reload()
    expect(page.get_by_label("Current password")).to_be_visible()

    page.locator("details.account-menu summary").click()
    page.get_by_role("menuitem", name="Sign out").click()
    page.wait_for_url(lambda url: urlsplit(url).path == "/login")
    login(page, "dave", "dave-second-pass")
    assert path_of(page) == "/"


def test_a_token_is_shown_once_used_and_revoked(admin_page: Page, gui_stack, media_site):
    page = admin_page
    page.goto("/account/tokens")
    page.get_by_label("Token name").fill("phone")
    page.get_by_role("button", name="Create token").click()
    expect(toast(page, "Token “phone” created.")).to_be_visible()
    shown = page.get_by_label("The new token")
    expect(shown).to_have_value(re.compile(r"^haul_\S{40,}$"))
    expect(shown).to_be_focused()
    token = shown.input_value()
    shot(page, "tokens")

    response = requests.post(f"{gui_stack.base_url}/downloads", headers={"Authorization": f"Bearer {token}"},
                             json={"urls": [media_site.url("/img/77.png")]}, timeout=10)
    assert response.status_code == 202, response.text

    page.reload()  # shown once: never again
    expect(page.get_by_label("The new token")).to_have_count(0)
    assert token not in page.content()
    row = page.locator("table.token-list tbody tr", has_text="phone")
    expect(row).to_contain_text(token[:12])
    expect(row.locator("td[data-label='Last used']")).not_to_have_text("Never")
    expect(row).to_contain_text("Active")

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Revoke phone").click()
    expect(toast(page, "Token “phone” revoked")).to_be_visible()
    expect(page.locator("table.token-list tbody tr", has_text="phone")).to_contain_text("Revoked")
    refused = requests.post(f"{gui_stack.base_url}/downloads", headers={"Authorization": f"Bearer {token}"},
                            json={"urls": [media_site.url("/img/78.png")]}, timeout=10)
    assert refused.status_code == 401


@pytest.mark.parametrize("path", ["/settings", "/settings/presets", "/settings/users", "/settings/library",
                                  "/settings/backups", "/account", "/account/tokens"])
def test_the_pages_fit_a_360px_phone(new_context, admin_page, path):
    """No sideways scrolling at 360 px, and every form control is inside the screen."""
    context = new_context(viewport=PHONE_NARROW, storage_state=admin_page.context.storage_state())
    page = context.new_page()
    page.goto(path)
    expect(page.locator("main h1")).to_be_visible()
    assert page.evaluate("document.scrollingElement.scrollWidth") <= PHONE_NARROW[0]
    tabs = page.get_by_role("navigation", name="Settings sections").get_by_role("link").all()
    assert [tab.inner_text() for tab in tabs] == ["Downloads & storage", "Presets", "Users", "Library", "Backups",
                                                  "Account", "API tokens", "Notifications"]
    for tab in tabs:  # every section reachable without sideways scrolling
        box = tab.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE_NARROW[0]
    overflowing = page.evaluate(
        """() => [...document.querySelectorAll('main input:not([type=hidden]):not([hidden]), main select, main textarea, main button')]
                 .filter(el => el.offsetParent !== null)
                 .filter(el => { const r = el.getBoundingClientRect(); return r.left < 0 || r.right > window.innerWidth + 0.5; })
                 .map(el => el.id || el.name || el.textContent.trim())"""
    )
    assert overflowing == []
