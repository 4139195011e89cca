"""Download windows in a real browser: a scheduled row with its "Start now" button on a phone
(screenshot docs/screenshots/download-windows.png), and the Settings section saving rules."""
from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from browser.conftest import PHONE, shot

EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


NIGHTLY = [{"days": EVERY_DAY, "start": "01:00", "end": "07:00"}]


def daytime_zone() -> str:
    """A zone where it is day now (09:00–20:59), so 01:00–07:00 is closed for some hours."""
    for name in ("UTC", "Asia/Tokyo", "America/New_York", "Australia/Sydney", "America/Los_Angeles", "Asia/Kolkata"):
        if 9 <= datetime.now(ZoneInfo(name)).hour <= 20:
            return name
    raise AssertionError("no daytime zone found")  # the six cover every hour of the day


def patch_settings(stack, **body) -> None:
    response = stack.session.patch(stack.base_url + "/api/v1/settings", json=body, timeout=10)
    assert response.status_code == 200, response.text


@pytest.fixture(autouse=True)
def no_windows_after(gui_stack):
    yield
    patch_settings(gui_stack, download_windows=None, download_windows_timezone=None)


def test_a_scheduled_job_shows_when_it_starts_and_starts_now_on_a_phone(gui_stack, media_site, new_context,
                                                                         _admin_session):
    patch_settings(gui_stack, download_windows=NIGHTLY, download_windows_timezone=daytime_zone())
    response = gui_stack.session.post(gui_stack.base_url + "/api/v1/queue",
                                      json={"url": media_site.url("/img/931.png")}, timeout=10)
    assert response.status_code == 201, response.text
    job_id = response.json()["jobs"][0]["id"]

    page = new_context(viewport=PHONE, storage_state=_admin_session["storage"]).new_page()
    page.goto("/")
    row = page.locator(f"#job-{job_id}")
    expect(row.locator(".chip.scheduled")).to_have_text(re.compile("scheduled", re.I))
    expect(row.locator(".job-scheduled")).to_contain_text(re.compile(r"scheduled — starts at (\w\w\w )?01:00 \(in \d+ h"))
    expect(page.locator("#window-banner")).to_contain_text("Downloads wait for the window")
    start_now = row.get_by_role("button", name=re.compile("^Start .* now$"))
    expect(start_now).to_be_visible()
    # On a phone the button is within the screen, not pushed off its edge.
    box = start_now.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE[0]
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE[0]
    page.evaluate("document.querySelector('#queue-toolbar').scrollIntoView({block: 'start'})")
    shot(page, "download-windows")

    start_now.click()
    # Started despite the window: the row leaves the active list for the finished one.
    expect(page.locator(f"#finished-jobs #job-{job_id} .chip.completed")).to_be_visible()


def test_the_windows_section_saves_rules_and_shows_the_preview(admin_page, gui_stack):
    page = admin_page
    page.goto("/settings")
    section = page.locator("#windows")
    expect(section.locator("#windows-preview")).to_have_text("No download windows: downloads start any time.")
    first = section.locator("#window-rule-0")
    for day in ("Mon", "Tue", "Wed", "Thu", "Fri"):
        first.get_by_label(day, exact=True).check()
    first.get_by_label("From").fill("01:00")
    first.get_by_label("to", exact=True).fill("07:00")
    section.get_by_label("Time zone").fill("Europe/Berlin")
    section.get_by_role("button", name="Save").click()
    expect(section.locator(".section-head .chip")).to_have_text("01:00–07:00 Mon–Fri")
    expect(section.locator("#windows-preview")).to_have_text(re.compile(r"^(Open now; closes at|Closed now; opens) "))
    expect(section.get_by_label("Time zone")).to_have_value("Europe/Berlin")
    stored = gui_stack.session.get(gui_stack.base_url + "/api/v1/settings", timeout=10).json()["settings"]
    assert stored["download_windows"]["value"] == [
        {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "01:00", "end": "07:00"}]
    # A bad end is refused in place, naming the window; nothing is saved.
    section.locator("#window-rule-0").get_by_label("to", exact=True).fill("31:00")
    section.get_by_role("button", name="Save").click()
    expect(section.locator("#windows-error")).to_contain_text("Rule 1: the end must be a time like 01:00")
    stored = gui_stack.session.get(gui_stack.base_url + "/api/v1/settings", timeout=10).json()["settings"]
    assert stored["download_windows"]["value"][0]["end"] == "07:00"


def test_stop_asks_first_then_stops_and_start_starts(admin_page, gui_stack):
    page = admin_page
    stop = page.locator("#queue-stop")
    expect(stop).to_be_visible()
    # Dismissed: nothing happens.
    page.once("dialog", lambda dialog: dialog.dismiss())
    stop.click()
    expect(page.locator(".stopped-banner")).to_have_count(0)
    page.once("dialog", lambda dialog: dialog.accept())
    stop.click()
    expect(page.locator(".stopped-banner")).to_contain_text("The queue is stopped.")
    status = gui_stack.session.get(gui_stack.base_url + "/api/v1/queue/status", timeout=10).json()
    assert status["stopped"] is True and status["paused"] is True
    page.locator("#queue-start").click()
    expect(page.locator(".stopped-banner")).to_have_count(0)
    expect(page.locator("#queue-stop")).to_be_visible()
    status = gui_stack.session.get(gui_stack.base_url + "/api/v1/queue/status", timeout=10).json()
    assert status["stopped"] is False and status["paused"] is False
