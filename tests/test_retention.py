"""History retention and the cleanup of orphaned partial files (webapp/services/library/retention.py)."""
from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import API_TOKEN, assert_api_error

ADMIN = {"Authorization": f"Bearer {API_TOKEN}"}
HOUR = 3600


def finished_job(app, url, *, days_ago: float, files=(), status="completed"):
    """A job finished `days_ago` days ago, with `files` (relative paths) written under the storage root."""
    import hashlib

    from webapp.extensions import db
    from webapp.models import Job, JobFile
    from webapp.models.base import utcnow
    from webapp.models.job import Outcome
    from webapp.services.queue.submissions import submit

    result = submit([url], principal=None, source="api", force=True)
    job = db.session.get(Job, result.entries[0].job_id)
    root = Path(app.config["HAUL"].storage_root)
    for relative in files:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(relative.encode())
        digest = hashlib.sha256(relative.encode()).hexdigest()
        job.files.append(JobFile(path=relative, size=len(relative), sha256=digest))
    if status != "queued":
        job.claim("tests")
        job.finish(Outcome(status), None if status != "failed" else "broken")
        job.finished_at = utcnow() - timedelta(days=days_ago)
    db.session.commit()
    return job.id


def job_ids():
    from webapp.extensions import db
    from webapp.models import Job

    return set(db.session.scalars(select(Job.id)))


@pytest.mark.parametrize("delete_files", [False, True])
def test_retention_removes_only_finished_jobs_older_than_the_limit(app, settings, delete_files):
    from webapp.services.library import retention

    root = Path(settings.storage_root)
    old = finished_job(app, "https://example.com/old", days_ago=40, files=["old/a.mp4"])
    old_failed = finished_job(app, "https://example.com/old-failed", days_ago=40, status="failed")
    recent = finished_job(app, "https://example.com/recent", days_ago=5, files=["recent/b.mp4"])
    waiting = finished_job(app, "https://example.com/waiting", days_ago=0, status="queued")

    dry = retention.clean_up(settings, retention_days=30, delete_files=delete_files, dry_run=True)
    assert dry.jobs == 2 and sorted(dry.job_ids) == sorted([old, old_failed])
    assert job_ids() == {old, old_failed, recent, waiting}

    done = retention.clean_up(settings, retention_days=30, delete_files=delete_files, dry_run=False)
    assert done.jobs == 2
    assert job_ids() == {recent, waiting}
    assert (root / "old/a.mp4").exists() is (not delete_files)
    assert (root / "recent/b.mp4").exists()


def test_zero_days_keeps_the_history_forever(app, settings):
    from webapp.services.library import retention

    old = finished_job(app, "https://example.com/ancient", days_ago=3650)
    assert retention.clean_up(settings, retention_days=0, delete_files=True, dry_run=False).jobs == 0
    assert old in job_ids()


def age(path: Path, seconds: float) -> None:
    moment = time.time() - seconds
    os.utime(path, (moment, moment), follow_symlinks=False)


def test_orphan_cleanup_removes_old_partials_only_inside_the_root_and_never_through_links(app, settings, tmp_path):
    from webapp.services.library import retention

    root = Path(settings.storage_root)
    (root / "show" / "s1").mkdir(parents=True)
    old_part = root / "show" / "s1" / "ep.mp4.part"
    old_ytdl = root / "show" / "ep.mp4.ytdl"
    old_tmp = root / "x.tmp"
    fresh_part = root / "show" / "new.mp4.part"
    finished = root / "show" / "done.mp4"
    for path in (old_part, old_ytdl, old_tmp, fresh_part, finished):
        path.write_bytes(b"data")
    for path in (old_part, old_ytdl, old_tmp, finished):
        age(path, 2 * HOUR)
    # Outside the root, reachable only through links inside it.
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.part").write_bytes(b"keep me")
    age(outside / "victim.part", 2 * HOUR)
    (root / "linked-folder").symlink_to(outside, target_is_directory=True)
    (root / "linked.part").symlink_to(outside / "victim.part")
    age(root / "linked.part", 2 * HOUR)

    dry = retention.clean_up(settings, retention_days=0, delete_files=False, dry_run=True)
    assert sorted(dry.partial_paths) == ["show/ep.mp4.ytdl", "show/s1/ep.mp4.part", "x.tmp"]
    assert old_part.exists()

    done = retention.clean_up(settings, retention_days=0, delete_files=False, dry_run=False)
    assert done.partial_files == 3 and done.partial_bytes == 12
    assert not old_part.exists() and not old_ytdl.exists() and not old_tmp.exists()
    assert fresh_part.exists() and finished.exists()
    assert (outside / "victim.part").read_bytes() == b"keep me"
    assert (root / "linked.part").is_symlink() and (root / "linked-folder").is_symlink()


def test_a_running_jobs_folder_is_left_alone(app, settings):
    from webapp.extensions import db
    from webapp.models import Job
    from webapp.services.library import retention
    from webapp.services.queue.submissions import submit

    result = submit(["https://example.com/running"], principal=None, source="api", force=True, post_title="Busy")
    job = db.session.get(Job, result.entries[0].job_id)
    job.claim("tests")
    db.session.commit()
    root = Path(settings.storage_root)
    running = [p for p in retention.rescan._running_folders(root)]
    assert running, "the running job has a folder"
    busy = root / running[0] / "video.mp4.part"
    busy.parent.mkdir(parents=True, exist_ok=True)
    busy.write_bytes(b"half")
    age(busy, 5 * HOUR)
    assert retention.clean_up(settings, retention_days=0, delete_files=False, dry_run=False).partial_files == 0
    assert busy.exists()


def test_the_cleanup_endpoint_answers_what_it_would_remove_then_removes_it(app, client, settings):
    old = finished_job(app, "https://example.com/old", days_ago=40)
    part = Path(settings.storage_root) / "left.part"
    part.write_bytes(b"xx")
    age(part, 2 * HOUR)
    dry = client.post("/api/v1/history/cleanup", json={"dry_run": True, "days_old": 30}, headers=ADMIN)
    assert dry.status_code == 200, dry.get_data(as_text=True)
    assert dry.get_json()["job_ids"] == [old] and dry.get_json()["partial_paths"] == ["left.part"]
    assert old in job_ids() and part.exists()
    done = client.post("/api/v1/history/cleanup", json={"days_old": 30}, headers=ADMIN).get_json()
    assert done["jobs"] == 1 and done["partial_files"] == 1 and not part.exists()


def test_the_cleanup_endpoint_uses_the_retention_setting_by_default(app, client):
    old = finished_job(app, "https://example.com/old", days_ago=40)
    assert client.post("/api/v1/history/cleanup", json={}, headers=ADMIN).get_json()["jobs"] == 0
    patched = client.patch("/api/v1/config/housekeeping", json={"retention_days": 30}, headers=ADMIN)
    assert patched.get_json()["retention_days"] == 30
    assert client.post("/api/v1/history/cleanup", json={}, headers=ADMIN).get_json()["job_ids"] == [old]
    assert_api_error(client.post("/api/v1/history/cleanup", json={"days_old": 0}, headers=ADMIN), 422)


def test_the_daily_housekeeping_runs_once_a_day_across_workers(app, settings, tmp_path):
    import dataclasses
    from datetime import datetime, timezone

    from webapp.services.admin import housekeeping, housekeeping_settings

    settings = dataclasses.replace(settings, backup_dir=tmp_path / "backups")
    housekeeping_settings.save({"backup_schedule_enabled": True, "backup_schedule_hour": 3, "backup_keep": 2,
                                "retention_days": 30})
    old = finished_job(app, "https://example.com/old", days_ago=40)
    early = datetime(2026, 12, 5, 2, 0, tzinfo=timezone.utc)
    first = housekeeping.run_due(settings, early)
    assert first["backup"] is None and first["cleanup"]["jobs"] == 1  # the backup waits for its hour
    assert old not in job_ids()
    at_three = datetime(2026, 12, 5, 3, 5, tzinfo=timezone.utc)
    runs = [housekeeping.run_due(settings, at_three) for _ in range(3)]  # three workers passing
    assert [bool(run["backup"]) for run in runs] == [True, False, False]
    assert all(run["cleanup"] is None for run in runs)
    next_day = housekeeping.run_due(settings, at_three + timedelta(days=1))
    assert next_day["backup"] and next_day["cleanup"] is not None
