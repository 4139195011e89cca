"""The disk guard's banner on the queue page and the bandwidth/disk section of the settings, in a real browser.

The guard is tripped for real: a threshold of 1 PiB (percent rule off) is more than any disk has
free, so the worker's next check trips it; the banner reaches the open queue page over its event
stream, and goes again when the setting is restored.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from browser.conftest import shot

PHONE_NARROW = (360, 740)


def _patch(stack, body: dict) -> None:
    stack.session.patch(stack.base_url + "/api/v1/settings", json=body, timeout=10).raise_for_status()


@pytest.fixture
def restore_limits(gui_stack):
    yield
    _patch(gui_stack, {"disk_guard_min_free_bytes": None, "disk_guard_min_free_percent": None,
                       "bandwidth_limit": None, "per_job_bandwidth_limit": None})


def test_the_queue_page_shows_the_banner_live_while_the_disk_is_nearly_full(admin_page: Page, gui_stack,
                                                                             restore_limits):
    page = admin_page
    banner = page.locator("#disk-guard-banner")
    expect(page.locator("#queue-toolbar")).to_be_visible()
    expect(banner).to_have_count(0)
    _patch(gui_stack, {"disk_guard_min_free_bytes": "1024T", "disk_guard_min_free_percent": 0})
    expect(banner).to_be_visible(timeout=20_000)  # the worker's next check, then the page's stream
    expect(banner).to_contain_text("Paused: only")
    expect(banner).to_contain_text("(needs 1024.0 TB). Downloads resume by themselves when space is freed.")
    shot(page, "queue-disk-guard")
    _patch(gui_stack, {"disk_guard_min_free_bytes": None, "disk_guard_min_free_percent": None})
    expect(banner).to_have_count(0, timeout=20_000)


def test_the_limits_are_set_on_a_phone_with_inline_errors(new_context, _admin_session, gui_stack, restore_limits):
    context = new_context(viewport=PHONE_NARROW, storage_state=_admin_session["storage"], is_mobile=True)
    page = context.new_page()
    page.goto("/settings#limits")
    section = page.locator("#limits")
    expect(section.get_by_role("heading", name="Bandwidth and disk space")).to_be_visible()
    expect(section.locator("#disk-guard-now")).to_contain_text("free of")
    field = section.get_by_label("Bandwidth limit (all downloads together, per second)")
    expect(field).to_have_value("0")
    field.fill("lots")
    section.get_by_role("button", name="Save", exact=True).click()
    expect(section.locator(".field-error")).to_contain_text("a size such as 500K, 5M or 2G")
    section = page.locator("#limits")
    section.get_by_label("Bandwidth limit (all downloads together, per second)").fill("5M")
    section.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#limits .field-error")).to_have_count(0)
    expect(page.locator("#limits").get_by_label("Bandwidth limit (all downloads together, per second)")).to_have_value("5M")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE_NARROW[0], f"the page scrolls sideways on a phone ({width} px)"
    expect(page.locator("#toasts .toast.success", has_text="Saved")).to_be_visible()
    dismiss = page.locator("#toasts .toast button[aria-label=Dismiss]")
    while dismiss.count():
        dismiss.first.click()
    page.locator("#limits-title").scroll_into_view_if_needed()
    page.evaluate("document.getElementById('limits-title').scrollIntoView({block: 'start'}); window.scrollBy(0, -160)")
    shot(page, "settings-bandwidth-phone")
    body = gui_stack.session.get(gui_stack.base_url + "/api/v1/settings", timeout=10).json()
    assert body["settings"]["bandwidth_limit"]["value"] == 5 * 1024 * 1024
