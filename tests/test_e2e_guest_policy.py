"""End to end: the guest URL policy enforced by the real worker (the Huey consumer of a live stack)
with the real direct, gallery-dl and yt-dlp engines.

Guest jobs are submitted at the service level, as the guest page would after its own check, but
without that check — so what refuses them here is the worker's connection guard
(jobs/net_guard.py). The "public site that redirects to a private address" is a small redirect
server on 93.184.216.34 (a public address, example.com's old one), which the test adds to the
loopback interface for the module's duration (this needs root, as the test machine runs).
"""
from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import API_TOKEN, PUBLIC_ADDRESS
from support.media_site import video_stream_md5

LOOPBACK_REFUSAL = "refused by Haul's network policy: 127.0.0.1 is a loopback address"


class _RedirectHandler(BaseHTTPRequestHandler):
    """/to-local/<path> answers 302 to http://127.0.0.1:<media site port>/<path>."""

    def do_GET(self):  # noqa: N802  (http.server's name)
        self.server.hits.append(self.path)
        if not self.path.startswith("/to-local/"):
            self.send_error(404)
            return
        self.send_response(302)
        self.send_header("Location", f"http://127.0.0.1:{self.server.target_port}/{self.path[len('/to-local/'):]}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_HEAD = do_GET

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def public_site(public_address, media_site):
    server = ThreadingHTTPServer((public_address, 0), _RedirectHandler)
    server.hits, server.target_port = [], media_site.port
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def redirecting_url(public_site, path: str) -> str:
    return f"http://{PUBLIC_ADDRESS}:{public_site.server_port}/to-local/{path.lstrip('/')}"


def redis_queue_storage(name: str, url: str):
    """Huey's Redis storage of a stack's queue, built in this test process (which loaded huey with
    the Redis client: tests/conftest.py imports it first in the --scale-out run)."""
    import huey.storage as huey_storage

    assert huey_storage.Redis is not None, "huey was loaded without the Redis client (see tests/conftest.py)"
    return huey_storage.RedisStorage(name, url=url)


@pytest.fixture(scope="module")
def stack_app(stack):
    """An in-process app on the live stack's database, its Huey handle on the stack's queue (its
    SQLite file, or its Redis database in the scale-out run), so a submit made here wakes the
    stack's worker as one made by its web process would."""
    from jobs import HaulSqliteStorage, huey
    from webapp import create_app
    from webapp.config import load_settings

    env = {"HAUL_DATA_DIR": str(stack.data_dir), "HAUL_API_TOKEN": API_TOKEN}
    env.update({name: stack.env[name] for name in ("HAUL_DATABASE_URL", "HAUL_REDIS_URL") if name in stack.env})
    settings = load_settings(env, env_file=None)
    app = create_app(settings, role="test")
    session_storage = huey.storage
    if settings.redis_url:
        huey.storage = redis_queue_storage(huey.name, settings.redis_url)
    else:
        assert settings.huey_path.exists()
        huey.storage = HaulSqliteStorage(name=huey.name, filename=str(settings.huey_path), timeout=30)
    try:
        with app.app_context():
            yield app
    finally:
        huey.storage = session_storage


def guest_session(allow_private: bool = False):
    from webapp.services.guests import invites

    invite = invites.create_invite(None, {"name": "e2e guests", "allow_private_urls": allow_private})
    return invites.open_session(invite, None)


def submit_one(url: str, *, guest=None, engine: str | None = None, force: bool = False,
               post_title: str | None = None) -> int:
    """Queue `url` as the submission service writes it (a guest's when `guest`, else an admin's),
    without the submit-time checks: what refuses it here is the worker. The new job's id."""
    from webapp.extensions import db
    from webapp.services.queue.submissions import Prepared, write_batch

    prepared = Prepared([url], post_title, None, force, engine, 0, None, "invite" if guest else "api", False,
                        user_id=None, token_id=None, via="test", trust="guest" if guest else "admin")
    if guest is not None:
        prepared.invite_id, prepared.guest_session_id = guest.invite_id, guest.id
    [result] = write_batch([prepared])
    [entry] = result.entries
    assert not entry.duplicate
    db.session.remove()
    return entry.job_id


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_guest_link_to_the_media_site_on_loopback_fails_in_the_worker(stack, stack_app, media_site):
    url = media_site.url("/img/9301.png")
    job = stack.wait_for_job(submit_one(url, guest=guest_session()))
    assert job["status"] == "failed", job
    assert job["attempts"] == 1  # not retried: the refusal is no passing fault
    assert job["error"] == f"Connection to 127.0.0.1 port {media_site.port} {LOOPBACK_REFUSAL}"
    assert job["files"] == []
    assert media_site.count("/img/9301.png") == 0


def assert_is_the_sites(stack, record: dict, served: bytes, engine: str, tmp_path) -> None:
    """The downloaded file is what the site served: byte for byte, or for yt-dlp (whose shipped
    preset writes tags into the container) the same video stream; recorded with its hash."""
    path = stack.storage_root / record["path"]
    assert record["sha256"] == sha256(path.read_bytes())
    if engine != "yt-dlp":
        assert path.read_bytes() == served
        return
    original = tmp_path / "served.mp4"
    original.write_bytes(served)
    assert video_stream_md5(path) == video_stream_md5(original)


@pytest.mark.parametrize("engine,path,expected", [
    ("direct", "/img/9302.png", lambda site: site.png_bytes(9302)),
    ("gallery-dl", "/img/9303.png", lambda site: site.png_bytes(9303)),
    ("yt-dlp", "/media/clip9304.mp4", lambda site: site.clip_bytes(9304)),
])
def test_a_public_link_redirecting_to_a_private_address(stack, stack_app, media_site, public_site,
                                                        engine, path, expected, tmp_path):
    """A guest's public-looking link whose redirect leads to 127.0.0.1 is refused at the redirect
    hop; the same link downloads for a trusted job and for an invite allowing private addresses."""
    url = redirecting_url(public_site, path)
    hits_before = len(public_site.hits)

    refused = stack.wait_for_job(submit_one(url, guest=guest_session(), engine=engine), timeout=60)
    assert refused["status"] == "failed", refused
    assert refused["attempts"] == 1
    assert refused["engine"] == engine
    assert "127.0.0.1" in refused["error"] and LOOPBACK_REFUSAL in refused["error"], refused["error"]
    assert media_site.count(path) == 0  # the redirect's target was never reached
    assert len(public_site.hits) > hits_before  # … but the public address was: the hop was refused

    # Each in a folder of its own (post titles), so each fetches the file anew.
    trusted = stack.wait_for_job(submit_one(url, engine=engine, force=True, post_title="trusted"), timeout=60)
    assert trusted["status"] == "completed", trusted
    [record] = [f for f in trusted["files"] if f["kind"] == "media"]
    assert record["path"].startswith("trusted/")
    assert_is_the_sites(stack, record, expected(media_site), engine, tmp_path)
    reached = media_site.count(path)
    assert reached >= 1

    allowed = stack.wait_for_job(submit_one(url, guest=guest_session(allow_private=True), engine=engine,
                                            force=True, post_title="allowed"), timeout=60)
    assert allowed["status"] == "completed", allowed
    [record] = [f for f in allowed["files"] if f["kind"] == "media"]
    assert record["path"].startswith("allowed/")
    assert_is_the_sites(stack, record, expected(media_site), engine, tmp_path)
    assert media_site.count(path) > reached


def test_a_guests_feed_stays_one_job_held_by_the_invites_limits(stack, stack_app, media_site):
    """A guest's link to a playlist or feed is never expanded into a child job per entry: one
    link may not queue a channel's thousands of jobs; it downloads as one job, as before."""
    media_site.feed("guest-feed", count=2)
    job = stack.wait_for_job(submit_one(media_site.url("/feed/guest-feed.xml"),
                                        guest=guest_session(allow_private=True)), timeout=60)
    assert job["status"] == "completed", job
    assert job["kind"] == "item" and job.get("children_summary") is None
    assert [f["kind"] for f in job["files"]].count("media") == 2
