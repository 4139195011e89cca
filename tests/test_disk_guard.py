"""The disk guard (webapp/services/queue/disk_guard.py) and full-disk failures (jobs/disk_full.py).

Unit level: the threshold rule, tripping and clearing with its event and notification, the claim
refusing while tripped, a download meeting a full disk (ENOSPC from the file it writes) failing
with "no space left on the disk" without a retry, its partial file gone and the guard tripped;
the settings' checks and who may change them. Free space is faked by replacing
`disk_guard.measure`; tests/test_e2e_disk_full.py fills a real small filesystem.
"""
from __future__ import annotations

import errno
import sqlite3

import pytest
from sqlalchemy import select
from support.web import htmx_post

from jobs import disk_full, runner
from jobs.engines import direct
from webapp.core.vocabulary import DISK_GUARD_EVENT
from webapp.extensions import db
from webapp.models import Event, Job, NotificationDelivery, NotificationTarget, Setting
from webapp.models.job import Outcome
from webapp.services.admin import runtime_settings
from webapp.services.queue import disk_guard, events
from webapp.services.queue.submissions import submit

GIB = 1024 ** 3
MIB = 1024 ** 2


# The threshold rule ----------------------------------------------------------------------------


def test_threshold_is_the_smaller_of_the_two_rules():
    """A 100 TB array is not stopped at 5 TB free, a 16 GB card not at 2 GiB of its 16."""
    assert disk_guard.threshold(100 * 1024 * GIB, 2 * GIB, 5) == 2 * GIB
    assert disk_guard.threshold(16 * GIB, 2 * GIB, 5) == 16 * GIB * 5 // 100
    assert disk_guard.threshold(64 * MIB, 2 * GIB, 5) == 64 * MIB * 5 // 100


def test_zero_switches_a_rule_off_and_both_zero_the_guard():
    assert disk_guard.threshold(16 * GIB, 0, 5) == 16 * GIB * 5 // 100
    assert disk_guard.threshold(16 * GIB, 2 * GIB, 0) == 2 * GIB
    assert disk_guard.threshold(16 * GIB, 0, 0) is None
    assert not disk_guard.is_low(0, None)  # off: never low


def test_low_means_strictly_below_the_threshold():
    assert disk_guard.is_low(MIB - 1, MIB)
    assert not disk_guard.is_low(MIB, MIB)


def test_measure_reads_the_nearest_existing_folder(tmp_path):
    reading = disk_guard.measure(tmp_path / "not" / "made" / "yet")
    assert 0 < reading.free <= reading.total


# Tripping and clearing -------------------------------------------------------------------------


@pytest.fixture
def disk(monkeypatch):
    """Free space as the test says: disk["free"] bytes of a 100 GiB disk (threshold 2 GiB by default)."""
    space = {"free": 50 * GIB, "total": 100 * GIB}
    monkeypatch.setattr(disk_guard, "measure", lambda path: disk_guard.Reading(space["free"], space["total"]))
    return space


@pytest.fixture
def woken(monkeypatch):
    """The wake-ups the guard asks for (instead of Huey tasks)."""
    calls = []
    monkeypatch.setattr(disk_guard.dispatch, "top_up", lambda *a, **k: calls.append("top_up"))
    return calls


def _events(kind):
    return db.session.scalars(select(Event).where(Event.type == kind)).all()


def _admin_target(admin) -> NotificationTarget:
    target = NotificationTarget(owner_id=admin.id, name="ops", kind="webhook", url="http://127.0.0.1:9/hook",
                                events=[DISK_GUARD_EVENT], all_users=True)
    db.session.add(target)
    db.session.commit()
    return target


def test_low_space_trips_the_guard_with_an_event_and_a_notification(app, admin, disk, woken):
    target = _admin_target(admin)
    disk["free"] = GIB  # below 2 GiB
    assert disk_guard.check() is True
    state = disk_guard.state()
    assert state["tripped"] and state["reason"] == disk_guard.LOW_SPACE
    assert state["threshold_bytes"] == 2 * GIB and state["free_bytes"] == GIB
    assert state["message"] == ("Paused: only 1.0 GB free on the storage disk (needs 2.0 GB). "
                                "Downloads resume by themselves when space is freed.")
    [event] = _events(events.DISK_GUARD_TRIPPED)
    assert event.user_id is None and event.data["tripped"] is True and event.data["free_bytes"] == GIB
    [delivery] = db.session.scalars(select(NotificationDelivery)).all()
    assert delivery.target_id == target.id and delivery.event == DISK_GUARD_EVENT
    assert delivery.payload["tripped"] is True and "only 1.0 GB free" in delivery.payload["message"]
    # A second pass while still low changes nothing: one event, one notification.
    assert disk_guard.check() is True
    assert len(_events(events.DISK_GUARD_TRIPPED)) == 1
    assert woken == []


def test_the_guard_clears_itself_when_space_returns_and_wakes_the_workers(app, admin, disk, woken):
    _admin_target(admin)
    disk["free"] = GIB
    disk_guard.check()
    disk["free"] = 2 * GIB + 10 * MIB  # above the line, but not by the margin: still tripped
    assert disk_guard.check() is True
    disk["free"] = 3 * GIB
    assert disk_guard.check() is False
    assert not disk_guard.state()["tripped"]
    [cleared] = _events(events.DISK_GUARD_CLEARED)
    assert cleared.data["tripped"] is False
    payloads = [d.payload for d in db.session.scalars(select(NotificationDelivery).order_by(NotificationDelivery.id))]
    assert [p["tripped"] for p in payloads] == [True, False]
    assert woken == ["top_up"]


def test_the_state_is_one_settings_row_every_process_reads(app, disk, woken):
    disk["free"] = GIB
    disk_guard.check()
    row = db.session.get(Setting, disk_guard.KEY)
    assert row.value["tripped"] is True and row.value["threshold"] == 2 * GIB and row.value["since"]


def test_a_stale_writer_loses_to_the_one_that_changed_the_row(app, disk, woken):
    """Two workers deciding at once: the second's change is dropped, not doubled."""
    disk["free"] = GIB
    _stored, _rules, stamp = disk_guard._read()
    assert disk_guard._change(True, disk_guard.LOW_SPACE, disk_guard.Reading(GIB, 100 * GIB), 2 * GIB, stamp)
    assert not disk_guard._change(True, disk_guard.LOW_SPACE, disk_guard.Reading(GIB, 100 * GIB), 2 * GIB, stamp)
    assert len(_events(events.DISK_GUARD_TRIPPED)) == 1


def test_switching_the_guard_off_clears_it(app, disk, woken):
    disk["free"] = GIB
    disk_guard.check()
    runtime_settings.save({"disk_guard_min_free_bytes": 0, "disk_guard_min_free_percent": 0})
    assert disk_guard.check() is False
    assert not disk_guard.state()["enabled"]


def test_a_smaller_threshold_setting_applies_at_the_next_check(app, disk, woken):
    disk["free"] = GIB
    runtime_settings.save({"disk_guard_min_free_bytes": "512M"})
    assert disk_guard.check() is False
    runtime_settings.save({"disk_guard_min_free_bytes": "2G"})
    assert disk_guard.check() is True


# The claim -------------------------------------------------------------------------------------


def test_no_job_is_claimed_while_the_guard_is_tripped(app, disk, woken):
    job_id = submit(["http://example.com/a.jpg"], principal=None).entries[0].job_id
    disk["free"] = GIB
    disk_guard.check()
    assert runner.claim_next_job() is None
    assert db.session.get(Job, job_id).status == "queued"
    disk["free"] = 10 * GIB
    disk_guard.check()
    assert runner.claim_next_job() == job_id


def test_the_claim_itself_trips_the_guard_when_the_disk_just_filled(app, disk, woken):
    """Between two watchdog passes: statvfs at claim time is microseconds."""
    submit(["http://example.com/a.jpg"], principal=None)
    disk["free"] = MIB
    assert runner.claim_next_job() is None
    assert disk_guard.state()["tripped"]
    assert len(_events(events.DISK_GUARD_TRIPPED)) == 1


def test_a_disk_full_trip_holds_until_space_is_freed(app, disk, woken):
    """After a download filled the disk and its partial file was removed, free space may be above
    the threshold again; the guard waits until space is freed, or the next job fills it again."""
    disk["free"] = 5 * GIB
    disk_guard.trip_disk_full()
    state = disk_guard.state()
    assert state["tripped"] and state["reason"] == disk_guard.DISK_FULL
    assert "filled up during a download" in state["message"]
    assert disk_guard.check() is True  # nothing freed yet
    disk["free"] = 5 * GIB + 600 * MIB  # freed more than the margin (a tenth of 2 GiB)
    assert disk_guard.check() is False


# Full disks mid-download -----------------------------------------------------------------------


def test_full_disk_is_told_in_any_tool_s_words():
    full = OSError(errno.ENOSPC, "No space left on device")
    assert disk_full.caused_by_full_disk(full)
    try:
        try:
            raise full
        except OSError:
            raise RuntimeError("wrapped") from None  # the context is still there
    except RuntimeError as wrapped:
        assert disk_full.caused_by_full_disk(wrapped)
    yt = Exception("ERROR: unable to write data: [Errno 28] No space left on device")
    assert disk_full.caused_by_full_disk(yt)
    holder = Exception("ERROR: Postprocessing: Conversion failed!")
    holder.exc_info = (OSError, OSError(errno.EDQUOT, "Disk quota exceeded"), None)
    assert disk_full.caused_by_full_disk(holder)
    sqlite_full = sqlite3.OperationalError("database or disk is full")
    assert disk_full.caused_by_full_disk(sqlite_full)
    assert disk_full.caused_by_full_disk(Exception("gallery-dl failed"),
                                         ["Unable to download data:  OSError: [Errno 28] No space left on device"])
    assert not disk_full.caused_by_full_disk(OSError(errno.EACCES, "Permission denied"))
    assert not disk_full.caused_by_full_disk(Exception("HTTP Error 500"))


class _FillingFile:
    """A file that takes `room` bytes, then fails as a full disk does."""

    def __init__(self, real, room):
        self.real, self.room = real, room

    def write(self, data):
        if self.room < len(data):
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        return self.real.write(data)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.real.close()


def test_a_download_meeting_a_full_disk_fails_cleanly_and_trips_the_guard(app, media_site, disk, woken, monkeypatch):
    real_open = open
    monkeypatch.setattr(direct, "open", lambda path, mode="r": _FillingFile(real_open(path, mode), 256 * 1024),
                        raising=False)
    job_id = submit([media_site.url("/large/2.jpg")], principal=None).entries[0].job_id
    assert runner.claim_next_job() == job_id
    assert runner.run_job(job_id) is Outcome.FAILED
    job = db.session.get(Job, job_id)
    db.session.refresh(job)
    assert job.status == "failed" and job.error == "no space left on the disk"
    assert job.attempts == 1 and job.not_before is None  # not retried: it would fill the disk again
    storage = app.config["HAUL"].storage_root
    assert not [p for p in storage.rglob("*") if p.is_file()]  # its partial file is gone
    assert disk_guard.state()["tripped"] and disk_guard.state()["reason"] == disk_guard.DISK_FULL


def _run_to_failure(app, url, engine):
    job_id = submit([url], principal=None, engine=engine).entries[0].job_id
    assert runner.claim_next_job() == job_id
    assert runner.run_job(job_id) is Outcome.FAILED
    job = db.session.get(Job, job_id)
    db.session.refresh(job)
    assert job.error == "no space left on the disk" and job.attempts == 1 and job.status == "failed"
    storage = app.config["HAUL"].storage_root
    assert not [p for p in storage.rglob("*") if p.is_file()]  # no partial file left
    assert disk_guard.state()["tripped"]


def test_yt_dlp_meeting_a_full_disk_fails_cleanly(app, media_site, disk, woken, monkeypatch):
    """yt-dlp's own words: "unable to write data: [Errno 28] No space left on device"."""
    from yt_dlp.downloader.common import FileDownloader

    real = FileDownloader.sanitize_open

    def filling(self, filename, open_mode):
        stream, name = real(self, filename, open_mode)
        return _FillingFile(stream, 4096), name

    monkeypatch.setattr(FileDownloader, "sanitize_open", filling)
    _run_to_failure(app, media_site.url("/video/fullclip"), "yt-dlp")  # the page's clip, its write failing


def test_gallery_dl_meeting_a_full_disk_fails_cleanly(app, media_site, disk, woken, monkeypatch):
    from gallery_dl.path import PathFormat

    real = PathFormat.open
    monkeypatch.setattr(PathFormat, "open", lambda self, mode="wb": _FillingFile(real(self, mode), 4096))
    _run_to_failure(app, media_site.url("/large/1.jpg?for=gallery-dl"), "gallery-dl")


# Settings: checks, the form, who may change them ------------------------------------------------


def test_sizes_are_accepted_as_people_type_them(app):
    runtime_settings.save({"bandwidth_limit": "5M", "per_job_bandwidth_limit": "500K",
                           "disk_guard_min_free_bytes": "10G", "disk_guard_min_free_percent": "3"})
    now = runtime_settings.current()
    assert now.bandwidth_limit == 5 * MIB and now.per_job_bandwidth_limit == 500 * 1024
    assert now.disk_guard_min_free_bytes == 10 * GIB and now.disk_guard_min_free_percent == 3


@pytest.mark.parametrize("key, value", [
    ("bandwidth_limit", "fast"), ("bandwidth_limit", 1000), ("bandwidth_limit", -1), ("bandwidth_limit", "1e9"),
    ("per_job_bandwidth_limit", "5X"), ("disk_guard_min_free_bytes", "-2G"), ("disk_guard_min_free_bytes", True),
    ("disk_guard_min_free_percent", 51), ("disk_guard_min_free_percent", "five"),
])
def test_bad_values_are_refused_with_the_field_named(app, admin_client, key, value):
    from conftest import API_TOKEN

    response = admin_client.patch("/api/v1/settings", json={key: value},
                                  headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert response.status_code == 422, response.text
    body = response.get_json()
    assert body["error_code"] in ("invalid_settings", "validation_error") and body["detail"]
    assert key in str(body)


def test_the_api_takes_sizes_and_shows_the_guard(app, admin):
    from conftest import API_TOKEN

    client = app.test_client()
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    response = client.patch("/api/v1/settings", json={"bandwidth_limit": "1M", "disk_guard_min_free_percent": 2},
                            headers=headers)
    assert response.status_code == 200, response.text
    body = response.get_json()
    assert body["settings"]["bandwidth_limit"]["value"] == MIB
    assert set(body["changed"]) == {"bandwidth_limit", "disk_guard_min_free_percent"}
    assert body["disk_guard"]["tripped"] is False and body["disk_guard"]["free_bytes"] > 0
    assert client.patch("/api/v1/settings", json={"bandwidth_limit": None}, headers=headers).status_code == 200
    assert runtime_settings.current().bandwidth_limit == 0


def test_users_cannot_change_the_limits(app, alice, alice_client):
    from webapp.services.accounts import identity

    _row, token = identity.create_token(alice, "alice's token")
    refused = app.test_client().patch("/api/v1/settings", json={"bandwidth_limit": "1M"},
                                      headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 403 and refused.get_json()["error_code"]
    response = htmx_post(alice_client, "/settings/limits", {"limits-bandwidth_limit": "1M"})
    assert response.status_code == 403
    assert htmx_post(alice_client, "/settings/limits/reset").status_code == 403
    assert runtime_settings.current().bandwidth_limit == 0


def test_the_settings_page_shows_and_saves_the_limits(app, admin_client, disk):
    page = admin_client.get("/settings")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Bandwidth and disk space" in html and "50.0 GB free" in html and 'value="2G"' in html
    response = htmx_post(admin_client, "/settings/limits", {
        "limits-bandwidth_limit": "2M", "limits-per_job_bandwidth_limit": "0",
        "limits-disk_guard_min_free_bytes": "1G", "limits-disk_guard_min_free_percent": "5"})
    assert response.status_code == 200, response.text
    assert runtime_settings.current().bandwidth_limit == 2 * MIB
    refused = htmx_post(admin_client, "/settings/limits", {
        "limits-bandwidth_limit": "lots", "limits-per_job_bandwidth_limit": "0",
        "limits-disk_guard_min_free_bytes": "1G", "limits-disk_guard_min_free_percent": "5"})
    assert refused.status_code == 422
    assert "500K, 5M or 2G" in refused.get_data(as_text=True)
    assert runtime_settings.current().bandwidth_limit == 2 * MIB


def test_the_queue_toolbar_shows_the_banner_while_tripped(app, admin_client, disk, woken):
    assert "disk-guard-banner" not in admin_client.get("/").get_data(as_text=True)
    disk["free"] = GIB
    disk_guard.check()
    html = admin_client.get("/").get_data(as_text=True)
    assert "disk-guard-banner" in html and "only 1.0 GB free on the storage disk (needs 2.0 GB)" in html
