"""End to end, against a live stack: open live streams end when their sign-in does, a submit-only
token's streams show just its own jobs, and no user or token holds more streams than the limit."""
from __future__ import annotations

import json
import time

import pytest
import requests
import websocket
from support.live_clients import SSEReader, signed_in_browser


class Person:
    """A user of the live stack, with a browser session, an API login and personal tokens."""

    def __init__(self, stack, name: str):
        self.stack, self.name, self.password = stack, name, f"{name}-password-1"
        made = stack.session.post(stack.base_url + "/api/v1/users", json={"username": name, "password": self.password},
                                  timeout=10)
        assert made.status_code == 201, made.text
        self.id = made.json()["id"]
        self._access = None

    @property
    def access(self) -> str:
        """An access token from /api/v1/auth/login (made once: logins are rate limited)."""
        if self._access is None:
            login = requests.post(self.stack.base_url + "/api/v1/auth/login",
                                  json={"username": self.name, "password": self.password}, timeout=10)
            assert login.status_code == 200, login.text
            self._access = login.json()["access_token"]
        return self._access

    def token(self, *scopes: str) -> str:
        made = requests.post(self.stack.base_url + "/api/v1/tokens", json={"name": "t", "scopes": list(scopes)},
                             headers={"Authorization": f"Bearer {self.access}"}, timeout=10)
        assert made.status_code == 201, made.text
        return made.json()["token"]

    def browser(self) -> requests.Session:
        return signed_in_browser(self.stack.base_url, self.name, self.password)


def ws_url(stack, path: str, token: str | None = None) -> str:
    url = stack.base_url.replace("http://", "ws://") + path
    return f"{url}?token={token}" if token else url


def close_code(ws, timeout: float = 30.0) -> int:
    """Read until the server closes the socket; its close code."""
    ws.settimeout(timeout)
    while True:
        opcode, frame = ws.recv_data_frame(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return int.from_bytes(frame.data[:2], "big")


def messages_until(ws, predicate, timeout: float = 30.0) -> list[dict]:
    got, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        ws.settimeout(max(0.1, deadline - time.monotonic()))
        got.append(json.loads(ws.recv()))
        if predicate(got[-1]):
            return got
    raise TimeoutError(f"no matching message among {got}")


def submit_as(stack, token: str, url: str) -> dict:
    response = requests.post(stack.base_url + "/downloads", json={"urls": [url]},
                             headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 202, response.text
    return response.json()


def test_a_password_reset_ends_every_open_stream_of_the_user(stack):
    """The attack: someone signed in as Carol keeps a live view open (a browser page, an API
    stream, two sockets); an admin resets Carol's password. Every stream ends at once, and
    opening it again is refused."""
    carol = Person(stack, "carol")
    token, submit_only = carol.token("submit", "read"), carol.token("submit")
    browser = carol.browser()
    api_stream = SSEReader(stack, token=token)
    page_stream = SSEReader(stack, path="/queue/events", browser=browser)
    api_socket = websocket.create_connection(ws_url(stack, "/api/v1/ws"), timeout=10,
                                             header=[f"Authorization: Bearer {carol.access}"])
    seed_socket = websocket.create_connection(ws_url(stack, "/ws/notifications", submit_only), timeout=10)
    try:
        messages_until(api_socket, lambda m: m["data"].get("event") == "connected")
        # The seed socket says nothing until an event: one of its own shows it is listening.
        sent = submit_as(stack, submit_only, "https://example.com/carol-before.jpg")
        messages_until(seed_socket, lambda m: m["type"] == "queued" and m["download_id"] == sent["download_id"])

        reset = stack.session.patch(f"{stack.base_url}/api/v1/users/{carol.id}", json={"password": "new-pass-123"},
                                    timeout=10)
        assert reset.status_code == 200, reset.text

        signed_out = api_stream.until(lambda f: f["event"] == "signed_out")[-1]
        assert signed_out["data"]["data"]["error_code"] == "session_ended"
        assert api_stream.ended()
        page_stream.until(lambda f: f["event"] == "signed-out", parse_json=False)
        assert page_stream.ended()
        assert close_code(api_socket) == 1008
        assert close_code(seed_socket) == 1008
    finally:
        for stream in (api_stream, page_stream):
            stream.close()
        api_socket.close()
        seed_socket.close()

    again = SSEReader(stack, token=token, check=False)
    assert again.response.status_code == 401
    page_again = browser.get(stack.base_url + "/queue/events", allow_redirects=False, timeout=10)
    assert page_again.status_code == 302 and "/login" in page_again.headers["Location"]
    refused = websocket.create_connection(ws_url(stack, "/api/v1/ws", carol.access), timeout=10)
    try:
        assert close_code(refused) == 1008
    finally:
        refused.close()


def test_other_users_streams_go_on_when_one_users_sign_ins_change(stack):
    dave, erin = Person(stack, "dave"), Person(stack, "erin")
    stream = SSEReader(stack, token=erin.token("submit", "read"))
    try:
        reset = stack.session.patch(f"{stack.base_url}/api/v1/users/{dave.id}", json={"password": "new-pass-123"},
                                    timeout=10)
        assert reset.status_code == 200
        sent = submit_as(stack, erin.token("submit"), "https://example.com/erin-after.jpg")
        frames = stream.until(lambda f: f["event"] == "queued" and f["data"]["data"]["download_id"] == sent["download_id"])
        assert all(f["event"] != "signed_out" for f in frames)
        assert all(f["event"] != "access_changed" for f in frames)  # the internal event is never shown
    finally:
        stream.close()


def test_a_submit_only_tokens_streams_show_only_the_jobs_it_sent(stack):
    """The attack: a userscript's submit-only token leaks; its holder listens on the live streams to
    learn what else its owner downloads. It hears only of the jobs it sent itself."""
    frank = Person(stack, "frank")
    leaked, full = frank.token("submit"), frank.token("submit", "read")
    seed_socket = websocket.create_connection(ws_url(stack, "/ws/notifications", leaked), timeout=10)
    stream = SSEReader(stack, token=leaked)
    try:
        # The socket is listening once it hears of a job of its own.
        first = submit_as(stack, leaked, "https://example.com/frank-first.jpg")
        messages_until(seed_socket, lambda m: m["type"] == "queued" and m["download_id"] == first["download_id"])
        private = submit_as(stack, full, "https://example.com/frank-private.jpg")
        own = submit_as(stack, leaked, "https://example.com/frank-own.jpg")
        heard = messages_until(seed_socket, lambda m: m["type"] == "queued" and m["download_id"] == own["download_id"])
        frames = stream.until(lambda f: f["event"] == "queued" and f["data"]["data"]["download_id"] == own["download_id"])
    finally:
        seed_socket.close()
        stream.close()
    # Events arrive in order: the private submission's came first, and neither stream passed it on.
    assert all(m.get("download_id") != private["download_id"] for m in heard)
    assert all(f["data"]["data"].get("download_id") != private["download_id"] for f in frames)
    # The full token of the same user does see it.
    seen = SSEReader(stack, token=full, last_event_id=0)
    try:
        seen.until(lambda f: f["event"] == "queued" and f["data"]["data"]["download_id"] == private["download_id"])
    finally:
        seen.close()


@pytest.fixture
def two_streams_each(stack):
    changed = stack.session.patch(stack.base_url + "/api/v1/settings", json={"max_streams": 2}, timeout=10)
    assert changed.status_code == 200, changed.text
    yield 2
    stack.session.patch(stack.base_url + "/api/v1/settings", json={"max_streams": None}, timeout=10)


def test_no_user_holds_more_streams_than_the_limit(stack, two_streams_each):
    """The attack: one token opens stream after stream until the server has no connection left.
    The third is refused with a 429 before it starts, by SSE and by WebSocket alike, for every
    token of the same user; a place freed is a place to open one again."""
    gina = Person(stack, "gina")
    token, other_token = gina.token("submit", "read"), gina.token("read")
    held = SSEReader(stack, token=token)
    socket = websocket.create_connection(ws_url(stack, "/api/v1/ws", token), timeout=10)
    try:
        messages_until(socket, lambda m: m["data"].get("event") == "connected")
        refused = SSEReader(stack, token=token, check=False)
        assert refused.response.status_code == 429
        assert refused.response.json()["error_code"] == "too_many_streams"
        for path, with_token in (("/api/v1/ws", token), ("/ws/notifications", token), ("/api/v1/ws", other_token)):
            with pytest.raises(websocket.WebSocketBadStatusException) as handshake:
                websocket.create_connection(ws_url(stack, path, with_token), timeout=10)
            assert handshake.value.status_code == 429, path
        assert SSEReader(stack, token=other_token, check=False).response.status_code == 429  # the user's limit

        # Someone else is not held up.
        other = SSEReader(stack)
        other.close()

        socket.close()  # the server notices at once and frees the place
        deadline = time.monotonic() + 10
        while True:
            attempt = SSEReader(stack, token=token, check=False)
            if attempt.response.status_code == 200:
                attempt.close()
                break
            attempt.close()
            assert attempt.response.status_code == 429
            assert time.monotonic() < deadline, "the closed socket's place was never given back"
            time.sleep(0.05)  # poll interval while waiting for the server to notice the close
    finally:
        held.close()
        socket.close()
