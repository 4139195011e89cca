"""End to end: /api/v1/events (SSE) and /api/v1/ws against a live stack and the real worker."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import requests
import websocket
from support.live_clients import SSEReader
from support.stack import ROOT


# -- SSE --------------------------------------------------------------------------------
def of_job(job_id, event=None):
    return lambda f: f["data"]["data"].get("job_id") == job_id and (event is None or f["event"] == event)


def test_sse_streams_a_real_jobs_progress_and_completion(stack, media_site):
    reader = SSEReader(stack)
    try:
        time.sleep(0.3)  # let the hub register the subscriber
        result = stack.submit([media_site.url("/gallery/sse-live?count=3")], post_title="SSE")
        job_id = result["jobs"][0]["id"]
        frames = reader.until(of_job(job_id, "completed"))
    finally:
        reader.close()
    queued = next(f for f in frames if f["event"] == "queued")
    assert queued["data"]["data"]["job_ids"] == [job_id]
    assert queued["data"]["data"]["download_id"] == result["download_id"]
    mine = [f for f in frames if f["data"]["data"].get("job_id") == job_id]
    assert any(f["event"] in ("progress", "status") and f["data"]["data"]["status"] == "downloading" for f in mine)
    completed = mine[-1]
    assert completed["data"]["type"] == "completed" and completed["data"]["timestamp"].endswith("Z")
    assert completed["data"]["data"]["status"] == "completed"
    assert completed["data"]["data"]["progress"]["percent"] == 100.0
    ids = [int(f["id"]) for f in frames]
    assert ids == sorted(ids) and int(completed["id"]) == completed["data"]["data"]["event_id"]


@pytest.mark.parametrize("how", ["header", "query"])
def test_sse_replays_what_a_dropped_client_missed(stack, media_site, how):
    reader = SSEReader(stack)
    try:
        time.sleep(0.3)
        job_id = stack.submit([media_site.url(f"/slow/sse-replay-{how}.jpg?kb=256&rate=512")])["jobs"][0]["id"]
        seen = reader.until(lambda f: f["event"] == "queued" and job_id in f["data"]["data"]["job_ids"])
    finally:
        reader.close()  # the connection drops before the job runs
    last_id = int(seen[-1]["id"])
    assert stack.wait_for_job(job_id)["status"] == "completed"
    if how == "header":
        again = SSEReader(stack, last_event_id=last_id)
    else:
        again = SSEReader(stack, query_token=True, params={"last_event_id": last_id})
    try:
        replayed = again.until(of_job(job_id, "completed"), timeout=10)
    finally:
        again.close()
    assert all(f["event"] != "gap" for f in replayed)
    assert int(replayed[0]["id"]) > last_id
    mine = [f["event"] for f in replayed if f["data"]["data"].get("job_id") == job_id]
    assert mine[-1] == "completed" and ("status" in mine or "progress" in mine)


def test_sse_needs_a_token(stack):
    response = requests.get(stack.base_url + "/api/v1/events", timeout=5)
    assert response.status_code == 401
    response = requests.get(stack.base_url + "/api/v1/events", params={"token": "wrong-token-value"}, timeout=5)
    assert response.status_code == 401


# -- WebSocket --------------------------------------------------------------------------
def ws_connect(stack, token="default", header=False):
    url = stack.base_url.replace("http://", "ws://") + "/api/v1/ws"
    token = stack.api_token if token == "default" else token
    if header:
        return websocket.create_connection(url, header=[f"Authorization: Bearer {token}"], timeout=10)
    return websocket.create_connection(f"{url}?token={token}" if token else url, timeout=10)


def receive_until(ws, predicate, timeout=30.0) -> list[dict]:
    got = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ws.settimeout(max(0.1, deadline - time.monotonic()))
        message = json.loads(ws.recv())
        got.append(message)
        if predicate(message):
            return got
    raise TimeoutError(f"no matching message among {got}")


def send(ws, body) -> None:
    ws.send(body if isinstance(body, str) else json.dumps(body))


@pytest.mark.parametrize("header", [False, True])
def test_ws_greets_and_answers_ping(stack, header):
    ws = ws_connect(stack, header=header)
    try:
        hello = receive_until(ws, lambda m: m["type"] == "notification")[-1]
        assert hello["data"] == {"event": "connected", "rooms": ["downloads"]}
        send(ws, {"action": "ping"})
        pong = receive_until(ws, lambda m: m["type"] == "pong", timeout=5)[-1]
        assert set(pong) == {"type", "timestamp", "data"}
    finally:
        ws.close()


def test_ws_bad_messages_get_an_error_and_the_socket_stays_open(stack):
    ws = ws_connect(stack)
    try:
        for bad in ("not json", {"action": "dance"}, {"action": "join", "room": "everything"}):
            send(ws, bad)
            error = receive_until(ws, lambda m: m["type"] == "error", timeout=5)[-1]
            assert error["data"]["error_code"] == "bad_message" and error["data"]["detail"]
        send(ws, {"action": "ping"})
        assert receive_until(ws, lambda m: m["type"] == "pong", timeout=5)
    finally:
        ws.close()


@pytest.mark.parametrize("token", [None, "wrong-token-value"])
def test_ws_bad_token_closes_with_policy_violation(stack, token):
    ws = ws_connect(stack, token=token)
    try:
        opcode, frame = ws.recv_data_frame(control_frame=True)
        assert opcode == websocket.ABNF.OPCODE_CLOSE
        assert int.from_bytes(frame.data[:2], "big") == 1008
    finally:
        ws.close()


def test_ws_downloads_room_gets_every_job_event(stack, media_site):
    ws = ws_connect(stack)
    try:
        receive_until(ws, lambda m: m["type"] == "notification")
        job_id = stack.submit([media_site.url("/gallery/ws-api?count=2")])["jobs"][0]["id"]
        got = receive_until(ws, lambda m: m["type"] == "download_completed" and m["data"]["job_id"] == job_id)
    finally:
        ws.close()
    types = {m["type"] for m in got if m["data"].get("job_id") == job_id or job_id in m["data"].get("job_ids", [])}
    assert {"queue_updated", "download_completed"} <= types
    # Started (a status change, queue_updated) and/or progress: either way the job was seen downloading.
    assert any(m["data"].get("status") == "downloading" for m in got if m["data"].get("job_id") == job_id)
    failed_ws = ws_connect(stack)
    try:
        bad_id = stack.submit([media_site.url("/missing-api-ws.jpg")])["jobs"][0]["id"]
        failed = receive_until(failed_ws, lambda m: m["type"] == "download_failed" and m["data"]["job_id"] == bad_id)
        assert "404" in failed[-1]["data"]["error"]
    finally:
        failed_ws.close()


def test_ws_job_room_gets_only_that_job(stack, media_site):
    ws = ws_connect(stack)
    try:
        receive_until(ws, lambda m: m["type"] == "notification")
        first = stack.submit([media_site.url("/slow/ws-room-a.jpg?kb=384&rate=256")])["jobs"][0]["id"]
        other = stack.submit([media_site.url("/slow/ws-room-b.jpg?kb=384&rate=256")])["jobs"][0]["id"]
        send(ws, {"action": "leave", "room": "downloads"})
        left = receive_until(ws, lambda m: m["type"] == "notification" and m["data"]["event"] == "left")[-1]
        assert left["data"]["rooms"] == []
        send(ws, {"action": "join", "room": f"job:{first}"})
        joined = receive_until(ws, lambda m: m["type"] == "notification" and m["data"]["event"] == "joined")[-1]
        assert joined["data"]["rooms"] == [f"job:{first}"]
        got = receive_until(ws, lambda m: m["type"] == "download_completed")
        assert stack.wait_for_job(other)["status"] == "completed"
        time.sleep(0.5)  # anything about the other job would have arrived by now
        send(ws, {"action": "ping"})
        got += receive_until(ws, lambda m: m["type"] == "pong", timeout=5)
    finally:
        ws.close()
    # Everything since the join: only the joined job, up to its completion, and nothing of the other.
    assert {m["data"]["job_id"] for m in got if "job_id" in m["data"]} == {first}
    assert not any(other in m["data"].get("job_ids", []) for m in got)
    assert [m["type"] for m in got][-2:] == ["download_completed", "pong"]


# -- health on the live stack -----------------------------------------------------------
def test_health_on_the_live_stack_sees_the_worker_heartbeat(stack):
    assert requests.get(stack.base_url + "/health", timeout=5).json() == {"status": "ok"}
    assert requests.get(stack.base_url + "/health/detailed", timeout=5).status_code == 401
    deadline = time.monotonic() + 15  # the watchdog stamps its heartbeat every 5 s
    while True:
        response = stack.session.get(stack.base_url + "/health/detailed", timeout=10)
        if response.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["checks"]["worker"]["ok"] and body["checks"]["storage"]["writable"]
    assert body["versions"]["gallery-dl"] and body["versions"]["yt-dlp"]


# -- visibility ---------------------------------------------------------------------------
def _user_token(stack, username: str) -> str:
    def flask(*args):
        return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT, env=stack.env,
                              check=True, capture_output=True, text=True).stdout

    flask("users", "create", username, "--password", "a-long-password-123")
    return flask("tokens", "create", username).strip().splitlines()[-1]


@pytest.fixture
def users_may_reach_the_media_site(stack):
    """The media site is on 127.0.0.1, which only admins' links may reach unless the admin lets users."""
    with stack.users_may_reach_private_addresses():
        yield


def test_a_user_sees_only_their_own_jobs_on_both_feeds(stack, media_site, users_may_reach_the_media_site):
    token = _user_token(stack, "carol")
    user = requests.Session()
    user.headers["Authorization"] = f"Bearer {token}"
    ws = ws_connect(stack, token=token)
    reader = SSEReader(stack, token=token)
    try:
        receive_until(ws, lambda m: m["type"] == "notification")
        hidden = stack.submit([media_site.url("/img/9161.png")])["jobs"][0]["id"]
        stack.wait_for_job(hidden)
        own_url = media_site.url("/img/9162.png")
        response = user.post(stack.base_url + "/downloads", json={"urls": [own_url]}, timeout=10)
        assert response.status_code == 202, response.text
        mine = response.json()["jobs"][0]["id"]
        got = receive_until(ws, lambda m: m["type"] == "download_completed" and m["data"]["job_id"] == mine)
        frames = reader.until(of_job(mine, "completed"))
    finally:
        ws.close()
        reader.close()
    assert {m["data"]["job_id"] for m in got if "job_id" in m["data"]} == {mine}
    assert {f["data"]["data"]["job_id"] for f in frames if "job_id" in f["data"]["data"]} == {mine}
    assert not any(hidden in f["data"]["data"].get("job_ids", []) for f in frames)


def test_a_token_that_may_neither_read_nor_submit_is_refused_by_both_feeds(stack):
    """A token made only to manage tokens sees no job. (A submit-only token sees the jobs it sent
    itself: tests/test_e2e_streams.py.)"""
    owner = _user_token(stack, "dave")
    response = requests.post(stack.base_url + "/api/v1/tokens", json={"name": "manager", "scopes": ["tokens"]},
                             headers={"Authorization": f"Bearer {owner}"}, timeout=10)
    assert response.status_code in (200, 201), response.text
    manager = response.json()["token"]
    response = requests.get(stack.base_url + "/api/v1/events", params={"token": manager}, timeout=5)
    assert response.status_code == 403
    ws = ws_connect(stack, token=manager)
    try:
        opcode, frame = ws.recv_data_frame(control_frame=True)
        assert opcode == websocket.ABNF.OPCODE_CLOSE
        assert int.from_bytes(frame.data[:2], "big") == 1008
    finally:
        ws.close()
