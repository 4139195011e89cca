"""The application log and the jobs' own logs against the live stack (gunicorn + the Huey worker):
the /logs page's live tail shows a new job's lines as they are written, each process writes its
own file, and a job's log holds yt-dlp's own words."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from support.live_clients import SSEReader, signed_in_browser
from support.stack import ROOT

PASSWORD = "logs-live-password-1"


def _create_user(stack, username: str, admin: bool = False) -> None:
    args = [sys.executable, "-m", "flask", "--app", "wsgi", "users", "create", username, "--password", PASSWORD]
    subprocess.run(args + (["--admin"] if admin else []), cwd=ROOT, env=stack.env, check=True, capture_output=True)


@pytest.fixture(scope="module")
def people(stack):
    _create_user(stack, "logkeeper", admin=True)
    _create_user(stack, "logreader")
    return {name: signed_in_browser(stack.base_url, name, PASSWORD) for name in ("logkeeper", "logreader")}


def test_the_live_tail_shows_a_new_jobs_lines(stack, media_site, people):
    tail = SSEReader(stack, path="/logs/events", browser=people["logkeeper"])
    try:
        job_id = stack.submit([media_site.url("/img/8801.png")])["jobs"][0]["id"]
        frames = tail.until(lambda frame: frame.get("event") == "log" and f"job {job_id}:" in frame["data"],
                            timeout=60, parse_json=False)
    finally:
        tail.close()
    row = frames[-1]["data"]
    assert 'class="log-row' in row and f"#{job_id}" in row and "worker" in row
    stack.wait_for_job(job_id)


def test_the_tail_and_the_page_are_the_admins_alone(stack, people):
    assert people["logreader"].get(stack.base_url + "/logs", timeout=10).status_code == 403
    refused = SSEReader(stack, path="/logs/events", browser=people["logreader"], check=False)
    assert refused.response.status_code == 403
    refused.close()


def test_each_process_writes_its_own_file_with_the_job_and_request_ids(stack, media_site):
    job_id = stack.submit([media_site.url("/img/8802.png")])["jobs"][0]["id"]
    stack.wait_for_job(job_id)
    logs = stack.data_dir / "logs"
    worker = [json.loads(line) for line in (logs / "haul-worker.log").read_text().splitlines()]
    mine = [r for r in worker if r["job_id"] == job_id]
    assert mine and all(r["process"] == "worker" and r["module"].startswith("jobs") for r in mine)
    answer = stack.session.get(stack.base_url + "/api/v1/logs", params={"job_id": job_id}, timeout=10)
    assert answer.status_code == 200
    assert {r["message"] for r in answer.json()["items"]} >= {r["message"] for r in mine}
    assert (logs / "haul-web.log").exists()
    assert stack.api_token not in (logs / "haul-web.log").read_text() + (logs / "haul-worker.log").read_text()


def test_a_live_jobs_log_has_yt_dlps_own_messages(stack, media_site, people):
    job_id = stack.submit([media_site.url("/video/logs-live-clip")])["jobs"][0]["id"]
    assert stack.wait_for_job(job_id, timeout=60)["status"] == "completed"
    body = stack.session.get(f"{stack.base_url}/api/v1/queue/{job_id}/log", timeout=10).json()
    assert "yt-dlp: [generic]" in body["text"] and "attempt 1 ended: completed" in body["text"]
    # The page's disclosure shows the same, to the admin; the user who does not own it gets 404.
    fragment = people["logkeeper"].get(f"{stack.base_url}/jobs/{job_id}/log", timeout=10)
    assert fragment.status_code == 200 and "yt-dlp: [generic]" in fragment.text
    assert people["logreader"].get(f"{stack.base_url}/jobs/{job_id}/log", timeout=10).status_code == 404


def test_a_failed_live_job_says_why_in_the_tools_words(stack, media_site):
    job_id = stack.submit([media_site.url("/status/404?logs-live=1")])["jobs"][0]["id"]
    assert stack.wait_for_job(job_id, timeout=60)["status"] == "failed"
    body = stack.session.get(f"{stack.base_url}/api/v1/queue/{job_id}/log", timeout=10).json()
    assert any(line.startswith("yt-dlp:") and "404" in line for line in body["problems"]), body
