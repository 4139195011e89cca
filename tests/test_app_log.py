"""The application log (webapp/app_log.py): JSON records with their fields and context, files that
rotate at their size cap, and no secret in any line."""
from __future__ import annotations

import json
import logging

import pytest

from webapp import app_log


@pytest.fixture
def log_to(tmp_path):
    """Configure the app log for a role into tmp_path; the handler is removed afterwards."""
    handlers = []

    def configure(role="worker", **kwargs):
        handler = app_log.configure(tmp_path, role, "DEBUG", **kwargs)
        handlers.append(handler)
        return handler

    yield configure
    root = logging.getLogger()
    for handler in handlers:
        root.removeHandler(handler)
        handler.close()


def records(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_a_record_is_one_json_line_with_every_field(tmp_path, log_to):
    log_to("worker")
    token = app_log.current_job.set(42)
    try:
        logging.getLogger("jobs.runner").warning("job %s: attempt %s", 42, 1)
    finally:
        app_log.current_job.reset(token)
    [record] = records(app_log.role_file(tmp_path, "worker"))
    assert set(record) >= {"time", "level", "module", "message", "job_id", "user_id", "request_id", "process", "pid"}
    assert record["level"] == "WARNING" and record["module"] == "jobs.runner"
    assert record["message"] == "job 42: attempt 1"
    assert record["job_id"] == 42 and record["user_id"] is None and record["request_id"] is None
    assert record["process"] == "worker" and record["time"].endswith("Z")


def test_each_process_role_writes_a_file_of_its_own(tmp_path, log_to):
    log_to("web")
    logging.getLogger("haul").warning("from the web")
    log_to("worker")  # the same process built again: the handler is replaced, not added
    logging.getLogger("haul").warning("from the worker")
    assert [r["message"] for r in records(tmp_path / "logs" / "haul-web.log")] == ["from the web"]
    assert [r["message"] for r in records(tmp_path / "logs" / "haul-worker.log")] == ["from the worker"]
    assert sum(isinstance(h, app_log.AppLogHandler) for h in logging.getLogger().handlers) == 1


def test_an_exception_is_kept_as_its_traceback(tmp_path, log_to):
    log_to()
    try:
        raise ValueError("broken thing")
    except ValueError:
        logging.getLogger("haul").exception("it failed")
    [record] = records(app_log.role_file(tmp_path, "worker"))
    assert record["level"] == "ERROR" and "ValueError: broken thing" in record["traceback"]


def test_the_files_rotate_at_their_size_cap(tmp_path, log_to):
    log_to(max_bytes=64 * 1024, backups=2)
    for n in range(2000):
        logging.getLogger("haul").warning("line %05d %s", n, "x" * 100)
    folder = tmp_path / "logs"
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["haul-worker.log", "haul-worker.log.1", "haul-worker.log.2"]
    for path in folder.iterdir():
        assert path.stat().st_size <= 64 * 1024
    # the newest lines are in the current file, whole
    assert records(folder / "haul-worker.log")[-1]["message"].startswith("line 01999")


def test_a_request_adds_the_user_and_the_request_id(tmp_path, log_to):
    log_to("web", request_fields=lambda: (7, "req-abc"))
    logging.getLogger("webapp.queue").warning("something happened")
    [record] = records(app_log.role_file(tmp_path, "web"))
    assert record["user_id"] == 7 and record["request_id"] == "req-abc"


@pytest.mark.parametrize("secret_line, secret", [
    ("Authorization: Bearer abcdef0123456789secret", "abcdef0123456789secret"),
    ("calling with bearer tok_987654321zyx", "tok_987654321zyx"),
    ("GET /api/v1/events?token=s3cr3t-token-value&x=1", "s3cr3t-token-value"),
    ("login form password=hunter2hunter2 sent", "hunter2hunter2"),
    ('{"username": "bob", "password": "correct horse"}', "correct"),
    ("Cookie: session=abcdef; remember_token=xyz", "abcdef"),
    ("fetching https://bob:pa55word@example.com/feed", "pa55word"),
    ("guest opened http://haul/i/Abc123DefGhi456jkl", "Abc123DefGhi456jkl"),
    ("api_key: 0123456789abcdef", "0123456789abcdef"),
])
def test_secrets_are_redacted(tmp_path, log_to, secret_line, secret):
    assert secret not in app_log.redact(secret_line)
    assert "[redacted]" in app_log.redact(secret_line)
    log_to()
    logging.getLogger("haul").warning("%s", secret_line)
    text = app_log.role_file(tmp_path, "worker").read_text()
    assert secret not in text and "[redacted]" in text


def test_redaction_leaves_ordinary_lines_alone():
    line = "job 12: attempt 2 of 3: http://127.0.0.1:8000/video/clip (yt-dlp) failed: HTTP Error 500"
    assert app_log.redact(line) == line


def test_a_secret_in_a_traceback_is_redacted_too(tmp_path, log_to):
    log_to()
    try:
        raise RuntimeError("connect failed for https://u:topsecretpw@host/x")
    except RuntimeError:
        logging.getLogger("haul").exception("oops")
    text = app_log.role_file(tmp_path, "worker").read_text()
    assert "topsecretpw" not in text


def test_the_app_factory_writes_its_roles_file(settings):
    from webapp import create_app

    create_app(settings, role="worker")
    logging.getLogger("jobs.worker").warning("worker says hello")
    path = app_log.role_file(settings.data_dir, "worker")
    assert any(r["message"] == "worker says hello" for r in records(path))
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, app_log.AppLogHandler)]:
        root.removeHandler(handler)
        handler.close()


def test_the_size_settings_are_checked():
    from webapp.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="HAUL_LOG_MAX_BYTES"):
        load_settings({"HAUL_LOG_MAX_BYTES": "12"}, env_file=None)
    with pytest.raises(ConfigError, match="HAUL_LOG_BACKUPS"):
        load_settings({"HAUL_LOG_BACKUPS": "zero"}, env_file=None)
