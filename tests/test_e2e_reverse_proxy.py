"""End to end through a real nginx (docs/deploy/nginx.conf) terminating TLS in front of the live
stack, with HAUL_TRUSTED_PROXIES=1: WebSockets upgrade, event streams arrive frame by frame
instead of when nginx's buffer fills, and the sign-in limit counts each visitor.

Visitors at different addresses are made by connecting from 127.0.0.2 and 127.0.0.3 (all of
127.0.0.0/8 is this machine's loopback)."""
from __future__ import annotations

import http.client
import json
import ssl
import time

import pytest
import requests
import websocket
from conftest import API_TOKEN
from support.reverse_proxy import NginxProxy
from support.stack import HaulStack


@pytest.fixture(scope="module")
def stack(media_site, tmp_path_factory):
    with HaulStack(tmp_path_factory.mktemp("proxied"), api_token=API_TOKEN,
                   extra_env={"HAUL_TRUSTED_PROXIES": "1"}) as running:
        yield running


@pytest.fixture(scope="module")
def proxy(stack, tmp_path_factory):
    with NginxProxy(tmp_path_factory.mktemp("nginx"), stack.port) as running:
        yield running


def through(stack, proxy, method, path, **kwargs):
    kwargs.setdefault("timeout", 10)
    return stack.session.request(method, proxy.base_url + path, verify=str(proxy.certificate), **kwargs)


def test_websocket_notifications_through_nginx(stack, proxy, media_site):
    url = proxy.base_url.replace("https://", "wss://") + f"/ws/notifications?token={stack.api_token}"
    ws = websocket.create_connection(url, sslopt={"ca_certs": str(proxy.certificate)}, timeout=10)
    try:
        time.sleep(0.3)  # the hub registers the subscriber
        sent = through(stack, proxy, "POST", "/downloads", json={"urls": [media_site.url("/img/61.png")]})
        assert sent.status_code == 202, sent.text
        job_id = sent.json()["jobs"][0]["id"]
        seen = []
        deadline = time.monotonic() + 30
        while not any(m.get("job_id") == job_id and m["type"] == "completed" for m in seen):
            assert time.monotonic() < deadline, seen
            seen.append(json.loads(ws.recv()))
    finally:
        ws.close()
    assert seen[0]["type"] == "queued" and seen[0]["download_id"] == sent.json()["download_id"]


def test_event_stream_frames_arrive_while_the_job_runs(stack, proxy, media_site):
    """Buffered, the frames of a job would arrive in a lump at its end; each progress frame must
    come while the job is still downloading."""
    stream = requests.get(proxy.base_url + "/api/v1/events", headers={"Authorization": f"Bearer {stack.api_token}"},
                          verify=str(proxy.certificate), stream=True, timeout=(5, 30))
    try:
        assert stream.status_code == 200 and stream.headers["Content-Type"].startswith("text/event-stream")
        slow = media_site.url("/slow/through-nginx.jpg?kb=768&rate=256")  # three seconds
        sent = through(stack, proxy, "POST", "/api/v1/queue", json={"url": slow})
        assert sent.status_code == 201, sent.text
        job_id = sent.json()["jobs"][0]["id"]
        for line in stream.iter_lines(decode_unicode=True):
            if not line.startswith("data:"):
                continue
            event = json.loads(line[5:])
            if event["type"] in ("progress", "status") and event["data"].get("job_id") == job_id \
                    and event["data"].get("status") == "downloading":
                break
    finally:
        stream.close()
    # That frame came through nginx while the download was still going.
    assert through(stack, proxy, "GET", f"/api/v1/queue/{job_id}").json()["status"] == "downloading"


def login_from(address: str, proxy, forged_for: str | None = None) -> http.client.HTTPResponse:
    context = ssl.create_default_context(cafile=str(proxy.certificate))
    connection = http.client.HTTPSConnection("127.0.0.1", proxy.port, context=context, timeout=10,
                                             source_address=(address, 0))
    headers = {"Content-Type": "application/json"}
    if forged_for:
        headers["X-Forwarded-For"] = forged_for
    body = json.dumps({"username": "nobody", "password": "wrong-password"})
    connection.request("POST", "/api/v1/auth/login", body=body, headers=headers)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def test_the_sign_in_limit_counts_visitors_not_the_proxy(proxy):
    # Forged X-Forwarded-For headers do not help: nginx appends the address it saw, and that
    # last entry is the one believed.
    statuses = [login_from("127.0.0.2", proxy, forged_for=f"198.51.100.{n}").status for n in range(5)]
    assert statuses == [401] * 5
    locked = login_from("127.0.0.2", proxy, forged_for="198.51.100.99")
    assert locked.status == 429 and int(locked.getheader("Retry-After")) > 0
    # Another visitor behind the same proxy can still try.
    assert login_from("127.0.0.3", proxy).status == 401
