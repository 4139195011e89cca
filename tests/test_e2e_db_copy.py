"""End to end: a SQLite install that downloaded things is moved to PostgreSQL with
`flask --app wsgi db copy` and goes on there, with its history, its files and new downloads.

It starts on the embedded SQLite setup by definition, so it is left out of the `--scale-out`
run (`embedded_only`); the stack after the move runs on PostgreSQL + Redis all the same.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import psycopg
import pytest
from conftest import API_TOKEN
from support.stack import ROOT, HaulStack

from support import scale_out

pytestmark = pytest.mark.embedded_only


def only_job_id(result: dict) -> int:
    [job] = result["jobs"]
    return job["id"]


def history(stack) -> list[tuple]:
    """The history as the API lists it: each download's id, status, title and files."""
    response = stack.session.get(stack.base_url + "/api/v1/downloads?per_page=100", timeout=10)
    assert response.status_code == 200, response.text
    return [(item["id"], item["status"], item["title"], sorted((f["path"], f["sha256"]) for f in item["files"]))
            for item in response.json()["items"]]


def test_a_sqlite_install_moved_to_postgresql_keeps_its_history_and_files_and_downloads_on(media_site, tmp_path,
                                                                                            postgres_url):
    workdir = tmp_path / "haul"
    before = HaulStack(workdir, api_token=API_TOKEN, scale_out=False).start()
    try:
        ids = [only_job_id(before.submit([media_site.url(path)])) for path in ("/img/201.png", "/img/202.png")]
        ids.append(only_job_id(before.submit([media_site.url("/gallery/moving?count=3")], post_title="Move")))
        for job_id in ids:
            assert before.wait_for_job(job_id, timeout=60)["status"] == "completed"
        listed = history(before)
        # One still waiting when Haul stops: the queue held, as a move's last minutes may find it.
        before.session.post(before.base_url + "/api/v1/queue/pause", timeout=10).raise_for_status()
        waiting = only_job_id(before.submit([media_site.url("/img/204.png")]))
        assert before.job(waiting)["status"] == "queued"
    finally:
        before.stop()
    assert {entry[0] for entry in listed} >= set(ids)
    assert sum(len(entry[3]) for entry in listed) >= 5  # two images and the gallery's three

    env = {k: v for k, v in os.environ.items() if not k.startswith("HAUL_")}
    env["HAUL_DATA_DIR"] = str(before.data_dir)  # its database: data/haul.db, the default
    copied = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "copy", "--to", postgres_url],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert copied.returncode == 0, copied.stdout + copied.stderr
    assert "all verified" in copied.stdout

    redis = scale_out.RedisDatabase()
    after = HaulStack(workdir, api_token=API_TOKEN, scale_out=True,
                      extra_env={"HAUL_DATABASE_URL": postgres_url, "HAUL_REDIS_URL": redis.url})
    try:
        after.start()
        assert history(after) == listed
        for _id, _status, _title, files in listed:
            for path, digest in files:
                assert hashlib.sha256((after.storage_root / path).read_bytes()).hexdigest() == digest
        # The job queued before the move runs once the queue is resumed (SQLite's huey.db, holding
        # its wake-up, stayed behind: the worker's start wakes every queued job again).
        after.session.post(after.base_url + "/api/v1/queue/resume", timeout=10).raise_for_status()
        resumed = after.wait_for_job(waiting, timeout=60)
        assert resumed["status"] == "completed", resumed
        assert (after.storage_root / resumed["files"][0]["path"]).read_bytes() == media_site.png_bytes(204)
        new = only_job_id(after.submit([media_site.url("/img/203.png")]))
        assert new > waiting > max(ids)
        job = after.wait_for_job(new, timeout=60)
        assert job["status"] == "completed", job
        [record] = job["files"]
        assert (after.storage_root / record["path"]).read_bytes() == media_site.png_bytes(203)
    finally:
        after.stop()
        redis.release()
    # The new download is a row of the PostgreSQL database, not of the old SQLite file.
    with psycopg.connect(postgres_url.replace("postgresql+psycopg", "postgresql")) as conn:
        assert conn.execute("SELECT status FROM jobs WHERE id = %s", (new,)).fetchone() == ("completed",)
