"""End to end: the real gunicorn web process and Huey consumer download from the local media site
with the real gallery-dl, yt-dlp and direct engines, driven through the HTTP API."""
from __future__ import annotations

import hashlib
import time

import pytest
import requests

from support.media_site import video_stream_md5


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def only_job_id(result: dict) -> int:
    [job] = result["jobs"]
    return job["id"]


def wait_until_bytes_arrive(stack, job_id: int, timeout: float = 15) -> dict:
    """The job once it is downloading and its progress shows bytes on disk."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = stack.job(job_id)
        if job["status"] == "downloading" and job["progress"]["bytes_done"] > 0:
            return job
        time.sleep(0.05)
    raise TimeoutError(f"job {job_id} never showed progress: {job}")


def part_files(stack) -> list:
    return [p for p in stack.storage_root.rglob("*") if p.name.endswith((".part", ".ytdl")) or ".part-Frag" in p.name]


def test_direct_image_lands_in_domain_and_resource_folder(stack, media_site):
    """A direct image link is fetched by the direct engine into <domain>/<resource-id>/."""
    job = stack.wait_for_job(only_job_id(stack.submit([media_site.url("/img/101.png")])))
    assert job["status"] == "completed", job
    assert job["engine"] == "direct"
    assert job["submitted_by"] == {"user": None, "token": None, "via": "static-token"}
    [record] = job["files"]
    assert record["path"] == "127.0.0.1/img-101.png/101.png"
    data = (stack.storage_root / record["path"]).read_bytes()
    assert data == media_site.png_bytes(101)
    assert record["sha256"] == sha256(data) and record["size"] == len(data) and record["mime"] == "image/png"


def test_page_of_images_goes_to_gallery_dl_under_the_post_title(stack, media_site):
    """A page without a video falls back to gallery-dl's page images, port and all, under <post_title>/."""
    result = stack.submit([media_site.url("/gallery/holiday?count=4")], post_title="Test")
    assert result["post_title"] == "Test"
    job = stack.wait_for_job(only_job_id(result))
    assert job["status"] == "completed", job
    assert job["engine"] == "gallery-dl"
    assert job["title"] == "Gallery holiday"
    folder = stack.storage_root / "Test" / "127.0.0.1" / job["resource_id"]
    assert job["resource_id"].startswith("gallery-holiday")
    written = {p.name: p.read_bytes() for p in folder.iterdir()}
    expected = [requests.get(u, timeout=5).content for u in media_site.gallery_image_urls("holiday", 4)]
    assert sorted(sha256(b) for b in written.values()) == sorted(sha256(b) for b in expected)
    assert sorted(f["path"].rsplit("/", 1)[1] for f in job["files"]) == sorted(written)
    assert job["progress"]["items_done"] == 4


def test_video_page_goes_to_yt_dlp(stack, media_site, tmp_path):
    """A page with an HTML5 video is downloaded by yt-dlp's generic extraction, the shipped
    preset's tags in its container and its .nfo beside it."""
    job = stack.wait_for_job(only_job_id(stack.submit([media_site.url("/video/concert")])))
    assert job["status"] == "completed", job
    assert job["engine"] == "yt-dlp"
    [record] = [f for f in job["files"] if f["kind"] == "media"]
    assert record["path"].startswith("127.0.0.1/") and record["path"].endswith(".mp4")
    assert [f["kind"] for f in job["files"]] == ["media", "nfo"]
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(requests.get(media_site.video_clip_url("concert"), timeout=5).content)
    assert video_stream_md5(stack.storage_root / record["path"]) == video_stream_md5(clip)


def test_forced_engine_is_used(stack, media_site):
    """"engine": "gallery-dl" sends even a direct image link through gallery-dl."""
    job = stack.wait_for_job(only_job_id(stack.submit([media_site.url("/img/102.png")], engine="gallery-dl")))
    assert job["status"] == "completed", job
    assert job["engine"] == "gallery-dl"
    assert (stack.storage_root / job["files"][0]["path"]).read_bytes() == media_site.png_bytes(102)


def test_dedupe_answers_with_the_existing_job_and_force_downloads_again(stack, media_site):
    url = media_site.url("/img/103.png")
    first = only_job_id(stack.submit([url]))
    stack.wait_for_job(first)
    media_site.reset()
    again = stack.submit([url + "#fragment"])
    assert again["jobs"] == [{"id": first, "url": url, "status": "duplicate", "duplicate_of": first}]
    forced = only_job_id(stack.submit([url], force=True))
    assert forced != first
    assert stack.wait_for_job(forced)["status"] == "completed"
    assert media_site.count("/img/103.png") == 1  # only the forced job fetched it


def test_hostile_post_title_stays_inside_the_storage_root(stack, media_site):
    """Path traversal in post_title is neutralised; nothing is written outside the library."""
    job = stack.wait_for_job(
        only_job_id(stack.submit([media_site.url("/img/104.png")], post_title="../../../escape/../x"))
    )
    assert job["status"] == "completed", job
    [record] = job["files"]
    assert ".." not in record["path"].split("/")
    assert (stack.storage_root / record["path"]).resolve().is_relative_to(stack.storage_root.resolve())
    assert not list(stack.workdir.glob("escape")) and not list(stack.data_dir.glob("escape"))


def test_unicode_post_title_is_kept(stack, media_site):
    title = "Café ☕ 日本語/テスト: \"quoted\"?"
    job = stack.wait_for_job(only_job_id(stack.submit([media_site.url("/img/105.png")], post_title=title)))
    assert job["status"] == "completed", job
    top = job["files"][0]["path"].split("/")[0]
    assert top == "Café ☕ 日本語_テスト_ _quoted__"
    assert (stack.storage_root / top / "127.0.0.1").is_dir()


def test_cancel_stops_a_slow_download_within_two_seconds(stack, media_site):
    job_id = only_job_id(stack.submit([media_site.url("/slow/cancel-me.jpg?kb=8192&rate=128")]))
    job = wait_until_bytes_arrive(stack, job_id)
    assert job["progress"]["bytes_total"] == 8192 * 1024
    asked = time.monotonic()
    response = stack.session.post(f"{stack.base_url}/api/v1/queue/{job_id}/cancel", timeout=5)
    assert response.status_code == 202
    job = stack.wait_for_job(job_id, timeout=5)
    assert job["status"] == "cancelled"
    assert time.monotonic() - asked < 2.0
    assert part_files(stack) == []
    assert job["files"] == []


def test_transient_500s_are_retried_until_success(stack, media_site):
    """Two 500 answers, then the file: the job completes on its third attempt."""
    job = stack.wait_for_job(only_job_id(stack.submit([media_site.url("/flaky/retry-a/106.png?fail=2")])))
    assert job["status"] == "completed", job
    assert job["attempts"] == 3
    assert media_site.count("/flaky/retry-a/") == 3
    assert (stack.storage_root / job["files"][0]["path"]).read_bytes() == media_site.png_bytes(106)


def test_persistent_500s_give_up_after_three_attempts(stack, media_site):
    job = stack.wait_for_job(only_job_id(stack.submit([media_site.url("/flaky/retry-b/107.png?fail=10")])))
    assert job["status"] == "failed"
    assert job["attempts"] == 3
    assert "500" in job["error"] and "gave up after 3 attempts" in job["error"]
    assert media_site.count("/flaky/retry-b/") == 3


def test_404_fails_at_once_with_the_tools_message(stack, media_site):
    job = stack.wait_for_job(only_job_id(stack.submit([media_site.url("/missing.jpg")])))
    assert job["status"] == "failed"
    assert job["attempts"] == 1
    assert "404" in job["error"]
    page = stack.wait_for_job(only_job_id(stack.submit([media_site.url("/status/404")])))
    assert page["status"] == "failed" and page["attempts"] == 1 and "404" in page["error"]


def test_get_download_reports_each_jobs_state(stack, media_site):
    result = stack.submit([media_site.url("/img/108.png"), media_site.url("/missing-108.jpg")], label="two")
    for entry in result["jobs"]:
        stack.wait_for_job(entry["id"])
    response = stack.session.get(f"{stack.base_url}/downloads/{result['download_id']}", timeout=5)
    assert response.status_code == 200
    body = response.json()
    assert body["label"] == "two" and body["download_id"] == result["download_id"]
    done, missing = body["jobs"]
    assert done["status"] == "completed" and done["files"][0]["path"].endswith("108.png")
    assert done["progress"]["percent"] == 100.0
    assert missing["status"] == "failed" and "404" in missing["error"]


def test_bad_requests_get_json_errors_and_the_server_keeps_serving(stack, media_site):
    url = stack.base_url + "/downloads"
    cases = [
        (requests.post(url, json={"urls": ["x"]}, timeout=5), 401),
        (requests.post(url, json={"urls": ["x"]}, headers={"Authorization": "Bearer nope-nope"}, timeout=5), 401),
        (stack.session.post(url, data="{not json", headers={"Content-Type": "application/json"}, timeout=5), 400),
        (stack.session.post(url, json={"urls": []}, timeout=5), 400),
        (stack.session.post(url, json={"urls": ["ftp://x/y", "notaurl"]}, timeout=5), 422),
        (stack.session.post(url, data=b"{" + b" " * (2 * 1024 * 1024) + b"}", timeout=5), 413),
        (stack.session.get(stack.base_url + "/downloads/does-not-exist", timeout=5), 404),
        (stack.session.get(stack.base_url + "/api/v1/queue/999999", timeout=5), 404),
    ]
    for response, status in cases:
        assert response.status_code == status, response.text
        body = response.json()
        assert set(body) >= {"detail", "error_code"}
    assert "ftp://x/y" in cases[4][0].json()["detail"] and "notaurl" in cases[4][0].json()["detail"]
    assert stack.wait_for_job(only_job_id(stack.submit([media_site.url("/img/109.png")])))["status"] == "completed"


def test_two_consumers_never_download_a_job_twice(stack, media_site):
    """A second worker process shares the queue; every URL is fetched exactly once."""
    extra = stack._spawn([__import__("sys").executable, "-m", "jobs.worker"], "worker-extra.log")
    try:
        media_site.reset()
        urls = [media_site.url(f"/img/{200 + i}.png") for i in range(16)]
        result = stack.submit(urls)
        for entry in result["jobs"]:
            assert stack.wait_for_job(entry["id"])["status"] == "completed"
        for i in range(16):
            assert media_site.count(f"/img/{200 + i}.png") == 1
    finally:
        extra.terminate()
        extra.wait(20)


@pytest.mark.parametrize("signal_name", ["kill", "term"])
def test_a_job_survives_its_worker_stopping_mid_download(stack, media_site, signal_name):
    """kill -9 (power cut) or SIGTERM (shutdown) mid-download: the job is downloaded after restart."""
    url = media_site.url(f"/slow/survivor-{signal_name}.jpg?kb=1024&rate=256")
    job_id = only_job_id(stack.submit([url]))
    job = wait_until_bytes_arrive(stack, job_id)
    assert job["status"] == "downloading"
    if signal_name == "kill":
        stack.kill_worker()
        assert stack.job(job_id)["status"] == "downloading"  # nobody said otherwise
    else:
        started = time.monotonic()
        assert stack.stop_worker() == 0
        assert time.monotonic() - started < 10
        assert stack.job(job_id)["status"] == "queued"  # handed back on the way out
    stack.start_worker()
    job = stack.wait_for_job(job_id, timeout=30)
    assert job["status"] == "completed", job
    data = (stack.storage_root / job["files"][0]["path"]).read_bytes()
    assert data == media_site.slow_bytes(f"survivor-{signal_name}", 1024)
    assert part_files(stack) == []
    if signal_name == "kill":
        assert job["attempts"] == 2
        assert "queued again" in stack.log("worker.log") or "re-queued" in stack.log("worker.log")


def test_restarting_both_processes_keeps_queued_jobs(stack, media_site):
    stack.stop_worker()
    result = stack.submit([media_site.url(f"/img/{300 + i}.png") for i in range(5)])
    stack.web.terminate()
    stack.web.wait(20)
    stack.start_web()
    stack.start_worker()
    for entry in result["jobs"]:
        assert stack.wait_for_job(entry["id"])["status"] == "completed"


def test_a_large_file_streams_to_disk_with_its_size_and_hash(stack, media_site):
    """A 24 MiB file: progress knows the total, the file and its sha256 are exact."""
    job = stack.wait_for_job(only_job_id(stack.submit([media_site.url("/large/24.jpg")])), timeout=60)
    assert job["status"] == "completed", job
    [record] = job["files"]
    expected = media_site.large_bytes(24, "jpg")
    assert record["size"] == len(expected) == 24 * 1024 * 1024
    assert record["sha256"] == sha256(expected)
    assert job["progress"]["bytes_total"] == len(expected) and job["progress"]["bytes_done"] == len(expected)
    assert (stack.storage_root / record["path"]).stat().st_size == len(expected)


def test_a_page_with_nothing_to_download_fails_with_a_clear_message(stack, media_site):
    """Neither a video for yt-dlp nor images for gallery-dl: failed at once, saying so."""
    job = stack.wait_for_job(only_job_id(stack.submit([media_site.url("/status/200")])))
    assert job["status"] == "failed" and job["attempts"] == 1
    assert job["error"] == "No images or videos found on this page"
    assert job["engine"] == "gallery-dl" and job["files"] == []


def test_the_queue_keeps_no_task_results(stack, media_site):
    """Outcomes live in the job rows; Huey's result store (its SQLite file's `kv` table, or the
    results hash in Redis) stays empty however many jobs run."""
    import sqlite3

    import redis

    result = stack.submit([media_site.url(f"/img/{400 + i}.png") for i in range(3)])
    for entry in result["jobs"]:
        assert stack.wait_for_job(entry["id"])["status"] == "completed"
    if "HAUL_REDIS_URL" in stack.env:
        client = redis.Redis.from_url(stack.env["HAUL_REDIS_URL"])
        assert client.hlen("huey.results.haul") == 0
        assert not (stack.data_dir / "huey.db").exists()
    else:
        with sqlite3.connect(stack.data_dir / "huey.db") as conn:
            assert conn.execute("SELECT COUNT(*) FROM kv").fetchone() == (0,)
