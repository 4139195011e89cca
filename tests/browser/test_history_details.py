"""The history's details panel and its live list in a real browser, against the live web server and
the real worker: what the site said of a video (its page on the local media site carries an
uploader, tags and a duration), and a job finishing while the page is open."""
from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from browser.conftest import PHONE, shot


def test_the_details_panel_shows_what_the_site_said(admin_page: Page, gui_stack, media_site):
    name = "details-show"
    told = media_site.show(name)
    job_id = gui_stack.submit([media_site.url(f"/show/{name}")], post_title="Shows")["jobs"][0]["id"]
    assert gui_stack.wait_for_job(job_id, timeout=120)["status"] == "completed"

    page = admin_page
    page.goto("/history")
    item = page.locator(f"#entry-{job_id}")
    panel = item.locator("details.entry-details")
    expect(panel).not_to_have_attribute("open", "")
    panel.locator("summary", has_text="Details").click()
    expect(panel.get_by_role("link", name=told["uploader"])).to_be_visible()
    expect(panel.locator(".meta-duration")).to_have_text("0:04")
    tags = panel.get_by_role("list", name="Tags")
    for tag in told["tags"]:
        expect(tags.get_by_role("link", name=tag, exact=True)).to_be_visible()
    # The description is folded, and shown as text (the site's "<the>" is not markup).
    description = panel.locator("details.entry-description")
    description.locator("summary").click()
    expect(description.locator(".description")).to_have_text(told["description"])
    expect(panel.get_by_role("region", name="Media")).to_be_visible()
    item.scroll_into_view_if_needed()
    shot(page, "history-details")

    # A tag is a search for it: the entry is found by it.
    tags.get_by_role("link", name=name, exact=True).click()
    expect(page).to_have_url(re.compile(rf"/history\?q=%22{name}%22$"))
    expect(page.get_by_label("Search")).to_have_value(f'"{name}"')
    expect(page.locator(f"#entry-{job_id}")).to_be_visible()

    # On a phone the open panel fits the screen.
    page.set_viewport_size({"width": PHONE[0], "height": PHONE[1]})
    page.goto("/history")
    page.locator(f"#entry-{job_id} details.entry-details > summary").click()
    expect(page.locator(f"#entry-{job_id} .meta-list")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE[0]


def test_a_job_finishing_while_the_page_is_open_appears_first_with_its_thumbnail(admin_page: Page, gui_stack,
                                                                                 media_site):
    page = admin_page
    page.goto("/history")
    expect(page.locator("#history-live")).to_be_attached()
    page.evaluate("window.__haulNoReload = 'still here'")
    # The stream is open before the job is sent (history.js marks it when the SSE extension says so).
    expect(page.locator("#history-live")).to_have_attribute("data-state", "open")

    job_id = gui_stack.submit([media_site.url("/img/31415.png")])["jobs"][0]["id"]
    item = page.locator(f"#entry-{job_id}")
    expect(item).to_be_visible(timeout=60_000)
    expect(page.locator("#history-entries > article").first).to_have_id(f"entry-{job_id}")
    # The worker makes the thumbnail a few seconds later; the tile's placeholder becomes the image.
    thumbnail = item.locator(".thumb img")
    expect(thumbnail).to_be_visible(timeout=60_000)
    page.wait_for_function(f"() => document.querySelector('#entry-{job_id} .thumb img').naturalWidth > 0")
    expect(item.locator(".file-icon")).to_have_count(0)
    assert page.evaluate("window.__haulNoReload") == "still here", "the page reloaded"
