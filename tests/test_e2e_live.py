"""End to end: WebSocket notifications from the real worker, and the job timeout."""
from __future__ import annotations

import json
import time

import pytest
import websocket


def ws_url(stack, path="/ws/notifications", token=None) -> str:
    url = stack.base_url.replace("http://", "ws://") + path
    return f"{url}?token={token}" if token else url


def receive_until(ws, predicate, timeout=20.0) -> list[dict]:
    """Collect messages until one satisfies `predicate` (returned last)."""
    messages = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ws.settimeout(max(0.1, deadline - time.monotonic()))
        message = json.loads(ws.recv())
        messages.append(message)
        if predicate(message):
            return messages
    raise TimeoutError(f"no matching message among {messages}")


@pytest.mark.parametrize("auth", ["query", "header"])
def test_notifications_follow_a_submission_to_completion(stack, media_site, auth):
    if auth == "query":
        ws = websocket.create_connection(ws_url(stack, token=stack.api_token), timeout=10)
    else:
        ws = websocket.create_connection(ws_url(stack), header=[f"Authorization: Bearer {stack.api_token}"], timeout=10)
    try:
        time.sleep(0.3)  # let the hub register the subscriber before we submit
        result = stack.submit([media_site.url(f"/gallery/ws-{auth}?count=3")], post_title="Live", label="ws")
        download_id = result["download_id"]
        job_id = result["jobs"][0]["id"]
        messages = receive_until(ws, lambda m: m.get("job_id") == job_id and m["type"] == "completed")
    finally:
        ws.close()
    queued = next(m for m in messages if m["type"] == "queued")
    assert queued == {
        "type": "queued",
        "download_id": download_id,
        "post_title": "Live",
        "urls": [media_site.url(f"/gallery/ws-{auth}?count=3")],
        "label": "ws",
        "queued_at": result["queued_at"],
    }
    mine = [m for m in messages if m.get("job_id") == job_id]
    assert {m["download_id"] for m in mine} == {download_id}
    assert any(m["type"] == "progress" and m["status"] == "downloading" for m in mine)
    completed = mine[-1]
    assert completed["status"] == "completed" and len(completed["files"]) == 3
    assert completed["progress"]["percent"] == 100.0


def test_failed_and_cancelled_jobs_are_announced(stack, media_site):
    ws = websocket.create_connection(ws_url(stack, token=stack.api_token), timeout=10)
    try:
        time.sleep(0.3)
        failed_id = stack.submit([media_site.url("/missing-ws.jpg")])["jobs"][0]["id"]
        failed = receive_until(ws, lambda m: m.get("job_id") == failed_id and m["type"] == "failed")[-1]
        assert "404" in failed["error"]
        slow_id = stack.submit([media_site.url("/slow/ws-cancel.jpg?kb=4096&rate=64")])["jobs"][0]["id"]
        receive_until(ws, lambda m: m.get("job_id") == slow_id and m["progress"]["bytes_done"] > 0)
        stack.session.post(f"{stack.base_url}/api/v1/queue/{slow_id}/cancel", timeout=5)
        cancelled = receive_until(ws, lambda m: m.get("job_id") == slow_id and m["type"] == "cancelled")[-1]
        assert cancelled["status"] == "cancelled"
    finally:
        ws.close()


@pytest.mark.parametrize("token", [None, "wrong-token-value"])
def test_a_bad_token_closes_the_socket_with_policy_violation(stack, token):
    ws = websocket.create_connection(ws_url(stack, token=token), timeout=10)
    try:
        opcode, frame = ws.recv_data_frame(control_frame=True)
        assert opcode == websocket.ABNF.OPCODE_CLOSE
        assert int.from_bytes(frame.data[:2], "big") == 1008
    finally:
        ws.close()


def test_the_job_timeout_fails_a_job_with_a_message_that_says_so(make_stack, media_site):
    stack = make_stack(HAUL_JOB_TIMEOUT_SECONDS=1)
    job_id = stack.submit([media_site.url("/slow/too-slow.jpg?kb=4096&rate=64")])["jobs"][0]["id"]
    job = stack.wait_for_job(job_id, timeout=15)
    assert job["status"] == "failed"
    assert job["error"] == "Timed out after 1 seconds (HAUL_JOB_TIMEOUT_SECONDS)"
    assert not [p for p in stack.storage_root.rglob("*.part")]


def test_extra_tool_arguments_reach_both_tools(make_stack, media_site):
    """HAUL_*_EXTRA_ARGS are applied: size limits make each tool skip what it would have saved."""
    stack = make_stack(HAUL_GALLERY_DL_EXTRA_ARGS="--filesize-max 10", HAUL_YTDLP_EXTRA_ARGS="--max-filesize 1k")
    video = stack.wait_for_job(stack.submit([media_site.url("/video/too-big")])["jobs"][0]["id"])
    assert video["status"] == "failed" and video["engine"] == "yt-dlp"
    assert video["files"] == [] and "nothing to download" in video["error"]
    image = stack.wait_for_job(
        stack.submit([media_site.url("/img/777.png")], engine="gallery-dl")["jobs"][0]["id"]
    )
    assert image["status"] == "failed" and image["files"] == []
    assert "larger than allowed maximum" in image["error"]  # gallery-dl's own words
    assert not [p for p in stack.storage_root.rglob("*") if p.is_file()]
