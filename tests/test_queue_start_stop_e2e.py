"""Queue stop and start against the live stack: stop interrupts a running (throttled) download
and puts its job back in the queue — attempt not counted, no partial file left, nothing lost
— and nothing starts until start, which finishes it whole. The status answers throughout."""
from __future__ import annotations

import time


SIZE_KB = 1024


def post(stack, path: str):
    response = stack.session.post(stack.base_url + path, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def status(stack) -> dict:
    response = stack.session.get(stack.base_url + "/api/v1/queue/status", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    raise TimeoutError(what)


def files_under(root) -> list:
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


def test_stop_puts_a_running_download_back_and_start_finishes_it(stack, media_site):
    url = media_site.url(f"/slow/stop-start.jpg?kb={SIZE_KB}&rate=128")  # ~8 s at full speed
    response = stack.session.post(stack.base_url + "/api/v1/queue", json={"url": url}, timeout=10)
    assert response.status_code == 201, response.text
    job_id = response.json()["jobs"][0]["id"]
    # Downloading, with bytes on the disk.
    wait_for(lambda: stack.job(job_id)["progress"]["bytes_done"] > 0, 30, "the download did not start")
    running = status(stack)
    assert [job["id"] for job in running["running"]] == [job_id]
    assert running["eta_seconds"] is not None and running["eta_seconds"] > 0

    stopped = post(stack, "/api/v1/queue/stop")
    assert stopped == {"paused": True, "stopped": True, "interrupted": 1}
    back = wait_for(lambda: (job := stack.job(job_id))["status"] == "queued" and job, 15,
                    "the stopped download did not go back to the queue")
    assert back["attempts"] == 0  # the interrupted attempt is not counted
    assert back["files"] == [] and back["error"] is None
    # Its partial file was removed: nothing of it is left in the library.
    wait_for(lambda: not any("stop-start" in path.name for path in files_under(stack.storage_root)), 10,
             "the partial file was left behind")
    after = status(stack)
    assert after["stopped"] is True and after["paused"] is True and after["running"] == []
    assert after["counts"]["queued"] == 1 and after["eta_seconds"] is None

    started = post(stack, "/api/v1/queue/start")
    assert started == {"paused": False, "stopped": False, "waiting": 1}
    done = stack.wait_for_job(job_id, timeout=60)
    assert done["status"] == "completed" and done["attempts"] == 1
    assert [f["size"] for f in done["files"] if f["kind"] == "media"] == [SIZE_KB * 1024]
    assert status(stack)["stopped"] is False
