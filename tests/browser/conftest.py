"""Playwright fixtures for the browser tests: Chromium, a live Haul with an admin, signed-in pages.

Every test under tests/browser is marked `browser` (`pytest -m "not browser"` skips them).
The browser is Debian's `chromium` package at /usr/bin/chromium (`make test` installs it);
Playwright's own browser download is never used.

Helpers to import in a test module (tests/ is on sys.path, tests/browser is the package
`browser`)::

    from browser.conftest import ADMIN_PASSWORD, create_user, login, shot

Fixtures: `browser` (session), `gui_stack` (module: a live stack with the admin "admin"),
`new_context` (a factory of fresh contexts against gui_stack), `admin_page` (a 1280x800 page
signed in as admin).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from support.stack import ROOT, HaulStack

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "gui-admin-password-42"
API_TOKEN = "gui-test-static-token-0123456789"
DESKTOP = (1280, 800)
PHONE = (390, 844)
# Page operations (clicks, fills, navigations) and expect() assertions give up after this.
TIMEOUT_MS = 15_000
SCREENSHOTS = ROOT / "docs" / "screenshots"

_HERE = Path(__file__).resolve().parent

expect.set_options(timeout=TIMEOUT_MS)


def pytest_collection_modifyitems(config, items):
    """Mark every test in this directory `browser`."""
    for item in items:
        if _HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.browser)


# -- helpers -------------------------------------------------------------------------------------


def login(page: Page, username: str, password: str) -> None:
    """Sign in through the form on /login and wait until the queue page (/) is shown."""
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: urlsplit(url).path == "/")


@pytest.fixture
def users_may_reach_the_media_site(gui_stack):
    """The media site is on 127.0.0.1, which only admins' links may reach unless the admin lets users."""
    with gui_stack.users_may_reach_private_addresses():
        yield


def create_user(stack: HaulStack, username: str, password: str, admin: bool = False) -> None:
    """Create a user with `flask --app wsgi users create` in the stack's environment."""
    args = [sys.executable, "-m", "flask", "--app", "wsgi", "users", "create", username, "--password", password]
    if admin:
        args.append("--admin")
    done = subprocess.run(args, cwd=ROOT, env=stack.env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"users create {username} failed:\n{done.stdout}{done.stderr}"


def shot(page: Page, name: str, **options) -> Path:
    """Save a PNG of the page to docs/screenshots/<name>.png (for the README); returns the path.

    Extra keyword arguments go to Page.screenshot (e.g. full_page=True).
    """
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    options.setdefault("animations", "disabled")
    options.setdefault("caret", "hide")
    if options.get("full_page"):
        # A full-page picture is drawn at the current scroll: scrolled down, the sticky header
        # would sit in the middle of it.
        page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(path), **options)
    return path


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Browser:
    """Debian's Chromium, headless, shared by the whole session."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)", pytrace=False)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def gui_stack(media_site, tmp_path_factory) -> HaulStack:
    """A live Haul (web + worker) for one test module, with the admin `admin` / ADMIN_PASSWORD."""
    env = {"HAUL_ADMIN_USERNAME": ADMIN_USERNAME, "HAUL_ADMIN_PASSWORD": ADMIN_PASSWORD}
    with HaulStack(tmp_path_factory.mktemp("gui"), api_token=API_TOKEN, extra_env=env) as running:
        yield running


def open_context(browser: Browser, base_url: str, viewport=None, color_scheme=None, **options) -> BrowserContext:
    """A fresh context against base_url; viewport (w, h) defaults to 1280x800."""
    width, height = viewport or DESKTOP
    context = browser.new_context(
        base_url=base_url, viewport={"width": width, "height": height}, color_scheme=color_scheme, **options
    )
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    return context


@pytest.fixture
def new_context(browser, gui_stack):
    """Factory: new_context(viewport=(w, h) or None, color_scheme=None, **kw) -> BrowserContext.

    kw goes to Browser.new_context (is_mobile, has_touch, storage_state, …). Every context is
    closed after the test.
    """
    contexts: list[BrowserContext] = []

    def factory(viewport=None, color_scheme=None, **options) -> BrowserContext:
        context = open_context(browser, gui_stack.base_url, viewport, color_scheme, **options)
        contexts.append(context)
        return context

    yield factory
    for context in contexts:
        context.close()


@pytest.fixture(scope="module")
def _admin_session(browser, gui_stack) -> dict:
    """The admin's cookies, signed in once per module (POST /login allows 10 a minute per address)."""
    context = open_context(browser, gui_stack.base_url)
    try:
        page = context.new_page()
        login(page, ADMIN_USERNAME, ADMIN_PASSWORD)
        state = {"storage": context.storage_state()}
    finally:
        context.close()
    return state


@pytest.fixture
def admin_page(new_context, _admin_session) -> Page:
    """A desktop (1280x800) page signed in as admin, showing the queue page."""
    context = new_context(viewport=DESKTOP, storage_state=_admin_session["storage"])
    page = context.new_page()
    page.goto("/")
    if urlsplit(page.url).path == "/login":
        # The saved session stopped working (e.g. a test signed the admin out everywhere).
        login(page, ADMIN_USERNAME, ADMIN_PASSWORD)
        _admin_session["storage"] = context.storage_state()
    return page
