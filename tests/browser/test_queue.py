"""The queue page in a real browser against the live web server and the real worker.

Rows must change without a reload: each test marks the window object at the start and checks
the mark is still there at the end (a reload would lose it).
"""
from __future__ import annotations

import re
import time
from datetime import datetime, timezone

import pytest
from playwright.sync_api import Page, expect

from browser.conftest import ADMIN_PASSWORD, PHONE, create_user, login, shot


def mark_window(page: Page) -> None:
    page.evaluate("window.__haulNoReload = 'still here'")


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("window.__haulNoReload") == "still here", "the page reloaded"


def row(page: Page, job_id: int):
    return page.locator(f"#job-{job_id}")


def job_ids_in(page: Page, list_id: str) -> list[int]:
    ids = page.locator(f"#{list_id} > li.job").evaluate_all("rows => rows.map(r => r.id)")
    return [int(i.removeprefix("job-")) for i in ids]


def wait_live(page: Page) -> None:
    expect(page.locator("#live-status")).to_have_text("Live")


def add_links(page: Page, text: str, post_title: str | None = None) -> None:
    page.get_by_role("textbox", name=re.compile("^Links")).fill(text)
    if post_title:
        page.locator("details.options:not(.collection-options) > summary").click()
        page.get_by_label("Post title").fill(post_title)
    page.get_by_role("button", name="Add to queue").click()


def find_job_ids(stack, urls: list[str], timeout: float = 10) -> dict[str, int]:
    """The job ids of URLs submitted through the GUI, read back through the seed API's GET."""
    deadline = time.monotonic() + timeout
    found: dict[str, int] = {}
    while time.monotonic() < deadline and len(found) < len(urls):
        for job_id in range(1, 500):
            if len(found) == len(urls):
                break
            response = stack.session.get(f"{stack.base_url}/api/v1/queue/{job_id}", timeout=5)
            if response.status_code == 404:
                break
            body = response.json()
            if body["url"] in urls:
                found[body["url"]] = job_id
        time.sleep(0.2)
    return found


def csrf(page: Page) -> str:
    return page.locator("meta[name=csrf-token]").get_attribute("content")


@pytest.fixture
def resumed(admin_page, gui_stack):
    """Leave the queue running after a test that pauses it, even when the test fails.

    A job the test paused and did not get to resume is cancelled: left paused, it would sit
    first on the next tests' page (a CI run once failed three tests in a row that way).
    """
    yield
    admin_page.request.post("/queue/resume", headers={"X-CSRFToken": csrf(admin_page)})
    api = f"{gui_stack.base_url}/api/v1/queue"
    left = gui_stack.session.get(api, params={"status": "paused", "per_page": 100}, timeout=10).json()
    for job in left["items"]:
        gui_stack.session.post(f"{api}/{job['id']}/cancel", timeout=10)


@pytest.fixture
def one_at_a_time(gui_stack):
    """Download concurrency 1 for one test, so which job starts first is determined."""
    settings = f"{gui_stack.base_url}/api/v1/settings"
    response = gui_stack.session.patch(settings, json={"download_concurrency": 1}, timeout=10)
    assert response.status_code == 200, response.text
    yield
    gui_stack.session.patch(settings, json={"download_concurrency": None}, timeout=10)


def test_pasted_links_go_from_queued_to_completed_live(admin_page: Page, gui_stack, media_site):
    page = admin_page
    wait_live(page)
    mark_window(page)
    gallery = media_site.url("/gallery/live-three?count=3")
    video = media_site.url("/video/live-clip")
    slow = media_site.url("/slow/live-slow.jpg?kb=768&rate=256")  # three seconds of visible progress
    add_links(page, f"Look at this gallery: {gallery} (nice)\n{video}\n\nand {slow}.\nnot a link at all",
              post_title="Browser test")

    # The bad line is explained inline; the good ones are queued.
    expect(page.locator("#link-problems")).to_contain_text("Line 5")
    expect(page.locator("#link-problems")).to_contain_text("not a link")
    expect(page.locator("#add-links .notice.success")).to_contain_text("Queued 3 links")
    expect(page.locator("#toasts")).to_contain_text("Queued 3 links")

    ids = find_job_ids(gui_stack, [gallery, video, slow])
    assert len(ids) == 3, ids
    slow_row = row(page, ids[slow])
    # The slow download shows a moving progress bar with bytes, speed and ETA.
    expect(slow_row.locator(".chip")).to_have_text("downloading")
    expect(slow_row.locator(".percent")).to_have_text(re.compile(r"^\d+%$"))
    expect(slow_row.locator(".job-stats")).to_contain_text("/s")
    expect(slow_row.locator(".job-stats")).to_contain_text("ETA")
    shot(page, "queue", full_page=True)

    for url in (gallery, video, slow):
        finished_row = page.locator(f"#finished-jobs #job-{ids[url]}")
        expect(finished_row.locator(".chip")).to_have_text("completed", timeout=30_000)
    expect(page.locator(f"#finished-jobs #job-{ids[gallery]} .job-stats")).to_contain_text("3 files")
    expect(page.locator(f"#finished-jobs #job-{ids[video]} .job-title")).not_to_have_text(video)  # its title is known
    assert job_ids_in(page, "active-jobs") == []
    expect(page.locator(".count[data-status=completed]")).to_have_text("3")
    assert_not_reloaded(page)
    assert (gui_stack.storage_root / "Browser test").is_dir()


def test_a_duplicate_links_to_the_existing_job_and_can_be_downloaded_again(admin_page: Page, gui_stack, media_site):
    page = admin_page
    url = media_site.url("/img/4242.png")
    done = gui_stack.submit([url])
    gui_stack.wait_for_job(done["jobs"][0]["id"])
    add_links(page, url)
    duplicate = page.locator(".duplicates li").first
    expect(duplicate).to_contain_text("duplicate")
    expect(duplicate.get_by_role("link", name=f"job #{done['jobs'][0]['id']}")).to_be_visible()
    duplicate.get_by_role("button", name="Download again").click()
    expect(page.locator(".duplicates li").first).to_contain_text("queued again as job #")
    again_id = int(page.locator(".duplicates li a").first.inner_text().removeprefix("job #"))
    assert again_id != done["jobs"][0]["id"]
    assert gui_stack.wait_for_job(again_id)["status"] == "completed"


def test_cancel_a_running_download(admin_page: Page, gui_stack, media_site):
    page = admin_page
    wait_live(page)
    mark_window(page)
    url = media_site.url("/slow/cancel-me.jpg?kb=4096&rate=128")  # half a minute unless cancelled
    job_id = gui_stack.submit([url])["jobs"][0]["id"]
    expect(row(page, job_id).locator(".chip")).to_have_text("downloading")
    row(page, job_id).get_by_role("button", name=re.compile("^Cancel")).click()
    cancelled = page.locator(f"#finished-jobs #job-{job_id}")
    expect(cancelled.locator(".chip")).to_have_text("cancelled", timeout=10_000)
    assert gui_stack.job(job_id)["status"] == "cancelled"
    # A cancelled job can be retried from its row.
    expect(cancelled.get_by_role("button", name=re.compile("Retry"))).to_be_visible()
    assert_not_reloaded(page)


def test_pause_all_holds_new_jobs_across_a_worker_restart_until_resumed(admin_page: Page, gui_stack, media_site, resumed):
    page = admin_page
    wait_live(page)
    mark_window(page)
    page.get_by_role("button", name="Pause all").click()
    expect(page.locator(".paused-banner")).to_contain_text("The queue is paused")
    url = media_site.url("/img/777001.png")
    job_id = gui_stack.submit([url])["jobs"][0]["id"]
    expect(row(page, job_id).locator(".chip")).to_have_text("queued")
    # The pause is kept in the database: a restarted worker does not start the job either.
    gui_stack.stop_worker()
    gui_stack.start_worker()
    time.sleep(1.5)
    assert gui_stack.job(job_id)["status"] == "queued"
    expect(row(page, job_id).locator(".chip")).to_have_text("queued")
    shot(page, "queue-paused")
    page.get_by_role("button", name="Resume all").click()
    expect(page.locator(".paused-banner")).to_have_count(0)
    expect(page.locator(f"#finished-jobs #job-{job_id} .chip")).to_have_text("completed", timeout=15_000)
    assert_not_reloaded(page)


def test_reorder_and_pause_single_jobs(admin_page: Page, gui_stack, media_site, resumed, one_at_a_time):
    page = admin_page
    wait_live(page)
    page.get_by_role("button", name="Pause all").click()
    expect(page.locator(".paused-banner")).to_be_visible()
    urls = [media_site.url(f"/img/88800{n}.png") for n in range(3)]
    ids = [entry["id"] for entry in gui_stack.submit(urls)["jobs"]]
    for job_id in ids:
        expect(row(page, job_id)).to_be_visible()
    first, second, third = ids
    assert [i for i in job_ids_in(page, "active-jobs") if i in ids] == [first, second, third]

    row(page, third).get_by_role("button", name=re.compile("to the top")).click()
    expect(page.locator("#active-jobs > li.job").first).to_have_id(f"job-{third}")
    row(page, first).get_by_role("button", name=re.compile(r"down$")).click()
    page.wait_for_function(
        f"() => [...document.querySelectorAll('#active-jobs > li.job')].map(r => r.id).join() === "
        f"'job-{third},job-{second},job-{first}'"
    )
    # A paused job keeps its place and does not start when the queue resumes.
    row(page, second).get_by_role("button", name=re.compile("^Pause")).click()
    expect(row(page, second).locator(".chip")).to_have_text("paused")
    page.get_by_role("button", name="Resume all").click()
    for job_id in (third, first):
        expect(page.locator(f"#finished-jobs #job-{job_id} .chip")).to_have_text("completed", timeout=15_000)
    # One download at a time, so the moved job must have finished before the other began.
    # (With two slots both start in the same instant, and the clock read before each claim's
    # lock does not tell which claimed first.)
    moved, other = gui_stack.job(third), gui_stack.job(first)
    assert moved["finished_at"] <= other["started_at"], (moved, other)
    time.sleep(1)
    assert gui_stack.job(second)["status"] == "paused"
    row(page, second).get_by_role("button", name=re.compile("^Resume")).click()
    expect(page.locator(f"#finished-jobs #job-{second} .chip")).to_have_text("completed", timeout=15_000)


def test_clear_completed_keeps_history(admin_page: Page, gui_stack, media_site):
    page = admin_page
    job_id = gui_stack.submit([media_site.url("/img/990001.png")])["jobs"][0]["id"]
    gui_stack.wait_for_job(job_id)
    page.reload()
    expect(page.locator(f"#finished-jobs #job-{job_id}")).to_be_visible()
    page.get_by_role("button", name="Clear completed").click()
    expect(page.locator(f"#job-{job_id}")).to_have_count(0)
    expect(page.locator(".count[data-status=completed]")).not_to_have_text("0")  # counts keep history
    assert gui_stack.job(job_id)["status"] == "completed"


def test_a_user_sees_only_their_own_jobs(new_context, admin_page: Page, gui_stack, media_site,
                                        users_may_reach_the_media_site):
    create_user(gui_stack, "bob", "bob-password-123")
    bob_context = new_context()
    bob = bob_context.new_page()
    login(bob, "bob", "bob-password-123")
    wait_live(bob)
    bob_url = media_site.url("/slow/bob.jpg?kb=64&rate=64")
    add_links(bob, bob_url)
    expect(bob.locator("#add-links .notice.success")).to_contain_text("Queued 1 link")
    admin_job = gui_stack.submit([media_site.url("/img/555001.png")])["jobs"][0]["id"]
    gui_stack.wait_for_job(admin_job)
    bob_job = find_job_ids(gui_stack, [bob_url])[bob_url]
    expect(bob.locator(f"#job-{bob_job}")).to_be_visible()
    expect(bob.locator(f"#job-{admin_job}")).to_have_count(0)
    # Nor by guessing: another person's job cannot be steered.
    response = bob.request.post(f"/queue/jobs/{admin_job}/remove",
                                headers={"X-CSRFToken": csrf(bob)})
    assert response.status == 404
    # The admin sees both, and can narrow the list to one submitter.
    admin_page.reload()
    expect(admin_page.locator(f"#job-{bob_job}")).to_be_visible()
    expect(admin_page.locator(f"#job-{admin_job}")).to_be_visible()
    admin_page.get_by_label("Show jobs of").select_option(label="bob")
    admin_page.wait_for_url(re.compile(r"user=\d+"))
    expect(admin_page.locator(f"#job-{bob_job}")).to_be_visible()
    expect(admin_page.locator(f"#job-{admin_job}")).to_have_count(0)
    # Bob cannot pause the whole queue.
    expect(bob.get_by_role("button", name="Pause all")).to_have_count(0)


def test_queue_on_a_phone_in_dark_mode(new_context, gui_stack, media_site):
    context = new_context(viewport=PHONE, color_scheme="dark", is_mobile=True, has_touch=True)
    page = context.new_page()
    login(page, "admin", ADMIN_PASSWORD)
    wait_live(page)
    slow = media_site.url("/slow/phone.jpg?kb=512&rate=128")
    add_links(page, slow)
    expect(page.locator("#active-jobs .chip").first).to_have_text(re.compile("queued|downloading"))
    no_sideways_scroll = page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
    assert no_sideways_scroll
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(15, 18, 22)", background  # the dark theme's background
    shot(page, "queue-phone-dark", full_page=True)


def test_hundreds_of_jobs_keep_the_page_bounded(admin_page: Page, gui_stack, media_site, resumed):
    """300 jobs arrive and finish on an open page: no reload, and the finished list stays capped."""
    page = admin_page
    wait_live(page)
    mark_window(page)
    page.get_by_role("button", name="Pause all").click()
    expect(page.locator(".paused-banner")).to_be_visible()
    urls = [media_site.url(f"/img/{600000 + n}.png") for n in range(300)]
    ids = [e["id"] for e in gui_stack.submit(urls[:200])["jobs"]] + [e["id"] for e in gui_stack.submit(urls[200:])["jobs"]]
    page.wait_for_function("() => document.querySelectorAll('#active-jobs > li.job').length >= 300", timeout=30_000)
    elements_while_waiting = page.evaluate("document.getElementsByTagName('*').length")
    page.get_by_role("button", name="Resume all").click()
    expect(page.locator(f"#finished-jobs #job-{ids[-1]}")).to_be_visible(timeout=60_000)
    for job_id in (ids[0], ids[150], ids[-1]):
        assert gui_stack.job(job_id)["status"] == "completed"
    page.wait_for_function("() => document.querySelectorAll('#active-jobs > li.job').length === 0", timeout=30_000)
    finished_rows = page.locator("#finished-jobs > li.job").count()
    assert finished_rows == 50, finished_rows
    elements_after = page.evaluate("document.getElementsByTagName('*').length")
    assert elements_after < elements_while_waiting / 3, (elements_after, elements_while_waiting)
    assert_not_reloaded(page)


def test_after_a_dropped_stream_the_page_catches_up(admin_page: Page, gui_stack, media_site):
    """The web server restarts while a job runs: the page reconnects and shows what it missed."""
    page = admin_page
    wait_live(page)
    mark_window(page)
    url = media_site.url("/slow/while-away.jpg?kb=384&rate=192")  # about two seconds
    job_id = gui_stack.submit([url])["jobs"][0]["id"]
    expect(row(page, job_id)).to_be_visible()
    gui_stack.stop_web()  # every open stream drops with it
    expect(page.locator("#live-status")).to_have_text("Reconnecting…")
    time.sleep(4)  # the download ends while nobody listens (checked below by its finish time)
    restarted_at = datetime.now(timezone.utc)
    gui_stack.start_web()
    finished = gui_stack.job(job_id)
    assert finished["status"] == "completed"
    assert datetime.fromisoformat(finished["finished_at"].replace("Z", "+00:00")) < restarted_at
    expect(page.locator("#live-status")).to_have_text("Live", timeout=30_000)
    expect(page.locator(f"#finished-jobs #job-{job_id} .chip")).to_have_text("completed")
    expect(page.locator(f"#active-jobs #job-{job_id}")).to_have_count(0)
    assert_not_reloaded(page)
