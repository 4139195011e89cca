"""The installed app's share target in a real browser, against the live stack and worker.

A signed-in page installs the service worker (static/js/pwa.js). A share from the OS is a
multipart POST /share with no CSRF token: here the page itself sends that POST with fetch(),
which the service worker takes exactly as it takes the share sheet's. It keeps what was shared
and answers with the pending page, which sends the link and uploads the file with the
session's CSRF token after the person's tap. Without the service worker, the same POST reaches
the server and queues nothing.
"""
from __future__ import annotations

import base64
from urllib.parse import urlsplit

from playwright.sync_api import Page, expect

from browser.conftest import ADMIN_PASSWORD, ADMIN_USERNAME

CACHE = "haul-share-v1"

# Sends FormData like the share sheet's (fields title/text/url, files) to /share from the page.
SHARE_JS = """async ({title, text, url, files}) => {
  const form = new FormData();
  form.append("title", title);
  form.append("text", text);
  form.append("url", url);
  for (const file of files) {
    const bytes = Uint8Array.from(atob(file.data), (c) => c.charCodeAt(0));
    form.append("files", new File([bytes], file.name, {type: file.type}));
  }
  const response = await fetch("/share", {method: "POST", body: form});
  return {status: response.status, url: response.url, redirected: response.redirected};
}"""


def install_service_worker(page: Page) -> None:
    """Wait until the signed-in page's service worker is active and controls the page."""
    page.goto("/")
    state = page.evaluate("navigator.serviceWorker.ready.then((r) => r.active.state)")
    assert state in ("activating", "activated")
    # A page that started loading before the worker was active may stay uncontrolled (its
    # clients.claim() can come first); one loaded now is controlled, like the share sheet's.
    page.goto("/")
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    script = page.evaluate("navigator.serviceWorker.controller.scriptURL")
    assert urlsplit(script).path == "/sw.js"


def share(page: Page, title="", text="", url="", files=()) -> dict:
    payload = {"title": title, "text": text, "url": url,
               "files": [{"name": n, "type": t, "data": base64.b64encode(b).decode()} for n, t, b in files]}
    return page.evaluate(SHARE_JS, payload)


def jobs_from(stack, source: str) -> list[dict]:
    response = stack.session.get(f"{stack.base_url}/api/v1/queue", timeout=10,
                                 params={"source": source, "status": "queued,downloading,completed,failed"})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def pending_entries(page: Page) -> int:
    return page.evaluate(f"caches.open('{CACHE}').then((c) => c.keys()).then((k) => k.length)")


def test_a_shared_link_and_picture_reach_the_queue_and_the_library(admin_page, gui_stack, media_site):
    page = admin_page
    install_service_worker(page)
    link = media_site.url("/gallery/shared?count=1")
    picture = media_site.png_bytes(4242)
    answer = share(page, title="Gallery shared", text=f"Look at this {link} !", files=[("cat.png", "image/png", picture)])
    assert answer["redirected"] and answer["status"] == 200
    pending = urlsplit(answer["url"])
    assert pending.path == "/share" and pending.query.startswith("pending=")
    assert jobs_from(gui_stack, "share") == []  # kept in the browser; nothing sent yet
    assert pending_entries(page) == 2  # what was shared, and its file

    page.goto(answer["url"])
    expect(page.locator("#share-link")).to_have_text(link)
    expect(page.locator("#share-files")).to_contain_text("cat.png")
    send = page.get_by_role("button", name="Send to Haul")
    expect(send).to_be_focused()
    send.click()
    expect(page.locator("#share-results li.queued")).to_contain_text(f"Queued: {link}")
    expect(page.locator("#share-results li.stored")).to_contain_text("Stored: cat.png")
    expect(page.locator("#share-done")).to_be_visible()
    assert pending_entries(page) == 0  # sent: forgotten

    by_url = {job["url"]: job for job in jobs_from(gui_stack, "share")}
    link_job = by_url[link]
    assert link_job["submitted_by"] == {"user": ADMIN_USERNAME, "token": None, "via": "session"}
    done = gui_stack.wait_for_job(link_job["id"], timeout=60)
    assert done["status"] == "completed" and len(done["files"]) == 1
    [upload_job] = [job for url, job in by_url.items() if url.startswith("upload:")]
    assert upload_job["status"] == "completed"
    stored = gui_stack.storage_root / "uploads" / "shared" / "cat.png"
    assert stored.read_bytes() == picture

    # The same share again: both are known already, nothing new is stored.
    again = share(page, text=link, files=[("cat-again.png", "image/png", picture)])
    page.goto(again["url"])
    page.get_by_role("button", name="Send to Haul").click()
    expect(page.locator("#share-results li.duplicate")).to_have_count(2)
    expect(page.locator("#share-results")).to_contain_text("Already in Haul")
    expect(page.locator("#share-results")).to_contain_text("Already in your library: cat-again.png")
    assert not (stored.parent / "cat-again.png").exists()


def test_a_share_while_signed_out_waits_for_the_sign_in(new_context, admin_page, gui_stack, media_site):
    context = new_context(storage_state=admin_page.context.storage_state())
    page = context.new_page()
    install_service_worker(page)
    # Signed out (this context only); the service worker stays.
    page.locator("details.account-menu summary").click()
    page.get_by_role("menuitem", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to Haul")).to_be_visible()

    link = media_site.url("/gallery/shared-later?count=1")
    answer = share(page, title="Later", url=link)
    page.goto(answer["url"])
    expect(page.get_by_role("heading", name="Sign in to Haul")).to_be_visible()
    page.get_by_label("Username").fill(ADMIN_USERNAME)
    page.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#share-link")).to_have_text(link)
    assert urlsplit(page.url).path == "/share"
    page.get_by_role("button", name="Send to Haul").click()
    expect(page.locator("#share-results li.queued")).to_contain_text(link)
    assert [job["url"] for job in jobs_from(gui_stack, "share") if job["url"] == link] == [link]


def test_without_the_service_worker_a_share_queues_nothing(new_context, gui_stack, media_site):
    """A browser where Haul's helper is not installed yet: the OS's POST reaches the server."""
    before = len(jobs_from(gui_stack, "share"))
    page = new_context().new_page()
    page.set_content(f"""
      <form method="post" action="{gui_stack.base_url}/share" enctype="multipart/form-data">
        <input name="title" value="Cats"><input name="text" value="{media_site.url('/gallery/nohelper')}">
        <input name="url" value=""><input type="file" name="files"><button>Share</button>
      </form>""")
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Share").click()
    assert navigation.value.status == 400
    expect(page.get_by_role("heading", name="Open Haul once, then share again")).to_be_visible()
    expect(page.locator("main")).to_contain_text("nothing was queued or stored")
    assert len(jobs_from(gui_stack, "share")) == before
