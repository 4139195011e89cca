"""Settings (admin), account, users and API tokens; settings taking effect on the next job.

Unit level: the effective-settings service, cookie files, the concurrency limit in the claim,
and the pages through the Flask test client. Jobs are run in-process with the real engines
against the local media site, so "the next job uses the new value" is checked for real.
"""
from __future__ import annotations

import dataclasses
import hashlib
import http.server
import re
import socketserver
import stat
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from support.web import USER_PASSWORD, form_post, htmx_post, sign_in_as

from jobs import huey, runner
from jobs.engines import picker
from jobs.engines.base import DownloadRequest
from jobs.engines.gallery_dl import GalleryDlEngine
from jobs.engines.ytdlp import YtDlpEngine
from webapp.errors import Invalid, NotFound
from webapp.extensions import db
from webapp.models import ApiToken, Job, Setting, User
from webapp.models.job import Outcome
from webapp.services.accounts import identity as accounts
from webapp.services.accounts import user_admin as users
from webapp.services.admin import cookies, runtime_settings
from webapp.services.queue import dispatch
from webapp.services.queue.submissions import submit

COOKIES_TXT = (
    "# Netscape HTTP Cookie File\n"
    ".example.com\tTRUE\t/\tFALSE\t0\tsession\tabc123\n"
    "#HttpOnly_media.example.com\tFALSE\t/\tTRUE\t4102444800\tauth\txyz\n"
)


@pytest.fixture
def settings(settings, tmp_path):
    """The shared unit-test settings with a data dir of this test's own (cookie files live there)."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    return dataclasses.replace(settings, data_dir=data_dir)


def toasts(response) -> list[dict]:
    import json

    return json.loads(response.headers.get("HX-Trigger") or "{}").get("haul:toast", [])


def new_job(url: str, **kwargs) -> int:
    return submit([url], principal=None, **kwargs).entries[0].job_id


def fresh(job_id: int) -> Job:
    row = db.session.get(Job, job_id)
    db.session.refresh(row)
    return row


def run_next() -> Job:
    """Claim the next job and run it in this process, as a worker thread would."""
    job_id = runner.claim_next_job()
    assert job_id is not None
    runner.run_job(job_id)
    return fresh(job_id)


# Effective settings ------------------------------------------------------------------------


def test_defaults_come_from_the_environment(app, settings):
    """With nothing stored, every value is the environment's."""
    effective = runtime_settings.current()
    assert effective.download_concurrency == settings.workers
    assert effective.job_timeout_seconds == settings.job_timeout_seconds
    assert effective.default_engine == "auto"
    assert effective.default_preset == "best"
    assert effective.gallery_dl_extra_args == settings.gallery_dl_extra_args == ""
    assert effective.changed == frozenset()


def test_saved_values_override_the_environment_and_only_differences_are_stored(app, settings):
    """A saved value wins over the environment; saving the default again removes the row."""
    changed = runtime_settings.save({"download_concurrency": "2", "job_timeout_seconds": "90",
                                     "default_engine": "yt-dlp", "default_preset": "720p"})
    assert set(changed) == {"download_concurrency", "job_timeout_seconds", "default_engine", "default_preset"}
    effective = runtime_settings.current()
    assert (effective.download_concurrency, effective.job_timeout_seconds) == (2, 90)
    assert (effective.default_engine, effective.default_preset) == ("yt-dlp", "720p")
    assert db.session.get(Setting, "job_timeout_seconds").value == 90

    runtime_settings.save({"job_timeout_seconds": str(settings.job_timeout_seconds)})
    assert db.session.get(Setting, "job_timeout_seconds") is None
    assert "job_timeout_seconds" not in runtime_settings.current().changed


@pytest.mark.parametrize("key, raw, message", [
    ("download_concurrency", "0", "between 1 and 16"),
    ("download_concurrency", "17", "between 1 and 16"),
    ("download_concurrency", "two", "whole number"),
    ("job_timeout_seconds", "-5", "between 0 and"),
    ("default_engine", "wget", "must be one of"),
    ("default_preset", "4k", "must be one of"),
    ("gallery_dl_extra_args", "--range", "argument --range: expected one argument"),
    ("gallery_dl_extra_args", "-D /tmp/elsewhere", "not allowed"),
    ("ytdlp_extra_args", "--no-such-switch", "no such option: --no-such-switch"),
    ("ytdlp_extra_args", "-o '%(id)s.%(ext)s'", "not allowed"),
])
def test_bad_values_are_refused_with_a_message_and_nothing_is_stored(app, key, raw, message):
    """Each refusal names the problem (the tool's own message for switches); nothing is saved."""
    good = {"job_timeout_seconds": "77"} if key != "job_timeout_seconds" else {"default_preset": "audio"}
    with pytest.raises(runtime_settings.SettingsInvalid) as caught:
        runtime_settings.save({key: raw, **good})
    assert message in caught.value.errors[key]
    assert db.session.scalars(select(Setting)).all() == []


def test_tool_arguments_are_checked_in_a_child_process_in_the_web_server(app):
    """The web process checks switches in a child process (no yt-dlp in its memory); same answers."""
    app.config["HAUL_ROLE"] = "web"
    runtime_settings._verdicts.clear()  # verdicts reached in this process before would answer instead
    try:
        assert runtime_settings.check_tool_args("yt-dlp", "--limit-rate 1M") is None
        assert runtime_settings.check_tool_args("yt-dlp", "--bogus") == "no such option: --bogus"
        assert runtime_settings.check_tool_args("gallery-dl", "--range") == "argument --range: expected one argument"
    finally:
        app.config["HAUL_ROLE"] = "test"


def test_switches_already_checked_are_not_parsed_again(app, monkeypatch):
    """Saving the form (or showing the page) checks a string once: in the web server each check starts a child."""
    runtime_settings._verdicts.clear()
    runtime_settings.save({"gallery_dl_extra_args": "--range 1-4"})
    checked = []
    real = runtime_settings._error_of
    monkeypatch.setattr(runtime_settings, "_error_of", lambda tool, args: checked.append(tool) or real(tool, args))
    runtime_settings.save({"gallery_dl_extra_args": "--range   1-4", "ytdlp_extra_args": "--limit-rate 2M"})
    runtime_settings.describe()
    assert checked == ["yt-dlp"]
    assert runtime_settings.current().gallery_dl_extra_args == "--range 1-4"


def test_stored_switches_that_no_longer_parse_fall_back_to_the_environment(app, caplog, monkeypatch):
    """A tool upgrade may drop an option: the job runs with the environment's switches, and the log says why."""
    monkeypatch.setattr(runtime_settings.log, "disabled", False)  # Alembic's logging setup turns it off
    runtime_settings._warned.clear()
    db.session.add(Setting(key="ytdlp_extra_args", value="--option-removed-upstream"))
    db.session.commit()
    settings, effective = runtime_settings.apply()
    assert effective.ytdlp_extra_args == "--option-removed-upstream"
    assert settings.ytdlp_options == {} and settings.ytdlp_extra_args == ""
    assert "no such option: --option-removed-upstream" in caplog.text and "refused" in caplog.text


def test_a_job_runs_with_the_settings_saved_before_it_started(app, media_site):
    """No restart: the first job downloads all 5 images, then `--range 1-2` is saved and the next job gets 2."""
    before = new_job(media_site.url("/gallery/settings-before?count=5"))
    assert run_next().status == "completed"
    assert len(fresh(before).files) == 5

    runtime_settings.save({"gallery_dl_extra_args": "--range 1-2"})
    after = new_job(media_site.url("/gallery/settings-after?count=5"))
    job = run_next()
    assert job.id == after and job.status == "completed", job.error
    assert len(job.files) == 2

    runtime_settings.reset(["gallery_dl_extra_args"])
    again = new_job(media_site.url("/gallery/settings-reset?count=5"))
    assert len(run_next().files) == 5 and fresh(again).status == "completed"


def test_the_job_timeout_setting_applies_to_the_next_job(app, media_site):
    """A 1-second timeout saved in the settings stops a slow download of the next job."""
    runtime_settings.save({"job_timeout_seconds": "1"})
    began = time.monotonic()
    new_job(media_site.url("/slow/settings-timeout.jpg?kb=2048&rate=64"))
    job = run_next()
    assert job.status == "failed"
    assert job.error.startswith("Timed out after 1 seconds")
    assert time.monotonic() - began < 10


def test_the_default_engine_applies_to_jobs_that_did_not_ask_for_one(app, media_site):
    """A direct image normally goes to the direct engine; with gallery-dl as the default it goes there."""
    plain = new_job(media_site.url("/img/41.png"))
    assert run_next().engine == "direct" and fresh(plain).status == "completed"

    runtime_settings.save({"default_engine": "gallery-dl"})
    job_id = new_job(media_site.url("/img/42.png"))
    job = run_next()
    assert job.id == job_id and job.status == "completed", job.error
    assert job.engine == "gallery-dl"
    # A job that asked for an engine keeps it.
    asked = new_job(media_site.url("/img/43.png"), engine="direct")
    assert run_next().engine == "direct" and fresh(asked).status == "completed"


def test_the_default_preset_and_the_sites_cookie_file_reach_the_engine(app, settings, monkeypatch):
    """What the engine is handed: the default preset when the job named none, and the cookie file."""
    seen = []
    monkeypatch.setattr(picker, "download", lambda engine, request, started: seen.append(request))
    cookies.store(settings.data_dir, COOKIES_TXT.encode(), "example.com")
    runtime_settings.save({"default_preset": "720p"})

    new_job("https://media.example.com/v/1")
    new_job("https://other.example.org/v/2", preset="audio")
    run_next()
    run_next()
    assert [r.preset.name for r in seen] == ["720p", "audio"]  # the preset's spec, read when the job starts
    assert seen[0].cookies_file == settings.data_dir / "cookies" / "example.com.txt"
    assert seen[1].cookies_file is None


# Concurrency ---------------------------------------------------------------------------------


def test_the_claim_refuses_to_start_more_jobs_than_the_concurrency(app):
    """With concurrency 2, a third claim is refused until one of the two is done."""
    runtime_settings.save({"download_concurrency": "2"})
    ids = [new_job(f"http://example.com/c{i}") for i in range(4)]
    assert [runner.claim_next_job() for _ in range(3)] == [ids[0], ids[1], None]
    assert fresh(ids[2]).status == "queued"

    db.session.get(Job, ids[0]).finish(Outcome.COMPLETED)
    db.session.commit()
    assert runner.claim_next_job() == ids[2]
    assert runner.claim_next_job() is None

    # Raised in the settings: the next claim may start one more, no restart needed.
    runtime_settings.save({"download_concurrency": "3"})
    assert runner.claim_next_job() == ids[3]


def test_the_limit_holds_inside_the_claim_itself(app, monkeypatch):
    """Two workers counting at the same moment cannot both start: the UPDATE checks the count too."""
    runtime_settings.save({"download_concurrency": "1"})
    first, second = new_job("http://example.com/r1"), new_job("http://example.com/r2")
    assert runner.claim_next_job() == first
    # Pretend this worker's count saw room (as a racing worker might have, a moment before):
    # only the condition inside the UPDATE is left to stop it.
    real_scalar = db.session.scalar
    faked = []

    def scalar(stmt, *args, **kwargs):
        if "count(jobs.id)" in str(stmt):
            faked.append(stmt)
            return 0
        return real_scalar(stmt, *args, **kwargs)

    monkeypatch.setattr(db.session, "scalar", scalar)
    assert runner.claim_next_job() is None
    monkeypatch.undo()
    assert faked  # the look-up was the one faked
    assert fresh(second).status == "queued"
    assert db.session.scalar(select(func.count(Job.id)).where(Job.status == "downloading")) == 1


def test_a_finished_job_wakes_a_worker_for_a_job_the_full_pool_refused(app, monkeypatch):
    """The refused wake-up is not lost: when the running job ends, a task is queued for the waiting one."""
    monkeypatch.setattr(picker, "download", lambda engine, request, started: None)
    runtime_settings.save({"download_concurrency": "1"})
    running, waiting = new_job("http://example.com/w1"), new_job("http://example.com/w2")
    assert runner.claim_next_job() == running
    assert runner.claim_next_job() is None  # refused: that wake-up task is used up
    huey.flush()
    assert dispatch.pending_wakeups() == 0

    runner.run_job(running)
    assert dispatch.pending_wakeups() == 1
    assert runner.claim_next_job() == waiting
    huey.flush()


def test_a_burst_of_links_wakes_only_as_many_workers_as_may_start(app):
    """200 links in one paste are 200 queued jobs but only `concurrency` wake-up tasks: the
    others would each cost a worker a dequeue and a refused claim."""
    from webapp.services.queue import job_control
    from webapp.services.queue.submissions import submit

    huey.flush()
    runtime_settings.save({"download_concurrency": "3"})
    huey.flush()
    submit([f"http://example.com/burst/{i}" for i in range(200)], principal=None, source="api")
    assert dispatch.pending_wakeups() == 3
    submit(["http://example.com/burst/one-more"], principal=None, source="api")
    assert dispatch.pending_wakeups() == 3  # the three waiting tasks cover the free slots
    huey.flush()

    job_control.pause_all()
    submit(["http://example.com/while-paused"], principal=None, source="api")
    assert dispatch.pending_wakeups() == 0  # nothing may start while the queue is paused
    job_control.resume_all()
    assert dispatch.pending_wakeups() == 3
    huey.flush()


def test_top_up_wakes_no_more_workers_than_may_start(app):
    """The watchdog's top-up enqueues one task per job that may start now, not one per queued job."""
    huey.flush()
    runtime_settings.save({"download_concurrency": "2"})
    for i in range(5):
        new_job(f"http://example.com/t{i}")
    huey.flush()
    assert dispatch.top_up() == 2
    assert dispatch.top_up() == 0
    huey.flush()
    # Raising the concurrency wakes workers for the jobs that may start now.
    runtime_settings.save({"download_concurrency": "4"})
    assert dispatch.pending_wakeups() == 2
    huey.flush()


def test_the_worker_pool_starts_at_the_concurrency_and_only_threads_may_grow(app, settings):
    """Threads: HAUL_WORKERS or the stored setting when higher, up to 16; processes: HAUL_WORKERS, the most allowed."""
    threads = dataclasses.replace(settings, workers=3)
    assert runtime_settings.pool_size(threads) == 3
    assert runtime_settings.max_concurrency(threads) == 16
    runtime_settings.save({"download_concurrency": "6"}, threads)
    assert runtime_settings.pool_size(threads) == 6
    assert runtime_settings.pool_size(dataclasses.replace(settings, workers=20)) == 20
    process = dataclasses.replace(settings, workers=3, worker_type="process")
    assert runtime_settings.max_concurrency(process) == 3


# Cookie files --------------------------------------------------------------------------------


def test_a_cookie_file_is_checked_normalised_and_kept_private(tmp_path):
    """Stored with the Netscape header, LF endings, mode 0600, in <data_dir>/cookies/<site>.txt."""
    body = COOKIES_TXT.replace("# Netscape HTTP Cookie File\n", "").replace("\n", "\r\n").encode()
    stored = cookies.store(tmp_path, body, "https://www.Example.com/some/page")
    assert stored.site == "example.com" and stored.cookies == 2 and stored.expired == 0
    path = tmp_path / "cookies" / "example.com.txt"
    text = path.read_text()
    assert text.startswith("# Netscape HTTP Cookie File\n") and "\r" not in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [f.site for f in cookies.list_files(tmp_path)] == ["example.com"]


@pytest.mark.parametrize("body, message", [
    (b"", "holds no cookies"),
    (b"just some text\n", "Line 1 is not a Netscape cookie line"),
    (b".example.com\tMAYBE\t/\tFALSE\t0\tn\tv\n", "Line 1: expected domain, TRUE/FALSE"),
    (b".example.com\tTRUE\t/\tFALSE\tsoon\tn\tv\n", "expiry must be a whole number"),
    (b"\xff\xfe\x00binary", "not text"),
    (b".other.org\tTRUE\t/\tFALSE\t0\tn\tv\n", "None of the cookies are for example.com"),
])
def test_a_bad_cookie_file_is_refused_with_the_reason(tmp_path, body, message):
    with pytest.raises(Invalid) as caught:
        cookies.store(tmp_path, body, "example.com")
    assert message in caught.value.detail
    assert cookies.list_files(tmp_path) == []


def test_the_site_is_guessed_from_the_cookies_when_left_empty(tmp_path):
    assert cookies.store(tmp_path, COOKIES_TXT.encode(), "").site == "example.com"
    mixed = COOKIES_TXT + ".other.org\tTRUE\t/\tFALSE\t0\tn\tv\n"
    with pytest.raises(Invalid, match="several sites"):
        cookies.store(tmp_path, mixed.encode(), None)


def test_cookie_files_match_the_site_and_its_subdomains(tmp_path):
    """media.example.com uses example.com's file; a site's own file wins over its parent's."""
    cookies.store(tmp_path, COOKIES_TXT.encode(), "example.com")
    cookies.store(tmp_path, b".media.example.com\tTRUE\t/\tFALSE\t0\tn\tv\n", "media.example.com")
    folder = tmp_path / "cookies"
    assert _nearest_cookie_file(tmp_path, "example.com") == folder / "example.com.txt"
    assert _nearest_cookie_file(tmp_path, "cdn.example.com") == folder / "example.com.txt"
    assert _nearest_cookie_file(tmp_path, "a.media.example.com") == folder / "media.example.com.txt"
    assert _nearest_cookie_file(tmp_path, "notexample.com") is None
    assert _nearest_cookie_file(tmp_path, "example.org") is None
    cookies.delete(tmp_path, "media.example.com")
    assert _nearest_cookie_file(tmp_path, "a.media.example.com") == folder / "example.com.txt"
    with pytest.raises(NotFound):
        cookies.delete(tmp_path, "media.example.com")


@pytest.mark.parametrize("typed", ["com", "exa mple.com", "-bad-.com", "../etc/passwd", ""])
def test_a_site_name_must_be_a_host(typed):
    with pytest.raises(Invalid):
        cookies.normalise_site(typed)


class _CookieRecorder(http.server.BaseHTTPRequestHandler):
    """A tiny site recording the Cookie header of every request: a page with two images, and a clip."""

    seen: list = []
    media_site = None

    def do_GET(self):  # noqa: N802 - the http.server interface
        type(self).seen.append((self.path, self.headers.get("Cookie")))
        if self.path == "/page":
            body = b'<html><body><img src="/a.png"><img src="/b.png"></body></html>'
            kind = "text/html"
        elif self.path in ("/a.png", "/b.png"):
            body, kind = self.media_site.png_bytes(1 if self.path == "/a.png" else 2), "image/png"
        elif self.path == "/clip.mp4":
            body, kind = self.media_site.clip_bytes(), "video/mp4"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def cookie_site(media_site):
    _CookieRecorder.seen = []
    _CookieRecorder.media_site = media_site
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _CookieRecorder)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _CookieRecorder.seen
    server.shutdown()
    server.server_close()


def _request(url: str, base: Path, cookie_file: Path) -> tuple[DownloadRequest, list]:
    files = []
    request = DownloadRequest(url=url, base_dir=base, storage_root=base, report=lambda p: None,
                              add_file=files.append, cancel_event=threading.Event(), cookies_file=cookie_file)
    return request, files


def test_both_tools_send_the_sites_cookies(tmp_path, cookie_site):
    """gallery-dl and yt-dlp load the cookie file and send its cookie to the site; the file is left as it was."""
    base_url, seen = cookie_site
    stored = cookies.store(tmp_path, b"127.0.0.1\tFALSE\t/\tFALSE\t0\thaul_test\tsecret-value\n", "127.0.0.1")
    before = stored.path.read_bytes()

    request, files = _request(base_url + "/page", tmp_path / "library", stored.path)
    GalleryDlEngine().run(request, generic=True)
    assert len(files) == 2
    image_requests = [cookie for path, cookie in seen if path.endswith(".png")]
    assert image_requests and all(cookie == "haul_test=secret-value" for cookie in image_requests)

    seen.clear()
    request, files = _request(base_url + "/clip.mp4", tmp_path / "videos", stored.path)
    YtDlpEngine().run(request)
    assert len(files) == 1
    assert [cookie for path, cookie in seen if path == "/clip.mp4"][-1] == "haul_test=secret-value"
    assert stored.path.read_bytes() == before


# Pages: who may open what ----------------------------------------------------------------------


def test_signed_out_people_are_sent_to_sign_in(client):
    for path in ("/settings", "/settings/users", "/account", "/account/tokens"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_user_opening_settings_lands_on_their_account(client, alice):
    """Not a dead end: /settings takes a non-admin to their account, whose tabs hide the admin sections."""
    sign_in_as(client, alice)
    response = client.get("/settings")
    assert response.status_code == 302 and response.headers["Location"].endswith("/account")
    page = client.get("/account").get_data(as_text=True)
    assert "Change your password" in page and "API tokens" in page
    assert "/settings/users" not in page


def test_admin_sections_are_a_friendly_403_for_users(client, alice):
    sign_in_as(client, alice)
    page = client.get("/settings/users")
    assert page.status_code == 403
    assert "Only an admin can open this page" in page.get_data(as_text=True)
    assert "Traceback" not in page.get_data(as_text=True)
    for path, data in (("/settings/downloads", {"dl-download_concurrency": "5"}), ("/settings/users", {}),
                       ("/settings/cookies", {}), (f"/settings/users/{alice.id}/role", {f"u{alice.id}-role": "admin"})):
        response = htmx_post(client, path, data)
        assert response.status_code == 403, path
        assert toasts(response)[0]["level"] == "error"
    assert db.session.scalars(select(Setting)).all() == []
    assert db.session.get(User, alice.id).role == "user"


def test_forms_without_the_csrf_token_are_refused(client, admin):
    sign_in_as(client, admin)
    response = client.post("/settings/downloads", data={"dl-download_concurrency": "2"})
    assert response.status_code == 400
    assert db.session.get(Setting, "download_concurrency") is None


# Pages: settings -----------------------------------------------------------------------------


def test_the_settings_page_shows_values_defaults_and_storage(client, admin, settings):
    sign_in_as(client, admin)
    runtime_settings.save({"job_timeout_seconds": "120"})
    page = client.get("/settings").get_data(as_text=True)
    assert 'name="dl-job_timeout_seconds"' in page and 'value="120"' in page
    assert "Changed; the default is 3600 (HAUL_JOB_TIMEOUT_SECONDS)" in page
    assert 'name="dl-download_concurrency"' in page and 'max="16"' in page
    assert str(settings.storage_root) in page and " free</strong> of " in page
    assert page.count('name="csrf_token"') + page.count('-csrf_token"') >= 5


def test_saving_settings_with_htmx_answers_the_section_and_a_toast(client, admin):
    sign_in_as(client, admin)
    response = htmx_post(client, "/settings/downloads", {
        "dl-download_concurrency": "4", "dl-job_timeout_seconds": "600",
        "dl-default_engine": "auto", "dl-default_preset": "1080p", "dl-subscription_min_interval_minutes": "30"})
    assert response.status_code == 200
    fragment = response.get_data(as_text=True)
    assert '<section class="card settings-section" id="downloads"' in fragment
    assert "<html" not in fragment
    assert toasts(response) == [{"message": "Saved; the next job uses it.", "level": "success"}]
    effective = runtime_settings.current()
    assert (effective.download_concurrency, effective.job_timeout_seconds, effective.default_preset) == (4, 600, "1080p")
    assert effective.subscription_min_interval_minutes == 30


def test_a_bad_tool_argument_is_refused_inline_with_the_tools_message(client, admin):
    sign_in_as(client, admin)
    response = htmx_post(client, "/settings/tools", {"tools-gallery_dl_extra_args": "--range 1-2",
                                                      "tools-ytdlp_extra_args": "--definitely-not-an-option"})
    assert response.status_code == 422
    fragment = response.get_data(as_text=True)
    assert "yt-dlp: no such option: --definitely-not-an-option" in fragment
    assert 'aria-invalid="true"' in fragment and 'class="field-error"' in fragment
    assert "--definitely-not-an-option" in fragment  # what was typed is kept for correcting
    assert toasts(response)[0]["level"] == "error"
    assert runtime_settings.current().gallery_dl_extra_args == ""  # nothing saved


def test_plain_form_saves_redirect_and_refusals_show_the_page(client, admin):
    """Without JavaScript: a save redirects back with a notice; a refusal is the whole page with the error."""
    sign_in_as(client, admin)
    saved = form_post(client, "/settings/tools", {"tools-gallery_dl_extra_args": "--range 1-3",
                                                  "tools-ytdlp_extra_args": ""})
    assert saved.status_code == 302 and saved.headers["Location"].endswith("/settings#tools")
    assert "Saved; the next job uses it." in client.get("/settings").get_data(as_text=True)
    assert runtime_settings.current().gallery_dl_extra_args == "--range 1-3"

    refused = form_post(client, "/settings/downloads", {"dl-download_concurrency": "99", "dl-job_timeout_seconds": "0",
                                                        "dl-default_engine": "auto", "dl-default_preset": "best",
                                                        "dl-subscription_min_interval_minutes": "0"})
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "<html" in page and "Download concurrency must be between 1 and 16" in page
    assert "The subscriptions&#39; shortest interval (minutes) must be between 1 and 1440" in page


def test_restore_defaults_forgets_the_stored_values(client, admin):
    sign_in_as(client, admin)
    runtime_settings.save({"download_concurrency": "2", "job_timeout_seconds": "30"})
    response = htmx_post(client, "/settings/downloads/reset")
    assert response.status_code == 200
    assert runtime_settings.current().changed == frozenset()
    assert toasts(response)[0]["message"] == "Back to the defaults from the environment."


def test_cookie_files_upload_list_and_delete(client, admin, settings):
    import io

    sign_in_as(client, admin)
    response = htmx_post(client, "/settings/cookies", {"cookies-site": "",
                                                       "cookies-file": (io.BytesIO(COOKIES_TXT.encode()), "cookies.txt")},
                         content_type="multipart/form-data")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "example.com" in response.get_data(as_text=True)
    assert (settings.data_dir / "cookies" / "example.com.txt").is_file()

    bad = htmx_post(client, "/settings/cookies", {"cookies-site": "example.com",
                                                  "cookies-file": (io.BytesIO(b"nonsense"), "c.txt")},
                    content_type="multipart/form-data")
    assert bad.status_code == 422
    assert "Line 1 is not a Netscape cookie line" in bad.get_data(as_text=True)

    assert "example.com" in client.get("/settings").get_data(as_text=True)
    deleted = htmx_post(client, "/settings/cookies/example.com/delete")
    assert deleted.status_code == 200
    assert not (settings.data_dir / "cookies" / "example.com.txt").exists()
    assert "No cookie files yet." in deleted.get_data(as_text=True)


# Pages: users ----------------------------------------------------------------------------------


def test_admin_creates_a_user_and_changes_the_role(client, admin):
    sign_in_as(client, admin)
    response = htmx_post(client, "/settings/users", {"new-username": "bob", "new-password": "bob-password",
                                                     "new-role": "user"})
    assert response.status_code == 200 and "Created user bob." == toasts(response)[0]["message"]
    bob = db.session.scalar(select(User).where(User.username == "bob"))
    assert bob.role == "user" and bob.password_hash != "bob-password" and bob.check_password("bob-password")

    duplicate = htmx_post(client, "/settings/users", {"new-username": "BOB", "new-password": "another-pass",
                                                      "new-role": "user"})
    assert duplicate.status_code == 422 and "already exists" in duplicate.get_data(as_text=True)
    short = htmx_post(client, "/settings/users", {"new-username": "carol", "new-password": "short", "new-role": "user"})
    assert short.status_code == 422 and "at least 8 characters" in short.get_data(as_text=True)

    promoted = htmx_post(client, f"/settings/users/{bob.id}/role", {f"u{bob.id}-role": "admin"})
    assert promoted.status_code == 200 and toasts(promoted)[0]["message"] == "bob is now an admin."
    db.session.refresh(bob)
    assert bob.role == "admin"


def test_the_last_admin_and_your_own_account_are_protected(client, admin, alice):
    sign_in_as(client, admin)
    own = htmx_post(client, f"/settings/users/{admin.id}/role", {f"u{admin.id}-role": "user"})
    assert own.status_code == 422 and "cannot change your own role" in own.get_data(as_text=True)
    delete_self = htmx_post(client, f"/settings/users/{admin.id}/delete")
    assert delete_self.status_code == 422 and "cannot delete your own account" in delete_self.get_data(as_text=True)
    db.session.refresh(admin)
    assert admin.role == "admin"
    # Service level: the last admin cannot be demoted, even by another path.
    with pytest.raises(Exception, match="at least one admin"):
        users.set_role(admin, "user", alice)


def test_admin_resets_a_password_and_deletes_a_user(client, admin, alice):
    sign_in_as(client, admin)
    _, token = accounts.create_token(alice, "script")
    reset = htmx_post(client, f"/settings/users/{alice.id}/password", {f"u{alice.id}-password": "brand-new-pass"})
    assert reset.status_code == 200
    assert accounts.authenticate("alice", "brand-new-pass") is not None
    assert accounts.authenticate("alice", USER_PASSWORD) is None

    too_short = htmx_post(client, f"/settings/users/{alice.id}/password", {f"u{alice.id}-password": "x"})
    assert too_short.status_code == 422 and "at least 8 characters" in too_short.get_data(as_text=True)

    job_id = submit(["http://example.com/alices"], principal=accounts.Principal(user=alice)).entries[0].job_id
    deleted = htmx_post(client, f"/settings/users/{alice.id}/delete")
    assert deleted.status_code == 200 and "alice" not in deleted.get_data(as_text=True).split("Add a user")[0]
    db.session.expire_all()
    assert db.session.get(User, alice.id) is None
    assert accounts.resolve_bearer(token, None) is None  # their tokens went with them
    assert db.session.get(Job, job_id).user_id is None  # their jobs stay


# Pages: account and tokens -------------------------------------------------------------------------


def test_changing_your_own_password(client, alice):
    sign_in_as(client, alice)
    wrong = htmx_post(client, "/account/password", {"current_password": "nope", "new_password": "a-new-password",
                                                    "confirm": "a-new-password"})
    assert wrong.status_code == 422 and "current password is not right" in wrong.get_data(as_text=True)
    differ = htmx_post(client, "/account/password", {"current_password": USER_PASSWORD,
                                                     "new_password": "a-new-password", "confirm": "another-one"})
    assert differ.status_code == 422 and "The passwords differ" in differ.get_data(as_text=True)
    ok = htmx_post(client, "/account/password", {"current_password": USER_PASSWORD,
                                                 "new_password": "a-new-password", "confirm": "a-new-password"})
    assert ok.status_code == 200
    assert toasts(ok)[0]["message"] == "Your password is changed. Every other browser and app is signed out."
    assert accounts.authenticate("alice", "a-new-password") is not None
    assert "a-new-password" not in ok.get_data(as_text=True)


def test_a_token_is_shown_once_stored_hashed_and_revocable(client, alice, admin):
    sign_in_as(client, alice)
    created = htmx_post(client, "/account/tokens", {"name": "phone"})
    assert created.status_code == 200
    assert created.headers["Cache-Control"] == "no-store"
    token = re.search(r'id="new-token-value"[^>]*value="(haul_[^"]+)"', created.get_data(as_text=True)).group(1)
    row = db.session.scalar(select(ApiToken).where(ApiToken.name == "phone"))
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in {row.token_hash, row.prefix}

    listing = client.get("/account/tokens").get_data(as_text=True)
    assert token not in listing and "phone" in listing and "Never" in listing
    principal = accounts.resolve_bearer(token, None)
    assert principal.user.id == alice.id
    assert "Never" not in client.get("/account/tokens").get_data(as_text=True)  # last used is shown

    # Someone else's token cannot be revoked from here.
    _, admins_token = accounts.create_token(admin, "admin-script")
    admins_row = db.session.scalar(select(ApiToken).where(ApiToken.name == "admin-script"))
    assert htmx_post(client, f"/account/tokens/{admins_row.id}/revoke").status_code == 404
    assert accounts.resolve_bearer(admins_token, None) is not None

    revoked = htmx_post(client, f"/account/tokens/{row.id}/revoke")
    assert revoked.status_code == 200 and "Revoked" in revoked.get_data(as_text=True)
    assert accounts.resolve_bearer(token, None) is None


def test_a_token_needs_a_name(client, alice):
    sign_in_as(client, alice)
    response = htmx_post(client, "/account/tokens", {"name": ""})
    assert response.status_code == 422 and "Give the token a name" in response.get_data(as_text=True)
    assert db.session.scalars(select(ApiToken)).all() == []


def test_a_token_can_be_limited_to_sending_links(client, alice, admin):
    """The account page's "What it may do": a phone's or add-on's token gets only `submit`."""
    sign_in_as(client, alice)
    assert htmx_post(client, "/account/tokens", {"name": "full"}).status_code == 200
    assert htmx_post(client, "/account/tokens", {"name": "phone", "access": "submit"}).status_code == 200
    assert htmx_post(client, "/account/tokens", {"name": "reader", "access": "read"}).status_code == 200
    scopes = {row.name: row.scopes for row in db.session.scalars(select(ApiToken))}
    assert scopes == {"full": "submit read tokens", "phone": "submit", "reader": "submit read"}
    listing = client.get("/account/tokens").get_data(as_text=True)
    assert "Only send links" in listing and re.search(r'data-label="May">\s*submit\s*<', listing)
    # An admin's full token has the admin scope; an unknown choice is refused, nothing made.
    sign_in_as(client, admin)
    assert htmx_post(client, "/account/tokens", {"name": "admin-full"}).status_code == 200
    assert db.session.scalar(select(ApiToken.scopes).where(ApiToken.name == "admin-full")) == "submit read tokens admin"
    refused = htmx_post(client, "/account/tokens", {"name": "odd", "access": "everything"})
    assert refused.status_code == 422
    assert db.session.scalar(select(ApiToken).where(ApiToken.name == "odd")) is None


def _nearest_cookie_file(data_dir, domain):
    """The file a job on `domain` uses first: its own, else its nearest parent's."""
    found = cookies.files_for(data_dir, domain)
    return found[0] if found else None
