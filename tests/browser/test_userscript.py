"""The userscript (static/haul.user.js) in a real browser, run the way a userscript manager runs it.

Tampermonkey and Violentmonkey are browser extensions, which Playwright cannot install, so the
context plays their part: an init script provides the GM_* API the script grants and runs the
script at document-idle on every page of the local media site (another origin than Haul):

* GM_getValue / GM_setValue: the script's storage, kept in the media site's localStorage under
  a prefix (shared by its tabs and pages, like a manager's), pre-seeded with Haul's address and
  the token, as the script's settings menu would have saved them;
* GM_registerMenuCommand: records the commands, so a test can choose one as from the menu;
* GM_notification: records each notification and keeps its onclick, so a test can click it;
* GM_xmlhttpRequest: the request is made from Python with `requests` (through a Playwright
  binding), outside the page, so the page's CORS does not apply: that is what the managers do.
  The script gets a response shaped like theirs (status, statusText, responseText,
  responseHeaders, finalUrl, readyState).

The WebSocket to /ws/notifications is the page's own (a WebSocket may connect to another
origin), watched through Playwright's websocket events. The button lives in a closed shadow
root, out of reach of Playwright's selectors: the init script keeps a reference to the roots the
script attaches, to read the button, and it is clicked with the mouse at its place on the page.
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from urllib.parse import quote, urlsplit

import pytest
import requests
from playwright.sync_api import BrowserContext, Page, expect
from support.stack import ROOT

from browser.conftest import ADMIN_USERNAME, shot

USERSCRIPT = (ROOT / "static" / "haul.user.js").read_text(encoding="utf-8")
KEYS = {"base": "haul.base", "token": "haul.token", "jobs": "haul.jobs"}
ALL_STATUSES = "queued,paused,downloading,completed,failed,cancelled"
DONE_MS = 60_000  # a download by the real worker, on a busy machine
MENU = ["Send this page to Haul", "Send this page with a post title…", "Show or hide the Haul button",
        "Haul: settings"]

# The userscript manager's part, run first in every frame of every page of the context.
MANAGER = r"""
(() => {
  const ORIGIN = __ORIGIN__;
  const SEED = __SEED__;
  if (location.origin !== ORIGIN || window.top !== window) return;  // @match the media site; @noframes

  const test = window.__haulTest = {
    menu: [], notifications: [], notificationDetails: [], roots: [], errors: [],
    requests: { started: 0, settled: 0 },
  };

  // -- GM_getValue / GM_setValue: JSON copies, as the managers store them ----------------------
  const PREFIX = "__gm:";
  if (localStorage.getItem(PREFIX + "__seeded") === null) {
    for (const [key, value] of Object.entries(SEED)) localStorage.setItem(PREFIX + key, JSON.stringify(value));
    localStorage.setItem(PREFIX + "__seeded", "1");
  }
  window.GM_getValue = function (key, fallback) {
    const raw = localStorage.getItem(PREFIX + key);
    return raw === null ? fallback : JSON.parse(raw);
  };
  window.GM_setValue = function (key, value) {
    if (value === undefined) localStorage.removeItem(PREFIX + key);
    else localStorage.setItem(PREFIX + key, JSON.stringify(value));
  };

  // -- GM_registerMenuCommand --------------------------------------------------------------------
  window.GM_registerMenuCommand = function (name, callback) {
    test.menu.push({ name: name, callback: callback });
    return name;
  };
  test.runMenu = function (name) {
    const command = test.menu.find(function (entry) { return entry.name === name; });
    if (!command) throw new Error("no menu command " + name);
    command.callback();
  };

  // -- GM_notification (details form, and the old text, title, image, onclick form) --------------
  window.GM_notification = function (details, ondone) {
    if (typeof details === "string") {
      details = { text: details, title: arguments[1], image: arguments[2], onclick: arguments[3] };
    }
    test.notifications.push({
      title: String(details.title || ""), text: String(details.text || ""),
      timeout: details.timeout === undefined ? null : details.timeout,
      clickable: typeof details.onclick === "function",
    });
    test.notificationDetails.push(details);
  };
  test.clickNotification = function (index) {
    const details = test.notificationDetails[index];
    if (typeof details.onclick === "function") details.onclick();
  };

  // -- GM_xmlhttpRequest, made by Python (window.__haulGMRequest) ------------------------------
  window.GM_xmlhttpRequest = function (details) {
    let over = false;
    test.requests.started += 1;
    function settle(handler, response) {
      if (over) return;
      over = true;
      try {
        if (typeof handler === "function") handler.call(details, response);
        if (typeof details.onloadend === "function") details.onloadend.call(details, response);
      } finally {
        test.requests.settled += 1;
      }
    }
    const sent = {
      method: String(details.method || "GET").toUpperCase(), url: String(details.url),
      headers: details.headers || {}, data: details.data == null ? null : String(details.data),
      timeout: details.timeout || 0,
    };
    window.__haulGMRequest(sent).then(function (answer) {
      const handler = answer.outcome === "load" ? details.onload
        : answer.outcome === "timeout" ? details.ontimeout : details.onerror;
      settle(handler, answer.response);
    }, function (error) {
      settle(details.onerror, { status: 0, statusText: "", responseText: "", responseHeaders: "",
                                finalUrl: sent.url, readyState: 4, error: String(error) });
    });
    return { abort: function () { if (!over) settle(details.onabort, { status: 0, readyState: 4 }); } };
  };

  // -- the button: remember the (closed) shadow roots the script attaches -----------------------
  const attachShadow = Element.prototype.attachShadow;
  Element.prototype.attachShadow = function (init) {
    const root = attachShadow.call(this, init);
    if (this.hasAttribute("data-haul-userscript")) test.roots.push(root);
    return root;
  };
  test.button = function () {
    for (let i = test.roots.length - 1; i >= 0; i -= 1) {
      const button = test.roots[i].querySelector("button");
      if (button && button.isConnected) return button;
    }
    return null;
  };
  test.buttonState = function () {
    const button = test.button();
    if (!button) return null;
    const box = button.getBoundingClientRect();
    const x = box.left + box.width / 2, y = box.top + box.height / 2;
    const style = getComputedStyle(button);
    return {
      text: button.textContent, state: button.dataset.state, title: button.title,
      x: x, y: y, width: box.width, height: box.height,
      background: style.backgroundColor, position: style.position,
      // What the mouse would hit there: the button's host (a closed root answers its host).
      onTop: document.elementFromPoint(x, y) === button.getRootNode().host,
      inView: box.left >= 0 && box.top >= 0 && box.right <= innerWidth && box.bottom <= innerHeight,
    };
  };

  window.addEventListener("error", function (event) { test.errors.push(String(event.message)); });
  window.addEventListener("unhandledrejection", function (event) { test.errors.push(String(event.reason)); });

  // -- the userscript itself, at document-idle ---------------------------------------------------
  function runUserscript() {
__USERSCRIPT__
  }
  function idle() { setTimeout(runUserscript, 0); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", idle, { once: true });
  else idle();
})();
"""


class GMRequests:
    """GM_xmlhttpRequest's far end: each request made with `requests`, and recorded."""

    def __init__(self):
        self.calls: list[dict] = []

    def __call__(self, source, details: dict) -> dict:
        data = details.get("data")
        call = {"method": details["method"], "url": details["url"], "headers": dict(details.get("headers") or {}),
                "body": data, "json": None, "status": None}
        if data:
            try:
                call["json"] = json.loads(data)
            except ValueError:
                pass
        self.calls.append(call)
        timeout = (details.get("timeout") or 30_000) / 1000
        try:
            response = requests.request(call["method"], call["url"], headers=call["headers"],
                                        data=data.encode("utf-8") if data is not None else None,
                                        timeout=timeout, allow_redirects=True)
        except requests.Timeout as exc:
            return {"outcome": "timeout", "response": self._failed(call, exc)}
        except requests.RequestException as exc:
            return {"outcome": "error", "response": self._failed(call, exc)}
        call["status"] = response.status_code
        headers = "".join(f"{name.lower()}: {value}\r\n" for name, value in response.headers.items())
        return {"outcome": "load", "response": {
            "status": response.status_code, "statusText": response.reason or "", "readyState": 4,
            "responseText": response.text, "response": response.text, "responseHeaders": headers,
            "finalUrl": response.url,
        }}

    @staticmethod
    def _failed(call: dict, exc: Exception) -> dict:
        call["status"] = 0
        return {"status": 0, "statusText": "", "readyState": 4, "responseText": "", "responseHeaders": "",
                "finalUrl": call["url"], "error": str(exc)}

    def to(self, method: str, path: str) -> list[dict]:
        return [call for call in self.calls if call["method"] == method and urlsplit(call["url"]).path == path]


class Userscript:
    """A page of the media site with the userscript running, and what it did."""

    def __init__(self, context: BrowserContext, gm: GMRequests, base: str):
        self.context = context
        self.gm = gm
        self.haul_base = base
        self.page: Page = context.new_page()
        self.sockets: list[dict] = []
        self.page_errors: list[str] = []
        self.page.on("websocket", self._socket)
        self.page.on("pageerror", lambda error: self.page_errors.append(str(error)))

    def _socket(self, ws) -> None:
        record = {"url": ws.url, "frames": [], "ws": ws}
        ws.on("framereceived", lambda payload: record["frames"].append(payload))
        self.sockets.append(record)

    def open(self, url: str) -> "Userscript":
        self.page.goto(url)
        self.wait_button("⇩ Haul", "idle")
        return self

    # -- the button ------------------------------------------------------------------------------
    def button(self) -> dict | None:
        return self.page.evaluate("window.__haulTest.buttonState()")

    def wait_button(self, text: str, state: str, timeout: float | None = None) -> dict:
        self.page.wait_for_function(
            "([text, state]) => { const b = window.__haulTest && window.__haulTest.buttonState();"
            " return Boolean(b && b.text === text && b.state === state); }",
            arg=[text, state], timeout=timeout)
        return self.button()

    def click(self) -> None:
        """A real click where the button is on the page (the mouse hits whatever is on top there)."""
        button = self.button()
        assert button and button["onTop"] and button["inView"], button
        self.page.mouse.click(button["x"], button["y"])

    # -- notifications, storage, requests --------------------------------------------------------
    def notifications(self) -> list[dict]:
        return self.page.evaluate("window.__haulTest.notifications")

    def wait_notification(self, title: str, timeout: float | None = None) -> dict:
        self.page.wait_for_function(
            "title => window.__haulTest.notifications.some(n => n.title === title)", arg=title, timeout=timeout)
        return next(n for n in self.notifications() if n["title"] == title)

    def click_notification(self, title: str) -> Page:
        """Click the (last) notification with that title: the page it opens, once loaded."""
        index = max(i for i, n in enumerate(self.notifications()) if n["title"] == title)
        with self.context.expect_page() as opened:
            self.page.evaluate("index => window.__haulTest.clickNotification(index)", index)
        page = opened.value
        page.wait_for_url(lambda url: url.startswith(self.haul_base))
        page.wait_for_load_state()
        return page

    def value(self, key: str, fallback=None):
        return self.page.evaluate("([key, fallback]) => GM_getValue(key, fallback)", [key, fallback])

    def wait_requests_settled(self, at_least: int) -> None:
        """Until the script has started at least `at_least` requests on this page and every one
        it started has had its callback run."""
        self.page.wait_for_function(
            "n => { const r = window.__haulTest.requests; return r.started >= n && r.settled === r.started; }",
            arg=at_least)

    def socket_messages(self) -> list[dict]:
        return [json.loads(frame) for record in self.sockets for frame in record["frames"] if isinstance(frame, str)]


def start_userscript(context: BrowserContext, media_site, base: str, token: str, **seed) -> Userscript:
    """Install the manager's part and the script in `context`; a new page of it, not yet opened."""
    gm = GMRequests()
    context.expose_binding("__haulGMRequest", gm)
    values = {KEYS["base"]: base, KEYS["token"]: token, **seed}
    origin = media_site.url("/").rstrip("/")
    script = (MANAGER.replace("__ORIGIN__", json.dumps(origin)).replace("__SEED__", json.dumps(values))
              .replace("__USERSCRIPT__", USERSCRIPT))
    context.add_init_script(script)
    return Userscript(context, gm, base)


def jobs_for(stack, url: str) -> list[dict]:
    """Every job Haul has for `url` (asked with the stack's static admin token)."""
    response = stack.session.get(f"{stack.base_url}/api/v1/queue", params={"status": ALL_STATUSES, "per_page": 100},
                                 timeout=10)
    assert response.status_code == 200, response.text
    return [job for job in response.json()["items"] if job["url"] == url]


@contextmanager
def queue_paused(stack):
    """Hold the whole queue (the admin's pause): jobs wait until the block ends."""
    response = stack.session.post(f"{stack.base_url}/api/v1/queue/pause", timeout=10)
    assert response.status_code == 200 and response.json()["paused"] is True, response.text
    try:
        yield
    finally:
        response = stack.session.post(f"{stack.base_url}/api/v1/queue/resume", timeout=10)
        assert response.status_code == 200 and response.json()["paused"] is False, response.text


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def submit_token(admin_page, gui_stack, users_may_reach_the_media_site) -> str:
    """A token made the way the account page offers it ("Create a submit-only token").

    A submit-only token carries no admin trust, even the admin's: its links reach 127.0.0.1 (the
    media site) only while the admin lets users reach private addresses."""
    admin_page.goto("/account")
    admin_page.locator("#userscript-token").click()
    expect(admin_page.get_by_role("heading", name="Token for the userscript")).to_be_visible()
    expect(admin_page.get_by_role("heading", name="Your new token “userscript” (submit only)")).to_be_visible()
    token = admin_page.locator("#new-token-value").input_value()
    assert len(token) >= 20, token
    # It may queue links and follow what it sent itself, nothing more: no library, no tokens.
    bearer = {"Authorization": f"Bearer {token}"}
    stats = requests.get(f"{gui_stack.base_url}/api/v1/queue/stats", headers=bearer, timeout=10)
    assert stats.status_code == 200, stats.text
    for path in ("/api/v1/downloads", "/api/v1/tokens"):
        refused = requests.get(gui_stack.base_url + path, headers=bearer, timeout=10)
        assert refused.status_code == 403 and refused.json()["error_code"] == "insufficient_scope", path
    return token


@pytest.fixture
def signed_in(admin_page) -> dict:
    """The admin's browser session, for contexts where a notification opens Haul's pages."""
    return admin_page.context.storage_state()


# -- tests ---------------------------------------------------------------------------------------


def test_the_button_on_a_page(new_context, media_site, gui_stack, submit_token):
    context = new_context(viewport=(720, 450))
    script = start_userscript(context, media_site, gui_stack.base_url, submit_token)
    script.open(media_site.url("/gallery/button?count=3"))
    expect(script.page).to_have_title("Gallery button")
    button = script.button()
    assert button["text"] == "⇩ Haul" and button["state"] == "idle"
    assert button["position"] == "fixed" and button["onTop"] and button["inView"]
    assert button["title"] == "Send this page to Haul (Shift-click: with a post title)"
    # In the bottom-right corner, 16px from the edges.
    assert 720 - 16 - 2 <= button["x"] + button["width"] / 2 <= 720 - 16 + 2
    assert 450 - 16 - 2 <= button["y"] + button["height"] / 2 <= 450 - 16 + 2
    # Nothing to follow yet: no request, no socket; the menu has its commands.
    assert script.gm.calls == [] and script.sockets == []
    assert [entry["name"] for entry in script.page.evaluate("window.__haulTest.menu")] == MENU
    # The page cannot reach into it (closed shadow root) and it is one element on the page.
    assert script.page.evaluate("document.querySelectorAll('[data-haul-userscript]').length") == 1
    assert script.page.evaluate("document.querySelector('[data-haul-userscript]').shadowRoot") is None
    shot(script.page, "userscript-button")
    # Hidden from the menu, and back.
    script.page.evaluate("window.__haulTest.runMenu('Show or hide the Haul button')")
    assert script.button() is None and script.value("haul.buttonHidden") is True
    assert script.page.evaluate("document.querySelectorAll('[data-haul-userscript]').length") == 0
    script.page.evaluate("window.__haulTest.runMenu('Show or hide the Haul button')")
    script.wait_button("⇩ Haul", "idle")
    assert script.page_errors == [] and script.page.evaluate("window.__haulTest.errors") == []


def test_the_button_queues_the_page_and_the_download_is_notified(new_context, signed_in, media_site, gui_stack,
                                                                 submit_token):
    target = media_site.url("/gallery/userscript?count=2")
    context = new_context(storage_state=signed_in)
    script = start_userscript(context, media_site, gui_stack.base_url, submit_token).open(target)
    queue_url = f"{gui_stack.base_url}/api/v1/queue"

    # The queue is held, so that the completion comes while the script's socket listens.
    with queue_paused(gui_stack):
        with script.page.expect_websocket() as opened:
            script.click()
        socket = opened.value
        assert socket.url == (gui_stack.base_url.replace("http://", "ws://")
                              + "/ws/notifications?token=" + quote(submit_token, safe=""))
        script.wait_button("✓ Sent", "done")

        # What it sent: the page's URL, with the bearer token, from outside the page.
        [sent] = script.gm.to("POST", "/api/v1/queue")
        assert sent["url"] == queue_url and sent["status"] == 201
        assert sent["headers"]["Authorization"] == f"Bearer {submit_token}"
        assert sent["headers"]["Content-Type"] == "application/json"
        assert sent["json"] == {"urls": [target]}
        [job] = jobs_for(gui_stack, target)
        assert job["status"] == "queued" and job["source"] == "api"
        assert job["submitted_by"] == {"user": ADMIN_USERNAME, "token": "userscript", "via": "token"}
        queued = script.wait_notification("Queued in Haul")
        assert queued["text"] == "Gallery userscript" and queued["clickable"]
        assert script.value(KEYS["jobs"]) == [job["id"]]
        # Once its socket is open it asks how the job is (a job that ended before would be told).
        script.wait_requests_settled(2)
        [asked] = script.gm.to("GET", f"/api/v1/queue/{job['id']}")
        assert asked["status"] == 200 and asked["headers"]["Authorization"] == f"Bearer {submit_token}"
        assert not socket.is_closed()

    # The worker downloads it; the socket says so and the script shows it.
    done_note = script.wait_notification("Downloaded by Haul", timeout=DONE_MS)
    done = gui_stack.wait_for_job(job["id"], timeout=DONE_MS / 1000)
    assert done["status"] == "completed" and len(done["files"]) == 2, done
    assert done_note["text"] == (done["title"] or target) and done_note["clickable"]
    told = [m for m in script.socket_messages() if m.get("job_id") == job["id"] and m.get("type") == "completed"]
    assert len(told) == 1 and told[0]["url"] == target
    # Nothing left to follow: the job is no longer tracked and the socket is closed.
    assert script.value(KEYS["jobs"]) == []
    if not socket.is_closed():
        socket.wait_for_event("close")
    assert [n["title"] for n in script.notifications()] == ["Queued in Haul", "Downloaded by Haul"]
    # Clicking the notification opens the job in Haul.
    history = script.click_notification("Downloaded by Haul")
    assert urlsplit(history.url).path == f"/history/{job['id']}"
    expect(history.locator("main")).to_contain_text("userscript")
    history.close()

    # The same page again: Haul has it already, and nothing new is queued.
    script.wait_button("⇩ Haul", "idle")
    script.click()
    again = script.wait_button("✓ In Haul", "known")
    assert again["background"] == "rgb(6, 118, 71)"
    known = script.wait_notification("Already in Haul")
    assert known["text"] == "This page is already queued or downloaded." and known["clickable"]
    posts = script.gm.to("POST", "/api/v1/queue")
    assert [call["status"] for call in posts] == [201, 409]
    assert posts[1]["headers"]["Authorization"] == f"Bearer {submit_token}" and posts[1]["json"] == {"urls": [target]}
    assert [j["id"] for j in jobs_for(gui_stack, target)] == [job["id"]]
    assert script.value(KEYS["jobs"]) == [] and len(script.sockets) == 1
    duplicate_of = script.click_notification("Already in Haul")
    assert urlsplit(duplicate_of.url).path == f"/history/{job['id']}"
    assert script.page_errors == [] and script.page.evaluate("window.__haulTest.errors") == []


def test_a_wrong_token_is_refused_with_a_clear_notification(new_context, media_site, gui_stack):
    target = media_site.url("/gallery/userscript-wrong-token?count=1")
    context = new_context()
    script = start_userscript(context, media_site, gui_stack.base_url, "not-a-haul-token").open(target)
    script.click()
    button = script.wait_button("! Haul", "error")
    assert button["background"] == "rgb(180, 35, 24)"
    note = script.wait_notification("Haul refused the token")
    assert note["text"] == "Set a valid token in the menu: Haul: settings."
    [sent] = script.gm.to("POST", "/api/v1/queue")
    assert sent["status"] == 401 and sent["headers"]["Authorization"] == "Bearer not-a-haul-token"
    assert jobs_for(gui_stack, target) == []
    # Nothing queued, nothing to follow: no socket.
    assert script.value(KEYS["jobs"], []) == [] and script.sockets == []
    script.wait_button("⇩ Haul", "idle")
    assert script.page_errors == []


def test_a_token_refused_while_following_is_said_once(new_context, media_site, gui_stack):
    """Jobs followed from earlier, and the token was revoked since: the socket is refused (1008)
    and the check of the job 401; one notification, then the script stops following."""
    context = new_context()
    script = start_userscript(context, media_site, gui_stack.base_url, "a-revoked-token",
                              **{KEYS["jobs"]: [424242]})
    with script.page.expect_websocket() as opened:
        script.open(media_site.url("/gallery/userscript-revoked?count=1"))
    socket = opened.value
    assert socket.url.endswith("/ws/notifications?token=a-revoked-token")
    script.wait_notification("Haul refused the token")
    if not socket.is_closed():
        socket.wait_for_event("close")
    script.wait_requests_settled(1)
    assert [call["status"] for call in script.gm.to("GET", "/api/v1/queue/424242")] == [401]
    assert [n["title"] for n in script.notifications()] == ["Haul refused the token"]
    assert len(script.sockets) == 1
    # The jobs stay followed for when a valid token is set.
    assert script.value(KEYS["jobs"]) == [424242]
    assert script.page_errors == []


def test_the_next_page_in_the_tab_takes_over_the_following(new_context, media_site, gui_stack, submit_token):
    """Sent from one page, then on to another before the download ends: the new page follows
    the job at once (the old one handed the lead over when it went) and tells when it is done."""
    first = media_site.url("/gallery/userscript-first?count=1")
    context = new_context()
    script = start_userscript(context, media_site, gui_stack.base_url, submit_token).open(first)
    with queue_paused(gui_stack):
        with script.page.expect_websocket():
            script.click()
        script.wait_button("✓ Sent", "done")
        [job] = jobs_for(gui_stack, first)
        script.wait_requests_settled(2)  # the POST, and the check once the socket opened
        with script.page.expect_websocket() as opened:
            script.open(media_site.url("/gallery/userscript-second?count=1"))
        # The second page's socket is open: it asked about the job.
        script.wait_requests_settled(1)
        assert len(script.gm.to("GET", f"/api/v1/queue/{job['id']}")) == 2
    note = script.wait_notification("Downloaded by Haul", timeout=DONE_MS)
    done = gui_stack.wait_for_job(job["id"], timeout=DONE_MS / 1000)
    assert done["status"] == "completed"
    assert note["text"] == (done["title"] or first)
    told = [json.loads(frame) for frame in script.sockets[1]["frames"] if isinstance(frame, str)]
    assert any(m.get("job_id") == job["id"] and m.get("type") == "completed" for m in told)
    assert opened.value is script.sockets[1]["ws"]
    assert script.value(KEYS["jobs"]) == []
    assert script.page_errors == []


def test_the_menu_sends_the_page_with_a_post_title(new_context, media_site, gui_stack, submit_token):
    target = media_site.url("/gallery/userscript-titled?count=1")
    context = new_context()
    script = start_userscript(context, media_site, gui_stack.base_url, submit_token).open(target)
    prompts = []

    def answer(dialog):
        prompts.append(dialog.message)
        dialog.accept("Cat pictures")

    script.page.once("dialog", answer)
    script.page.evaluate("window.__haulTest.runMenu('Send this page with a post title…')")
    script.wait_button("✓ Sent", "done")
    assert prompts == ["Post title (a folder in your library; empty for none):"]
    [sent] = script.gm.to("POST", "/api/v1/queue")
    assert sent["status"] == 201 and sent["json"] == {"urls": [target], "post_title": "Cat pictures"}
    [job] = jobs_for(gui_stack, target)
    download = gui_stack.session.get(f"{gui_stack.base_url}/downloads/{job['download_id']}", timeout=10).json()
    assert download["post_title"] == "Cat pictures"
    assert script.page_errors == []
