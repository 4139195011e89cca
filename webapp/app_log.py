"""Haul's own application log: structured JSON lines in rotating, size-capped files in the data dir.

Every process builds its app with `create_app()`, which calls `configure()` for its role. Each
record is one JSON object on one line:

    {"time": "2026-12-05T01:30:00.123Z", "level": "INFO", "module": "jobs.runner",
     "message": "…", "job_id": 12, "user_id": 3, "request_id": "9f…", "process": "worker", "pid": 4711}

(`traceback` is added when the record carries an exception.) The job id comes from
`current_job`, a context variable the worker's runner sets while a job runs; the user and
request ids from the request being served, through the `request_fields` function the app
factory hands in (this module sits in the foundation and never imports the web's modules).

ONE FILE PER PROCESS ROLE (logs/haul-web.log, haul-worker.log, haul-cli.log, haul-launcher.log):
Python's RotatingFileHandler is not safe when several processes write and rotate one file — each
renames the file under the others, and lines are lost or written into the rotated file. One
writer per file keeps rotation correct; the reader (webapp/services/admin/app_logs.py) merges the
files by time. (Two workers started by hand on one data dir, or two `flask` commands at once,
still share a file; rare, and at worst a rotation loses a few lines.)

Secrets never reach a log line: `redact()` rewrites the obvious forms (a bearer token, a
`?token=` or `password=` value, an Authorization or Cookie header, a password in a URL, an
invite link's token) in every record before any handler formats it.
"""
from __future__ import annotations

import contextvars
import json
import logging
import logging.handlers
import os
import re
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

# Processes that write a log file of their own (see the module's docstring for why per role).
ROLES = ("web", "worker", "cli", "launcher")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_DIR_NAME = "logs"

# The job the current thread (or greenlet) works on: set by jobs/job_log.py around each run.
current_job: contextvars.ContextVar[int | None] = contextvars.ContextVar("haul_current_job", default=None)


def log_dir(data_dir: Path) -> Path:
    return Path(data_dir) / LOG_DIR_NAME


def role_file(data_dir: Path, role: str) -> Path:
    """The current (not yet rotated) file of `role`; its rotated files add .1 (newer) … .N (older)."""
    return log_dir(data_dir) / f"haul-{role}.log"


def file_role(role: str) -> str:
    """The file a process role writes: in-process tests write as the web does."""
    return role if role in ROLES else "web"


# -- redaction -----------------------------------------------------------------------------------

_REDACTED = "[redacted]"
_SECRET_WORDS = r"(?:password|passwd|passphrase|secret|token|access_token|refresh_token|api_key|apikey|setup_code)"
_PATTERNS = (
    # Authorization: Bearer abc…  /  "Bearer abc…" anywhere
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}"), r"\1 " + _REDACTED),
    # ?token=…, &password=… in a URL or a form body
    (re.compile(rf"(?i)([?&;]{_SECRET_WORDS}=)[^&\s#\"'<>]+"), r"\1" + _REDACTED),
    # password=…, token: …, "secret": "…" in free text or JSON
    (re.compile(rf"(?i)(\b{_SECRET_WORDS}\"?\s*[=:]\s*\"?)(?!\[redacted\])[^\s&,;\"'<>]+"), r"\1" + _REDACTED),
    # a header line with a credential
    (re.compile(r"(?i)\b((?:set-)?cookie|authorization|x-api-key)(\s*[:=]\s*)[^\n]+"), r"\1\2" + _REDACTED),
    # scheme://user:password@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@\s/]+@"), r"\1" + _REDACTED + "@"),
    # an invite link: /i/<token> is a key to someone's uploads
    (re.compile(r"(/i/)[A-Za-z0-9_-]{8,}"), r"\1" + _REDACTED),
)


def redact(text: str) -> str:
    """`text` with the obvious secrets replaced by [redacted]."""
    if not text:
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Replaces a record's message (and its traceback text) by its redacted form, once, before any
    handler formats it. The record is shared by every handler: the console gets the same text."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_haul_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: let logging report it as it always does
            return True
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        record._haul_redacted = True
        return True


# -- context and format ------------------------------------------------------------------------


class ContextFilter(logging.Filter):
    """Adds job_id, user_id and request_id to each record (None where there is none)."""

    def __init__(self, request_fields: Callable[[], tuple[int | None, str | None]] | None = None):
        super().__init__()
        self.request_fields = request_fields

    def filter(self, record: logging.LogRecord) -> bool:
        record.job_id = current_job.get()
        user_id = request_id = None
        if self.request_fields is not None:
            try:
                user_id, request_id = self.request_fields()
            except Exception:  # outside a request, or the request is half torn down
                pass
        record.user_id, record.request_id = user_id, request_id
        return True


class JsonFormatter(logging.Formatter):
    """One record as one line of JSON with the fields of the module's docstring."""

    def __init__(self, role: str):
        super().__init__()
        self.role = role

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds")
                    .replace("+00:00", "Z"),
            "level": record.levelname,
            "module": record.name,
            "message": record.getMessage(),
            "job_id": getattr(record, "job_id", None),
            "user_id": getattr(record, "user_id", None),
            "request_id": getattr(record, "request_id", None),
            "process": self.role,
            "pid": record.process,
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(self.formatException(record.exc_info))
        if record.exc_text:
            entry["traceback"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


class AppLogHandler(logging.handlers.RotatingFileHandler):
    """The rotating JSON-lines file of one process role (a class of its own so `configure` finds
    and replaces it when an app is built again in the same process, as the tests do)."""


def configure(data_dir: Path, role: str, level: str = "INFO", max_bytes: int = 5 * 1024 * 1024,
              backups: int = 5, request_fields=None) -> AppLogHandler | None:
    """Send the process's log records, redacted and with their context, to its role's file too.

    The console handler `logging.basicConfig` set up stays as it was (it gets the redaction).
    Returns the handler, or None when the folder cannot be written (the console still logs)."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, AppLogHandler)]:
        root.removeHandler(handler)
        handler.close()
    redacting = RedactingFilter()
    for handler in root.handlers:  # the console: no secrets there either
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(redacting)
    if role == "worker" and root.getEffectiveLevel() > logging.INFO:
        # Each job's own log (jobs/job_log.py) keeps the INFO lines of its tools and of the runner
        # whatever HAUL_LOG_LEVEL says: the root logger lets them through, and the handlers keep
        # the level they had (the console shows what it always showed).
        for handler in root.handlers:
            if handler.level == logging.NOTSET:
                handler.setLevel(root.getEffectiveLevel())
        root.setLevel(logging.INFO)
    path = role_file(data_dir, file_role(role))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)  # what people did and which jobs ran: the admin's to read
        handler = AppLogHandler(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8", delay=True)
    except OSError as exc:
        logging.getLogger(__name__).warning("no application log file in %s: %s", path.parent, exc.strerror)
        return None
    handler.setLevel(level)
    handler.addFilter(redacting)
    handler.addFilter(ContextFilter(request_fields))
    handler.setFormatter(JsonFormatter(file_role(role)))
    root.addHandler(handler)
    return handler


def file_logger(name: str) -> logging.Logger:
    """A logger whose records go to this process's log file only, not the console: for lines the
    process prints itself already (the launcher's supervision lines)."""
    logger = logging.getLogger(name)
    logger.propagate = False
    for handler in logging.getLogger().handlers:
        if isinstance(handler, AppLogHandler) and handler not in logger.handlers:
            logger.addHandler(handler)
    return logger
