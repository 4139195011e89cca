"""The library rescan: real files in a temporary storage root, the real ffprobe and ffmpeg.

In-process (the `app`/`client` fixtures): the service as the worker and the CLI run it, the API,
the Settings page and the command. Files made here are newer than the rescan's settle time (their
ctime is now, and nothing can set a ctime back), so these tests set it to 0 except where the
settle time itself is tested. The end-to-end test at the bottom runs the rescan in the real
worker and reads admins' and a user's event streams of a live stack.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select
from support.live_clients import SSEReader
from support.web import form_csrf_at, htmx_post, sign_in_as

from jobs import library_rescan
from webapp.core.vocabulary import IMPORT, IMPORT_ENGINE
from webapp.extensions import db
from webapp.models import Event, Job, JobFile, JobMetadata, Setting
from webapp.models.job import Outcome
from webapp.services.accounts import identity as accounts
from webapp.services.accounts.identity import Principal
from webapp.services.library import rescan
from webapp.services.queue import events
from webapp.services.queue.submissions import submit

FFMPEG = shutil.which("ffmpeg")


@pytest.fixture(autouse=True)
def settled_at_once(monkeypatch):
    """Files made by a test are seconds old: let the rescan take them (see the module's docstring)."""
    monkeypatch.setattr(rescan, "SETTLE_SECONDS", 0.0)


@pytest.fixture
def root(app) -> Path:
    path = Path(app.config["HAUL"].storage_root)
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def video_bytes(tmp_path_factory) -> bytes:
    """A real two-second mp4 (H.264 + AAC) made by ffmpeg."""
    target = tmp_path_factory.mktemp("media") / "clip.mp4"
    subprocess.run([FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=duration=2:size=64x48:rate=10",
                    "-f", "lavfi", "-i", "sine=duration=2", "-shortest", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", str(target)], check=True, capture_output=True, timeout=60)
    return target.read_bytes()


def put(root: Path, relative: str, content: bytes) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def recorded_job(root: Path, relative: str, content: bytes, user=None, status="completed") -> Job:
    """A job as the worker leaves it, its file on disk and recorded."""
    result = submit([f"https://example.com/{hashlib.md5(relative.encode()).hexdigest()}"],
                    principal=Principal(user=user) if user else None, source="api", force=True)
    job = db.session.get(Job, result.entries[0].job_id)
    put(root, relative, content)
    job.files.append(JobFile(path=relative, size=len(content), sha256=hashlib.sha256(content).hexdigest()))
    job.claim("tests")
    if status != "downloading":
        job.finish(Outcome.COMPLETED)
    db.session.commit()
    return job


def rescan_now(**kwargs) -> dict:
    """One rescan from start to end, as the CLI runs it (the worker's ffprobe)."""
    started = rescan.begin(None, None, "cli")
    final = rescan.run(started["id"], duration_of=library_rescan.duration_of, **kwargs)
    assert final is not None and final["status"] == rescan.COMPLETED, final
    return final


def imported_jobs() -> list[Job]:
    return db.session.scalars(select(Job).where(Job.source == IMPORT).order_by(Job.id)).all()


def api_token(user) -> dict:
    return {"Authorization": f"Bearer {accounts.create_token(user, 'test')[1]}"}


# -- gone and back -------------------------------------------------------------------------------


def test_a_deleted_file_is_marked_gone_and_no_longer_gone_when_put_back(app, root, admin, client):
    job = recorded_job(root, "Post/example.com/abc/photo.png", b"\x89PNG one")
    (root / "Post/example.com/abc/photo.png").unlink()

    first = rescan_now()
    record = db.session.scalars(select(JobFile).where(JobFile.job_id == job.id)).one()
    assert first["counts"]["gone"] == 1 and record.gone_at is not None
    # The API says so: the rescan's counts, and the file as the downloads API shows it; so does the history.
    headers = api_token(admin)
    shown = client.get("/api/v1/library/rescan", headers=headers).get_json()
    assert shown["counts"]["gone"] == 1 and shown["status"] == "completed"
    assert [f["gone"] for f in client.get(f"/api/v1/downloads/{job.id}", headers=headers).get_json()["files"]] == [True]
    sign_in_as(client, admin)
    assert re.search(r'class="file [^"]* gone"', client.get(f"/history/{job.id}").get_data(as_text=True))

    put(root, "Post/example.com/abc/photo.png", b"\x89PNG one")
    second = rescan_now()
    db.session.refresh(record)
    assert second["counts"]["back"] == 1 and second["counts"]["gone"] == 0
    assert record.gone_at is None
    assert second["counts"]["imported_files"] == 0  # back, not new
    assert [f["gone"] for f in client.get(f"/api/v1/downloads/{job.id}", headers=headers).get_json()["files"]] == [False]


# -- imports -------------------------------------------------------------------------------------


def test_a_video_copied_in_with_its_info_json_becomes_an_imported_download(app, root, admin, video_bytes):
    put(root, "Old/site.example/v1/My clip.mp4", video_bytes)
    put(root, "Old/site.example/v1/My clip.info.json", json.dumps({
        "id": "v1", "title": "A clip from before", "uploader": "Someone", "upload_date": "20240131",
        "tags": ["alpha", "beta"], "description": "Two seconds of test pattern",
        "webpage_url": "https://site.example/watch/v1", "extractor": "generic"}).encode())

    final = rescan_now()

    assert final["counts"]["imported_jobs"] == 1 and final["counts"]["imported_files"] == 2
    job = imported_jobs()[0]
    assert (job.source, job.engine, job.status) == (IMPORT, IMPORT_ENGINE, "completed")
    assert job.title == "A clip from before" and job.url == "https://site.example/watch/v1"
    assert job.domain == "site.example" and job.user_id is None  # from the CLI: nobody's, admins see it
    assert job.cleared_at is not None  # never on the queue page
    files = {f.path: f for f in job.files}
    video = files["Old/site.example/v1/My clip.mp4"]
    assert video.sha256 == hashlib.sha256(video_bytes).hexdigest() and video.size == len(video_bytes)
    assert video.mime == "video/mp4" and video.kind == "media"
    assert files["Old/site.example/v1/My clip.info.json"].kind == "info-json"
    meta = db.session.get(JobMetadata, job.id)
    assert (meta.uploader, meta.upload_date, meta.tags) == ("Someone", "2024-01-31", "alpha\nbeta")
    assert meta.description == "Two seconds of test pattern"
    assert meta.webpage_url == "https://site.example/watch/v1"
    assert meta.duration == pytest.approx(2.0, abs=0.2)  # the info.json had none: ffprobe's


def test_a_file_ffprobe_cannot_read_is_still_imported_named_after_its_file(app, root):
    put(root, "loose/broken.mp4", b"not really a video")

    final = rescan_now()

    assert final["counts"]["imported_files"] == 1 and final["counts"]["errors"] == 0
    job = imported_jobs()[0]
    assert job.title == "broken" and job.url == "import:loose/broken.mp4" and job.domain == "import"
    assert db.session.get(JobMetadata, job.id) is None  # nothing known about it
    assert job.files[0].sha256 == hashlib.sha256(b"not really a video").hexdigest()


def test_a_folder_of_several_songs_is_a_download_per_song_with_its_own_files(app, root):
    for name in ("01 One.mp3", "01 One.jpg", "02 Two.mp3", "02 Two.en.lrc", "notes.txt"):
        put(root, f"Album/{name}", name.encode())

    rescan_now()

    jobs = {job.title: sorted(f.path.rsplit("/", 1)[1] for f in job.files) for job in imported_jobs()}
    assert jobs == {"01 One": ["01 One.jpg", "01 One.mp3"], "02 Two": ["02 Two.en.lrc", "02 Two.mp3"],
                    "notes": ["notes.txt"]}


def test_content_already_in_the_library_is_recorded_at_its_new_path_and_counted(app, root):
    recorded_job(root, "a/first.png", b"\x89PNG same")
    put(root, "b/copy.png", b"\x89PNG same")

    final = rescan_now()

    assert final["counts"]["imported_files"] == 1 and final["counts"]["duplicate_files"] == 1
    assert db.session.scalar(select(func.count()).select_from(JobFile).where(JobFile.path == "b/copy.png")) == 1


def test_an_admin_asking_owns_the_imported_jobs_and_a_user_does_not_see_them(app, root, admin, alice, client):
    put(root, "x/file.png", b"\x89PNG x")
    state = rescan.begin(admin.id, admin.username, "session")
    rescan.run(state["id"])
    job = imported_jobs()[0]
    assert job.user_id == admin.id
    seen_by_admin = client.get("/api/v1/downloads", headers=api_token(admin)).get_json()["items"]
    seen_by_alice = client.get("/api/v1/downloads", headers=api_token(alice)).get_json()["items"]
    assert job.id in [item["id"] for item in seen_by_admin]
    assert job.id not in [item["id"] for item in seen_by_alice]


# -- idempotent, and what is left alone ----------------------------------------------------------------


def test_a_second_rescan_changes_nothing(app, root, video_bytes):
    recorded_job(root, "known/one.png", b"\x89PNG k")
    put(root, "new/clip.mp4", video_bytes)
    put(root, "new/clip.part", b"partial")
    (root / "known/one.png").unlink()
    rescan_now()
    jobs_before = db.session.scalar(select(func.count()).select_from(Job))
    files_before = db.session.scalar(select(func.count()).select_from(JobFile))

    again = rescan_now()

    counts = again["counts"]
    assert (counts["imported_jobs"], counts["imported_files"], counts["gone"], counts["back"]) == (0, 0, 0, 0)
    assert counts["known"] == 1 and counts["skipped"] == 1  # the video known now, the partial file left
    assert db.session.scalar(select(func.count()).select_from(Job)) == jobs_before
    assert db.session.scalar(select(func.count()).select_from(JobFile)) == files_before


def test_symbolic_links_are_never_followed_out_of_the_storage_root(app, root, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not the library's")
    (outside / "folder").mkdir()
    (outside / "folder" / "inner.png").write_bytes(b"\x89PNG out")
    (root / "links").mkdir()
    os.symlink(outside / "secret.txt", root / "links" / "secret.txt")
    os.symlink(outside / "folder", root / "links" / "folder")

    final = rescan_now()

    assert final["counts"]["imported_files"] == 0 and final["counts"]["skipped"] == 1
    assert db.session.scalar(select(func.count()).select_from(JobFile)) == 0


def test_partial_hidden_and_fresh_files_are_left_for_the_next_rescan(app, root, monkeypatch):
    for name in ("v.mp4.part", "v.mp4.ytdl", "v.temp.mp4", "v.f137.mp4.part-Frag3", ".hidden.png", "c.temp"):
        put(root, f"site/item/{name}", b"partial")
    first = rescan_now()
    assert first["counts"]["imported_files"] == 0 and first["counts"]["skipped"] == 6

    monkeypatch.setattr(rescan, "SETTLE_SECONDS", 3600.0)  # a file written just now may still be growing
    put(root, "site/item/growing.mp4", b"half")
    assert rescan_now()["counts"]["imported_files"] == 0


def test_the_data_dir_inside_the_storage_root_is_not_walked(app, root, monkeypatch):
    """A setup with HAUL_DATA_DIR under HAUL_STORAGE_ROOT: thumbnails and upload chunks are Haul's own."""
    put(root, "haul-data/thumbnails/ab/abc.webp", b"RIFFxxxxWEBP")
    put(root, "haul-data/partial/upload.part", b"chunk")
    put(root, "haul-data/haul.db", b"SQLite format 3")
    monkeypatch.setitem(app.config, "HAUL", dataclasses.replace(app.config["HAUL"], data_dir=root / "haul-data"))

    assert rescan_now()["counts"]["imported_files"] == 0


def test_the_files_of_a_job_downloading_now_are_not_imported(app, root, admin):
    result = submit(["https://example.com/running"], principal=Principal(user=admin), source="api",
                    post_title="Busy", force=True)
    job = db.session.get(Job, result.entries[0].job_id)
    job.claim("tests")
    db.session.commit()
    put(root, f"Busy/{job.domain}/running/video.mp4", b"being written")

    final = rescan_now()

    assert final["counts"]["imported_files"] == 0 and final["counts"]["skipped"] == 1
    job.finish(Outcome.FAILED, "stopped")  # the job is over: its leftovers are the library's to know
    db.session.commit()
    assert rescan_now()["counts"]["imported_files"] == 1


# -- one at a time, the API, the page, the command ----------------------------------------------------


def test_the_api_starts_a_rescan_and_refuses_a_second_while_it_runs(app, root, admin):
    headers = api_token(admin)
    client = app.test_client()
    started = client.post("/api/v1/library/rescan", headers=headers)
    assert started.status_code == 202, started.get_data(as_text=True)
    body = started.get_json()
    assert body["status"] == "queued" and body["running"] is True and body["storage_root"] == str(root)
    assert body["requested_by"] == {"id": admin.id, "username": admin.username}

    again = client.post("/api/v1/library/rescan", headers=headers)
    assert again.status_code == 409
    assert again.get_json()["error_code"] == "rescan_running" and again.get_json()["rescan"]["id"] == body["id"]

    # The worker's run: then the next one may start.
    assert rescan.run(body["id"])["status"] == "completed"
    shown = client.get("/api/v1/library/rescan", headers=headers).get_json()
    assert shown["status"] == "completed" and shown["running"] is False and shown["finished_at"]
    assert client.post("/api/v1/library/rescan", headers=headers).status_code == 202


def test_a_rescan_whose_runner_went_silent_is_interrupted_and_may_start_again(app, root, admin):
    state = rescan.begin(None, None, "cli")
    row = db.session.get(Setting, rescan.KEY)
    row.value = {**row.value, "status": "running", "heartbeat_at": "2020-01-01T00:00:00+00:00"}
    db.session.commit()
    assert rescan.current()["status"] == "interrupted"
    assert rescan.begin(None, None, "cli")["id"] == state["id"] + 1
    assert rescan.run(state["id"]) is None  # the old one, superseded, does nothing


def test_users_and_anonymous_callers_are_refused_by_the_api(app, admin, alice):
    client = app.test_client()
    for method in ("get", "post"):
        refused = getattr(client, method)("/api/v1/library/rescan", headers=api_token(alice))
        assert refused.status_code == 403 and refused.get_json()["error_code"] == "insufficient_scope"
        assert getattr(client, method)("/api/v1/library/rescan").status_code == 401
    assert db.session.get(Setting, rescan.KEY) is None


def test_the_settings_page_shows_the_root_and_the_last_result(app, root, admin, client):
    put(root, "p/q.png", b"\x89PNG q")
    rescan_now()
    sign_in_as(client, admin)
    page = client.get("/settings/library").get_data(as_text=True)
    assert str(root) in page and "Rescan library" in page
    assert 'data-count="imported_files">1 file' in page and "completed" in page
    assert 'href="/settings/library"' in client.get("/settings").get_data(as_text=True)


def test_the_page_button_starts_a_rescan_and_a_second_press_is_refused(app, root, admin, client):
    sign_in_as(client, admin)
    form_csrf_at(client, "/settings/library")
    first = htmx_post(client, "/settings/library/rescan")
    assert first.status_code == 200 and "waiting for the worker" in first.get_data(as_text=True)
    assert "haul:toast" in first.headers["HX-Trigger"]
    second = htmx_post(client, "/settings/library/rescan")
    assert second.status_code == 409 and "already running" in second.headers["HX-Trigger"]


def test_a_user_gets_the_friendly_403_on_the_library_page(app, alice, client):
    sign_in_as(client, alice)
    for path in ("/settings/library", "/settings/library/status", "/settings/library/events"):
        response = client.get(path)
        assert response.status_code == 403 and "Only an admin" in response.get_data(as_text=True), path
    assert client.post("/settings/library/rescan").status_code in (400, 403)
    assert 'href="/settings/library"' not in client.get("/account").get_data(as_text=True)


def test_the_rescan_events_are_for_admins_only(app, root, admin, alice):
    from webapp.live_api.messages import Viewer
    from webapp.services.queue.events import EventRecord

    rescan_now()
    rows = db.session.scalars(select(Event).where(Event.type.in_(events.RESCAN_EVENTS)).order_by(Event.id)).all()
    assert [row.type for row in rows][-1] == events.RESCAN_FINISHED and all(row.user_id is None for row in rows)
    record = EventRecord(rows[-1].id, rows[-1].type, None, None, None, rows[-1].data)
    assert Viewer(admin.id, True).may_see(record) and not Viewer(alice.id, False).may_see(record)
    assert record.data["counts"]["scanned"] == 0 and record.data["status"] == "completed"


def test_the_command_prints_progress_and_counts(app, root, video_bytes):
    put(root, "cli/clip.mp4", video_bytes)
    result = app.test_cli_runner().invoke(args=["library", "rescan"])
    assert result.exit_code == 0, result.output
    assert f"Library rescan #1 of {root}" in result.output
    assert "Completed in" in result.output and "imported 1 files in 1 jobs" in result.output
    assert "gone 0, back 0" in result.output

    state = rescan.begin(None, None, "cli")  # one running: the command refuses to start another
    refused = app.test_cli_runner().invoke(args=["library", "rescan"])
    assert refused.exit_code == 1 and f"already running (#{state['id']})" in refused.output


# -- end to end: the real worker, admins' and a user's streams -------------------------------------------


def test_e2e_the_worker_runs_the_rescan_and_only_admins_streams_hear_of_it(stack):
    made = stack.session.post(stack.base_url + "/api/v1/users", timeout=10,
                              json={"username": "rescan-user", "password": "rescan-user-password"})
    assert made.status_code == 201, made.text
    login = requests.post(stack.base_url + "/api/v1/auth/login", timeout=10,
                          json={"username": "rescan-user", "password": "rescan-user-password"})
    user_token = login.json()["access_token"]
    put(stack.storage_root, "copied/in/picture.png", b"\x89PNG copied in")
    admin_stream, user_stream = SSEReader(stack), SSEReader(stack, token=user_token)
    try:
        started = stack.session.post(stack.base_url + "/api/v1/library/rescan", timeout=10)
        assert started.status_code == 202, started.text
        rescan_id = started.json()["id"]
        frames = admin_stream.until(lambda f: f.get("event") == "rescan_finished", timeout=60)
        # A user's own event after the rescan's: had the rescan's events reached them, they came before it.
        own = requests.post(stack.base_url + "/api/v1/queue", timeout=10,
                            headers={"Authorization": f"Bearer {user_token}"},
                            json={"urls": ["https://example.com/after-the-rescan.png"]})
        assert own.status_code in (201, 202), own.text
        user_frames = user_stream.until(lambda f: f.get("event") == "queued", timeout=30)
    finally:
        admin_stream.close()
        user_stream.close()
    finished = frames[-1]["data"]["data"]
    assert finished["id"] == rescan_id and finished["status"] == "completed"
    assert any(f.get("event") == "rescan_progress" and f["data"]["data"]["status"] == "running" for f in frames)
    assert not any(f.get("event", "").startswith("rescan") for f in user_frames)
    shown = stack.session.get(stack.base_url + "/api/v1/library/rescan", timeout=10).json()
    assert shown["id"] == rescan_id and shown["status"] == "completed"
    # The picture is seconds old: the worker left it for the next rescan (it may still be being written).
    assert shown["counts"]["skipped"] == 1 and shown["counts"]["imported_files"] == 0


def test_the_settings_page_stream_passes_rescan_events_as_a_signal_and_nothing_else(app):
    from webapp.services.queue.events import EventRecord
    from webapp.settings.library_routes import _RescanView

    view = _RescanView()
    assert view.frames(EventRecord(7, events.RESCAN_PROGRESS, None, None, None, {"id": 3})) == [
        "id: 7\nevent: rescan\ndata: 3\n\n"]
    assert view.frames(EventRecord(8, events.PROGRESS, "s", 1, 1, {"job_id": 1})) == []
