"""Subscriptions in a real browser against a live stack with the real worker: subscribe to a
feed of the local media site with its preview listing the items, check it now, watch the run's
items arrive live in the queue and the run history follow without a reload, on a phone and on
a desktop. Screenshots: docs/screenshots/subscriptions-phone.png and subscriptions-desktop.png.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from browser.conftest import DESKTOP, PHONE, shot

# Listing a feed runs in the worker (a short-lived process), then each item downloads.
LISTING_MS = 60_000
RUN_MS = 90_000


@pytest.fixture
def signed_in(new_context, _admin_session):
    def open_page(viewport) -> Page:
        context = new_context(viewport=viewport, storage_state=_admin_session["storage"])
        return context.new_page()
    return open_page


@pytest.mark.parametrize(("viewport", "name"), [(PHONE, "phone"), (DESKTOP, "desktop")])
def test_subscribe_preview_check_now_and_watch_the_run(signed_in, media_site, viewport, name):
    feed_name = f"subs-{name}"
    media_site.feed(feed_name, count=3)
    feed_url = media_site.url(f"/feed/{feed_name}.xml")
    page = signed_in(viewport)

    page.goto("/subscriptions")
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Subscriptions")).to_have_attribute(
        "aria-current", "page")
    page.get_by_role("link", name="Add a subscription").first.click()
    page.wait_for_url("**/subscriptions/new")

    form = page.locator("#subscription-form")
    form.get_by_label("Channel, playlist or feed URL").fill(feed_url)
    form.get_by_label("Name").fill(f"Feed {name}")
    form.get_by_label("Check", exact=True).fill("every 1 day")
    form.get_by_label("Everything the source lists (within the filters)").check()
    # Off the schedule: a new subscription's first scheduled run would start at once, and this
    # test wants its run to be the one "Check now" starts.
    form.get_by_label(re.compile("Check on this schedule")).uncheck()
    form.get_by_role("button", name="Preview").click()
    preview = page.locator("#preview")
    expect(preview).to_contain_text("This would fetch 3 items now", timeout=LISTING_MS)
    for k in (1, 2, 3):
        expect(preview).to_contain_text(f"Episode {k} of {feed_name}")

    form.get_by_role("button", name="Subscribe").click()
    page.wait_for_url(re.compile(r"/subscriptions/\d+$"))
    expect(page.locator("#live-status")).to_have_text("Live")
    expect(page.locator("#runs-heading")).to_be_visible()

    # Check now: the answer in place, then the run's items in the queue, live.
    page.get_by_role("button", name="Check now").click()
    expect(page.locator(".check-message")).to_have_text(re.compile(r"^Checking… run #\d+ started$"))
    run_id = re.search(r"#(\d+)", page.locator(".check-message").inner_text()).group(1)
    run_row = page.locator(f"#run-{run_id}")
    expect(run_row).to_be_visible()  # the run's event redrew the table

    queue = page.context.new_page()
    queue.goto("/")
    expect(queue.locator("#live-status")).to_have_text("Live")
    # The run is one row, a collection, once the worker has listed the feed; its items open
    # beneath it, and each follows its own download live (titled by its page once fetched).
    collection = queue.locator(".job.collection", has_text=f"Feed {feed_name}")
    expect(collection).to_be_visible(timeout=RUN_MS)
    collection.locator("details.collection-children > summary").click()
    for k in (1, 2, 3):
        expect(collection.locator(".job.child", has_text=f"Video {feed_name}-{k}")).to_be_visible(timeout=RUN_MS)
    expect(collection.locator(".collection-count")).to_have_text("3/3", timeout=RUN_MS)
    queue.close()

    # The subscription's page followed the run to its end without a reload.
    expect(run_row).to_have_attribute("data-status", "completed", timeout=RUN_MS)
    expect(run_row.locator("td[data-label=Downloaded]")).to_have_text("3")
    expect(page.locator("#last-result")).to_contain_text("3 new · 3 downloaded")

    # The history's link of the run opens its collection job.
    job_link = run_row.get_by_role("link", name=re.compile(r"job #\d+"))
    expect(job_link).to_have_attribute("href", re.compile(r"^/history/\d+$"))

    page.goto("/subscriptions")
    card = page.locator(".sub-card", has_text=f"Feed {name}")
    expect(card.locator(".result")).to_contain_text("3 new · 3 downloaded")
    expect(card.locator("svg.sparkline rect.spark-completed")).to_have_count(1)
    shot(page, f"subscriptions-{name}", full_page=True)
