"""The worker's connection guard (jobs/net_guard.py): real sockets, real HTTP clients, real
subprocesses; and the runner failing a guest's job at once with the guard's message."""
from __future__ import annotations

import hashlib
import socket
import subprocess
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from jobs.net_guard import PolicyRefused, guarded

LOOPBACK_REFUSAL = "refused by Haul's network policy: 127.0.0.1 is a loopback address"


@pytest.fixture
def listener():
    """A TCP socket listening on 127.0.0.1 that never blocks on accept."""
    server = socket.create_server(("127.0.0.1", 0))
    server.setblocking(False)
    yield server
    server.close()


def accepted(server: socket.socket) -> bool:
    """Whether a connection is waiting on the listener (taken and closed if so)."""
    try:
        conn, _ = server.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


def connect_to(server: socket.socket) -> None:
    with socket.create_connection(server.getsockname(), timeout=5):
        pass


class _CountingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a client may send its next request on the same connection

    def do_GET(self):  # noqa: N802  (http.server's name)
        self.server.hits += 1
        body = b"hello"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CountingHandler)
    server.hits = 0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


# Sockets ----------------------------------------------------------------------------------------


def test_a_connection_to_loopback_is_refused_inside_the_guard(listener):
    with guarded(True) as guard:
        with pytest.raises(PolicyRefused) as refused:
            connect_to(listener)
    assert LOOPBACK_REFUSAL in str(refused.value)
    assert isinstance(refused.value, OSError)
    assert guard.refusal is refused.value  # recorded for the runner, whatever the tool makes of it
    assert not accepted(listener)  # refused before connecting: the listener saw nothing


def test_outside_the_guard_the_same_connection_works(listener):
    with guarded(True):
        pass
    connect_to(listener)
    assert accepted(listener)
    with guarded(False) as guard:  # a job that is not a guest's
        connect_to(listener)
    assert accepted(listener)
    assert guard.refusal is None


def test_another_thread_is_not_guarded(listener):
    """The policy is the guarded thread's: a job running beside it in another thread connects."""
    go, done, outcome = threading.Event(), threading.Event(), {}

    def other_job():
        go.wait(10)
        try:
            connect_to(listener)
            outcome["ok"] = True
        except OSError as exc:
            outcome["error"] = exc
        done.set()

    thread = threading.Thread(target=other_job)
    thread.start()
    with guarded(True) as guard:
        go.set()
        assert done.wait(10)
        with pytest.raises(PolicyRefused):
            connect_to(listener)  # while this thread is still refused
    thread.join(10)
    assert outcome == {"ok": True}
    assert accepted(listener)
    assert LOOPBACK_REFUSAL in str(guard.refusal)


def test_a_thread_the_guarded_job_starts_is_guarded_too(listener):
    """yt-dlp downloads fragments in threads of its own: they keep the job's policy."""
    outcome = {}

    def fragment():
        try:
            connect_to(listener)
            outcome["ok"] = True
        except OSError as exc:
            outcome["error"] = exc

    with guarded(True) as guard:
        thread = threading.Thread(target=fragment)
        thread.start()
        thread.join(10)
    assert isinstance(outcome.get("error"), PolicyRefused), outcome
    assert guard.refusal is outcome["error"]
    assert not accepted(listener)


def test_a_host_name_is_checked_for_what_it_resolves_to(listener):
    """connect() given a name: the guard looks it up (here /etc/hosts) and checks the address."""
    port = listener.getsockname()[1]
    with guarded(True), socket.socket() as sock:
        with pytest.raises(PolicyRefused) as refused:
            sock.connect(("localhost", port))
    assert f"Connection to localhost (127.0.0.1) port {port} {LOOPBACK_REFUSAL}" == str(refused.value)


@pytest.mark.parametrize("address", [("0.0.0.0", 9), ("", 9), ("10.1.2.3", 80), ("169.254.169.254", 80)])
def test_connect_ex_is_refused_too(address):
    with guarded(True), socket.socket() as sock:
        with pytest.raises(PolicyRefused) as refused:
            sock.connect_ex(address)
    assert "refused by Haul's network policy" in str(refused.value)


def test_ipv6_loopback_is_refused():
    with guarded(True), socket.socket(socket.AF_INET6) as sock:
        with pytest.raises(PolicyRefused) as refused:
            sock.connect(("::1", 9))
    assert "::1 is a loopback address" in str(refused.value)


def test_a_public_address_goes_through_the_guard():
    """Not refused: the connect is attempted (a non-blocking one answers with an errno at once)."""
    with guarded(True) as guard, socket.socket() as sock:
        sock.setblocking(False)
        result = sock.connect_ex(("93.184.216.34", 9))
    assert isinstance(result, int)
    assert guard.refusal is None


# HTTP clients -----------------------------------------------------------------------------------


def test_requests_is_refused_and_the_refusal_is_recorded(http_server):
    url = f"http://127.0.0.1:{http_server.server_port}/x"
    with guarded(True) as guard:
        with pytest.raises(requests.ConnectionError):
            requests.get(url, timeout=5)
    assert LOOPBACK_REFUSAL in str(guard.refusal)
    assert http_server.hits == 0


def test_urllib_is_refused(http_server):
    url = f"http://127.0.0.1:{http_server.server_port}/x"
    with guarded(True) as guard:
        with pytest.raises(urllib.error.URLError) as refused:
            urllib.request.urlopen(url, timeout=5)
    assert isinstance(refused.value.reason, PolicyRefused)
    assert guard.refusal is refused.value.reason
    assert http_server.hits == 0


def test_a_kept_alive_connection_from_an_unguarded_job_is_not_reused(http_server):
    """A pooled connection to a private address, opened by a trusted job, is refused to a guest's."""
    url = f"http://127.0.0.1:{http_server.server_port}/x"
    with requests.Session() as session:
        assert session.get(url, timeout=5).text == "hello"
        with guarded(True) as guard:
            with pytest.raises(requests.ConnectionError):
                session.get(url, timeout=5)
        assert session.get(url, timeout=5).status_code == 200  # unguarded again
    assert http_server.hits == 2
    assert str(guard.refusal).startswith(
        f"Request on an open connection to 127.0.0.1 port {http_server.server_port} refused by Haul's network policy")


# External programs ------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["http://127.0.0.1:1/live.m3u8", "https://93.184.216.34/stream.m3u8",
                                 "rtmp://example.com/live"])
def test_a_program_given_a_network_url_is_not_started(url, tmp_path):
    """ffmpeg would connect where no hook can check: refused for any network URL, public or not."""
    marker = tmp_path / "ran"
    with guarded(True) as guard:
        with pytest.raises(PolicyRefused) as refused:
            subprocess.run(["sh", "-c", f"touch {marker}", url], check=False)
    assert str(refused.value).startswith(f"Running sh to fetch {url} refused by Haul's network policy")
    assert guard.refusal is refused.value
    assert not marker.exists()


def test_a_program_on_local_files_runs(tmp_path):
    marker = tmp_path / "ran"
    with guarded(True) as guard:
        done = subprocess.run(["sh", "-c", f"touch {marker}", "file:/tmp/a.mp4", "purl=https://example.com/"],
                              check=False)
    assert done.returncode == 0 and marker.exists()
    assert guard.refusal is None


# yt-dlp's downloaders ---------------------------------------------------------------------------


def test_a_guest_yt_dlp_job_uses_the_native_downloaders(media_site, tmp_path):
    """The switch reaches YoutubeDL itself, over an admin's --downloader choice."""
    from jobs.engines import ytdlp
    from jobs.engines.base import DownloadRequest, EngineError

    request = DownloadRequest(
        url=media_site.url("/video/guarded-ytdlp"), base_dir=tmp_path / "lib" / "site", storage_root=tmp_path / "lib",
        report=lambda progress: None, add_file=lambda path: None, cancel_event=threading.Event(),
        ytdlp_options={"external_downloader": {"default": "ffmpeg"}}, public_only=True,
    )
    taken = []
    original_take = ytdlp._pool.take

    def spy(params, version=None):
        session = original_take(params, version)
        taken.append(session)
        return session

    ytdlp._pool.take = spy
    try:
        with guarded(True) as guard:
            with pytest.raises(EngineError) as failed:
                ytdlp.YtDlpEngine().run(request)
    finally:
        ytdlp._pool.take = original_take
    [session] = taken
    assert session.ydl.params["external_downloader"] == {"default": "native"}
    assert session.ydl.params["hls_prefer_native"] is True
    assert LOOPBACK_REFUSAL in str(guard.refusal)
    assert "network policy" in failed.value.message  # yt-dlp's own text carries the reason


def test_a_live_stream_yt_dlp_would_hand_to_ffmpeg_is_refused(tmp_path):
    """yt-dlp gives live HLS to ffmpeg whatever its settings: the guard stops ffmpeg from starting."""
    import yt_dlp

    from jobs.engines.ytdlp import _NATIVE_DOWNLOADERS

    stream = "http://93.184.216.34:9/live.m3u8"
    info = {"id": "live1", "title": "live", "url": stream, "protocol": "m3u8_native", "ext": "mp4", "is_live": True,
            "extractor": "test", "extractor_key": "Test", "webpage_url": "http://93.184.216.34:9/"}
    params = {"quiet": True, "no_warnings": True, "paths": {"home": str(tmp_path)}, **_NATIVE_DOWNLOADERS}
    with guarded(True) as guard:
        with pytest.raises(yt_dlp.utils.YoutubeDLError) as failed:
            yt_dlp.YoutubeDL(params).process_ie_result(info, download=True)
    assert str(guard.refusal) == (f"Running ffmpeg to fetch {stream} refused by Haul's network policy: "
                                  "an external program's connections cannot be checked")
    assert "network policy" in str(failed.value)
    assert list(tmp_path.iterdir()) == []


# The runner -------------------------------------------------------------------------------------


def _guest(allow_private: bool = False):
    from webapp.services.guests import invites

    invite = invites.create_invite(None, {"name": "friends", "allow_private_urls": allow_private})
    return invites.open_session(invite, None)


def _queue_past_the_submit_check(url: str, *, trust: str, guest=None, user=None) -> int:
    """Queue `url` as submit() would after its checks, without them: what the worker's guard
    must refuse on its own (a host name that resolves to a private address, a redirect)."""
    from webapp.services.queue.submissions import Prepared, write_batch

    prepared = Prepared([url], None, None, False, None, 0, None, "invite" if guest else "api", False,
                        user_id=user.id if user else None, token_id=None, via="test", trust=trust)
    if guest is not None:
        prepared.invite_id, prepared.guest_session_id = guest.invite_id, guest.id
    [result] = write_batch([prepared])
    return result.entries[0].job_id


def _run_next_job():
    from jobs import runner
    from webapp.extensions import db
    from webapp.models import Job

    job_id = runner.claim_next_job()
    assert job_id is not None
    runner.run_job(job_id)
    db.session.expire_all()
    return db.session.get(Job, job_id)


def test_a_guest_job_to_a_private_address_fails_at_once_with_the_policy_message(app, media_site):
    """Past the submit-time check: the worker's guard refuses it, and the job fails on its first
    attempt although the tool called it a connection error."""
    url = media_site.url("/img/9101.png")
    reached = media_site.count("/img/9101.png")
    _queue_past_the_submit_check(url, trust="guest", guest=_guest())
    job = _run_next_job()
    assert job.status == "failed", job.error
    assert job.attempts == 1 and job.not_before is None
    # A new connection, or one an earlier job in this thread kept alive: refused either way.
    assert job.error.endswith(f"to 127.0.0.1 port {media_site.port} {LOOPBACK_REFUSAL}"), job.error
    assert job.files == []
    assert media_site.count("/img/9101.png") == reached


def test_a_guest_job_on_an_invite_allowing_private_addresses_downloads(app, media_site):
    from webapp.services.queue.submissions import submit

    url = media_site.url("/img/9102.png")
    result = submit([url], principal=None, source="invite", guest=_guest(allow_private=True))
    job = _run_next_job()
    assert job.id == result.entries[0].job_id
    assert job.status == "completed", job.error
    assert [f.sha256 for f in job.files] == [hashlib.sha256(media_site.png_bytes(9102)).hexdigest()]


def test_the_guard_is_off_for_other_jobs_in_the_same_thread(app, media_site):
    """After a refused guest job, the next (trusted) job in the same worker thread downloads."""
    from webapp.services.queue.submissions import submit

    _queue_past_the_submit_check(media_site.url("/img/9103.png"), trust="guest", guest=_guest())
    assert _run_next_job().status == "failed"
    submit([media_site.url("/img/9103.png")], principal=None, source="api")
    assert _run_next_job().status == "completed"


# Users' jobs: the same policy as guests' unless an admin submitted them ---------------------------


def _people():
    from webapp.services.accounts import identity as accounts

    return accounts.create_user("mallory", "mallorypassword"), accounts.create_user("root", "rootpassword", "admin")


@pytest.mark.parametrize("engine,number", [("direct", 9111), ("gallery-dl", 9121), ("yt-dlp", 9131)])
def test_a_users_job_never_reaches_a_private_address(app, media_site, engine, number):
    """The attack: a signed-in user (or any of their tokens) queues a LAN address with any engine,
    hoping to read the answer back from the library. The worker refuses the connection: the
    local site never sees the request and nothing is written."""
    from webapp.extensions import db
    from webapp.models import Job

    mallory, _ = _people()
    path = f"/img/{number}.png"
    job_id = _queue_past_the_submit_check(media_site.url(path), trust="user", user=mallory)
    db.session.get(Job, job_id).requested_engine = engine
    db.session.commit()
    job = _run_next_job()
    assert job.status == "failed" and job.attempts == 1, job.error
    assert LOOPBACK_REFUSAL in job.error
    assert job.files == []
    assert media_site.count(path) == 0


def test_the_admin_setting_lets_users_jobs_reach_private_addresses(app, media_site):
    from webapp.services.admin import runtime_settings

    mallory, _ = _people()
    runtime_settings.save({runtime_settings.PRIVATE_FOR_USERS: True})
    _queue_past_the_submit_check(media_site.url("/img/9112.png"), trust="user", user=mallory)
    job = _run_next_job()
    assert job.status == "completed", job.error
    assert [f.sha256 for f in job.files] == [hashlib.sha256(media_site.png_bytes(9112)).hexdigest()]


def test_turning_the_setting_off_again_holds_back_users_jobs_already_queued(app, media_site):
    """The worker decides by the policy in force when the job runs, not when it was sent."""
    from webapp.services.admin import runtime_settings

    mallory, _ = _people()
    runtime_settings.save({runtime_settings.PRIVATE_FOR_USERS: True})
    _queue_past_the_submit_check(media_site.url("/img/9113.png"), trust="user", user=mallory)
    runtime_settings.save({runtime_settings.PRIVATE_FOR_USERS: False})
    job = _run_next_job()
    assert job.status == "failed" and LOOPBACK_REFUSAL in job.error
    assert media_site.count("/img/9113.png") == 0


def test_an_admins_job_reaches_the_lan(app, media_site):
    from webapp.services.accounts import identity as accounts
    from webapp.services.queue.submissions import submit

    _, root = _people()
    submit([media_site.url("/img/9114.png")], principal=accounts.Principal(user=root), source="gui")
    job = _run_next_job()
    assert job.status == "completed", job.error
    assert media_site.count("/img/9114.png") == 1


def test_an_admins_submit_only_token_counts_as_a_user(app, media_site):
    """A token without the admin scope carries no admin trust: a leaked userscript token of an
    admin's reaches public addresses only."""
    from webapp.errors import Invalid
    from webapp.services.accounts import identity as accounts
    from webapp.services.queue.submissions import submit

    _, root = _people()
    row, _token = accounts.create_token(root, "userscript", scopes="submit")
    with pytest.raises(Invalid) as refused:
        submit([media_site.url("/img/9115.png")], principal=accounts.Principal(user=root, token=row), source="api")
    assert refused.value.error_code == "private_address"
    assert media_site.count("/img/9115.png") == 0
