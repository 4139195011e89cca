"""Configuration: HAUL_* variables (or a .env file) checked once, bad values named in one line."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from webapp.config import ConfigError, load_settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return (tmp_path / "data").resolve()


def env_with(data_dir: Path, **values) -> dict:
    """An environment with a private data dir and a fixed secret (so nothing else is written)."""
    env = {"HAUL_DATA_DIR": str(data_dir), "HAUL_SECRET_KEY": "config-test-secret"}
    env.update(values)
    return env


def test_defaults(data_dir):
    """Port 8080, 3 workers, 1 h timeout, storage and SQLite database in the data dir."""
    settings = load_settings(env_with(data_dir), env_file=None)
    assert settings.data_dir == data_dir
    assert settings.port == 8080
    assert settings.host == "127.0.0.1"
    assert settings.workers == 3
    assert settings.worker_type == "thread"
    assert settings.trusted_proxies == 0  # X-Forwarded-* ignored unless a proxy is declared
    assert settings.worker_nice == 5
    assert settings.job_timeout_seconds == 3600
    assert settings.retry_backoff_seconds == 5.0
    assert settings.storage_root == data_dir / "downloads"
    assert settings.database_url == f"sqlite:///{data_dir / 'haul.db'}"
    assert settings.is_sqlite
    assert settings.huey_path == data_dir / "huey.db"
    assert settings.api_token is None
    assert settings.redis_url is None
    assert settings.admin_username is None and settings.admin_password is None
    assert settings.log_level == "INFO"
    assert settings.gallery_dl_options == ()
    assert settings.ytdlp_options == {}


def test_folders_are_created(tmp_path):
    """The data dir and the storage root are created when missing."""
    data_dir = tmp_path / "deep" / "data"
    storage = tmp_path / "elsewhere" / "library"
    settings = load_settings(env_with(data_dir, HAUL_STORAGE_ROOT=str(storage)), env_file=None)
    assert data_dir.is_dir() and storage.is_dir()
    assert settings.storage_root == storage.resolve()


def test_values_are_read(data_dir):
    """Each variable sets its field."""
    settings = load_settings(
        env_with(
            data_dir,
            HAUL_PORT="9000",
            HAUL_HOST="0.0.0.0",
            HAUL_WORKERS="8",
            HAUL_WORKER_TYPE="Process",
            HAUL_JOB_TIMEOUT_SECONDS="0",
            HAUL_RETRY_BACKOFF_SECONDS="0.5",
            HAUL_DATABASE_URL="postgresql+psycopg://haul:pw@db/haul",
            HAUL_REDIS_URL="redis://localhost:6379/0",
            HAUL_API_TOKEN="a-long-enough-static-token-0123",
            HAUL_ADMIN_USERNAME="root",
            HAUL_ADMIN_PASSWORD="longpassword",
            HAUL_LOG_LEVEL="debug",
            HAUL_WORKER_NICE="0",
            HAUL_TRUSTED_PROXIES="2",
        ),
        env_file=None,
    )
    assert settings.worker_nice == 0
    assert settings.trusted_proxies == 2
    assert settings.port == 9000
    assert settings.host == "0.0.0.0"
    assert settings.workers == 8
    assert settings.worker_type == "process"
    assert settings.job_timeout_seconds == 0
    assert settings.retry_backoff_seconds == 0.5
    assert settings.database_url == "postgresql+psycopg://haul:pw@db/haul"
    assert not settings.is_sqlite
    assert settings.redis_url == "redis://localhost:6379/0"
    assert settings.api_token == "a-long-enough-static-token-0123"
    assert (settings.admin_username, settings.admin_password) == ("root", "longpassword")
    assert settings.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HAUL_PORT", "abc"),
        ("HAUL_PORT", "70000"),
        ("HAUL_PORT", "0"),
        ("HAUL_WORKERS", "0"),
        ("HAUL_WORKERS", "many"),
        ("HAUL_JOB_TIMEOUT_SECONDS", "-1"),
        ("HAUL_RETRY_BACKOFF_SECONDS", "soon"),
        ("HAUL_WORKER_TYPE", "greenlet"),
        ("HAUL_WORKER_NICE", "20"),
        ("HAUL_WORKER_NICE", "-5"),
        ("HAUL_TRUSTED_PROXIES", "yes"),
        ("HAUL_TRUSTED_PROXIES", "6"),
        ("HAUL_LOG_LEVEL", "LOUD"),
        ("HAUL_DATABASE_URL", "mysql://x"),
        ("HAUL_REDIS_URL", "http://x"),
        ("HAUL_API_TOKEN", "short"),
        ("HAUL_API_TOKEN", "x" * 23),  # a static admin key must be long enough not to be guessed
        ("HAUL_GALLERY_DL_EXTRA_ARGS", "--no-such-flag"),
        ("HAUL_GALLERY_DL_EXTRA_ARGS", "-D /tmp/elsewhere"),
        ("HAUL_GALLERY_DL_EXTRA_ARGS", "https://example.com/"),
        ("HAUL_YTDLP_EXTRA_ARGS", "--no-such-flag"),
        ("HAUL_YTDLP_EXTRA_ARGS", "-o x"),
        ("HAUL_YTDLP_EXTRA_ARGS", "https://example.com/"),
        ("HAUL_YTDLP_EXTRA_ARGS", '--format "best'),
        ("HAUL_GALLERY_DL_EXTRA_ARGS", "--limit-rate '1M"),
    ],
)
def test_bad_value_names_the_variable(data_dir, name, value):
    """A bad value raises ConfigError: one line starting with the variable's name."""
    with pytest.raises(ConfigError) as info:
        load_settings(env_with(data_dir, **{name: value}), env_file=None)
    message = str(info.value)
    assert message.startswith(f"{name}: ")
    assert "\n" not in message


@pytest.mark.parametrize("name", ["HAUL_GALLERY_DL_EXTRA_ARGS", "HAUL_YTDLP_EXTRA_ARGS"])
def test_unbalanced_quote_is_refused_without_the_tools(data_dir, name):
    """Even with check_tool_args=False (no tool import) a string that cannot be split is refused."""
    with pytest.raises(ConfigError, match=f"^{name}: "):
        load_settings(env_with(data_dir, **{name: "'open"}), env_file=None, check_tool_args=False)


def test_unwritable_data_dir_is_named(tmp_path):
    """A data dir that cannot be created is reported as HAUL_DATA_DIR."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match="^HAUL_DATA_DIR: "):
        load_settings(env_with(blocker / "data"), env_file=None)


def test_gallery_dl_extra_args_are_parsed(data_dir):
    """gallery-dl switches become (path, key, value) config settings."""
    settings = load_settings(env_with(data_dir, HAUL_GALLERY_DL_EXTRA_ARGS="--limit-rate 1M"), env_file=None)
    assert settings.gallery_dl_options == (((), "rate", "1M"),)
    assert settings.gallery_dl_extra_args == "--limit-rate 1M"


def test_ytdlp_extra_args_are_parsed(data_dir):
    """yt-dlp switches become the YoutubeDL parameters that differ from the defaults."""
    settings = load_settings(env_with(data_dir, HAUL_YTDLP_EXTRA_ARGS="--limit-rate 1M -f best"), env_file=None)
    assert settings.ytdlp_options == {"ratelimit": 1024 * 1024, "format": "best"}


def test_env_file_is_read_and_real_variables_win(data_dir, tmp_path):
    """Values come from .env unless the real environment sets them too."""
    env_file = tmp_path / ".env"
    env_file.write_text("HAUL_PORT=9001\nHAUL_WORKERS=5\nHAUL_LABEL_UNUSED=x\n")
    settings = load_settings(env_with(data_dir, HAUL_PORT="9002"), env_file=env_file)
    assert settings.workers == 5  # only in the file
    assert settings.port == 9002  # the environment wins


def test_env_file_can_supply_the_data_dir(tmp_path):
    """Even HAUL_DATA_DIR may come from the file."""
    data_dir = (tmp_path / "from-file").resolve()
    env_file = tmp_path / ".env"
    env_file.write_text(f"HAUL_DATA_DIR={data_dir}\nHAUL_SECRET_KEY=file-secret\n")
    settings = load_settings({}, env_file=env_file)
    assert settings.data_dir == data_dir
    assert settings.secret_key == "file-secret"


def test_bad_value_in_env_file_is_named(data_dir, tmp_path):
    """A bad value from .env is reported like one from the environment."""
    env_file = tmp_path / ".env"
    env_file.write_text("HAUL_WORKERS=0\n")
    with pytest.raises(ConfigError, match="^HAUL_WORKERS: "):
        load_settings(env_with(data_dir), env_file=env_file)


def test_missing_env_file_is_fine(data_dir, tmp_path):
    """No .env file: defaults apply."""
    settings = load_settings(env_with(data_dir), env_file=tmp_path / "absent.env")
    assert settings.port == 8080


def test_secret_key_is_generated_once_and_kept(data_dir):
    """Without HAUL_SECRET_KEY a key is generated, kept in data_dir/secret_key (0600) and reused."""
    env = {"HAUL_DATA_DIR": str(data_dir)}
    first = load_settings(env, env_file=None)
    key_file = data_dir / "secret_key"
    assert key_file.is_file()
    assert key_file.read_text().strip() == first.secret_key
    assert len(first.secret_key) >= 32
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    second = load_settings(env, env_file=None)
    assert second.secret_key == first.secret_key


def test_secret_keys_differ_between_data_dirs(tmp_path):
    """Each install generates its own key."""
    a = load_settings({"HAUL_DATA_DIR": str(tmp_path / "a")}, env_file=None)
    b = load_settings({"HAUL_DATA_DIR": str(tmp_path / "b")}, env_file=None)
    assert a.secret_key != b.secret_key


def test_explicit_secret_key_wins_and_writes_nothing(data_dir):
    """HAUL_SECRET_KEY is used as given; no key file is created."""
    settings = load_settings({"HAUL_DATA_DIR": str(data_dir), "HAUL_SECRET_KEY": "given"}, env_file=None)
    assert settings.secret_key == "given"
    assert not (data_dir / "secret_key").exists()


def test_cli_reports_a_bad_value_in_one_line(tmp_path):
    """`flask --app wsgi db upgrade` with a bad HAUL_PORT exits non-zero naming it, no traceback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAUL_")}
    env.update(HAUL_DATA_DIR=str(tmp_path / "data"), HAUL_PORT="notaport")
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert "HAUL_PORT" in last_line
    assert not (tmp_path / "data" / "haul.db").exists()  # nothing was migrated


@pytest.mark.parametrize(("url", "module"), [("postgresql+psycopg2://haul@db/haul", "psycopg2"),
                                             ("postgresql+psycopg://haul@db/haul", "psycopg")])
def test_a_postgres_url_without_its_driver_says_what_to_install(monkeypatch, url, module):
    import importlib.util

    from webapp.config import check_database_driver

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == module else real_find_spec(name, *a))
    with pytest.raises(ConfigError) as info:
        check_database_driver(url)
    assert str(info.value).startswith("HAUL_DATABASE_URL: ") and f"needs the {module} driver" in str(info.value)
    assert "pip install" in str(info.value) and "\n" not in str(info.value)

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == module else real_find_spec(name, *a))
    check_database_driver(url)  # installed: nothing to say
    check_database_driver("sqlite:///haul.db")


@pytest.mark.parametrize("url", ["postgresql://haul:pw@db/haul", "postgres://haul:pw@db/haul"])
def test_a_plain_postgres_url_means_psycopg_3(url):
    env = {"HAUL_DATA_DIR": "/tmp/haul-config-test", "HAUL_DATABASE_URL": url}
    assert load_settings(env, env_file=None).database_url == "postgresql+psycopg://haul:pw@db/haul"


@pytest.mark.parametrize(("name", "url"), [("HAUL_DATABASE_URL", "mysql://haul:s3cr3t-pw@db/haul"),
                                           ("HAUL_REDIS_URL", "http://:s3cr3t-pw@cache:6379/0")])
def test_a_refused_url_never_shows_its_password(name, url):
    env = {"HAUL_DATA_DIR": "/tmp/haul-config-test", name: url}
    with pytest.raises(ConfigError) as info:
        load_settings(env, env_file=None)
    assert str(info.value).startswith(name) and "s3cr3t-pw" not in str(info.value) and "***" in str(info.value)


def test_several_web_processes_need_postgresql():
    env = {"HAUL_DATA_DIR": "/tmp/haul-config-test", "HAUL_WEB_PROCESSES": "2"}
    with pytest.raises(ConfigError) as info:
        load_settings(env, env_file=None)
    assert str(info.value).startswith("HAUL_WEB_PROCESSES") and "PostgreSQL" in str(info.value)
    env["HAUL_DATABASE_URL"] = "postgresql://haul@db/haul"
    assert load_settings(env, env_file=None).web_processes == 2


def test_the_upload_partial_dir_is_made_and_checked(tmp_path):
    env = {"HAUL_DATA_DIR": str(tmp_path / "data"), "HAUL_UPLOAD_PARTIAL_DIR": str(tmp_path / "shared" / "partial")}
    assert load_settings(env, env_file=None).upload_partial_dir == tmp_path / "shared" / "partial"
    assert (tmp_path / "shared" / "partial").is_dir()
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    with pytest.raises(ConfigError) as info:
        load_settings({**env, "HAUL_UPLOAD_PARTIAL_DIR": str(blocked / "partial")}, env_file=None)
    assert str(info.value).startswith("HAUL_UPLOAD_PARTIAL_DIR: cannot create")
