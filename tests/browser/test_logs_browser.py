"""The /logs page in a real browser against the live stack: the admin's nav link, a new job's lines
arriving live at the top of the table, the filters (htmx, in the address bar), a job's own log in its
history details, and Clear behind a confirmation."""
from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from browser.conftest import shot

# The htmx SSE extension says when the stream is open: the test sends its job only then.
TAIL_OPEN = "document.addEventListener('htmx:sseOpen', () => { window.__logTailOpen = true; })"


def open_logs(page: Page) -> None:
    page.context.add_init_script(TAIL_OPEN)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Logs").click()
    expect(page.get_by_role("heading", name="Logs", level=1)).to_be_visible()
    page.wait_for_function("window.__logTailOpen === true")


def test_a_new_jobs_lines_appear_live_and_the_filters_narrow_them(admin_page: Page, gui_stack, media_site):
    page = admin_page
    page.goto("/")
    open_logs(page)
    job_id = gui_stack.submit([media_site.url("/video/logs-browser-clip")])["jobs"][0]["id"]
    rows = page.locator("#log-rows tr.log-row")
    expect(rows.filter(has_text=f"job {job_id}: attempt 1 of 3").first).to_be_visible()
    expect(rows.filter(has_text=f"job {job_id}: attempt 1 ended: completed").first).to_be_visible(timeout=60_000)
    # The newest is on top: the outcome above the start.
    texts = rows.locator(".log-message").all_inner_texts()
    ended = next(i for i, t in enumerate(texts) if f"job {job_id}: attempt 1 ended" in t)
    started = next(i for i, t in enumerate(texts) if f"job {job_id}: attempt 1 of 3" in t)
    assert ended < started
    expect(rows.filter(has_text=f"job {job_id}:").first.locator(".log-job")).to_have_text(f"#{job_id}")
    shot(page, "logs")

    # Only this job's records: the job's link in a row filters by it.
    rows.filter(has_text=f"job {job_id}: attempt 1 of 3").first.get_by_role("link", name=f"#{job_id}").click()
    expect(page).to_have_url(re.compile(rf"/logs\?job_id={job_id}$"))
    page.wait_for_function("window.__logTailOpen === true")  # a new page: htmx is at work on it
    expect(page.get_by_label("Job")).to_have_value(str(job_id))
    for text in rows.locator(".log-job").all_inner_texts():
        assert text == f"#{job_id}"

    # A level: the form answers through htmx and the address follows.
    page.get_by_label("Level").select_option("ERROR")
    expect(page).to_have_url(re.compile(r"level=ERROR"))
    expect(rows.filter(has_text=f"job {job_id}: attempt 1 of 3")).to_have_count(0)
    page.get_by_role("link", name="Reset").click()
    expect(rows.filter(has_text=f"job {job_id}: attempt 1 of 3").first).to_be_visible()
    page.wait_for_function("window.__logTailOpen === true")

    # Words: only the records that say them.
    page.get_by_label("Search").fill("downloading with yt-dlp")
    expect(page).to_have_url(re.compile(r"q=downloading"))
    expect(rows.first).to_contain_text("downloading with yt-dlp")
    for text in rows.locator(".log-message").all_inner_texts():
        assert "downloading with yt-dlp" in text


def test_a_jobs_own_log_opens_in_its_history_details(admin_page: Page, gui_stack, media_site):
    job_id = gui_stack.submit([media_site.url("/video/logs-browser-details")])["jobs"][0]["id"]
    assert gui_stack.wait_for_job(job_id, timeout=120)["status"] == "completed"
    page = admin_page
    page.goto("/history")
    entry = page.locator(f"#entry-{job_id}")
    # The worker makes the thumbnail a little later and the stream draws the entry again: wait for
    # it, so the panels opened below stay as they are.
    expect(entry.locator(".thumb img")).to_be_visible(timeout=60_000)
    entry.locator("details.entry-details > summary").click()
    disclosure = entry.locator("details.job-log-disclosure")
    disclosure.locator("summary", has_text="Log").click()
    log_text = disclosure.locator("pre.job-log-text")
    expect(log_text).to_contain_text("── attempt 1 ──")
    expect(log_text).to_contain_text("yt-dlp: [generic]")


def test_clear_asks_first_then_empties_the_log(admin_page: Page, gui_stack):
    page = admin_page
    page.goto("/")
    open_logs(page)
    rows = page.locator("#log-rows tr.log-row")
    expect(rows.first).to_be_visible()
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Clear").click()
    expect(rows.first).to_be_visible()  # dismissed: nothing cleared
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Clear").click()
    expect(page.locator("#toasts")).to_contain_text("The log was cleared.")
    expect(rows.filter(has_text="the application log was cleared by admin").first).to_be_visible()
    for text in rows.locator(".log-message").all_inner_texts():
        assert "attempt 1" not in text
