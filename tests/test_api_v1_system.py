"""/api/v1 settings, users, platforms and the stats overview, in process: statuses, shapes, access
for every kind of caller, settings taking effect through the GUI's own service, the tools' own
messages for bad switches, the users page's rules, and the platforms list's cost to the web."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import assert_api_error
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Job, JobFile, Setting, Submission, User
from webapp.models.base import utcnow
from webapp.models.job import Outcome
from webapp.services.accounts import identity as accounts
from webapp.services.admin import runtime_settings
from webapp.services.queue import heartbeat as worker_heartbeat
from webapp.services.queue import pause as queue_state

ROOT = Path(__file__).resolve().parent.parent
SETTING_KEYS = set(runtime_settings.KEYS)
COOKIES_TXT = ".example.com\tTRUE\t/\tFALSE\t0\tsession\tabc123\n"
ADMIN_ONLY = {"admin", "static"}
READERS = {"read", "user", "admin", "static"}
CALLERS = ("anonymous", "revoked", "submit", "read", "user", "admin", "static")


def target_user(name: str) -> User:
    return accounts.create_user(name, "targetpassword")


# (method, path (or a function of the caller's name that makes the path), json body, who may, success status)
ENDPOINTS = [
    ("get", "/api/v1/settings", None, ADMIN_ONLY, 200),
    ("patch", "/api/v1/settings", {"default_preset": "720p"}, ADMIN_ONLY, 200),
    ("post", "/api/v1/settings/validate", {"download_concurrency": 2}, ADMIN_ONLY, 200),
    ("get", "/api/v1/settings/cookies", None, ADMIN_ONLY, 200),
    ("post", "/api/v1/settings/cookies", {"cookies": COOKIES_TXT}, ADMIN_ONLY, 201),
    ("patch", "/api/v1/settings/cookies/nowhere.example", {"who": "users"}, ADMIN_ONLY, 404),
    ("delete", "/api/v1/settings/cookies/nowhere.example", None, ADMIN_ONLY, 404),
    ("get", "/api/v1/users", None, ADMIN_ONLY, 200),
    ("post", "/api/v1/users", lambda who: {"username": f"new-{who}", "password": "newpassword"}, ADMIN_ONLY, 201),
    ("get", lambda who: f"/api/v1/users/{target_user(f't-{who}').id}", None, ADMIN_ONLY, 200),
    ("patch", lambda who: f"/api/v1/users/{target_user(f't-{who}').id}", {"role": "admin"}, ADMIN_ONLY, 200),
    ("delete", lambda who: f"/api/v1/users/{target_user(f't-{who}').id}", None, ADMIN_ONLY, 204),
    ("get", "/api/v1/platforms?tool=gallery-dl&search=instagram", None, READERS, 200),
    ("get", "/api/v1/stats/overview", None, READERS, 200),
]


@pytest.mark.parametrize("method, path, body, allowed, success", ENDPOINTS,
                         ids=[f"{e[0]} {e[1] if isinstance(e[1], str) else 'users/{id}'}" for e in ENDPOINTS])
def test_access_for_every_kind_of_caller(client, api_callers, method, path, body, allowed, success):
    """No or a revoked token: 401. Settings and users need an admin (scope admin), platforms and the
    overview the read scope; everyone else gets 403 before anything is looked at or changed."""
    for who in CALLERS:
        url = path(who) if callable(path) else path
        payload = body(who) if callable(body) else body
        response = getattr(client, method)(url, json=payload, headers=api_callers[who])
        if who in ("anonymous", "revoked"):
            assert_api_error(response, 401)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
        elif who not in allowed:
            body_ = assert_api_error(response, 403)
            assert body_["error_code"] in ("insufficient_scope", "admin_required")
        else:
            assert response.status_code == success, (who, response.get_data(as_text=True))
            assert response.headers["X-Request-ID"]


# Settings ----------------------------------------------------------------------------------------


def test_settings_show_values_defaults_what_is_stored_and_the_storage(client, api_callers, settings):
    body = client.get("/api/v1/settings", headers=api_callers["admin"]).get_json()
    assert set(body) == {"settings", "limits", "worker_type", "storage", "disk_guard"}
    assert set(body["settings"]) == SETTING_KEYS == set(body["limits"])
    concurrency = body["settings"]["download_concurrency"]
    assert concurrency == {"value": settings.workers, "default": settings.workers, "stored": False,
                           "env": "HAUL_WORKERS", "refused": None}
    assert body["settings"]["default_engine"] == {"value": "auto", "default": "auto", "stored": False, "env": None,
                                                  "refused": None}
    assert body["limits"]["download_concurrency"] == {"min": 1, "max": 16}
    assert body["limits"]["default_preset"]["choices"] == ["best", "1080p", "720p", "audio"]
    storage = body["storage"]
    assert storage["root"] == str(settings.storage_root)
    assert storage["files"] == 0 and storage["library_bytes"] == 0
    assert all(isinstance(storage[k], int) for k in ("total_bytes", "used_bytes", "free_bytes"))


def test_patch_changes_only_what_it_names_and_the_service_sees_it_at_once(client, api_callers, settings):
    """No restart: runtime_settings.current() (what the worker reads for the next job) has the new values."""
    admin = api_callers["admin"]
    response = client.patch("/api/v1/settings", headers=admin,
                            json={"download_concurrency": 3, "default_engine": "yt-dlp",
                                  "ytdlp_extra_args": "--limit-rate   2M"})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert sorted(body["changed"]) == ["default_engine", "download_concurrency", "ytdlp_extra_args"]
    assert body["settings"]["download_concurrency"] == {"value": 3, "default": settings.workers, "stored": True,
                                                        "env": "HAUL_WORKERS", "refused": None}
    effective = runtime_settings.current()
    assert (effective.download_concurrency, effective.default_engine) == (3, "yt-dlp")
    assert effective.ytdlp_extra_args == "--limit-rate 2M"  # normalised as the page does
    assert effective.job_timeout_seconds == settings.job_timeout_seconds  # not named, not touched

    # null restores the default (the stored row goes); what is not named stays
    body = client.patch("/api/v1/settings", headers=admin, json={"download_concurrency": None}).get_json()
    assert body["changed"] == ["download_concurrency"]
    assert body["settings"]["download_concurrency"]["stored"] is False
    assert db.session.get(Setting, "download_concurrency") is None
    assert runtime_settings.current().download_concurrency == settings.workers
    assert runtime_settings.current().default_engine == "yt-dlp"

    # an empty PATCH changes nothing and answers the settings
    body = client.patch("/api/v1/settings", headers=admin, json={}).get_json()
    assert body["changed"] == [] and body["settings"]["default_engine"]["value"] == "yt-dlp"


def test_the_page_and_the_api_share_the_stored_values(client, api_callers):
    runtime_settings.save({"job_timeout_seconds": "90"})  # as the settings page saves it
    body = client.get("/api/v1/settings", headers=api_callers["static"]).get_json()
    assert body["settings"]["job_timeout_seconds"]["value"] == 90
    assert body["settings"]["job_timeout_seconds"]["stored"] is True


@pytest.mark.parametrize("key, switches, message", [
    ("gallery_dl_extra_args", "--range", "gallery-dl: argument --range: expected one argument"),
    ("gallery_dl_extra_args", "-D /tmp/elsewhere", "not allowed"),
    ("ytdlp_extra_args", "--no-such-switch", "yt-dlp: no such option: --no-such-switch"),
    ("ytdlp_extra_args", "-o '%(id)s.%(ext)s'", "not allowed"),
])
def test_a_bad_switch_is_refused_with_the_tools_message_and_nothing_is_saved(client, api_callers, key, switches,
                                                                             message):
    response = client.patch("/api/v1/settings", headers=api_callers["admin"],
                            json={key: switches, "job_timeout_seconds": 77})
    body = assert_api_error(response, 422, "invalid_settings")
    assert message in body["errors"]["json"][key][0]
    assert message in body["detail"]
    assert set(body["errors"]["json"]) == {key}  # the good value is not an error…
    assert db.session.scalars(select(Setting)).all() == []  # …but all or nothing: it is not saved either


def test_the_web_process_checks_switches_with_the_tools_in_a_child(app, client, api_callers):
    """In the web process the check runs in a child (runtime_settings.check_tool_args): same message."""
    app.config["HAUL_ROLE"] = "web"
    runtime_settings._verdicts.clear()  # verdicts reached in this process before would answer instead
    try:
        response = client.patch("/api/v1/settings", headers=api_callers["admin"],
                                json={"ytdlp_extra_args": "--bogus-switch"})
    finally:
        app.config["HAUL_ROLE"] = "test"
    body = assert_api_error(response, 422, "invalid_settings")
    assert body["errors"]["json"]["ytdlp_extra_args"] == ["yt-dlp: no such option: --bogus-switch"]


@pytest.mark.parametrize("patch, error_code", [
    ({"download_concurrency": "two"}, "validation_error"),
    ({"download_concurrency": 0}, "validation_error"),
    ({"download_concurrency": 17}, "invalid_settings"),  # above the thread pool's cap: the service's rule
    ({"job_timeout_seconds": -1}, "validation_error"),
    ({"default_engine": "wget"}, "validation_error"),
    ({"default_preset": "4k"}, "invalid_settings"),  # presets are rows: the service's rule
    ({"not_a_setting": 1}, "validation_error"),
    ({"ytdlp_extra_args": "x" * 2001}, "validation_error"),
    ({"subscription_min_interval_minutes": 0}, "validation_error"),
    ({"subscription_min_interval_minutes": 1441}, "validation_error"),
])
def test_values_out_of_bounds_are_422_with_per_field_errors(client, api_callers, patch, error_code):
    body = assert_api_error(client.patch("/api/v1/settings", headers=api_callers["admin"], json=patch),
                            422, error_code)
    assert set(body["errors"]["json"]) == set(patch)
    assert db.session.scalars(select(Setting)).all() == []


def test_the_subscriptions_shortest_interval_is_a_setting_from_1_to_1440_minutes(client, api_callers):
    admin = api_callers["admin"]
    body = client.get("/api/v1/settings", headers=admin).get_json()
    assert body["settings"]["subscription_min_interval_minutes"] == {
        "value": 15, "default": 15, "stored": False, "env": None, "refused": None}
    assert body["limits"]["subscription_min_interval_minutes"] == {"min": 1, "max": 1440}
    assert runtime_settings.subscription_min_interval_seconds() == 15 * 60

    body = client.patch("/api/v1/settings", headers=admin, json={"subscription_min_interval_minutes": 60}).get_json()
    assert body["changed"] == ["subscription_min_interval_minutes"]
    assert runtime_settings.subscription_min_interval_seconds() == 3600
    client.patch("/api/v1/settings", headers=admin, json={"subscription_min_interval_minutes": None})
    assert runtime_settings.subscription_min_interval_seconds() == 15 * 60


def test_a_body_that_is_not_an_object_is_422(client, api_callers):
    response = client.patch("/api/v1/settings", headers=api_callers["admin"], data="[1, 2]",
                            content_type="application/json")
    assert_api_error(response, 422)


def test_validate_answers_valid_and_errors_without_saving(client, api_callers, settings):
    admin = api_callers["admin"]
    response = client.post("/api/v1/settings/validate", headers=admin,
                           json={"download_concurrency": 4, "gallery_dl_extra_args": "--range 1-3",
                                 "default_preset": None})
    assert response.status_code == 200
    assert response.get_json() == {"valid": True, "errors": {}}

    response = client.post("/api/v1/settings/validate", headers=admin,
                           json={"download_concurrency": 17, "ytdlp_extra_args": "--no-such-switch",
                                 "default_engine": "yt-dlp"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["valid"] is False
    assert set(body["errors"]) == {"download_concurrency", "ytdlp_extra_args"}
    assert body["errors"]["ytdlp_extra_args"] == ["yt-dlp: no such option: --no-such-switch"]
    assert "between 1 and 16" in body["errors"]["download_concurrency"][0]

    assert db.session.scalars(select(Setting)).all() == []
    effective = runtime_settings.current()
    assert (effective.download_concurrency, effective.default_engine) == (settings.workers, "auto")


def test_cookie_files_upload_list_and_delete(client, api_callers, settings):
    admin = api_callers["admin"]
    response = client.post("/api/v1/settings/cookies", headers=admin,
                           json={"site": "https://www.Example.com/login", "cookies": COOKIES_TXT})
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["site"] == "example.com" and response.get_json()["cookies"] == 1
    assert (settings.data_dir / "cookies" / "example.com.txt").is_file()

    listed = client.get("/api/v1/settings/cookies", headers=admin).get_json()
    assert [(f["site"], f["cookies"], f["expired"]) for f in listed] == [("example.com", 1, 0)]
    assert "abc123" not in json.dumps(listed)  # the cookies themselves are never shown

    assert_api_error(client.post("/api/v1/settings/cookies", headers=admin,
                                 json={"site": "example.com", "cookies": "not a cookie line"}), 422, "invalid_cookies")
    assert_api_error(client.post("/api/v1/settings/cookies", headers=admin, json={"site": "example.com"}), 422)

    assert client.delete("/api/v1/settings/cookies/example.com", headers=admin).status_code == 204
    assert client.get("/api/v1/settings/cookies", headers=admin).get_json() == []
    assert_api_error(client.delete("/api/v1/settings/cookies/example.com", headers=admin), 404, "cookies_not_found")
    assert_api_error(client.delete("/api/v1/settings/cookies/..", headers=admin), 404)


# Users -----------------------------------------------------------------------------------------


def test_users_are_listed_by_page_with_total_and_links_and_no_hashes(client, api_callers):
    for name in ("carol", "dave", "erin"):
        accounts.create_user(name, "somepassword")
    accounts.create_token(api_callers.alice, "extra")
    response = client.get("/api/v1/users?per_page=2&page=2", headers=api_callers["admin"])
    assert response.status_code == 200
    body = response.get_json()
    assert response.headers["X-Total-Count"] == "5" and body["total"] == 5
    assert (body["page"], body["per_page"], body["pages"]) == (2, 2, 3)
    assert [user["username"] for user in body["items"]] == ["dave", "erin"]  # alice, carol | dave, erin | root
    links = dict((rel, url) for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', response.headers["Link"]))
    assert set(links) == {"first", "prev", "next", "last"}
    for rel, page in (("first", 1), ("prev", 1), ("next", 3), ("last", 3)):
        assert parse_qs(urlsplit(links[rel]).query) == {"page": [str(page)], "per_page": ["2"]}, links
    first = client.get("/api/v1/users", headers=api_callers["admin"]).get_json()["items"][0]
    assert set(first) == {"id", "username", "role", "created_at", "active_tokens"}
    assert first["username"] == "alice" and first["active_tokens"] == 4  # submit, read, all, extra
    raw = response.get_data(as_text=True)
    assert "password" not in raw and "pbkdf2" not in raw and "scrypt" not in raw
    assert_api_error(client.get("/api/v1/users?per_page=500", headers=api_callers["admin"]), 422)
    assert_api_error(client.get("/api/v1/users?page=0", headers=api_callers["admin"]), 422)


def test_create_a_user_who_can_then_sign_in(client, api_callers):
    response = client.post("/api/v1/users", headers=api_callers["admin"],
                           json={"username": "bob", "password": "bobpassword", "role": "admin"})
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"id", "username", "role", "created_at", "active_tokens"}
    assert (body["username"], body["role"], body["active_tokens"]) == ("bob", "admin", 0)
    assert accounts.authenticate("bob", "bobpassword").id == body["id"]
    # role defaults to user
    body = client.post("/api/v1/users", headers=api_callers["static"],
                       json={"username": "cleo", "password": "cleopassword"}).get_json()
    assert body["role"] == "user"


@pytest.mark.parametrize("payload, status, error_code", [
    ({"username": "ALICE", "password": "anotherpassword"}, 409, "user_exists"),  # taken, ignoring case
    ({"username": "bob", "password": "short"}, 422, "validation_error"),
    ({"username": "bob", "password": "bobpassword", "role": "owner"}, 422, "validation_error"),
    ({"username": "bob smith", "password": "bobpassword"}, 422, "validation_error"),
    ({"username": "", "password": "bobpassword"}, 422, "validation_error"),
    ({"password": "bobpassword"}, 422, "validation_error"),
])
def test_creating_a_user_follows_the_users_page_rules(client, api_callers, payload, status, error_code):
    assert_api_error(client.post("/api/v1/users", headers=api_callers["admin"], json=payload), status, error_code)
    assert db.session.scalar(select(User).where(User.username == "bob")) is None


def test_show_a_user_and_unknown_ids_are_404(client, api_callers):
    admin = api_callers["admin"]
    body = client.get(f"/api/v1/users/{api_callers.root.id}", headers=admin).get_json()
    assert (body["username"], body["role"]) == ("root", "admin")
    for user_id in (99999, 2**63 - 1, 2**63, 10**30):
        assert_api_error(client.get(f"/api/v1/users/{user_id}", headers=admin), 404, "user_not_found")
        assert_api_error(client.patch(f"/api/v1/users/{user_id}", headers=admin, json={"role": "user"}), 404)
        assert_api_error(client.delete(f"/api/v1/users/{user_id}", headers=admin), 404)


def test_patch_changes_the_role_and_resets_the_password(client, api_callers):
    alice = api_callers.alice
    response = client.patch(f"/api/v1/users/{alice.id}", headers=api_callers["admin"],
                            json={"role": "admin", "password": "brand-new-password"})
    assert response.status_code == 200
    assert response.get_json()["role"] == "admin"
    assert accounts.authenticate("alice", "brand-new-password") is not None
    assert accounts.authenticate("alice", "alicepassword") is None
    assert_api_error(client.patch(f"/api/v1/users/{alice.id}", headers=api_callers["admin"],
                                  json={"password": "short"}), 422)
    assert_api_error(client.patch(f"/api/v1/users/{alice.id}", headers=api_callers["admin"],
                                  json={"role": "superuser"}), 422)


def test_the_last_admin_and_your_own_account_are_protected(client, api_callers):
    root, static, admin = api_callers.root, api_callers["static"], api_callers["admin"]
    # the static token is nobody's account: only the last-admin rule stops it
    assert_api_error(client.patch(f"/api/v1/users/{root.id}", headers=static, json={"role": "user"}), 409, "last_admin")
    assert_api_error(client.delete(f"/api/v1/users/{root.id}", headers=static), 409, "last_admin")
    # an admin changes neither their own role nor deletes themselves
    assert_api_error(client.patch(f"/api/v1/users/{root.id}", headers=admin, json={"role": "user"}), 409, "own_role")
    assert_api_error(client.delete(f"/api/v1/users/{root.id}", headers=admin), 409, "own_account")
    # a refused PATCH changes nothing, the password included
    assert_api_error(client.patch(f"/api/v1/users/{root.id}", headers=static,
                                  json={"role": "user", "password": "root-new-password"}), 409, "last_admin")
    db.session.expire_all()
    assert root.role == "admin" and accounts.authenticate("root", "rootpassword") is not None
    # with a second admin the first may go
    second = accounts.create_user("second", "secondpassword", role="admin")
    assert client.patch(f"/api/v1/users/{root.id}", headers=static, json={"role": "user"}).status_code == 200
    assert_api_error(client.delete(f"/api/v1/users/{second.id}", headers=static), 409, "last_admin")


def test_delete_a_user_and_their_tokens_stop_working(client, api_callers):
    alice_id = api_callers.alice.id
    assert client.get("/api/v1/auth/me", headers=api_callers["user"]).status_code == 200
    assert client.delete(f"/api/v1/users/{alice_id}", headers=api_callers["admin"]).status_code == 204
    db.session.expire_all()
    assert db.session.get(User, alice_id) is None
    assert_api_error(client.get(f"/api/v1/users/{alice_id}", headers=api_callers["admin"]), 404)
    assert_api_error(client.get("/api/v1/auth/me", headers=api_callers["user"]), 401)


# Platforms ----------------------------------------------------------------------------------------


def test_platforms_list_both_tools_real_extractors_with_their_versions(client, api_callers):
    from gallery_dl import version as gdl_version
    from yt_dlp import version as ytdlp_version

    response = client.get("/api/v1/platforms", headers=api_callers["read"])
    assert response.status_code == 200
    body = response.get_json()
    assert body["tools"]["gallery-dl"]["version"] == gdl_version.__version__
    assert body["tools"]["yt-dlp"]["version"] == ytdlp_version.__version__
    by_tool = {tool: [p for p in body["platforms"] if p["tool"] == tool] for tool in ("gallery-dl", "yt-dlp")}
    assert body["tools"]["gallery-dl"]["count"] == len(by_tool["gallery-dl"]) > 250
    assert body["tools"]["yt-dlp"]["count"] == len(by_tool["yt-dlp"]) > 1500
    youtube = next(p for p in by_tool["yt-dlp"] if p["key"] == "Youtube")
    assert youtube == {"name": "youtube", "tool": "yt-dlp", "key": "Youtube", "description": "YouTube",
                       "working": True}
    instagram = next(p for p in by_tool["gallery-dl"] if p["name"] == "instagram")
    assert {"post", "stories", "reels"} <= set(instagram["subcategories"])
    mastodon_site = next(p for p in by_tool["gallery-dl"] if p.get("base") == "mastodon")
    assert mastodon_site["subcategories"]


def test_platforms_filter_by_tool_and_search(client, api_callers):
    headers = api_callers["user"]
    body = client.get("/api/v1/platforms?tool=yt-dlp", headers=headers).get_json()
    assert set(body["tools"]) == {"yt-dlp"} and {p["tool"] for p in body["platforms"]} == {"yt-dlp"}

    body = client.get("/api/v1/platforms?search=InstaGram", headers=headers).get_json()
    names = {(p["tool"], p["name"]) for p in body["platforms"]}
    assert ("gallery-dl", "instagram") in names and ("yt-dlp", "Instagram") in names
    assert all("instagram" in json.dumps(p).lower() for p in body["platforms"])
    assert body["tools"]["yt-dlp"]["count"] == sum(1 for p in body["platforms"] if p["tool"] == "yt-dlp")

    body = client.get("/api/v1/platforms?search=no-such-site-anywhere", headers=headers).get_json()
    assert body["platforms"] == [] and body["tools"]["gallery-dl"]["count"] == 0
    assert_api_error(client.get("/api/v1/platforms?tool=wget", headers=headers), 422, "validation_error")


def test_the_web_process_lists_platforms_without_loading_the_tools():
    """The list is read in a child: the web process imports neither tool and grows by little."""
    script = r"""
import json, os, sys, tempfile
from pathlib import Path
tmp = Path(tempfile.mkdtemp())
os.environ.update(HAUL_DATA_DIR=str(tmp / "data"), HAUL_DATABASE_URL=f"sqlite:///{tmp}/haul.db",
                  HAUL_STORAGE_ROOT=str(tmp / "library"), HAUL_API_TOKEN="t" * 32, HAUL_SECRET_KEY="s")
from flask_migrate import upgrade
from webapp import create_app

def rss_kib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])

with create_app(role="cli").app_context():
    upgrade()
app = create_app(role="web")
client = app.test_client()
headers = {"Authorization": "Bearer " + "t" * 32}
client.get("/api/v1/stats/overview", headers=headers)
before = rss_kib()
status = [client.get("/api/v1/platforms", headers=headers).status_code for _ in range(3)]
print(json.dumps({"status": status, "grew_kib": rss_kib() - before,
                  "tools_loaded": sorted(m for m in ("yt_dlp", "gallery_dl") if m in sys.modules)}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["status"] == [200, 200, 200]
    assert found["tools_loaded"] == []
    assert found["grew_kib"] < 8 * 1024, found  # the names and descriptions only (about 2 MB measured)


# Stats overview -----------------------------------------------------------------------------------


def add_job(user, status, *, finished_ago=None, file_sizes=()):
    submission = Submission(user_id=user.id if user else None, items=[])
    db.session.add(submission)
    db.session.flush()
    job = Job(submission_id=submission.id, url=f"https://example.com/{status}/{submission.id}", domain="example.com",
              status="queued", user_id=user.id if user else None)
    if status != "queued":
        job.claim("tests")
    if finished_ago is not None:
        job.finish(Outcome(status), now=utcnow() - finished_ago)
    job.files = [JobFile(path=f"f/{submission.id}-{n}", size=size, sha256="0" * 64) for n, size in enumerate(file_sizes)]
    db.session.add(job)
    db.session.commit()
    return job


def test_the_overview_counts_everything_for_an_admin_and_their_own_for_a_user(client, api_callers):
    alice, root = api_callers.alice, api_callers.root
    add_job(alice, "completed", finished_ago=timedelta(minutes=1), file_sizes=(100, 50))
    add_job(alice, "completed", finished_ago=timedelta(days=400), file_sizes=(7,))
    add_job(alice, "failed", finished_ago=timedelta(minutes=1))
    add_job(alice, "queued")
    add_job(root, "completed", finished_ago=timedelta(minutes=1), file_sizes=(1000,))
    add_job(root, "downloading")

    body = client.get("/api/v1/stats/overview", headers=api_callers["admin"]).get_json()
    assert set(body) == {"scope", "jobs", "completed", "failed", "library", "storage", "worker", "queue",
                         "success_rate", "next_scheduled_run", "download_window"}
    assert body["scope"] == "all"
    assert body["jobs"] == {"queued": 1, "paused": 0, "downloading": 1, "completed": 3, "failed": 1, "cancelled": 0}
    assert body["completed"] == {"today": 2, "week": 2, "month": 2, "total": 3}
    assert body["failed"] == {"today": 1, "week": 1, "month": 1, "total": 1}
    assert body["library"] == {"files": 4, "bytes": 1157}
    assert set(body["storage"]) == {"total_bytes", "used_bytes", "free_bytes"}
    assert body["storage"]["free_bytes"] > 0
    assert body["worker"] == {"alive": False, "heartbeat_at": None, "seconds_since_heartbeat": None}
    assert body["queue"] == {"paused": False}

    for who in ("user", "read"):
        own = client.get("/api/v1/stats/overview", headers=api_callers[who]).get_json()
        assert own["scope"] == "own"
        assert own["jobs"] == {"queued": 1, "paused": 0, "downloading": 0, "completed": 2, "failed": 1, "cancelled": 0}
        assert own["completed"] == {"today": 1, "week": 1, "month": 1, "total": 2}
        assert own["library"] == {"files": 3, "bytes": 157}


def test_the_overview_shows_the_workers_heartbeat_and_the_pause(client, api_callers):
    worker_heartbeat.beat()
    queue_state.set_paused(True)
    db.session.commit()
    body = client.get("/api/v1/stats/overview", headers=api_callers["static"]).get_json()
    assert body["worker"]["alive"] is True and body["worker"]["seconds_since_heartbeat"] < 5
    assert body["worker"]["heartbeat_at"].endswith("Z") or "+00:00" in body["worker"]["heartbeat_at"]
    assert body["queue"] == {"paused": True}


def test_the_overview_periods_start_at_midnight_monday_and_the_first_in_utc():
    from datetime import datetime, timezone

    from webapp.api.overview import period_starts

    starts = period_starts(datetime(2026, 11, 26, 15, 30, tzinfo=timezone.utc))  # a Thursday
    assert starts == {"today": datetime(2026, 11, 26, tzinfo=timezone.utc),
                      "week": datetime(2026, 11, 23, tzinfo=timezone.utc),
                      "month": datetime(2026, 11, 1, tzinfo=timezone.utc)}


def test_every_endpoint_states_its_access_in_the_document(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    mine = {path: ops for path, ops in paths.items()
            if path.startswith(("/api/v1/settings", "/api/v1/users", "/api/v1/platforms", "/api/v1/stats"))}
    assert len(mine) == 10  # …, /stats/overview, /stats/timeline, /stats/platforms
    for path, ops in mine.items():
        for method, op in ops.items():
            if method == "parameters":
                continue
            wanted = "Scope: read" if path.startswith(("/api/v1/platforms", "/api/v1/stats")) else "Scope: admin"
            assert wanted in op["description"], (path, method)
            assert op["security"] == [{"bearer": []}]
            assert {"401", "403"} <= set(op["responses"])
    assert "requestBody" in paths["/api/v1/settings"]["patch"]
    assert {p["name"] for p in paths["/api/v1/platforms"]["get"]["parameters"]} == {"tool", "search"}
