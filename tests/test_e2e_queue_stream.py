"""The queue page's event stream over HTTP, against the live server and the real worker."""
from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest
import requests
from support.stack import ROOT

PASSWORD = "stream-password-1"


@pytest.fixture(scope="module")
def browser_session(stack) -> requests.Session:
    """A signed-in browser-like session (cookie + CSRF), as the queue page has."""
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "users", "create", "streamer", "--admin",
                    "--password", PASSWORD], cwd=ROOT, env=stack.env, check=True, capture_output=True)
    session = requests.Session()
    form = session.get(stack.base_url + "/login", timeout=5).text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form).group(1)
    signed_in = session.post(stack.base_url + "/login", timeout=5, allow_redirects=False,
                             data={"csrf_token": token, "username": "streamer", "password": PASSWORD})
    assert signed_in.status_code == 302
    return session


def page_last_event_id(session, stack) -> int:
    page = session.get(stack.base_url + "/", timeout=5).text
    return int(re.search(r"last_event_id=(\d+)", page).group(1))


def read_events(response, until, timeout: float = 15) -> list[dict]:
    """Parse SSE messages from a streaming response until `until(messages)` is true."""
    messages, current, deadline = [], {"data": []}, time.monotonic() + timeout
    for raw in response.iter_lines(decode_unicode=True):
        if time.monotonic() > deadline:
            break
        if raw == "":
            if current["data"] or "id" in current:
                messages.append({**current, "data": "\n".join(current["data"])})
                if until(messages):
                    return messages
            current = {"data": []}
            continue
        field, _, value = raw.partition(": ")
        if field == "data":
            current["data"].append(value)
        elif field in ("id", "event"):
            current[field] = value
    raise AssertionError(f"stream ended or timed out; got {messages!r}"[:3000])


def test_a_reconnecting_page_gets_what_it_missed(stack, browser_session, media_site):
    """Changes made while no stream is open are replayed from Last-Event-ID."""
    seen_up_to = page_last_event_id(browser_session, stack)
    job_id = stack.submit([media_site.url("/img/31337.png")])["jobs"][0]["id"]
    assert stack.wait_for_job(job_id)["status"] == "completed"

    with browser_session.get(stack.base_url + "/queue/events", stream=True, timeout=20,
                             headers={"Last-Event-ID": str(seen_up_to)}) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        messages = read_events(response, lambda ms: any(
            f'hx-swap-oob="afterbegin:#finished-jobs"' in m["data"] and f'id="job-{job_id}"' in m["data"] for m in ms))
    ids = [int(m["id"]) for m in messages if "id" in m]
    assert ids == sorted(ids) and ids[0] > seen_up_to
    joined = "\n".join(m["data"] for m in messages)
    assert 'hx-swap-oob="beforeend:#active-jobs"' in joined  # it was added…
    assert 'data-status="completed"' in joined  # …and finished
    assert all(m.get("event") == "queue" for m in messages if m["data"])


def test_the_query_parameter_works_like_the_header(stack, browser_session, media_site):
    seen_up_to = page_last_event_id(browser_session, stack)
    job_id = stack.submit([media_site.url("/img/31338.png")])["jobs"][0]["id"]
    stack.wait_for_job(job_id)
    with browser_session.get(f"{stack.base_url}/queue/events?last_event_id={seen_up_to}", stream=True,
                             timeout=20) as response:
        read_events(response, lambda ms: any(f'id="job-{job_id}"' in m["data"] for m in ms))


def test_live_changes_arrive_while_connected(stack, browser_session, media_site):
    seen_up_to = page_last_event_id(browser_session, stack)
    with browser_session.get(f"{stack.base_url}/queue/events?last_event_id={seen_up_to}", stream=True,
                             timeout=20) as response:
        job_id = stack.submit([media_site.url("/slow/stream.jpg?kb=256&rate=256")])["jobs"][0]["id"]
        messages = read_events(response, lambda ms: any(
            f'id="job-{job_id}"' in m["data"] and 'data-status="completed"' in m["data"] for m in ms))
    joined = "\n".join(m["data"] for m in messages)
    assert 'data-status="downloading"' in joined
    assert 'role="progressbar"' in joined
    assert 'id="queue-toolbar" class="toolbar card"' in joined  # the counts were redrawn


def test_the_stream_needs_a_session(stack):
    response = requests.get(stack.base_url + "/queue/events", timeout=5, allow_redirects=False)
    assert response.status_code == 302 and "/login" in response.headers["Location"]
