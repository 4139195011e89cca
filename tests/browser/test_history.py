"""The history page in a real browser, against the live web server and the real worker.

Media comes from the local media site: a gallery of three images, a page with an HTML5 video,
a missing image (a failed job). Thumbnails are made by the real worker after each job.
"""
from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

from browser.conftest import PHONE, shot

GALLERY = "history-gallery"
VIDEO = "history-video"


def entry(page: Page, job_id: int):
    return page.locator(f"#entry-{job_id}")


def query_of(page: Page) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}


def wait_for_thumbnails(page: Page, job_id: int, count: int, timeout: float = 20) -> None:
    """Reload the history until the entry shows `count` thumbnails (the worker makes them after the job)."""
    deadline = time.monotonic() + timeout
    while True:
        page.goto("/history")
        if entry(page, job_id).locator(".thumb img").count() >= count:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"entry {job_id} still has no {count} thumbnails")
        time.sleep(0.3)


@pytest.fixture(scope="module")
def downloads(gui_stack, media_site) -> dict[str, int]:
    """Finished jobs for the module: a gallery, a video page, a failed link, a plain image."""
    ids = {}
    for name, url, fields in (
        ("failed", media_site.url("/missing.jpg"), {}),
        ("image", media_site.url("/img/4242.png"), {"post_title": "Singles"}),
        ("video", media_site.url(f"/video/{VIDEO}"), {"post_title": "Clips"}),
        ("gallery", media_site.url(f"/gallery/{GALLERY}?count=3"), {"post_title": "Holiday"}),
    ):
        body = gui_stack.submit([url], **fields)
        ids[name] = body["jobs"][0]["id"]
        gui_stack.wait_for_job(ids[name], timeout=60)
    assert gui_stack.job(ids["failed"])["status"] == "failed"
    for name in ("image", "video", "gallery"):
        assert gui_stack.job(ids[name])["status"] == "completed", name
    return ids


def test_search_and_filters_update_the_list_and_the_url(admin_page: Page, gui_stack, downloads):
    page = admin_page
    page.goto("/history")
    expect(entry(page, downloads["gallery"])).to_be_visible()
    page.evaluate("window.__haulNoReload = 'still here'")

    # Search as you type: the results change without a reload, and the URL says what is shown.
    page.get_by_label("Search").fill(VIDEO)
    expect(entry(page, downloads["video"])).to_be_visible()
    expect(entry(page, downloads["gallery"])).to_have_count(0)
    expect(page).to_have_url(re.compile(rf"/history\?q={VIDEO}$"))
    # A file name finds its job too.
    page.get_by_label("Search").fill("4242")
    expect(entry(page, downloads["image"])).to_be_visible()
    expect(page.locator("article.entry")).to_have_count(1)

    page.get_by_label("Search").fill("")
    page.get_by_label("Status").select_option("failed")
    expect(entry(page, downloads["failed"])).to_be_visible()
    expect(page.locator("article.entry")).to_have_count(1)
    expect(page.locator("#history-summary")).to_have_text("1 entry · showing 1–1")
    assert query_of(page) == {"status": "failed"}
    assert page.evaluate("window.__haulNoReload") == "still here", "the page reloaded"

    # The view is a bookmark: opening the URL afresh shows the same entries and form.
    page.goto("/history?status=completed&q=gallery")
    expect(page.get_by_label("Status")).to_have_value("completed")
    expect(page.get_by_label("Search")).to_have_value("gallery")
    expect(page.locator("article.entry")).to_have_count(1)
    expect(entry(page, downloads["gallery"])).to_be_visible()

    # A domain link narrows to that site; Clear filters shows everything again.
    page.goto("/history")
    entry(page, downloads["gallery"]).get_by_role("link", name="127.0.0.1", exact=True).click()
    expect(page).to_have_url(re.compile(r"/history\?domain=127\.0\.0\.1$"))
    expect(page.get_by_label("Domain")).to_have_value("127.0.0.1")
    page.get_by_role("link", name="Clear filters").click()
    expect(page).to_have_url(re.compile(r"/history$"))


def test_preview_images_with_next_and_previous_and_play_the_video(admin_page: Page, gui_stack, downloads):
    page = admin_page
    gallery = downloads["gallery"]
    wait_for_thumbnails(page, gallery, 3)
    wait_for_thumbnails(page, downloads["video"], 1)
    # Each thumbnail really is an image the browser could decode.
    sizes = entry(page, gallery).locator(".thumb img").evaluate_all("imgs => imgs.map(i => i.naturalWidth)")
    assert len(sizes) == 3 and all(width > 0 for width in sizes)
    shot(page, "history")

    viewer = page.locator("#viewer")
    entry(page, gallery).locator("[data-preview]").first.click()
    expect(viewer).to_be_visible()
    expect(viewer.locator(".viewer-count")).to_have_text("1 / 3")
    image = viewer.locator("img.viewer-media")
    expect(image).to_be_visible()
    first_src = image.get_attribute("src")
    page.wait_for_function("() => document.querySelector('#viewer img').naturalWidth > 0")
    viewer.get_by_role("button", name="Next file").click()
    expect(viewer.locator(".viewer-count")).to_have_text("2 / 3")
    assert image.get_attribute("src") != first_src
    page.keyboard.press("ArrowRight")
    expect(viewer.locator(".viewer-count")).to_have_text("3 / 3")
    page.keyboard.press("ArrowRight")  # round to the first again
    expect(viewer.locator(".viewer-count")).to_have_text("1 / 3")
    viewer.get_by_role("button", name="Previous file").click()
    expect(viewer.locator(".viewer-count")).to_have_text("3 / 3")
    download = viewer.get_by_role("link", name=re.compile("^Download "))
    assert "download=1" in download.get_attribute("href")
    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()

    # The video plays in the page: the browser reads its metadata (by Range requests) and can seek.
    entry(page, downloads["video"]).locator("[data-preview]").first.click()
    video = viewer.locator("video.viewer-media")
    expect(video).to_be_visible()
    expect(viewer.get_by_role("button", name="Next file")).to_be_hidden()
    page.wait_for_function("() => document.querySelector('#viewer video').readyState >= 1", timeout=15_000)
    duration = video.evaluate("v => v.duration")
    assert 0.5 < duration < 2.0
    video.evaluate("v => { v.muted = true; v.currentTime = 0.5; }")
    page.wait_for_function("() => document.querySelector('#viewer video').currentTime >= 0.4")
    # The frame at that time decoded (not only the time set), so the screenshot shows the picture.
    page.wait_for_function("() => { const v = document.querySelector('#viewer video');"
                           " return v.readyState >= 2 && !v.seeking; }")
    shot(page, "history-preview")
    viewer.get_by_role("button", name="Close the preview").click()
    expect(viewer).to_be_hidden()


def test_delete_with_files_removes_them_from_disk(admin_page: Page, gui_stack, media_site):
    page = admin_page
    job_id = gui_stack.submit([media_site.url("/gallery/history-doomed?count=2")], post_title="Doomed")["jobs"][0]["id"]
    assert gui_stack.wait_for_job(job_id, timeout=60)["status"] == "completed"
    paths = [Path(gui_stack.storage_root) / f["path"] for f in gui_stack.job(job_id)["files"]]
    assert len(paths) == 2 and all(p.is_file() for p in paths)

    page.goto("/history")
    item = entry(page, job_id)
    item.get_by_role("button", name=re.compile("^Delete ")).click()
    dialog = page.locator(f"#delete-{job_id}")
    expect(dialog).to_be_visible()
    # Cancel first: nothing happens.
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert all(p.is_file() for p in paths)

    item.get_by_role("button", name=re.compile("^Delete ")).click()
    dialog.get_by_role("button", name="Delete record and files").click()
    expect(item).to_have_count(0)
    expect(page.locator(".toast")).to_contain_text("2 files removed from disk")
    assert not any(p.exists() for p in paths)
    assert not (Path(gui_stack.storage_root) / "Doomed").exists()  # its folders went with them
    assert Path(gui_stack.storage_root).is_dir()
    page.goto("/history")
    expect(entry(page, job_id)).to_have_count(0)


def test_the_toast_arrives_when_a_live_update_removed_the_entry_first(admin_page: Page, gui_stack, media_site):
    """The deleted entry's own live event may remove it before the delete's answer comes back."""
    page = admin_page
    job_id = gui_stack.submit([media_site.url("/img/5151.png")], post_title="Raced")["jobs"][0]["id"]
    assert gui_stack.wait_for_job(job_id, timeout=60)["status"] == "completed"
    page.goto("/history")
    item = entry(page, job_id)
    expect(item).to_be_visible()
    # As the stream does when its event wins the race: the entry leaves the page once the
    # answer's headers are in, before htmx handles the answer.
    page.evaluate("""(id) => document.addEventListener("htmx:beforeSend", (event) => {
        const xhr = event.detail.xhr;
        xhr.addEventListener("readystatechange", () => {
            if (xhr.readyState === XMLHttpRequest.HEADERS_RECEIVED) document.getElementById("entry-" + id)?.remove();
        });
    })""", job_id)
    item.get_by_role("button", name=re.compile("^Delete ")).click()
    page.locator(f"#delete-{job_id}").get_by_role("button", name="Delete record and files").click()
    expect(page.locator(".toast")).to_contain_text("1 file removed from disk")
    expect(item).to_have_count(0)


def test_download_again_queues_the_url_as_a_new_job(admin_page: Page, gui_stack, downloads):
    page = admin_page
    page.goto("/history")
    image = downloads["image"]
    entry(page, image).get_by_role("button", name=re.compile("^Download .* again$")).click()
    toast = page.locator(".toast", has_text="again as job #")
    expect(toast).to_be_visible()
    new_id = int(re.search(r"job #(\d+)", toast.inner_text()).group(1))
    assert new_id != image
    assert gui_stack.wait_for_job(new_id, timeout=60)["status"] == "completed"
    page.goto("/history?source=gui")
    expect(entry(page, new_id)).to_be_visible()
    expect(entry(page, new_id)).to_contain_text("Singles")  # the original post title came along


def test_history_on_a_phone(new_context, gui_stack, downloads, _admin_session):
    context = new_context(viewport=PHONE, color_scheme="dark", storage_state=_admin_session["storage"])
    page = context.new_page()
    page.set_viewport_size({"width": 360, "height": 780})
    page.goto("/history")
    expect(entry(page, downloads["gallery"])).to_be_visible()
    too_wide = page.evaluate("""() => Array.from(document.querySelectorAll('body *'))
        .filter(e => e.getBoundingClientRect().right > 360.5).map(e => e.tagName + '.' + e.className).slice(0, 10)""")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360, f"the page scrolls sideways: {too_wide}"
    shot(page, "history-phone-dark")
    # Keyboard: the search field, then a preview opened with Enter, closed with Escape.
    page.get_by_label("Search").focus()
    entry(page, downloads["gallery"]).locator("[data-preview]").first.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#viewer")).to_be_visible()
    box = page.locator("#viewer").bounding_box()
    assert box["width"] <= 360
    page.keyboard.press("Escape")
    expect(page.locator("#viewer")).to_be_hidden()
