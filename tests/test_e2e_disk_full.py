"""The disk guard and a full disk on a real small filesystem (a 64 MiB tmpfs the test mounts as root).

The tmpfs holds the data dir — SQLite's database and Huey's — and the storage root, as on a box
with one disk; a live web + worker run on it. A filler file takes the free space below the
guard's threshold: the guard trips (the settings API says so, the event reaches live streams,
the queue page shows the banner), a new job stays queued; the filler deleted, the job starts and
completes by itself. Then a download bigger than the disk fails with "no space left on the
disk", its partial file gone, the guard tripped; the database passes `PRAGMA integrity_check`,
the app keeps serving, earlier jobs and files are intact, and once space is freed a new job
completes.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from conftest import API_TOKEN
from support.live_clients import SSEReader, signed_in_browser
from support.stack import ROOT, HaulStack

MIB = 1024 * 1024
THRESHOLD = 8 * MIB  # set through the API: the 2 GiB default is far more than this disk holds
PASSWORD = "disk-guard-password-1"


def _mount_small_disk(where: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    where.mkdir(parents=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(where)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"mount -t tmpfs is not permitted here: {done.stderr.strip()}")


@pytest.fixture(scope="module")
def small_disk(tmp_path_factory):
    where = tmp_path_factory.mktemp("small-disk") / "mnt"
    _mount_small_disk(where)
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.fixture(scope="module")
def stack(small_disk, media_site, tmp_path_factory):
    """Web + worker whose data dir (both databases) and library are on the small disk; their logs are not."""
    workdir = tmp_path_factory.mktemp("disk-full-stack")
    data_dir = small_disk / "data"
    running = HaulStack(workdir, api_token=API_TOKEN, extra_env={"HAUL_DATA_DIR": str(data_dir)})
    running.data_dir, running.storage_root = data_dir, data_dir / "downloads"
    with running:
        running.session.patch(running.base_url + "/api/v1/settings", timeout=10, json={
            "disk_guard_min_free_bytes": THRESHOLD, "disk_guard_min_free_percent": 0}).raise_for_status()
        yield running


def _free(path: Path) -> int:
    return shutil.disk_usage(path).free


def _fill(path: Path, leave: int) -> None:
    """A file taking the disk's free space down to about `leave` bytes."""
    size = _free(path.parent) - leave
    with open(path, "wb") as fh:
        block = b"\0" * MIB
        while size > 0:
            size -= fh.write(block[:min(size, MIB)])


def _guard(stack) -> dict:
    return stack.session.get(stack.base_url + "/api/v1/settings", timeout=10).json()["disk_guard"]


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise TimeoutError(what)


def _job_id(stack, url: str) -> int:
    return stack.submit([url])["jobs"][0]["id"]


def _stays_queued(stack, job_id: int, seconds: float) -> None:
    """The job is still queued after `seconds` (the watchdog passes twice in that time)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert stack.job(job_id)["status"] == "queued"
        time.sleep(0.2)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def browser(stack):
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "users", "create", "diskwatch", "--admin",
                    "--password", PASSWORD], cwd=ROOT, env=stack.env, check=True, capture_output=True)
    return signed_in_browser(stack.base_url, "diskwatch", PASSWORD)


def test_the_guard_pauses_on_low_space_and_resumes_when_it_is_freed(stack, media_site, browser):
    first = stack.wait_for_job(_job_id(stack, media_site.url("/img/1.png")))
    assert first["status"] == "completed"
    assert not _guard(stack)["tripped"]
    events = SSEReader(stack, last_event_id=0)
    filler = stack.data_dir / "filler.bin"
    _fill(filler, leave=THRESHOLD // 2)
    try:
        guard = _wait(lambda: (g := _guard(stack))["tripped"] and g, 20, "the guard did not trip")
        assert guard["reason"] == "low_space" and guard["threshold_bytes"] == THRESHOLD
        assert guard["free_bytes"] < THRESHOLD
        tripped = events.until(lambda f: f["data"]["type"] == "disk_guard_tripped", timeout=20)[-1]["data"]
        assert tripped["data"]["tripped"] is True and "free on the storage disk" in tripped["data"]["message"]
        page = browser.get(stack.base_url + "/", timeout=10).text
        assert "disk-guard-banner" in page and "(needs 8.0 MB)" in page and "resume by themselves" in page
        waiting = _job_id(stack, media_site.url("/img/2.png"))
        _stays_queued(stack, waiting, 6)
    finally:
        filler.unlink()
        events.close()
    assert stack.wait_for_job(waiting, timeout=40)["status"] == "completed"
    assert not _guard(stack)["tripped"]


@pytest.mark.embedded_only  # its point is SQLite's files sharing the full disk with the library
def test_a_download_bigger_than_the_disk_fails_cleanly(stack, media_site):
    kept = stack.wait_for_job(_job_id(stack, media_site.url("/img/3.png")))
    assert kept["status"] == "completed"
    earlier = {p: _sha(p) for p in stack.storage_root.rglob("*") if p.is_file()}
    assert len(earlier) >= 3
    # Something to free later: the disk stays above the threshold until the big download.
    old_stuff = stack.data_dir / "old-stuff.bin"
    _fill(old_stuff, leave=_free(stack.data_dir) - 12 * MIB)
    try:
        big = _job_id(stack, media_site.url("/large/80.jpg"))  # 80 MiB on a 64 MiB disk
        failed = stack.wait_for_job(big, timeout=90)
        assert failed["status"] == "failed" and failed["error"] == "no space left on the disk", failed
        assert failed["attempts"] == 1  # not retried
        assert not [p for p in stack.storage_root.rglob("*") if p.is_file() and p not in earlier]  # partial gone
        guard = _guard(stack)
        assert guard["tripped"] and guard["reason"] == "disk_full"
        # SQLite kept working: the database is whole, the app serves, earlier jobs and files are intact.
        with sqlite3.connect(f"file:{stack.data_dir / 'haul.db'}?mode=ro", uri=True) as database:
            assert database.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert {p: _sha(p) for p in earlier} == earlier
        assert stack.job(kept["id"])["status"] == "completed"
        listed = stack.session.get(stack.base_url + "/api/v1/queue", timeout=10)
        assert listed.status_code == 200
        waiting = _job_id(stack, media_site.url("/img/4.png"))
        _stays_queued(stack, waiting, 6)  # held until space is freed, not only above the threshold
    finally:
        old_stuff.unlink()
    assert stack.wait_for_job(waiting, timeout=40)["status"] == "completed"
    assert not _guard(stack)["tripped"]
    assert requests.get(stack.base_url + "/health", timeout=10).status_code == 200
