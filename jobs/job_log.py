"""Each job's own log: what the tools said while it ran, kept per job and saved when the run ends.

A worker runs several jobs at once, one per thread, in one process: the lines must never mix.
Each run gets a `JobLogBuffer`, held in a context variable of the thread that runs it:

- Python logging (gallery-dl logs through it, and so do the runner, net_guard and the engines'
  modules): one handler on the root logger (`_CaptureHandler`) puts each record into the buffer of
  the job whose thread emitted it — the context variable's value there, never another thread's.
- yt-dlp talks to a logger object (YoutubeDL's `logger` param): jobs/engines/ytdlp.py takes the
  buffer with `current()` when the job starts and writes yt-dlp's debug/info/warning/error
  lines into it directly, so lines from yt-dlp's own threads land in the right job too.

A buffer is capped (CAP_BYTES): it keeps the first HEAD_BYTES of lines and the latest ones, with a
"… N lines cut …" line between. When the run ends — whatever its outcome, a retry included —
the run's text is appended to the job's JobLog row (webapp/models/job_log.py) under an "attempt N"
heading, the whole row capped the same way: by `stage`, in the runner's outcome transaction (whoever
sees the outcome sees the log), or by `Capture.finish` for a run whose row the runner did not write.
The app log gets the runner's lines
too (they carry the job id), not every line of the tools.
"""
from __future__ import annotations

import contextvars
import logging
import threading
from collections import deque
from datetime import datetime, timezone

from webapp import app_log
from webapp.extensions import db
from webapp.models import Job
from webapp.models.job_log import JobLog

log = logging.getLogger("jobs.runner")

CAP_BYTES = 64 * 1024  # one run's lines, and the whole row across attempts
HEAD_BYTES = 16 * 1024  # of which the first lines kept when a log is cut
MAX_LINE = 2000  # one line longer than this is cut (a tool dumping a page into its error)
CUT_MARK = "… {} lines cut …"
_MARK_ROOM = 64

_current: contextvars.ContextVar[JobLogBuffer | None] = contextvars.ContextVar("haul_job_log", default=None)
# Loggers whose records are never a job's business, even when its thread emits them.
_NOT_THE_JOBS = ("sqlalchemy", "huey", "alembic", "werkzeug", "PIL")


class JobLogBuffer:
    """One run's lines, capped: the head, the tail, and how many lines were cut between them."""

    def __init__(self, job_id: int, cap: int = CAP_BYTES, head: int = HEAD_BYTES):
        self.job_id = job_id
        self.cap, self.head_cap = cap, head
        self._head: list[str] = []
        self._head_size = 0
        self._tail: deque[str] = deque()
        self._tail_size = 0
        self.cut = 0
        self.attempt = 1
        self.saved = False  # in the job's JobLog row (the outcome's transaction, or Capture.finish)
        self._lock = threading.Lock()  # yt-dlp may call from its fragment threads

    def add(self, level: str, source: str, message: str) -> None:
        """Lines `message` said at `level` (DEBUG, INFO, WARNING, ERROR) by `source` (yt-dlp, haul …)."""
        stamp = datetime.now(timezone.utc).strftime("%H:%M:%S")
        text = app_log.redact(str(message)).rstrip()
        for raw in text.splitlines() or [""]:
            if not raw.strip():
                continue
            line = f"{stamp} {level:<7} {source}: {raw[:MAX_LINE]}"
            self._add_line(line)

    def _add_line(self, line: str) -> None:
        size = len(line.encode("utf-8", "replace")) + 1
        with self._lock:
            if not self._tail and self._head_size + size <= self.head_cap:
                self._head.append(line)
                self._head_size += size
                return
            self._tail.append(line)
            self._tail_size += size
            # Room is kept for the "… N lines cut …" line.
            while self._tail and self._head_size + self._tail_size > self.cap - _MARK_ROOM:
                self._tail_size -= len(self._tail.popleft().encode("utf-8", "replace")) + 1
                self.cut += 1

    @property
    def truncated(self) -> bool:
        return self.cut > 0

    def text(self) -> str:
        with self._lock:
            lines = list(self._head)
            if self.cut:
                lines.append(CUT_MARK.format(self.cut))
            lines.extend(self._tail)
        return "\n".join(lines)


def cap_text(text: str, cap: int = CAP_BYTES, head: int = HEAD_BYTES) -> tuple[str, bool]:
    """`text` (lines) within `cap` bytes the buffer's way: (the text, whether lines were cut)."""
    if len(text.encode("utf-8", "replace")) <= cap:
        return text, False
    buffer = JobLogBuffer(0, cap, head)
    for line in text.splitlines():
        buffer._add_line(line)
    return buffer.text(), True


def current() -> JobLogBuffer | None:
    """The buffer of the job this thread runs now, or None outside a job."""
    return _current.get()


def source_of(logger_name: str, record: logging.LogRecord | None = None) -> str:
    """How a line names who said it: "haul" for Haul's own modules, "gallery-dl" for gallery-dl's."""
    if logger_name.startswith(("jobs", "webapp", "haul")):
        return "haul"
    if record is not None and getattr(record, "job", None) is not None:  # gallery-dl's LoggerAdapter
        return "gallery-dl" if logger_name == "gallery-dl" else f"gallery-dl {logger_name}"
    return logger_name


class _CaptureHandler(logging.Handler):
    """On the root logger: a record emitted in a job's thread goes into that job's buffer."""

    def emit(self, record: logging.LogRecord) -> None:
        buffer = _current.get()
        if buffer is None or record.name.startswith(_NOT_THE_JOBS):
            return
        try:
            message = record.getMessage()
            if record.exc_info:
                exc = record.exc_info[1]
                message += f" ({exc.__class__.__name__}: {exc})"
            buffer.add(record.levelname, source_of(record.name, record), message)
        except Exception:  # never let a log line break a download
            self.handleError(record)


_handler_lock = threading.Lock()


def _install_handler() -> None:
    root = logging.getLogger()
    with _handler_lock:
        if not any(isinstance(h, _CaptureHandler) for h in root.handlers):
            root.addHandler(_CaptureHandler(logging.DEBUG))


class Capture:
    """One run of a job, captured: `start` before the download; `stage` (from the runner's outcome
    transaction) or `finish` after it."""

    def __init__(self, job_id: int, attempt: int, buffer: JobLogBuffer, tokens):
        self.job_id, self.attempt, self.buffer = job_id, attempt, buffer
        self._tokens = tokens

    @classmethod
    def start(cls, job_id: int, attempt: int, max_attempts: int, url: str) -> "Capture":
        _install_handler()
        buffer = JobLogBuffer(job_id)
        buffer.attempt = attempt
        tokens = (_current.set(buffer), app_log.current_job.set(job_id))
        capture = cls(job_id, attempt, buffer, tokens)
        log.info("job %s: attempt %s of %s: %s", job_id, attempt, max_attempts, url)
        return capture

    def engine_started(self, forward):
        """Wrap the runner's `started` callback: each engine that starts says so in the log."""
        def started(name: str) -> None:
            log.info("job %s: downloading with %s", self.job_id, name)
            forward(name)
        return started

    def finish(self, outcome: str, error: str | None = None) -> None:
        """Save this run's lines unless the outcome's transaction did (`stage`: a run whose row
        the runner did not write — a collection's expansion, a job taken over — is saved here,
        in a transaction of its own), and leave the job's context. Never raises: a log that
        cannot be saved must not fail the job."""
        try:
            if not self.buffer.saved:
                _outcome_line(self.job_id, self.attempt, outcome, error)
                job = db.session.get(Job, self.job_id)
                if job is not None:  # deleted while it ran: its log goes with it
                    _append(job, self.buffer)
                db.session.commit()
        except Exception:
            log.exception("job %s: its log could not be saved", self.job_id)
            db.session.rollback()
        finally:
            self.end()

    def end(self) -> None:
        """Leave the job's context (the thread takes other jobs next)."""
        if self._tokens is not None:
            buffer_token, job_token = self._tokens
            self._tokens = None
            try:
                _current.reset(buffer_token)
                app_log.current_job.reset(job_token)
            except ValueError:  # reset from another context: clear instead
                _current.set(None)
                app_log.current_job.set(None)


def stage(job: Job, outcome: str, error: str | None = None) -> None:
    """Add the running job's lines (with its outcome's) to its JobLog row in the caller's
    transaction: whoever sees the outcome sees the log. Nothing outside a captured job."""
    buffer = _current.get()
    if buffer is None or buffer.job_id != job.id or buffer.saved:
        return
    _outcome_line(job.id, buffer.attempt, outcome, error)
    _append(job, buffer)


# Outcomes an admin looking for trouble in the application log wants to find (level WARNING).
_TROUBLE = ("failed", "timeout", "over-limit")


def _outcome_line(job_id: int, attempt: int, outcome: str, error: str | None) -> None:
    level = logging.WARNING if outcome in _TROUBLE else logging.INFO
    log.log(level, "job %s: attempt %s ended: %s%s", job_id, attempt, outcome, f": {error}" if error else "")


def _append(job: Job, buffer: JobLogBuffer) -> None:
    """This run's text under its attempt's heading, after the earlier runs', the row capped."""
    text = f"── attempt {buffer.attempt} ──\n{buffer.text()}"
    if job.status == "queued" and job.not_before is not None:
        text += f"\n… queued again; the next attempt starts after {job.not_before:%H:%M:%S} UTC"
    row = db.session.get(JobLog, job.id)
    if row is None:
        row = JobLog(job_id=job.id, text="", truncated=False)
        db.session.add(row)
    combined = f"{row.text}\n{text}" if row.text else text
    row.text, cut = cap_text(combined)
    row.truncated = bool(row.truncated or cut or buffer.truncated)
    buffer.saved = True
