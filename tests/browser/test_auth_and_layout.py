"""Signing in, first-run setup and the shared layout, in a real browser.

The first-run test starts its own stack with no admin; the others share the module's
`gui_stack`, where the admin exists.
"""
from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect
from support.stack import HaulStack

from browser.conftest import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    API_TOKEN,
    PHONE,
    create_user,
    login,
    open_context,
    shot,
)

LIGHT_BG = "rgb(245, 246, 248)"  # --bg in haul.css
DARK_BG = "rgb(15, 18, 22)"


def path_of(page: Page) -> str:
    return urlsplit(page.url).path


def background(page: Page) -> str:
    return page.evaluate("getComputedStyle(document.body).backgroundColor")


def scroll_width(page: Page) -> int:
    return page.evaluate("document.scrollingElement.scrollWidth")


def focus_ring(page: Page) -> dict:
    """What the focused element looks like: its text, id and outline."""
    return page.evaluate(
        """() => { const el = document.activeElement, style = getComputedStyle(el), box = el.getBoundingClientRect();
                   return {tag: el.tagName, text: (el.textContent || '').trim(), id: el.id,
                           outline: style.outlineStyle, width: parseFloat(style.outlineWidth),
                           left: box.left, top: box.top, right: box.right, bottom: box.bottom}; }"""
    )


def sign_out(page: Page) -> None:
    """Through the account menu in the top bar."""
    page.locator("details.account-menu summary").click()
    page.get_by_role("menuitem", name="Sign out").click()
    page.wait_for_url(lambda url: urlsplit(url).path == "/login")


# First run ------------------------------------------------------------------------------------


@pytest.fixture
def fresh_stack(tmp_path_factory):
    """A stack nobody has set up: no HAUL_ADMIN_*, so it issues a setup code."""
    running = HaulStack(tmp_path_factory.mktemp("fresh"), api_token=API_TOKEN).start()
    yield running
    running.stop()


def test_first_run_setup_with_the_code_then_sign_out_and_in(browser, fresh_stack):
    """The setup code from the data dir (and the log) creates the first admin, who is signed in."""
    code_file = fresh_stack.data_dir / "setup-code"
    code = code_file.read_text().strip()
    assert re.fullmatch(r"[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}", code)
    assert code in fresh_stack.log("web.log")

    context = open_context(browser, fresh_stack.base_url)
    try:
        page = context.new_page()
        page.goto("/")  # signed out and nobody exists: / → /login → /setup
        assert path_of(page) == "/setup"
        expect(page.get_by_role("heading", name="Set up Haul")).to_be_visible()
        expect(page.get_by_label("Setup code")).to_be_focused()
        expect(page.get_by_text("Please sign in to continue.")).to_have_count(0)  # nobody can yet
        shot(page, "setup", full_page=True)

        # A wrong code: an inline message, the code field marked, nobody created.
        page.get_by_label("Setup code").fill("0000-0000-0000")
        page.get_by_label("Admin username").fill("chief")
        page.get_by_label("Password", exact=True).fill("chief-password-1")
        page.get_by_label("Repeat password").fill("chief-password-1")
        page.get_by_role("button", name="Create admin and sign in").click()
        alert = page.get_by_role("alert")
        expect(alert).to_contain_text("setup code is not right")
        expect(page.get_by_label("Setup code")).to_have_attribute("aria-invalid", "true")
        assert path_of(page) == "/setup"
        assert "Traceback" not in page.content()

        # The right code with a name Haul refuses: the name is marked, and the code still works.
        page.get_by_label("Setup code").fill(code)
        page.get_by_label("Admin username").fill("the chief!")
        page.get_by_label("Password", exact=True).fill("chief-password-1")
        page.get_by_label("Repeat password").fill("chief-password-1")
        page.get_by_role("button", name="Create admin and sign in").click()
        expect(page.get_by_role("alert")).to_contain_text("Usernames are")
        expect(page.get_by_label("Admin username")).to_have_attribute("aria-invalid", "true")
        expect(page.get_by_label("Admin username")).to_be_focused()
        expect(page.get_by_label("Setup code")).not_to_have_attribute("aria-invalid", "true")

        # The right code (typed in lower case: it is not case-sensitive).
        page.get_by_label("Setup code").fill(code.lower())
        page.get_by_label("Admin username").fill("chief")
        page.get_by_label("Password", exact=True).fill("chief-password-1")
        page.get_by_label("Repeat password").fill("chief-password-1")
        page.get_by_role("button", name="Create admin and sign in").click()
        page.wait_for_url(lambda url: urlsplit(url).path == "/")
        expect(page.get_by_text("Welcome, chief. Haul is ready.")).to_be_visible()
        expect(page.locator("details.account-menu summary")).to_contain_text("chief")
        expect(page.get_by_role("navigation", name="Main")).to_be_visible()
        assert not code_file.exists()  # the code is spent

        sign_out(page)
        expect(page.get_by_text("You are signed out.")).to_be_visible()
        page.goto("/setup")  # set up now: setup sends people to sign in
        assert path_of(page) == "/login"
        page.goto("/")
        assert path_of(page) == "/login"

        login(page, "chief", "chief-password-1")
        expect(page.locator("details.account-menu summary")).to_contain_text("chief")
    finally:
        context.close()


# Signing in ------------------------------------------------------------------------------------


def test_wrong_password_shows_an_inline_error_then_the_right_one_signs_in(new_context):
    """A wrong password stays on the form with a message; the name is kept, the password is focused."""
    page = new_context().new_page()
    page.goto("/login")
    expect(page.get_by_label("Username")).to_be_focused()
    expect(page.get_by_role("alert")).to_have_count(0)
    shot(page, "login")

    page.get_by_label("Username").fill(ADMIN_USERNAME)
    page.get_by_label("Password", exact=True).fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()

    alert = page.get_by_role("alert")
    expect(alert).to_have_text("Wrong username or password.")
    assert path_of(page) == "/login"
    password = page.get_by_label("Password", exact=True)
    expect(password).to_be_focused()
    expect(password).to_have_value("")
    expect(password).to_have_attribute("aria-invalid", "true")
    expect(password).to_have_attribute("aria-describedby", "login-error")
    expect(page.get_by_label("Username")).to_have_value(ADMIN_USERNAME)
    shot(page, "login-error")
    # Still signed out.
    page.goto("/")
    assert path_of(page) == "/login"

    login(page, ADMIN_USERNAME, ADMIN_PASSWORD)
    expect(page.locator("details.account-menu summary")).to_contain_text(ADMIN_USERNAME)


def test_a_plain_user_made_on_the_command_line_can_sign_in(new_context, gui_stack):
    """create_user() runs `flask users create`; that person can sign in through the form."""
    create_user(gui_stack, "walter", "walter-password-1")
    page = new_context().new_page()
    login(page, "walter", "walter-password-1")
    expect(page.locator("details.account-menu summary")).to_contain_text("walter")


# Phones ----------------------------------------------------------------------------------------


def test_phone_layout_has_no_sideways_scrolling_and_usable_navigation(new_context):
    """At 390x844 the pages fit the width and the navigation is on screen and works."""
    page = new_context(viewport=PHONE, is_mobile=True, has_touch=True).new_page()
    page.goto("/login")
    assert scroll_width(page) <= PHONE[0]
    card = page.locator(".auth .card").bounding_box()
    assert card["x"] >= 0 and card["x"] + card["width"] <= PHONE[0]
    shot(page, "phone-login")

    page.goto("/no/such/page")
    assert scroll_width(page) <= PHONE[0]

    login(page, ADMIN_USERNAME, ADMIN_PASSWORD)
    assert scroll_width(page) <= PHONE[0]
    nav = page.get_by_role("navigation", name="Main")
    for name in ("Queue", "History", "Subscriptions", "Stats", "Invites", "Settings"):
        box = nav.get_by_role("link", name=name).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE[0], (name, box)
        assert box["height"] >= 32, f"{name} is too small to tap: {box}"
    shot(page, "phone-queue")

    nav.get_by_role("link", name="History").tap()
    page.wait_for_url(lambda url: urlsplit(url).path == "/history")
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="History")).to_have_attribute(
        "aria-current", "page")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").tap()
    page.wait_for_url(lambda url: urlsplit(url).path == "/settings")

    # The account menu opens inside the screen.
    page.locator("details.account-menu summary").tap()
    menu = page.locator("details.account-menu .menu")
    expect(menu).to_be_visible()
    box = menu.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE[0], box


# Themes ----------------------------------------------------------------------------------------


def test_dark_mode_follows_the_system_and_the_toggle_is_remembered(new_context):
    """A dark system gets the dark theme; the toggle switches to light and a reload keeps it."""
    page = new_context(color_scheme="dark").new_page()
    page.goto("/login")
    assert background(page) == DARK_BG
    assert page.evaluate("document.documentElement.dataset.theme") is None  # following the system
    toggle = page.locator("#theme-toggle")
    expect(toggle).to_have_attribute("aria-pressed", "true")
    shot(page, "login-dark")

    toggle.click()
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    assert background(page) == LIGHT_BG
    assert page.evaluate("localStorage.getItem('haul-theme')") == "light"

    page.reload()
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    assert background(page) == LIGHT_BG
    page.goto("/no/such/page")  # and on other pages
    assert background(page) == LIGHT_BG


def test_light_system_can_switch_to_dark_and_keep_it_after_signing_in(new_context):
    """On a light system the toggle picks dark, which stays through sign-in and reloads."""
    page = new_context(color_scheme="light").new_page()
    page.goto("/login")
    assert background(page) == LIGHT_BG
    page.locator("#theme-toggle").click()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    assert background(page) == DARK_BG

    login(page, ADMIN_USERNAME, ADMIN_PASSWORD)
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    assert background(page) == DARK_BG
    page.reload()
    assert background(page) == DARK_BG


# Keyboard --------------------------------------------------------------------------------------


def test_tab_reaches_the_skip_link_then_the_navigation_with_a_visible_focus(admin_page):
    """The first Tab shows the skip link; further Tabs walk the top bar with a focus ring."""
    page = admin_page
    page.keyboard.press("Tab")
    ring = focus_ring(page)
    assert ring["text"] == "Skip to content"
    assert ring["outline"] != "none" and ring["width"] >= 2, ring
    assert ring["left"] >= 0 and ring["top"] >= 0 and ring["right"] <= 1280, f"skip link off screen: {ring}"
    shot(page, "keyboard-skip-link", clip={"x": 0, "y": 0, "width": 1280, "height": 120})

    reached = []
    for _ in range(12):  # the brand, every nav link (admins see the most), then the toggle
        page.keyboard.press("Tab")
        ring = focus_ring(page)
        reached.append(ring["text"])
        if ring["text"] in ("Queue", "History", "Settings"):
            assert ring["outline"] != "none" and ring["width"] >= 2, ring
        if ring["id"] == "theme-toggle":
            break
    assert [name for name in reached if name in ("Queue", "History", "Settings")] == ["Queue", "History", "Settings"]
    assert reached[-1] == "◐", reached  # then the theme toggle

    # Enter on the focused theme toggle switches the theme.
    before = page.evaluate("document.documentElement.dataset.theme || ''")
    page.keyboard.press("Enter")
    assert page.evaluate("document.documentElement.dataset.theme") != before

    # The skip link moves the focus to the content.
    page.goto("/")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "content"


def test_keyboard_alone_signs_in(new_context):
    """Username, Tab, password, Enter: signed in without a mouse."""
    page = new_context().new_page()
    page.goto("/login")
    username, password = page.get_by_label("Username"), page.get_by_label("Password", exact=True)
    # The browser applies autofocus a moment after the load event: keys typed before it are lost.
    expect(username).to_be_focused()
    page.keyboard.type(ADMIN_USERNAME)
    page.keyboard.press("Tab")
    expect(password).to_be_focused()
    page.keyboard.type(ADMIN_PASSWORD)
    expect(username).to_have_value(ADMIN_USERNAME)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: urlsplit(url).path == "/")


# Error pages -----------------------------------------------------------------------------------


def test_unknown_page_is_a_friendly_404_with_a_way_back(admin_page):
    """An unknown address shows "Not found" in the layout, with a link back to the queue."""
    page = admin_page
    with page.expect_navigation() as navigation:
        page.evaluate("location.assign('/no/such/page')")  # as a stale link on a Haul page would
    assert navigation.value.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    expect(page.locator(".error-page .lead")).to_contain_text("nothing at this address")
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()  # still the app's layout
    assert "requested URL" not in page.content()  # not Werkzeug's stock wording
    go_back = page.get_by_role("button", name="Go back")
    expect(go_back).to_be_visible()  # it came from a Haul page: there is a way back
    shot(page, "not-found")

    page.get_by_role("link", name="Back to Haul").click()
    page.wait_for_url(lambda url: urlsplit(url).path == "/")

    page.evaluate("location.assign('/also/missing')")
    page.get_by_role("button", name="Go back").click()
    page.wait_for_url(lambda url: urlsplit(url).path == "/")


def test_signed_out_404_offers_the_way_in(new_context):
    """Signed out, the 404 page still renders (no account menu) and its link leads to sign-in."""
    page = new_context().new_page()
    response = page.goto("/nothing-here")
    assert response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    expect(page.locator("details.account-menu")).to_have_count(0)
    expect(page.get_by_role("button", name="Go back")).to_be_hidden()  # typed in: nothing to go back to
    page.get_by_role("link", name="Back to Haul").click()
    page.wait_for_url(lambda url: urlsplit(url).path == "/login")
