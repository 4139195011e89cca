"""Extra tool switches: only the allowlist passes, everywhere a switch can come from.

Each refused switch is an attack: whoever can save a setting (or set HAUL_*_EXTRA_ARGS) tries
to make the server run a program, read a file, or evaluate code. The tests send it the ways
an attacker would — PATCH /api/v1/settings, the Settings page, the environment at start, a
value stored before the allowlist existed — and check that nothing runs and nothing read from
a file comes back in a message. Benign switches still reach the jobs' options.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yt_dlp
from conftest import ROOT, assert_api_error
from gallery_dl import option as gdl_option
from sqlalchemy import select
from support.web import csrf, sign_in_as

from jobs import runner
from webapp.config import ConfigError, load_settings
from webapp.core import tool_allowlist, tool_args
from webapp.core.tool_args import ToolArgsError, parse_gallery_dl_args, parse_ytdlp_args
from webapp.extensions import db
from webapp.models import Job, Setting
from webapp.services.admin import runtime_settings
from webapp.services.queue.submissions import submit

MARKER = "haul-marker-5b1f0c9e"  # a secret no message may ever contain

# (switches, the switch the refusal must name): every spelling of the switches that name a program or a file.
YTDLP_ATTACKS = [
    ("--exec 'touch {target}'", "--exec"),
    ("--exec='touch {target}'", "--exec"),
    ("--exe 'touch {target}'", "--exe"),  # ambiguous with --exec-before-download: refused as such
    ("--exec-b 'touch {target}'", "--exec-before-download"),  # a unique abbreviation
    ("--exec-before-download 'touch {target}'", "--exec-before-download"),
    ("--netrc-cmd 'touch {target}'", "--netrc-cmd"),
    ("--downloader 'touch {target}'", "--downloader"),
    ("--external-downloader 'touch {target}'", "--external-downloader"),
    ("--ffmpeg-location {target}", "--ffmpeg-location"),
    ("--print-to-file title {target}", "--print-to-file"),
    ("--load-info-json {target}", "--load-info-json"),
    ("--batch-file {target}", "--batch-file"),
    ("--batch {target}", "--batch-file"),
    ("-a {target}", "-a"),
    ("-a{target}", "-a"),
    ("--plugin-dirs {target}", "--plugin-dirs"),
    ("--config-locations {target}", "--config-locations"),
    ("--cookies {target}", "--cookies"),
    ("--cookies-from-browser firefox", "--cookies-from-browser"),
    ("--download-archive {target}", "--download-archive"),
    ("--netrc-location {target}", "--netrc-location"),
    ("--use-postprocessor Exec:exec=touch", "--use-postprocessor"),
    ("--extract-audio", "--extract-audio"),
    ("-f best -x", "-x"),
    ("-xf best", "-x"),  # clustered short flags
    ("--password hunter2", "--password"),
    ("--alias exec '--exec touch'", "--alias"),
    ("-t mp3", "-t"),
    ("--compat-options allow-unsafe-exec-expansion", "--compat-options"),
    ("--extractor-args 'youtube:player_client=web'", "--extractor-args"),
    ("-o '%(id)s.%(ext)s'", "-o"),
    ("-P /tmp", "-P"),
    ("--add-headers 'Cookie: session=stolen'", "cookie"),
    ("--add-headers 'Authorization: Bearer x'", "authorization"),
    ("https://example.com/", "word"),
    ("-- https://example.com/", "word"),
]
GALLERY_DL_ATTACKS = [
    ("--exec 'touch {target}'", "--exec"),
    ("--exec-after 'touch {target}'", "--exec-after"),
    ("--exec-a 'touch {target}'", "--exec-after"),  # abbreviation
    ("--exe 'touch {target}'", "--exe"),  # ambiguous: refused as such
    ("-o postprocessors='[{{\"name\": \"exec\", \"command\": \"touch {target}\"}}]'", "postprocessors"),
    ("-opostprocessors='[{{\"name\": \"exec\", \"command\": \"touch {target}\"}}]'", "postprocessors"),
    ("--option=extractor.postprocessors='[{{\"name\": \"exec\", \"command\": \"touch {target}\"}}]'",
     "postprocessors"),
    ("-o extractor='{{\"postprocessors\": [{{\"name\": \"exec\", \"command\": \"touch {target}\"}}]}}'",
     "extractor"),
    ("-o downloader.ytdl.module=os", "module"),
    ("-o downloader.ytdl.raw-options='{{\"exec\": \"touch {target}\"}}'", "raw-options"),
    ("-o cookies={target}", "cookies"),
    ("-o archive={target}", "archive"),
    ("-o base-directory=/tmp", "base-directory"),
    ("-o output.rate=1M", "output.rate"),
    ("--filter 'print(1) or True'", "--filter"),
    ("--image-filter 'True'", "--image-filter"),
    ("-o image-filter=True", "image-filter"),
    ("--post-filter 'True'", "--post-filter"),
    ("--write-metadata", "--write-metadata"),
    ("-P exec", "-P"),
    ("-O command=x", "-O"),
    ("-X {target}", "-X"),
    ("-i {target}", "-i"),
    ("-c {target}", "-c"),
    ("--config {target}", "--config"),
    ("-C {target}", "-C"),
    ("--cookies-export {target}", "--cookies-export"),
    ("--download-archive {target}", "--download-archive"),
    ("--write-log {target}", "--write-log"),
    ("-u alice -p hunter2", "-u"),
    ("-4v", "-v"),  # clustered short flags: -4 is allowed, -v is not
    ("-D /tmp", "-D"),
    ("https://example.com/", "bare words"),
    ("-- https://example.com/", "bare words"),
]
ATTACKS = ([("yt-dlp", args, named) for args, named in YTDLP_ATTACKS]
           + [("gallery-dl", args, named) for args, named in GALLERY_DL_ATTACKS])
PARSE = {"yt-dlp": parse_ytdlp_args, "gallery-dl": parse_gallery_dl_args}
KEY = {"yt-dlp": "ytdlp_extra_args", "gallery-dl": "gallery_dl_extra_args"}
ENV = {"yt-dlp": "HAUL_YTDLP_EXTRA_ARGS", "gallery-dl": "HAUL_GALLERY_DL_EXTRA_ARGS"}

BENIGN = [
    ("yt-dlp", "--limit-rate 50M", {"ratelimit": 50 * 1024 * 1024}),
    ("yt-dlp", "-r50M", {"ratelimit": 50 * 1024 * 1024}),
    ("yt-dlp", "--limit=50M", {"ratelimit": 50 * 1024 * 1024}),  # an unambiguous abbreviation
    ("yt-dlp", "-f bestvideo+bestaudio", {"format": "bestvideo+bestaudio"}),
    ("yt-dlp", "--sleep-requests 1", {"sleep_interval_requests": 1.0}),
    ("yt-dlp", "-I 1:3 -N 4 --socket-timeout 20", {"playlist_items": "1:3", "concurrent_fragment_downloads": 4,
                                                    "socket_timeout": 20.0}),
    ("yt-dlp", "--write-subs --sub-langs en,de", {"writesubtitles": True, "subtitleslangs": ["en", "de"]}),
    ("yt-dlp", "--user-agent Haul/1 --add-headers 'Accept-Language:de'",
     {"http_headers": {"User-Agent": "Haul/1", "accept-language": "de"}}),
    ("yt-dlp", "-S res:720 --max-filesize 1G --geo-bypass-country DE",
     {"format_sort": ["res:720"], "max_filesize": 1024 ** 3, "geo_bypass_country": "DE"}),
    ("gallery-dl", "--limit-rate 1M", (((), "rate", "1M"),)),
    ("gallery-dl", "--sleep 1", (((), "sleep", "1"),)),
    ("gallery-dl", "-o user-agent=Haul/1", (((), "user-agent", "Haul/1"),)),
    ("gallery-dl", "-4 -r1M --range 1-5", (((), "source-address", "0.0.0.0"), ((), "rate", "1M"),
                                           ((), "file-range", "1-5"))),
    ("gallery-dl", "-o extractor.twitter.sleep-request=2", ((("extractor", "twitter"), "sleep-request", 2),)),
]


@pytest.fixture
def target(tmp_path) -> Path:
    """The file an attack's command would create (or read)."""
    return tmp_path / "pwned"


def _attack(args: str, target: Path) -> str:
    return args.format(target=target)


# The switches themselves -----------------------------------------------------------------------


@pytest.mark.parametrize("tool, args, named", ATTACKS)
def test_a_switch_off_the_allowlist_is_refused_naming_only_the_switch(tool, args, named, target):
    with pytest.raises(ToolArgsError) as refused:
        PARSE[tool](_attack(args, target))
    message = str(refused.value)
    assert named in message
    assert str(target) not in message and "touch" not in message and "hunter2" not in message
    assert "\n" not in message
    assert not target.exists()


@pytest.mark.parametrize("tool, args, expected", BENIGN)
def test_benign_switches_pass_and_give_the_tools_options(tool, args, expected):
    assert PARSE[tool](args) == expected


@pytest.mark.parametrize("args", ["-a {path}", "--batch-file={path}", "--config-locations {path}"])
def test_a_file_named_by_a_switch_is_never_read_into_a_message(tmp_path, args):
    """yt-dlp reads these files inside its parser and quoted their lines back as 'URLs'."""
    secret = tmp_path / "secret.txt"
    secret.write_text(f"https://{MARKER}.example/\n--{MARKER}\n")
    with pytest.raises(ToolArgsError) as refused:
        parse_ytdlp_args(args.format(path=secret))
    assert MARKER not in str(refused.value)


def test_the_tools_parsers_alone_would_have_taken_the_attacks():
    """Without the walk, the parsers accept --exec: the attack is real (and the second check holds)."""
    parsed = yt_dlp.parse_options(["--ignore-config", "--exec", "touch /nonexistent/x"])
    assert any(pp["key"] == "Exec" for pp in parsed.ydl_opts["postprocessors"])
    with pytest.raises(ToolArgsError, match="postprocessors"):
        tool_args._checked_ytdlp_result(parsed, [])

    namespace = gdl_option.build_parser().parse_args(["--exec", "touch /nonexistent/x"])
    assert namespace.postprocessors and namespace.postprocessors[0]["name"] == "exec"
    with pytest.raises(ToolArgsError, match="postprocessors"):
        tool_args._checked_gallery_dl_result(namespace)
    namespace = gdl_option.build_parser().parse_args(["-o", "postprocessors=[]", "-o", "rate={\"a\": 1}"])
    with pytest.raises(ToolArgsError, match="postprocessors"):
        tool_args._checked_gallery_dl_result(namespace)


def test_every_allowed_switch_is_what_the_list_says_in_the_tools_installed():
    """A tool upgrade that renames or changes an allowed switch shows up here, not in production."""
    parser = yt_dlp.options.create_parser()
    for name, entry in tool_allowlist.YTDLP_SWITCHES.items():
        option = parser.get_option(name)
        assert option is not None and option.get_opt_string() == name, name
        assert option.dest == entry.dest, name
        tool_args._ytdlp_allowed(name, option)  # its action is a plain one

    gdl = gdl_option.build_parser()
    setters = (gdl_option.ConfigAction, gdl_option.ConfigConstAction)
    for key, entry in tool_allowlist.GALLERY_DL_KEYS.items():
        for switch in entry.switches:
            action = gdl._option_string_actions[switch]
            assert type(action) in setters and action.dest == key, switch


def test_a_switch_the_list_does_not_know_is_refused():
    """The allowlist is closed: every yt-dlp option not on it is refused, whatever it does."""
    parser = yt_dlp.options.create_parser()
    for option in parser._get_all_options():
        name = option.get_opt_string()
        if name in tool_allowlist.YTDLP_SWITCHES:
            continue
        with pytest.raises(ToolArgsError, match="not allowed"):
            tool_args._ytdlp_allowed(name, option)


# Saving them: the API, the page, the environment at start ----------------------------------------


@pytest.mark.parametrize("tool, args, named", ATTACKS)
def test_patch_settings_refuses_the_attack_and_stores_nothing(client, api_callers, tool, args, named, target):
    response = client.patch("/api/v1/settings", headers=api_callers["admin"],
                            json={KEY[tool]: _attack(args, target)})
    body = assert_api_error(response, 422, "invalid_settings")
    assert named in body["errors"]["json"][KEY[tool]][0]
    assert db.session.scalars(select(Setting)).all() == []


def test_validate_gives_the_same_message(client, api_callers, target):
    response = client.post("/api/v1/settings/validate", headers=api_callers["admin"],
                           json={"ytdlp_extra_args": f"--exec 'touch {target}'", "gallery_dl_extra_args": "--sleep 1"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["valid"] is False and set(body["errors"]) == {"ytdlp_extra_args"}
    assert "--exec is not allowed" in body["errors"]["ytdlp_extra_args"][0]


@pytest.mark.parametrize("tool, args, named", [
    ("yt-dlp", "--exec 'touch {target}'", "--exec"),
    ("yt-dlp", "-xf best", "-x"),
    ("gallery-dl", "-o postprocessors='[{{\"name\": \"exec\", \"command\": \"touch {target}\"}}]'", "postprocessors"),
])
def test_the_settings_page_refuses_the_attack_inline(client, admin, tool, args, named, target):
    sign_in_as(client, admin)
    token = csrf(client)
    response = client.post("/settings/tools", data={f"tools-{KEY[tool]}": _attack(args, target)},
                           headers={"HX-Request": "true", "X-CSRFToken": token})
    assert response.status_code == 422
    fragment = response.get_data(as_text=True)
    assert named in fragment and 'class="field-error"' in fragment
    assert db.session.get(Setting, KEY[tool]) is None


def test_the_web_process_check_never_quotes_proc_self_environ(app, client, api_callers, monkeypatch):
    """In the web process the check runs in a child, whose /proc/self/environ holds the marker."""
    monkeypatch.setenv("HAUL_TEST_MARKER", MARKER)
    app.config["HAUL_ROLE"] = "web"
    runtime_settings._verdicts.clear()
    try:
        for args in ("-a /proc/self/environ", "--config-locations /proc/self/environ",
                     "--batch-file=/proc/self/environ"):
            response = client.patch("/api/v1/settings", headers=api_callers["admin"], json={"ytdlp_extra_args": args})
            body = assert_api_error(response, 422, "invalid_settings")
            assert MARKER not in response.get_data(as_text=True), body
            assert "is not allowed" in body["errors"]["json"]["ytdlp_extra_args"][0]
    finally:
        app.config["HAUL_ROLE"] = "test"


@pytest.mark.parametrize("tool, args, named", [
    ("yt-dlp", "--exec 'touch {target}'", "--exec"),
    ("yt-dlp", "--exec-b 'touch {target}'", "--exec-before-download"),
    ("yt-dlp", "-xf best", "-x"),
    ("gallery-dl", "--exec 'touch {target}'", "--exec"),
    ("gallery-dl", "-o postprocessors='[{{\"name\": \"exec\", \"command\": \"touch {target}\"}}]'", "postprocessors"),
])
def test_startup_stops_with_one_line_naming_the_variable_and_the_switch(tmp_path, tool, args, named, target):
    with pytest.raises(ConfigError) as refused:
        load_settings({"HAUL_DATA_DIR": str(tmp_path / "data"), ENV[tool]: _attack(args, target)}, env_file=None)
    message = str(refused.value)
    assert message.startswith(f"{ENV[tool]}: ") and named in message and "\n" not in message


@pytest.mark.parametrize("args", ["-a /proc/self/environ", "--config-locations /proc/self/environ"])
def test_startup_never_quotes_the_environment(tmp_path, args):
    """The real entry point (wsgi) with the marker in its environment: one line, no marker."""
    env = {**os.environ, "HAUL_DATA_DIR": str(tmp_path / "data"), "HAUL_YTDLP_EXTRA_ARGS": args,
           "HAUL_TEST_MARKER": MARKER, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"haul: HAUL_YTDLP_EXTRA_ARGS: {args.split()[0]} is not allowed (only the switches on Haul's list are)"]
    assert MARKER not in done.stdout + done.stderr


# Values stored before the allowlist ------------------------------------------------------------


@pytest.fixture
def settings(settings):
    """The environment's switches: a gallery-dl range, which a job shows by how many files it keeps."""
    return dataclasses.replace(settings, gallery_dl_extra_args="--range 1-2",
                               gallery_dl_options=parse_gallery_dl_args("--range 1-2"))


def _store_raw(key: str, value: str) -> None:
    """Straight into the settings table, as a value saved before the allowlist existed."""
    db.session.add(Setting(key=key, value=value))
    db.session.commit()


def _run_next() -> Job:
    job_id = runner.claim_next_job()
    assert job_id is not None
    runner.run_job(job_id)
    job = db.session.get(Job, job_id)
    db.session.refresh(job)
    return job


def test_a_stored_exec_never_runs_and_the_job_uses_the_environments_switches(app, media_site, tmp_path):
    """The end-to-end attack: refused values in the table, real jobs with both tools. No file appears."""
    yt_target, gdl_target = tmp_path / "pwned-by-yt-dlp", tmp_path / "pwned-by-gallery-dl"
    _store_raw("ytdlp_extra_args", f"--exec 'touch {yt_target}'")
    _store_raw("gallery_dl_extra_args", f"--exec 'touch {gdl_target}' --range 1-4")
    runtime_settings._warned.clear()

    submit([media_site.url("/video/stored-exec")], principal=None, engine="yt-dlp")
    video_id = _run_next().id
    submit([media_site.url("/gallery/stored-exec?count=5")], principal=None, engine="gallery-dl")
    gallery_id = _run_next().id

    assert not yt_target.exists() and not gdl_target.exists()
    video, gallery = db.session.get(Job, video_id), db.session.get(Job, gallery_id)
    assert video.status == "completed", video.error
    # One video (its .nfo beside it is the default preset's), and nothing the stored --exec made.
    assert video.engine == "yt-dlp" and [f.kind for f in video.files] == ["media", "nfo"]
    assert gallery.status == "completed", gallery.error
    assert len(gallery.files) == 2  # the environment's --range 1-2, not the stored --range 1-4


def test_a_refused_stored_value_is_logged_once_and_shown_as_refused(app, client, api_callers, caplog, monkeypatch):
    monkeypatch.setattr(runtime_settings.log, "disabled", False)  # Alembic's logging setup turns it off
    _store_raw("ytdlp_extra_args", "--exec 'touch /nonexistent/x'")
    runtime_settings._warned.clear()
    with caplog.at_level(logging.WARNING, logger=runtime_settings.log.name):
        for _ in range(3):
            settings, effective = runtime_settings.apply()
            assert settings.ytdlp_options == {} and settings.ytdlp_extra_args == ""
            assert effective.ytdlp_extra_args == "--exec 'touch /nonexistent/x'"
    warnings = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(warnings) == 1
    assert "--exec is not allowed" in warnings[0].getMessage() and "HAUL_YTDLP_EXTRA_ARGS" in warnings[0].getMessage()
    assert "touch" not in warnings[0].getMessage()

    described = client.get("/api/v1/settings", headers=api_callers["admin"]).get_json()["settings"]
    assert described["ytdlp_extra_args"]["stored"] is True
    assert "--exec is not allowed" in described["ytdlp_extra_args"]["refused"]
    assert described["gallery_dl_extra_args"]["refused"] is None

    sign_in_as(client, api_callers.root)
    page = client.get("/settings").get_data(as_text=True)
    assert "Not in use: yt-dlp: --exec is not allowed" in page
    assert "--exec &#39;touch /nonexistent/x&#39;" in page  # kept in the field, for the admin to fix
