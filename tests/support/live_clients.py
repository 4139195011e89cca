"""Clients of a live Haul for the end-to-end tests: a signed-in browser session, its streams."""
from __future__ import annotations

import json
import time

import requests

from support.web import form_csrf


def signed_in_browser(base_url: str, username: str, password: str) -> requests.Session:
    """A requests.Session signed in through the real sign-in form, as a browser would be."""
    browser = requests.Session()
    page = browser.get(base_url + "/login", timeout=10).text
    signed = browser.post(base_url + "/login", allow_redirects=False, timeout=10,
                          data={"csrf_token": form_csrf(page), "username": username, "password": password})
    assert signed.status_code == 302, signed.text
    return browser


class SSEReader:
    """A minimal EventSource: yields {"id", "event", "data"} frames (comments skipped)."""

    def __init__(self, stack, last_event_id=None, query_token=False, params=None, token=None,
                 path="/api/v1/events", browser: requests.Session | None = None, check=True):
        """`browser`: a signed-in requests.Session whose cookies open the stream instead of a token.
        With check=False a refused stream is kept as it is (see `response`) instead of raising."""
        headers = {"Accept": "text/event-stream"}
        params = dict(params or {})
        if browser is None:
            token = token or stack.api_token
            if query_token:
                params["token"] = token
            else:
                headers["Authorization"] = f"Bearer {token}"
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        self.response = (browser or requests).get(stack.base_url + path, headers=headers, params=params,
                                                  stream=True, timeout=(5, 30))
        if check:
            self.response.raise_for_status()
        self._lines = self.response.iter_lines(decode_unicode=True)

    def frames(self, parse_json=True):
        frame: dict = {}
        for line in self._lines:
            if line == "":
                if "data" in frame:
                    if parse_json:
                        frame["data"] = json.loads(frame["data"])
                    yield frame
                frame = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                # Several data lines are one message's lines (HTML fragments are sent so).
                frame[name] = frame[name] + "\n" + value if name == "data" and "data" in frame else value

    def until(self, predicate, timeout=30.0, parse_json=True) -> list[dict]:
        got = []
        deadline = time.monotonic() + timeout
        for frame in self.frames(parse_json):
            got.append(frame)
            if predicate(frame):
                return got
            if time.monotonic() > deadline:
                break
        raise TimeoutError(f"no matching frame among {got}")

    def ended(self) -> bool:
        """Read on until the server ends the stream (True), or the read times out (False)."""
        try:
            for _ in self._lines:
                pass
        except requests.exceptions.ConnectionError:  # the read timeout, as requests reports it
            return False
        return True

    def close(self):
        self.response.close()
