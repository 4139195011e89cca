"""Download windows in the app (in-process): the stored schedule and its checks, the claim and
the wake-ups outside the windows, run_now and who may give it, "scheduled" on the queue page
and in the API, and the Settings section."""
from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import assert_api_error
from sqlalchemy import select
from support.web import htmx_post

from jobs import huey, recovery, runner
from webapp.extensions import db
from webapp.models import Job, Setting
from webapp.models.base import utcnow
from webapp.services.admin import runtime_settings, window_settings
from webapp.services.queue import dispatch, windows
from webapp.services.queue.submissions import submit

EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _clock(moment) -> str:
    return moment.strftime("%H:%M")


def closed_rules() -> list[dict]:
    """A one-minute window every day two hours from now (UTC): closed now."""
    start = utcnow() + timedelta(hours=2)
    return [{"days": EVERY_DAY, "start": _clock(start), "end": _clock(start + timedelta(minutes=1))}]


def open_rules() -> list[dict]:
    """A window every day from an hour ago to an hour from now (UTC): open now."""
    now = utcnow()
    return [{"days": EVERY_DAY, "start": _clock(now - timedelta(hours=1)), "end": _clock(now + timedelta(hours=1))}]


def set_windows(rules) -> None:
    runtime_settings.save({window_settings.WINDOWS: rules, window_settings.TIMEZONE: "UTC"})


def new_job(url: str, **kwargs) -> int:
    return submit([url], principal=None, **kwargs).entries[0].job_id


@pytest.fixture
def no_wakeups(app):
    """An empty Huey queue, so top_up's counts are this test's own."""
    huey.flush()
    yield
    huey.flush()


# The stored schedule ---------------------------------------------------------------------------


def test_no_windows_by_default_means_always_open(app):
    state = windows.state()
    assert state["enabled"] is False and state["open"] is True
    assert state["rules"] == [] and state["next_open"] is None
    assert state["timezone"] == window_settings.server_zone()


def test_the_schedule_is_stored_canonical_and_read_in_its_zone(app):
    set_windows([{"days": ["Mon", "friday"], "start": "01:00", "end": "07:00"}])
    stored = db.session.get(Setting, window_settings.WINDOWS).value
    assert stored == [{"days": ["mon", "fri"], "start": "01:00", "end": "07:00"}]
    state = windows.state()
    assert state["enabled"] and state["timezone"] == "UTC"
    assert state["description"] == "01:00–07:00 Mon, Fri"


def test_a_bad_rule_or_zone_is_refused_and_nothing_is_saved(app):
    set_windows(open_rules())
    with pytest.raises(runtime_settings.SettingsInvalid) as refused:
        runtime_settings.save({window_settings.WINDOWS: [{"days": ["mon"], "start": "26:00", "end": "07:00"}],
                               window_settings.TIMEZONE: "Mars/Olympus"})
    assert refused.value.errors[window_settings.WINDOWS].startswith("Rule 1: the start must be a time")
    assert "Unknown time zone 'Mars/Olympus'" in refused.value.errors[window_settings.TIMEZONE]
    assert windows.state()["open"] and windows.state()["timezone"] == "UTC"  # the old schedule stands


# The claim and the wake-ups ----------------------------------------------------------------------


def test_outside_the_windows_only_run_now_jobs_are_claimed(app):
    set_windows(closed_rules())
    waiting = new_job("http://example.com/waits")
    assert runner.claim_next_job() is None
    urgent = new_job("http://example.com/urgent", run_now=True)
    assert runner.claim_next_job() == urgent  # the older job stays behind: it must wait
    assert db.session.get(Job, waiting).status == "queued"


def test_inside_the_windows_every_job_is_claimed(app):
    set_windows(open_rules())
    job_id = new_job("http://example.com/now-open")
    assert runner.claim_next_job() == job_id


def test_wakeups_wait_for_the_window_and_the_watchdog_adds_them_when_it_opens(app, no_wakeups):
    """While closed no wake-up is spent on a job that may not start; once open, the watchdog's
    pass (every 5 s in the worker) gives each waiting job one: nobody waits past the opening."""
    set_windows(closed_rules())
    huey.flush()
    new_job("http://example.com/a")
    new_job("http://example.com/b")
    assert dispatch.pending_wakeups() == 0
    recovery.recover()  # a watchdog pass while closed
    assert dispatch.pending_wakeups() == 0
    new_job("http://example.com/c", run_now=True)
    assert dispatch.pending_wakeups() == 1  # only the run_now job's
    set_windows(open_rules())  # the window opens
    recovery.recover()
    assert dispatch.pending_wakeups() == 3


# run_now: who may give it ------------------------------------------------------------------------


def test_an_admin_may_queue_a_job_now_through_the_api(client, api_callers):
    response = client.post("/api/v1/queue", json={"url": "http://example.com/x", "run_now": True},
                           headers=api_callers["admin"])
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["jobs"][0]["run_now"] is True


def test_a_user_may_not_bypass_the_windows(client, api_callers):
    response = client.post("/api/v1/queue", json={"url": "http://example.com/x", "run_now": True},
                           headers=api_callers["user"])
    assert_api_error(response, 403, "run_now_reserved")
    assert db.session.scalar(select(Job.id)) is None  # nothing was queued
    # Without run_now the same user queues it.
    response = client.post("/api/v1/queue", json={"url": "http://example.com/x"}, headers=api_callers["user"])
    assert response.status_code == 201 and response.get_json()["jobs"][0]["run_now"] is False


def test_start_now_marks_a_scheduled_job_and_only_an_admin_may(client, api_callers):
    set_windows(closed_rules())
    alices = client.post("/api/v1/queue", json={"url": "http://example.com/mine"}, headers=api_callers["user"])
    job = alices.get_json()["jobs"][0]
    assert job["status"] == "queued" and job["scheduled_for"] is not None
    # Her own job: 403 (the windows are the admin's rule); the job is unchanged.
    assert_api_error(client.post(f"/api/v1/queue/{job['id']}/now", headers=api_callers["user"]), 403,
                     "run_now_reserved")
    assert db.session.get(Job, job["id"]).run_now is False
    # The admin's: marked, no longer scheduled.
    marked = client.post(f"/api/v1/queue/{job['id']}/now", headers=api_callers["admin"])
    assert marked.status_code == 200
    assert marked.get_json()["run_now"] is True and marked.get_json()["scheduled_for"] is None
    assert runner.claim_next_job() == job["id"]
    # Not waiting any more: 409. No such job: 404.
    assert_api_error(client.post(f"/api/v1/queue/{job['id']}/now", headers=api_callers["admin"]), 409, "not_waiting")
    assert_api_error(client.post("/api/v1/queue/999999/now", headers=api_callers["admin"]), 404)


def test_another_users_job_is_404_for_start_now(client, api_callers):
    root_job = client.post("/api/v1/queue", json={"url": "http://example.com/root"},
                           headers=api_callers["admin"]).get_json()["jobs"][0]
    assert_api_error(client.post(f"/api/v1/queue/{root_job['id']}/now", headers=api_callers["user"]), 404)


def test_scheduled_for_is_the_next_opening_while_closed(client, api_callers):
    set_windows(closed_rules())
    job = client.post("/api/v1/queue", json={"url": "http://example.com/s"},
                      headers=api_callers["admin"]).get_json()["jobs"][0]
    shown = client.get(f"/api/v1/queue/{job['id']}", headers=api_callers["admin"]).get_json()
    assert shown["status"] == "queued"  # the status stays queued: "scheduled" is how it is shown
    assert shown["scheduled_for"] == windows.state()["next_open"]
    set_windows(open_rules())
    shown = client.get(f"/api/v1/queue/{job['id']}", headers=api_callers["admin"]).get_json()
    assert shown["scheduled_for"] is None


# PATCH /api/v1/settings -------------------------------------------------------------------------


def test_patch_settings_accepts_windows_and_refuses_a_bad_rule_with_its_field(client, api_callers):
    rules = [{"days": ["mon", "tue"], "start": "22:00", "end": "06:00"}]
    response = client.patch("/api/v1/settings", json={"download_windows": rules,
                                                      "download_windows_timezone": "Europe/Berlin"},
                            headers=api_callers["admin"])
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["settings"]["download_windows"]["value"] == rules
    assert body["settings"]["download_windows_timezone"]["value"] == "Europe/Berlin"
    assert set(body["changed"]) == {"download_windows", "download_windows_timezone"}
    bad = client.patch("/api/v1/settings", json={"download_windows": [{"days": ["mon"], "start": "7", "end": "08:00"}]},
                       headers=api_callers["admin"])
    body = assert_api_error(bad, 422, "invalid_settings")
    assert "download_windows" in body["errors"]["json"]
    assert "Rule 1: the start" in body["errors"]["json"]["download_windows"][0]
    bad_zone = client.patch("/api/v1/settings", json={"download_windows_timezone": "../../etc/passwd"},
                            headers=api_callers["admin"])
    assert "download_windows_timezone" in assert_api_error(bad_zone, 422)["errors"]["json"]
    # A user may not change them at all.
    assert_api_error(client.patch("/api/v1/settings", json={"download_windows": []}, headers=api_callers["user"]), 403)
    # null restores the default: no windows.
    cleared = client.patch("/api/v1/settings", json={"download_windows": None}, headers=api_callers["admin"])
    assert cleared.get_json()["settings"]["download_windows"]["value"] == []


# The queue page ----------------------------------------------------------------------------------


def test_queue_page_shows_a_scheduled_row_with_start_now_for_admins(admin_client, admin):
    set_windows(closed_rules())
    job_id = new_job("http://example.com/page")
    page = admin_client.get("/").get_data(as_text=True)
    assert "scheduled — starts at" in page
    assert "Downloads wait for the window" in page
    assert f'/queue/jobs/{job_id}/now' in page
    answer = htmx_post(admin_client, f"/queue/jobs/{job_id}/now")
    assert answer.status_code == 200
    assert db.session.get(Job, job_id).run_now is True
    assert "scheduled — starts at" not in answer.get_data(as_text=True)


def test_a_user_sees_scheduled_but_no_start_now_and_cannot_post_it(alice_client, alice):
    from webapp.services.accounts.identity import Principal

    set_windows(closed_rules())
    job_id = submit(["http://example.com/hers"], principal=Principal(user=alice)).entries[0].job_id
    page = alice_client.get("/").get_data(as_text=True)
    assert "scheduled — starts at" in page
    assert f'/queue/jobs/{job_id}/now' not in page
    assert 'name="run_now"' not in page  # the add form's checkbox is the admins'
    assert htmx_post(alice_client, f"/queue/jobs/{job_id}/now").status_code == 403
    assert db.session.get(Job, job_id).run_now is False


def test_the_add_form_queues_a_job_now_for_an_admin(admin_client, admin):
    set_windows(closed_rules())
    answer = htmx_post(admin_client, "/queue/add", data={"urls": "http://example.com/form", "run_now": "1"})
    assert answer.status_code == 200
    assert db.session.scalar(select(Job.run_now).where(Job.url == "http://example.com/form")) is True


# The Settings section ------------------------------------------------------------------------------


def test_settings_section_saves_rules_and_shows_the_preview(admin_client, admin):
    page = admin_client.get("/settings").get_data(as_text=True)
    assert 'id="windows"' in page and "No download windows" in page
    answer = htmx_post(admin_client, "/settings/windows", data={
        "rows": "2", "rule-0-days": ["mon", "tue", "wed", "thu", "fri"], "rule-0-start": "01:00",
        "rule-0-end": "07:00", "rule-1-start": "", "rule-1-end": "", "timezone": "Europe/Berlin"})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    text = answer.get_data(as_text=True)
    assert "01:00–07:00 Mon–Fri" in text and ("Open now" in text or "Closed now" in text)
    assert windows.state()["rules"] == [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "01:00", "end": "07:00"}]
    assert windows.state()["timezone"] == "Europe/Berlin"


def test_settings_section_refuses_a_bad_row_inline(admin_client, admin):
    answer = htmx_post(admin_client, "/settings/windows", data={
        "rows": "1", "rule-0-days": ["mon"], "rule-0-start": "01:00", "rule-0-end": "31:00", "timezone": "UTC"})
    assert answer.status_code == 422
    assert "Rule 1: the end must be a time like 01:00" in answer.get_data(as_text=True)
    assert windows.state()["rules"] == []


def test_settings_section_remove_drops_a_row(admin_client, admin):
    set_windows([{"days": ["mon"], "start": "01:00", "end": "02:00"}, {"days": ["tue"], "start": "03:00", "end": "04:00"}])
    answer = htmx_post(admin_client, "/settings/windows", data={
        "rows": "3", "remove": "0",
        "rule-0-days": ["mon"], "rule-0-start": "01:00", "rule-0-end": "02:00",
        "rule-1-days": ["tue"], "rule-1-start": "03:00", "rule-1-end": "04:00", "timezone": "UTC"})
    assert answer.status_code == 200
    assert windows.state()["rules"] == [{"days": ["tue"], "start": "03:00", "end": "04:00"}]


def test_settings_section_is_for_admins_only(alice_client, alice):
    assert htmx_post(alice_client, "/settings/windows", data={"rows": "0", "timezone": "UTC"}).status_code == 403
