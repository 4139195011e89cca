"""Reading Haul's application log (webapp/app_log.py): newest first across the processes' files,
filtered and a page at a time; following it live; downloading and clearing it. Admins only: the
callers (the /logs page, /api/v1/logs) check the role.

The files are JSON lines, one file per process role plus its rotated files (haul-web.log, then
haul-web.log.1 … .N, older and older). Nothing here loads a file whole: a page reads each file
backwards in blocks and merges the roles by time, stopping as soon as the page is full, so the
first pages cost a few blocks whatever the files' size (5 roles × 6 files × 5 MB at most).
"""
from __future__ import annotations

import heapq
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from webapp import app_log
from webapp.errors import Invalid

BLOCK = 64 * 1024
MAX_SEARCH = 200
MAX_MODULE = 200
# A live tail reads at most this much new log per poll: a burst is shown in the next polls.
FOLLOW_MAX_BYTES = 1024 * 1024
_LEVEL_RANK = {name: rank for rank, name in enumerate(app_log.LEVELS)}
_MODULE = re.compile(r"^[A-Za-z0-9_.\-]+$")


@dataclass(frozen=True)
class Filters:
    """What an admin narrowed the log to. Every field is optional."""

    level: str | None = None  # this level and above
    module: str | None = None  # a logger name and its children ("jobs" matches "jobs.runner")
    job_id: int | None = None
    q: str = ""  # words the message, module or traceback contain (any case)
    process: str | None = None  # one role's file

    @classmethod
    def parse(cls, level=None, module=None, job_id=None, q=None, process=None) -> "Filters":
        """Checked filters from request values; Invalid (422) names the field that makes no sense."""
        level = (level or "").strip().upper() or None
        if level is not None and level not in _LEVEL_RANK:
            raise Invalid(f"level: expected one of {', '.join(app_log.LEVELS)}", error_code="invalid_filter")
        module = (module or "").strip() or None
        if module is not None and (len(module) > MAX_MODULE or not _MODULE.match(module)):
            raise Invalid("module: a logger name such as jobs.runner", error_code="invalid_filter")
        if job_id in ("", None):
            job_id = None
        else:
            try:
                job_id = int(job_id)
            except (TypeError, ValueError):
                raise Invalid("job_id: expected a whole number", error_code="invalid_filter") from None
            if not 1 <= job_id <= 2**63 - 1:
                raise Invalid("job_id: expected a job's id", error_code="invalid_filter")
        process = (process or "").strip() or None
        if process is not None and process not in app_log.ROLES:
            raise Invalid(f"process: expected one of {', '.join(app_log.ROLES)}", error_code="invalid_filter")
        q = " ".join(str(q or "").split())[:MAX_SEARCH]
        return cls(level, module, job_id, q, process)

    @property
    def narrowed(self) -> bool:
        return any((self.level, self.module, self.job_id, self.q, self.process))

    def query_args(self) -> dict:
        """The filters as query-string values (for links and the live tail's URL)."""
        values = {"level": self.level, "module": self.module, "job_id": self.job_id, "q": self.q or None,
                  "process": self.process}
        return {key: value for key, value in values.items() if value is not None}

    def raw_may_match(self, line: str) -> bool:
        """A cheap look at the raw line before it is parsed: the search words must be in it.
        (JSON escapes non-ASCII and quotes, so a miss here is checked again on the parsed record.)"""
        if not self.q or not line.isascii():
            return True
        lowered = line.lower()
        return all(word.lower() in lowered for word in self.q.split() if word.isascii() and '"' not in word
                   and "\\" not in word)

    def matches(self, record: dict) -> bool:
        if self.level and _LEVEL_RANK.get(record.get("level"), 0) < _LEVEL_RANK[self.level]:
            return False
        if self.module:
            name = str(record.get("module") or "")
            if name != self.module and not name.startswith(self.module + "."):
                return False
        if self.job_id is not None and record.get("job_id") != self.job_id:
            return False
        if self.process and record.get("process") != self.process:
            return False
        if self.q:
            text = " ".join(str(record.get(key) or "") for key in ("message", "module", "traceback")).lower()
            if not all(word.lower() in text for word in self.q.split()):
                return False
        return True


NO_FILTERS = Filters()


def role_files(data_dir: Path, role: str) -> list[Path]:
    """`role`'s files that exist, newest first: the current file, then .1, .2 …"""
    current = app_log.role_file(data_dir, role)
    files = [current] if current.exists() else []
    number = 1
    while True:
        rotated = current.with_name(f"{current.name}.{number}")
        if not rotated.exists():
            break
        files.append(rotated)
        number += 1
    return files


def _parse(line: str) -> dict | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None  # a line cut by a crash, or not ours
    return record if isinstance(record, dict) and isinstance(record.get("time"), str) else None


def _lines_backwards(path: Path) -> Iterator[str]:
    """The file's complete lines, last first, read in BLOCK-sized pieces from its end."""
    try:
        handle = open(path, "rb")
    except OSError:
        return
    with handle:
        handle.seek(0, os.SEEK_END)
        position = handle.tell()
        rest = b""
        while position > 0:
            size = min(BLOCK, position)
            position -= size
            handle.seek(position)
            chunk = handle.read(size) + rest
            lines = chunk.split(b"\n")
            rest = lines.pop(0)  # maybe the end of a line that starts in the block before
            for raw in reversed(lines):
                if raw.strip():
                    yield raw.decode("utf-8", "replace")
        if rest.strip():
            yield rest.decode("utf-8", "replace")


def _lines_forwards(path: Path) -> Iterator[str]:
    try:
        handle = open(path, "rb")
    except OSError:
        return
    with handle:
        for raw in handle:
            if raw.strip():
                yield raw.decode("utf-8", "replace").rstrip("\n")


def _records(lines: Iterable[str], filters: Filters) -> Iterator[dict]:
    for line in lines:
        if not filters.raw_may_match(line):
            continue
        record = _parse(line)
        if record is not None and filters.matches(record):
            yield record


def _roles(filters: Filters) -> tuple[str, ...]:
    return (filters.process,) if filters.process else app_log.ROLES


def newest_first(data_dir: Path, filters: Filters = NO_FILTERS) -> Iterator[dict]:
    """Every matching record, newest first, the roles' files merged by time."""
    streams = []
    for role in _roles(filters):
        lines = (line for path in role_files(data_dir, role) for line in _lines_backwards(path))
        streams.append(_records(lines, filters))
    return heapq.merge(*streams, key=lambda record: record["time"], reverse=True)


def oldest_first(data_dir: Path, filters: Filters = NO_FILTERS) -> Iterator[dict]:
    """Every matching record, oldest first (the download's order)."""
    streams = []
    for role in _roles(filters):
        lines = (line for path in reversed(role_files(data_dir, role)) for line in _lines_forwards(path))
        streams.append(_records(lines, filters))
    return heapq.merge(*streams, key=lambda record: record["time"])


@dataclass
class RecordsPage:
    items: list[dict]
    page: int
    per_page: int
    has_more: bool


def list_records(data_dir: Path, filters: Filters = NO_FILTERS, page: int = 1, per_page: int = 100) -> RecordsPage:
    """One page of the matching records, newest first. Reads only as far as the page needs (plus
    one record, to know whether another page follows); no total is counted."""
    skip = (page - 1) * per_page
    items: list[dict] = []
    has_more = False
    for index, record in enumerate(newest_first(data_dir, filters)):
        if index < skip:
            continue
        if len(items) == per_page:
            has_more = True
            break
        items.append(record)
    return RecordsPage(items, page, per_page, has_more)


def modules(data_dir: Path, limit: int = 2000) -> list[str]:
    """The module names of the latest `limit` records (the page's filter suggests them)."""
    seen = set()
    for index, record in enumerate(newest_first(data_dir)):
        if index >= limit:
            break
        seen.add(str(record.get("module") or ""))
    return sorted(name for name in seen if name)


def as_text(record: dict) -> str:
    """A record as one plain line (the text download): time level process module [job n]: message."""
    context = "".join(f" [{label} {record[key]}]" for key, label in (("job_id", "job"), ("user_id", "user"),
                                                                       ("request_id", "request")) if record.get(key))
    line = (f"{record.get('time')} {record.get('level', ''):<7} {record.get('process', '')} "
            f"{record.get('module', '')}{context}: {record.get('message', '')}")
    if record.get("traceback"):
        line += "\n" + str(record["traceback"])
    return line


def download(data_dir: Path, filters: Filters = NO_FILTERS, fmt: str = "jsonl") -> Iterator[str]:
    """The matching records oldest first as JSON lines ("jsonl") or plain text ("text"), streamed."""
    for record in oldest_first(data_dir, filters):
        if fmt == "text":
            yield as_text(record) + "\n"
        else:
            yield json.dumps(record, ensure_ascii=False) + "\n"


def clear(data_dir: Path) -> int:
    """Empty the log: every role's current file truncated (the processes keep appending to it),
    the rotated files removed. Returns how many bytes were freed."""
    freed = 0
    for role in app_log.ROLES:
        for index, path in enumerate(role_files(data_dir, role)):
            try:
                freed += path.stat().st_size
                if index == 0:
                    os.truncate(path, 0)
                else:
                    path.unlink()
            except FileNotFoundError:
                continue
    return freed


def total_bytes(data_dir: Path) -> int:
    size = 0
    for role in app_log.ROLES:
        for path in role_files(data_dir, role):
            try:
                size += path.stat().st_size
            except OSError:
                pass
    return size


@dataclass
class _Position:
    inode: int
    offset: int
    partial: bytes = b""


@dataclass
class Follower:
    """Follows the roles' current files as they grow (a live tail). `poll()` returns the records
    written since the last poll (or since the follower was made), matching its filters, oldest first.

    A file that was rotated (another inode) or truncated (shorter than the offset) is read again
    from its start."""

    data_dir: Path
    filters: Filters = NO_FILTERS
    _positions: dict = field(default_factory=dict)

    def __post_init__(self):
        for role in _roles(self.filters):
            path = app_log.role_file(self.data_dir, role)
            try:
                stat = path.stat()
                self._positions[role] = _Position(stat.st_ino, stat.st_size)
            except FileNotFoundError:
                self._positions[role] = _Position(0, 0)

    def poll(self) -> list[dict]:
        found: list[dict] = []
        for role, position in self._positions.items():
            found.extend(self._read_new(role, position))
        found.sort(key=lambda record: record["time"])
        return found

    def _read_new(self, role: str, position: _Position) -> list[dict]:
        path = app_log.role_file(self.data_dir, role)
        try:
            stat = path.stat()
        except FileNotFoundError:
            return []
        if stat.st_ino != position.inode or stat.st_size < position.offset:
            position.inode, position.offset, position.partial = stat.st_ino, 0, b""
        if stat.st_size == position.offset:
            return []
        try:
            with open(path, "rb") as handle:
                handle.seek(position.offset)
                data = handle.read(min(stat.st_size - position.offset, FOLLOW_MAX_BYTES))
        except OSError:
            return []
        position.offset += len(data)
        data = position.partial + data
        lines = data.split(b"\n")
        position.partial = lines.pop()  # the start of a line still being written
        return list(_records((raw.decode("utf-8", "replace") for raw in lines if raw.strip()), self.filters))
