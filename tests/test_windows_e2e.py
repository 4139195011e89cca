"""A download window defers a job and releases it, end to end: the live web and worker
(tests/support/stack.py) and the local media site. Closed window → the job stays queued with
`scheduled_for`; a run_now job starts all the same; opening the window (by a PATCH, or by the
clock) starts the waiting job without another submit, within seconds of the opening."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _clock(moment: datetime) -> str:
    return moment.strftime("%H:%M")


def closed_rules() -> list[dict]:
    start = datetime.now(timezone.utc) + timedelta(hours=2)
    return [{"days": EVERY_DAY, "start": _clock(start), "end": _clock(start + timedelta(minutes=1))}]


def open_rules() -> list[dict]:
    now = datetime.now(timezone.utc)
    return [{"days": EVERY_DAY, "start": _clock(now - timedelta(hours=1)), "end": _clock(now + timedelta(hours=1))}]


def set_windows(stack, rules) -> dict:
    response = stack.session.patch(stack.base_url + "/api/v1/settings",
                                   json={"download_windows": rules, "download_windows_timezone": "UTC"}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def queue(stack, url: str, **fields) -> dict:
    response = stack.session.post(stack.base_url + "/api/v1/queue", json={"url": url, **fields}, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()["jobs"][0]


def status(stack) -> dict:
    response = stack.session.get(stack.base_url + "/api/v1/queue/status", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(autouse=True)
def no_windows_after(stack):
    yield
    stack.session.patch(stack.base_url + "/api/v1/settings", json={"download_windows": None}, timeout=10)


def test_a_closed_window_defers_a_job_and_opening_it_releases_it(stack, media_site):
    set_windows(stack, closed_rules())
    waiting = queue(stack, media_site.url("/img/901.png"))
    assert waiting["status"] == "queued"
    opening = status(stack)["window"]["next_open"]
    assert waiting["scheduled_for"] == opening and not waiting["run_now"]

    # A job marked "now" starts despite the closed window, and finishes; the other one is
    # passed over all the while (the worker had every chance to take it).
    urgent = queue(stack, media_site.url("/img/902.png"), run_now=True)
    assert urgent["scheduled_for"] is None
    assert stack.wait_for_job(urgent["id"])["status"] == "completed"
    still = stack.job(waiting["id"])
    assert still["status"] == "queued" and still["attempts"] == 0 and still["scheduled_for"] == opening

    # The window opens: the job starts by itself, nobody submits it again.
    set_windows(stack, open_rules())
    done = stack.wait_for_job(waiting["id"], timeout=30)
    assert done["status"] == "completed" and done["scheduled_for"] is None
    assert [f["size"] > 0 for f in done["files"]] == [True]


def test_start_now_on_a_scheduled_job_starts_it(stack, media_site):
    set_windows(stack, closed_rules())
    waiting = queue(stack, media_site.url("/img/903.png"))
    marked = stack.session.post(f"{stack.base_url}/api/v1/queue/{waiting['id']}/now", timeout=10)
    assert marked.status_code == 200 and marked.json()["run_now"] is True
    assert stack.wait_for_job(waiting["id"])["status"] == "completed"


def test_a_window_opening_on_the_clock_wakes_the_worker(stack, media_site):
    """The window opens at the next whole minute: the waiting job starts within seconds of it
    (the worker's watchdog tops up the wake-ups every 5 s), with no request in between."""
    now = datetime.now(timezone.utc)
    opening = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    if (opening - now).total_seconds() < 5:  # too close to tell "before" from "after": the next one
        opening += timedelta(minutes=1)
    set_windows(stack, [{"days": EVERY_DAY, "start": _clock(opening), "end": _clock(opening + timedelta(minutes=30))}])
    waiting = queue(stack, media_site.url("/img/904.png"))
    assert waiting["scheduled_for"] == opening.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    remaining = (opening - datetime.now(timezone.utc)).total_seconds()
    done = stack.wait_for_job(waiting["id"], timeout=remaining + 30)
    assert done["status"] == "completed"
    started = datetime.fromisoformat(done["started_at"].replace("Z", "+00:00"))
    assert started >= opening  # not a moment before the window
    assert (started - opening).total_seconds() < 12, (started, opening)  # nor long after it
