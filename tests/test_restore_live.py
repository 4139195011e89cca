"""Backup → change → restore on a live stack (gunicorn web + Huey worker as separate processes):
the old state comes back, the app keeps serving throughout, and jobs before and after still run."""
from __future__ import annotations

import sqlite3
import threading
import time

import pytest
import requests

from tests.conftest import API_TOKEN
from tests.support.stack import HaulStack

pytestmark = pytest.mark.timeout(240)


def only_job_id(result: dict) -> int:
    [job] = result["jobs"]
    return job["id"]


def wait_for_status(stack, job_id, statuses, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = stack.session.get(f"{stack.base_url}/api/v1/queue/{job_id}", timeout=10)
        if job.status_code == 200 and job.json()["status"] in statuses:
            return job.json()
        time.sleep(0.05)
    raise TimeoutError(f"job {job_id} did not reach {statuses}")


class Poller(threading.Thread):
    """GET /health and the queue over and over while the restore runs; every answer is kept."""

    def __init__(self, stack):
        super().__init__(daemon=True)
        self.stack, self.stop, self.answers = stack, threading.Event(), []

    def run(self):
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {API_TOKEN}"
        while not self.stop.is_set():
            for path in ("/health", "/api/v1/queue", "/login"):
                try:
                    self.answers.append((path, session.get(self.stack.base_url + path, timeout=15).status_code))
                except requests.RequestException as exc:
                    self.answers.append((path, repr(exc)))
            time.sleep(0.02)


def test_backup_change_restore_brings_the_old_state_back_while_serving(media_site, tmp_path):
    with HaulStack(tmp_path, api_token=API_TOKEN) as stack:
        api, base = stack.session, stack.base_url + "/api/v1"
        before = stack.wait_for_job(only_job_id(stack.submit([media_site.url("/img/101.png")])))
        assert before["status"] == "completed"
        # Running while the backup is made: in the backup it is "downloading".
        running = only_job_id(stack.submit([media_site.url("/slow/restore.jpg?kb=512&rate=128")]))
        wait_for_status(stack, running, ("downloading",))
        made = api.post(base + "/config/backups", timeout=30)
        assert made.status_code == 201, made.text
        name = made.json()["backup"]["name"]

        # The changes the restore must undo.
        assert api.post(base + "/presets", json={"name": "later", "label": "Later"}, timeout=10).status_code == 201
        after_backup = stack.wait_for_job(only_job_id(stack.submit([media_site.url("/img/102.png")])))
        assert api.patch(base + "/settings", json={"max_streams": 7}, timeout=10).status_code == 200

        # Running while the restore runs, and not in the backup: stopped, and gone afterwards.
        interrupted = only_job_id(stack.submit([media_site.url("/slow/interrupted.jpg?kb=2048&rate=128")]))
        wait_for_status(stack, interrupted, ("downloading",))

        poller = Poller(stack)
        poller.start()
        try:
            time.sleep(0.3)  # a few answers before the restore too (a wait for a state follows)
            restored = api.post(f"{base}/config/backups/{name}/restore", timeout=120)
        finally:
            poller.stop.set()
            poller.join(30)
        assert restored.status_code == 200, restored.text
        body = restored.json()
        assert body["restored"] == name and body["kept_as"].startswith("haul-before-restore-")

        # The app kept serving: every answer during the restore was a success.
        assert poller.answers and all(status == 200 for _path, status in poller.answers), \
            [a for a in poller.answers if a[1] != 200][:5]

        # The old state is back.
        assert api.get(base + "/presets/later", timeout=10).status_code == 404
        assert api.get(f"{base}/queue/{after_backup['id']}", timeout=10).status_code == 404
        assert api.get(f"{base}/queue/{before['id']}", timeout=10).json()["status"] == "completed"
        settings = api.get(base + "/settings", timeout=10).json()["settings"]
        assert settings["max_streams"]["stored"] is False
        # The previous database is kept beside the backups, with the changes in it.
        kept = stack.data_dir / "backups" / body["kept_as"]
        with sqlite3.connect(kept) as old:
            assert old.execute("SELECT count(*) FROM presets WHERE name = 'later'").fetchone()[0] == 1
        listed = [b["name"] for b in api.get(base + "/config/backups", timeout=10).json()["items"]]
        assert name in listed and body["kept_as"] in listed

        assert api.get(f"{base}/queue/{interrupted}", timeout=10).status_code == 404

        # The job that was running in the backup runs again; a new job runs too.
        assert stack.wait_for_job(running, timeout=90)["status"] == "completed"
        new = stack.wait_for_job(only_job_id(stack.submit([media_site.url("/img/103.png")])))
        assert new["status"] == "completed"
        # The interrupted download's runner wrote nothing into the restored database (ids go on from
        # the restored database's, so the new job may take the interrupted one's id).
        if new["id"] != interrupted:
            assert api.get(f"{base}/queue/{interrupted}", timeout=10).status_code == 404
        assert not list(stack.storage_root.rglob("interrupted*"))


def test_restore_refuses_a_file_that_is_not_a_haul_backup_and_changes_nothing(media_site, tmp_path):
    with HaulStack(tmp_path, api_token=API_TOKEN, workers=1) as stack:
        api, base = stack.session, stack.base_url + "/api/v1"
        job = stack.wait_for_job(only_job_id(stack.submit([media_site.url("/img/104.png")])))
        folder = stack.data_dir / "backups"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "haul-20200101-000000.db").write_bytes(b"this is not a database" * 100)
        with sqlite3.connect(folder / "haul-20200102-000000.db") as other:
            other.execute("CREATE TABLE notes (x)")
        good = api.post(base + "/config/backups", timeout=30).json()["backup"]["name"]
        damaged = folder / "haul-20200103-000000.db"
        data = bytearray((folder / good).read_bytes())
        data[4096:] = b"\xff" * (len(data) - 4096)  # every page but the first overwritten
        damaged.write_bytes(bytes(data))

        for name, words in (("haul-20200101-000000.db", "not a SQLite database"),
                            ("haul-20200102-000000.db", "Not a Haul database"),
                            ("haul-20200103-000000.db", "damaged")):
            answer = api.post(f"{base}/config/backups/{name}/restore", timeout=60)
            assert answer.status_code == 422, (name, answer.text)
            assert answer.json()["error_code"] == "invalid_backup" and words in answer.json()["detail"], answer.text
        assert api.get(f"{base}/queue/{job['id']}", timeout=10).json()["status"] == "completed"
        assert not list(folder.glob("haul-before-restore-*")) and not list(folder.glob(".restore-*"))
        # The queue was never held: a new job runs.
        assert stack.wait_for_job(only_job_id(stack.submit([media_site.url("/img/105.png")])))["status"] == "completed"
