"""Haul's configuration: HAUL_* environment variables (or a .env file), checked once.

Every process (web, worker, CLI) builds the same `Settings` with `load_settings()`.
A bad value raises `ConfigError` whose message is one line naming the variable;
the entry points print that line and stop.
"""
from __future__ import annotations

import importlib.util
import os
import re
import secrets
import shlex
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from dotenv import dotenv_values

from webapp.core import tool_args

MIN_API_TOKEN_LENGTH = 24
REMEMBER_ME = timedelta(days=30)


class ConfigError(Exception):
    """A configuration value is unusable; str(exc) is one line naming the variable."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    storage_root: Path
    database_url: str
    huey_path: Path
    host: str
    port: int
    secret_key: str
    api_token: str | None
    workers: int
    worker_type: str
    job_timeout_seconds: int
    retry_backoff_seconds: float
    gallery_dl_extra_args: str
    ytdlp_extra_args: str
    redis_url: str | None
    admin_username: str | None
    admin_password: str | None
    log_level: str
    # Parsed forms of the extra-args strings (filled by load_settings).
    gallery_dl_options: tuple = field(default=(), compare=False)
    ytdlp_options: dict = field(default_factory=dict, compare=False)
    # Guest uploads (webapp/services/guests/chunked_uploads.py): the size of each piece a file is sent
    # in, and whether anonymous visitors to / get the public upload page (off by default).
    upload_chunk_bytes: int = 16 * 1024 * 1024
    public_uploads: bool = False
    # How much lower the worker's CPU priority is than the web's (jobs/worker.py); 0 = the same.
    worker_nice: int = 5
    # How many reverse proxies stand in front of the web server (webapp/proxies.py); 0 = none,
    # and X-Forwarded-* headers are ignored.
    trusted_proxies: int = 0
    # Guests behind invite links (webapp/guest/rate_limits.py): how many new guest sessions and
    # upload starts one address gets an hour.
    guest_sessions_per_hour: int = 30
    guest_upload_starts_per_hour: int = 600
    # The public upload page's limits (webapp/services/guests/invite_usage.py); 0 = no limit.
    public_upload_max_file_bytes: int = 100 * 1024 * 1024
    public_upload_max_bytes_per_day: int = 1024 * 1024 * 1024
    # The application log's files (webapp/app_log.py): each process role's file is rotated at this
    # size, and this many rotated files are kept beside it.
    log_max_bytes: int = 5 * 1024 * 1024
    log_backups: int = 5
    # Where backups are kept (webapp/services/admin/backup.py); None: DATA_DIR/backups.
    backup_dir: Path | None = None
    # gunicorn's serving processes on this host (webapp/gunicorn_conf.py); more than one only on
    # PostgreSQL (docs/scale-out.md), where every process's streams see every event.
    web_processes: int = 1
    # Where uploads gather while their chunks arrive (webapp/services/guests/upload_store.py);
    # None: DATA_DIR/partial. Several web hosts behind one address need a folder they all share
    # (docs/scale-out.md), since an upload's chunks may reach any of them.
    upload_partial_dir: Path | None = None
    # Where the worker puts the thumbnails the web serves; None: DATA_DIR/thumbnails. Web and worker
    # hosts apart need a folder they share (docs/scale-out.md). Read it as `thumbnail_dir`.
    thumbnail_dir_setting: Path | None = None
    # How web processes learn of events other processes wrote (webapp/services/queue/event_wakeups.py):
    # auto, redis, notify or poll; checked against the database and Redis settings there.
    event_wakeups: str = "auto"
    # How long a worker may go without renewing its lease on a running job before any host's
    # watchdog gives the job to another worker (jobs/lease.py).
    job_lease_seconds: int = 30

    @property
    def thumbnail_dir(self) -> Path:
        return self.thumbnail_dir_setting or self.data_dir / "thumbnails"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _environment(environ=None, env_file: str | os.PathLike | None = ".env") -> dict:
    """The process environment over the .env file (real variables win)."""
    values = {}
    if env_file and Path(env_file).is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ if environ is None else environ)
    return values


def _number(env, name, default, low, high, kind=int):
    """A whole number (kind=int) or any number (kind=float) within [low, high], or the default."""
    raw = env.get(name, "").strip()
    if raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        expected = "a whole number" if kind is int else "a number"
        raise ConfigError(f"{name}: expected {expected}, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}: must be between {low} and {high}, got {value}")
    return value


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _flag(env, name, default: bool) -> bool:
    """true/false, yes/no, on/off or 1/0 (any case), or the default when unset or empty."""
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ConfigError(f"{name}: expected true or false, got {env.get(name)!r}")


def _secret_key(env, data_dir: Path) -> str:
    """HAUL_SECRET_KEY, or one generated on first start and kept in the data dir."""
    if env.get("HAUL_SECRET_KEY"):
        return env["HAUL_SECRET_KEY"]
    path = data_dir / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        key = secrets.token_urlsafe(48)
        # O_EXCL: web and worker may start together; the first writer wins.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text().strip()
        with os.fdopen(fd, "w") as fh:
            fh.write(key)
        return key


def load_settings(environ=None, env_file=".env", check_tool_args=True) -> Settings:
    """Read and check every HAUL_* variable; create the data and storage folders."""
    env = _environment(environ, env_file)

    data_dir = Path(env.get("HAUL_DATA_DIR") or "./data").expanduser().resolve()
    storage_root = Path(env.get("HAUL_STORAGE_ROOT") or data_dir / "downloads").expanduser().resolve()
    partial_raw = env.get("HAUL_UPLOAD_PARTIAL_DIR")
    partial_dir = Path(partial_raw).expanduser().resolve() if partial_raw else None
    thumbnails_raw = env.get("HAUL_THUMBNAIL_DIR")
    thumbnail_dir = Path(thumbnails_raw).expanduser().resolve() if thumbnails_raw else None
    folders = [("HAUL_DATA_DIR", data_dir), ("HAUL_STORAGE_ROOT", storage_root),
               ("HAUL_UPLOAD_PARTIAL_DIR", partial_dir), ("HAUL_THUMBNAIL_DIR", thumbnail_dir)]
    for name, folder in ((name, folder) for name, folder in folders if folder is not None):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"{name}: cannot create {folder}: {exc.strerror}") from None
        if not os.access(folder, os.W_OK):
            raise ConfigError(f"{name}: {folder} is not writable")

    database_url = _database_url(env.get("HAUL_DATABASE_URL") or f"sqlite:///{data_dir / 'haul.db'}")

    port = _number(env, "HAUL_PORT", 8080, 1, 65535)
    worker_type = (env.get("HAUL_WORKER_TYPE") or "thread").strip().lower()
    if worker_type not in ("thread", "process"):
        raise ConfigError(f"HAUL_WORKER_TYPE: expected 'thread' or 'process', got {worker_type!r}")
    log_level = (env.get("HAUL_LOG_LEVEL") or "INFO").strip().upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"HAUL_LOG_LEVEL: expected DEBUG, INFO, WARNING or ERROR, got {log_level!r}")
    web_processes = _number(env, "HAUL_WEB_PROCESSES", 1, 1, 64)
    if web_processes > 1 and database_url.startswith("sqlite"):
        raise ConfigError("HAUL_WEB_PROCESSES: more than one web process needs PostgreSQL (HAUL_DATABASE_URL); "
                          "one process serves thousands of connections on SQLite")
    redis_url = env.get("HAUL_REDIS_URL") or None
    if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"HAUL_REDIS_URL: expected a redis:// URL, got {without_password(redis_url)!r}")

    api_token = env.get("HAUL_API_TOKEN") or None
    if api_token is not None and len(api_token) < MIN_API_TOKEN_LENGTH:
        # It is an admin's key to everything: long enough that guessing it (at the bearer rate
        # limit) is out of reach. `openssl rand -hex 24` makes a good one.
        raise ConfigError(f"HAUL_API_TOKEN: must be at least {MIN_API_TOKEN_LENGTH} characters long "
                          f"(got {len(api_token)}); make one with `openssl rand -hex 24`")

    gallery_dl_args = env.get("HAUL_GALLERY_DL_EXTRA_ARGS", "")
    ytdlp_args = env.get("HAUL_YTDLP_EXTRA_ARGS", "")
    gallery_dl_options, ytdlp_options = (), {}
    if check_tool_args:
        try:
            gallery_dl_options = tool_args.parse_gallery_dl_args(gallery_dl_args)
        except tool_args.ToolArgsError as exc:
            raise ConfigError(f"HAUL_GALLERY_DL_EXTRA_ARGS: {exc}") from None
        try:
            ytdlp_options = tool_args.parse_ytdlp_args(ytdlp_args)
        except tool_args.ToolArgsError as exc:
            raise ConfigError(f"HAUL_YTDLP_EXTRA_ARGS: {exc}") from None
    else:
        for name, value in (("HAUL_GALLERY_DL_EXTRA_ARGS", gallery_dl_args), ("HAUL_YTDLP_EXTRA_ARGS", ytdlp_args)):
            try:
                shlex.split(value)
            except ValueError as exc:
                raise ConfigError(f"{name}: {exc}") from None

    return Settings(
        data_dir=data_dir,
        storage_root=storage_root,
        database_url=database_url,
        huey_path=data_dir / "huey.db",
        host=env.get("HAUL_HOST") or "127.0.0.1",
        port=port,
        secret_key=_secret_key(env, data_dir),
        api_token=api_token,
        workers=_number(env, "HAUL_WORKERS", 3, 1, 64),
        worker_type=worker_type,
        job_timeout_seconds=_number(env, "HAUL_JOB_TIMEOUT_SECONDS", 3600, 0, 7 * 24 * 3600),
        retry_backoff_seconds=_number(env, "HAUL_RETRY_BACKOFF_SECONDS", 5.0, 0.0, 3600.0, kind=float),
        gallery_dl_extra_args=gallery_dl_args,
        ytdlp_extra_args=ytdlp_args,
        redis_url=redis_url,
        admin_username=env.get("HAUL_ADMIN_USERNAME") or None,
        admin_password=env.get("HAUL_ADMIN_PASSWORD") or None,
        log_level=log_level,
        gallery_dl_options=gallery_dl_options,
        ytdlp_options=ytdlp_options,
        # 4 KiB to 256 MiB; a reverse proxy in front must accept bodies of this size plus a little.
        upload_chunk_bytes=_number(env, "HAUL_UPLOAD_CHUNK_BYTES", 16 * 1024 * 1024, 4096, 256 * 1024 * 1024),
        public_uploads=_flag(env, "HAUL_PUBLIC_UPLOADS", False),
        worker_nice=_number(env, "HAUL_WORKER_NICE", 5, 0, 19),
        trusted_proxies=_number(env, "HAUL_TRUSTED_PROXIES", 0, 0, 5),
        guest_sessions_per_hour=_number(env, "HAUL_GUEST_SESSIONS_PER_HOUR", 30, 1, 1_000_000),
        guest_upload_starts_per_hour=_number(env, "HAUL_GUEST_UPLOAD_STARTS_PER_HOUR", 600, 1, 1_000_000),
        public_upload_max_file_bytes=_number(env, "HAUL_PUBLIC_UPLOAD_MAX_FILE_BYTES", 100 * 1024 * 1024, 0, 2**62),
        public_upload_max_bytes_per_day=_number(env, "HAUL_PUBLIC_UPLOAD_MAX_BYTES_PER_DAY", 1024**3, 0, 2**62),
        log_max_bytes=_number(env, "HAUL_LOG_MAX_BYTES", 5 * 1024 * 1024, 64 * 1024, 1024**3),
        log_backups=_number(env, "HAUL_LOG_BACKUPS", 5, 1, 100),
        backup_dir=Path(env["HAUL_BACKUP_DIR"]).expanduser().resolve() if env.get("HAUL_BACKUP_DIR") else None,
        web_processes=web_processes,
        upload_partial_dir=partial_dir,
        event_wakeups=(env.get("HAUL_EVENT_WAKEUPS") or "auto").strip().lower(),
        thumbnail_dir_setting=thumbnail_dir,
        job_lease_seconds=_number(env, "HAUL_JOB_LEASE_SECONDS", 30, 6, 600),
    )


_PASSWORD_IN_URL = re.compile(r"(//[^:/@]*:)[^@/]*@")


def without_password(url: str) -> str:
    """A database or Redis URL fit for a message: its password (if any) replaced by ***."""
    return _PASSWORD_IN_URL.sub(r"\1***@", url)


def _database_url(url: str) -> str:
    """HAUL_DATABASE_URL, checked; plain postgresql:// (and postgres://) mean psycopg 3, the
    driver Haul ships (SQLAlchemy would otherwise look for psycopg2)."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain):]
    if not url.startswith(("sqlite:", "postgresql+psycopg:", "postgresql+psycopg2:")):
        raise ConfigError("HAUL_DATABASE_URL: expected a sqlite:/// or postgresql:// URL, "
                          f"got {without_password(url)!r}")
    return url


# The driver SQLAlchemy loads for each PostgreSQL URL scheme, and the package that provides it.
_POSTGRES_DRIVERS = {"postgresql+psycopg2": ("psycopg2", "psycopg2-binary"),
                     "postgresql+psycopg": ("psycopg", "psycopg[binary]")}


def check_database_driver(database_url: str) -> None:
    """A PostgreSQL URL whose driver is not installed: one line saying what to install, instead
    of SQLAlchemy's traceback from deep inside the app factory."""
    scheme = database_url.split(":", 1)[0]
    module, package = _POSTGRES_DRIVERS.get(scheme, (None, None))
    if module and importlib.util.find_spec(module) is None:
        raise ConfigError(f"HAUL_DATABASE_URL: {scheme}:// needs the {module} driver; "
                          f"install it with `pip install '{package}'` (into .venv/ for make run)")


# libpq's timeouts: a host cut off from the database finds out in seconds, not after TCP's
# retransmissions (~15 min), so a worker's lease monitor can stop its download in time
# (jobs/runner.py FENCE_SECONDS) and the web answers /health instead of hanging.
POSTGRES_CONNECT_ARGS = {"connect_timeout": 5, "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 3,
                         "keepalives_count": 3, "tcp_user_timeout": 10_000, "application_name": "haul"}


def flask_config(settings: Settings) -> dict:
    """The Flask config keys derived from the settings."""
    check_database_driver(settings.database_url)
    engine_options = {}
    if settings.is_sqlite:
        # Several threads (gevent or huey) share the file; the pragmas are set per connection.
        # Imported here: gunicorn's master reads this module for the settings, and SQLAlchemy
        # would add ~15 MB to it (measured with the benchmark's PSS figure).
        from webapp.database import sqlite_connect_args

        engine_options = {"connect_args": {**sqlite_connect_args(), "check_same_thread": False}}
    else:
        engine_options = {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 20,
                          "connect_args": POSTGRES_CONNECT_ARGS}
    return {
        "SECRET_KEY": settings.secret_key,
        "SQLALCHEMY_DATABASE_URI": settings.database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
        # JSON bodies are small; the upload routes raise this for themselves.
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        # "Remember me" keeps a browser signed in this long; a lost phone stays a risk no longer.
        "REMEMBER_COOKIE_DURATION": REMEMBER_ME,
        "WTF_CSRF_TIME_LIMIT": None,
        "RATELIMIT_STORAGE_URI": settings.redis_url or "memory://",
        "RATELIMIT_HEADERS_ENABLED": True,
        "HAUL": settings,
    }
