"""The /stats dashboard in a real browser, against the live web server and the real worker:
on a phone (390x844) and a desktop, in light and dark, the charts are drawn, fit the screen and
take the theme's colours; the "queue now" card follows the queue by itself.

Screenshots: docs/screenshots/stats-{phone,desktop}-{light,dark}.png.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from browser.conftest import DESKTOP, PHONE, shot


@pytest.fixture(scope="module")
def downloads(gui_stack, media_site) -> dict[str, int]:
    """Real downloads from the local media site: three images and a missing one (failed)."""
    ids = {}
    for name, path in (("one", "/img/5101.png"), ("two", "/img/5102.png"), ("three", "/img/5103.jpg"),
                       ("missing", "/missing.jpg")):
        ids[name] = gui_stack.submit([media_site.url(path)])["jobs"][0]["id"]
    for job_id in ids.values():
        gui_stack.wait_for_job(job_id, timeout=60)
    assert gui_stack.job(ids["missing"])["status"] == "failed"
    return ids


def open_stats(new_context, admin_page: Page, viewport, scheme) -> Page:
    context = new_context(viewport=viewport, color_scheme=scheme,
                          storage_state=admin_page.context.storage_state())
    page = context.new_page()
    page.goto("/stats?period=week&group_by=day")
    expect(page.get_by_role("heading", name="Statistics", level=1)).to_be_visible()
    return page


def fill_of(page: Page, selector: str) -> str:
    return page.locator(selector).first.evaluate("element => getComputedStyle(element).fill")


@pytest.mark.parametrize("device,viewport", [("phone", PHONE), ("desktop", DESKTOP)])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_dashboard_on_phone_and_desktop_in_both_themes(new_context, admin_page, downloads, device, viewport, scheme):
    page = open_stats(new_context, admin_page, viewport, scheme)
    figure = page.locator('[data-figure="downloads-today"] [data-value]')
    expect(figure).to_have_text("3")  # the three images
    for chart in ("#chart-downloads", "#chart-bytes", "#chart-sites"):
        expect(page.locator(chart)).to_be_visible()
        box = page.locator(chart).bounding_box()
        assert box["width"] > 200 and box["height"] > 25, (chart, box)
        assert box["x"] >= 0 and box["x"] + box["width"] <= viewport[0] + 0.5, (chart, box)
    # Nothing wider than the screen: no sideways scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport[0]
    # Each day of the week has its column with a tooltip; today's has a completed and a failed bar.
    expect(page.locator("#chart-downloads .chart-bucket")).to_have_count(7)
    today = page.locator("#chart-downloads .chart-bucket").last
    expect(today.locator(".chart-completed")).to_have_count(1)
    expect(today.locator(".chart-failed")).to_have_count(1)
    assert "3 completed, 1 failed" in today.locator("title").text_content()
    expect(page.locator("#chart-sites .chart-row")).to_have_count(1)
    # The theme's colours, not fixed ones: the completed bar is the theme's --ok.
    ok = page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--ok').trim()")
    expected = {"light": "rgb(6, 118, 71)", "dark": "rgb(117, 224, 167)"}[scheme]
    assert fill_of(page, "#chart-downloads .chart-completed") == expected, ok
    if device == "phone":  # half the labels on a phone: at most six
        visible = page.locator("#chart-downloads .chart-label:visible")
        assert 1 <= visible.count() <= 6
    shot(page, f"stats-{device}-{scheme}", full_page=True)


def test_the_queue_card_follows_the_queue(new_context, admin_page, gui_stack, media_site, downloads):
    """With the queue paused a new link waits: the card shows it queued within its polling
    interval, without a reload, and again when it is gone."""
    page = open_stats(new_context, admin_page, DESKTOP, "light")
    queued = page.locator('#stats-queue [data-status="queued"]')
    expect(queued).to_have_text("0")
    assert gui_stack.session.post(gui_stack.base_url + "/api/v1/queue/pause", timeout=10).status_code == 200
    try:
        job_id = gui_stack.submit([media_site.url("/img/5104.png")])["jobs"][0]["id"]
        expect(queued).to_have_text("1", timeout=25_000)
    finally:
        assert gui_stack.session.post(gui_stack.base_url + "/api/v1/queue/resume", timeout=10).status_code == 200
    gui_stack.wait_for_job(job_id, timeout=60)
    expect(queued).to_have_text("0", timeout=25_000)


def test_admin_filters_by_user_and_period(new_context, admin_page, gui_stack, downloads):
    page = open_stats(new_context, admin_page, DESKTOP, "light")
    expect(page.get_by_label("User")).to_be_visible()
    page.goto("/stats?period=year")
    expect(page.locator("#stats-group option[value=hour]")).to_have_count(0)  # hours only up to a month
    page.get_by_label("Period").select_option("today")
    expect(page).to_have_url(re.compile(r"period=today"))
    expect(page.locator("#stats-group option[value=hour]")).to_have_count(1)
    page.get_by_label("Chart per").focus()  # as a keyboard user would be
    page.get_by_label("Chart per").select_option("hour")
    expect(page).to_have_url(re.compile(r"group_by=hour"))
    expect(page.locator("#chart-downloads")).to_be_visible()
    expect(page.get_by_label("Chart per")).to_be_focused()  # the swap kept the focus where it was
    # The fixture's links went in with the static token (no user): the admin's own figure leaves
    # them out. It is the completed downloads the API counts for the admin (other browser tests on this stack may
    # have sent links as the admin), and fewer than everyone's.
    everyone = page.locator('[data-figure="downloads-all"] [data-value]')
    expect(everyone).to_have_text(re.compile(r"^[1-9]"))
    everyones = int(everyone.inner_text().replace(",", ""))
    admin_id = int(page.locator("#stats-user option", has_text=re.compile(r"^admin$")).get_attribute("value"))
    # The swap of the last choice must be in before the next one, or it would redraw the form as it was.
    page.wait_for_function("() => !document.querySelector('#stats-filters.htmx-request')")
    page.get_by_label("User").select_option(str(admin_id))
    expect(page).to_have_url(re.compile(rf"user={admin_id}(&|$)"))
    figures = gui_stack.session.get(gui_stack.base_url + "/api/v1/stats/platforms", timeout=10,
                                    params={"period": "all", "user_id": admin_id}).json()
    admins = sum(site["completed"] for site in figures["platforms"])
    assert admins <= everyones - 3  # the fixture's three completed downloads are no one's
    expect(page.locator('[data-figure="downloads-all"] [data-value]')).to_have_text(f"{admins:,}")
