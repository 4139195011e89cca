"""The library rescan: the storage root held against the file records, both ways.

* A recorded file missing from disk gets `JobFile.gone_at` (the history says so); one that is
  back loses it.
* A file on disk that no record names (from an older install, or copied in) becomes an
  *imported* download: a completed job with `source = import`, `engine = import`, its files with
  sha256, size, MIME and kind, its title and metadata from an adjacent `*.info.json` (else the
  file name), and a media file's duration from ffprobe when the info.json has none.

Who runs it: an admin from Settings or `POST /api/v1/library/rescan` (the worker runs it, see
jobs/library_rescan.py), or `flask --app wsgi library rescan`, which runs it in its own process.
One at a time: the rescan's state is one `settings` row (`library_rescan`), claimed by a
compare-and-set, so a second request while one runs is refused (409 `rescan_running`); a rescan
whose runner died without a word is taken as interrupted once its heartbeat is old.

Safe while downloads run:

* a file changed in the last SETTLE_SECONDS (its mtime or ctime; a rename into the library
  sets the ctime) is left for the next scan, as are downloaders' partial files (`.part`,
  `.ytdl`, yt-dlp's `.temp.` and fragment files) and hidden files, which Haul never writes;
* a folder under the base folder of a job downloading right now is left alone: the runner
  hashes and records a job's files only when it ends, so until then they are on disk unrecorded;
* every import is written in a short transaction that takes the write lock *first* and then
  looks again — which paths are recorded now, which jobs are downloading now, whether the file
  is unchanged since it was hashed — so a job completing meanwhile is never recorded twice.

Hashing and ffprobe happen outside any transaction; each transaction writes at most
BATCH_FILES files (docs/architecture.md, "The web process and SQLite locks"). Memory stays
bounded for any library size: the records are read a page at a time by id, the disk is walked a
folder at a time (the largest folder's names are the most held at once), and which files are
known is asked per batch.

Decisions:

* **One job per folder**, as Haul lays out one item per resource folder
  (`<post_title>/<domain>/<resource-id>/`). A folder holding several videos or songs (an old
  flat layout, an album) gives one job per video or song, each with the files named after it
  (`name.en.srt`, `name.info.json`, `name.jpg`); what no video claims is one more job. No job
  holds more than MAX_FILES_PER_JOB files (a huge gallery folder is split).
* **Duplicates are recorded.** A file whose content is already in the library under another
  path is still a file on disk: it is recorded (counted as `duplicate_files`), so that it can be
  found, served, marked gone and deleted like any other. Identical content is the library's
  dedupe concern (uploads refuse it), not the rescan's: deleting either copy is the admin's call.
* **Symbolic links are never followed.** A link inside the root is a second name for a file
  recorded under its own path; one pointing out of it must never be read. Every folder and file
  is also checked with `inside_root`, and files are opened with O_NOFOLLOW.
* **Owner**: the admin who asked; from the CLI nobody (the history shows such jobs to admins
  only, as it does a deleted user's). Imported jobs are marked cleared: they were never in the
  queue, so they appear in the history, not on the queue page; no per-job events are published
  (thousands of imports would flood every open queue page), only the rescan's own.
"""
from __future__ import annotations

import hashlib
import json
import logging
import mimetypes
import os
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from webapp.core import item_metadata
from webapp.core.file_kinds import file_kind
from webapp.core.paths import (
    UnsafePath,
    inside_root,
    job_directory,
    relative_to_root,
    sanitize_component,
)
from webapp.core.vocabulary import (
    ADMIN_TRUST,
    AUDIO_FILE,
    DOWNLOADING,
    IMPORT,
    IMPORT_ENGINE,
    ITEM,
    QUEUED,
)
from webapp.errors import Conflict, HaulError
from webapp.extensions import db
from webapp.models import Job, JobFile, JobMetadata, Setting, Submission
from webapp.models.base import isoformat, utcnow
from webapp.models.job import Outcome
from webapp.services.library.files import file_on_disk
from webapp.services.queue import dispatch, events

log = logging.getLogger(__name__)

KEY = "library_rescan"  # the settings row holding the current (or last) rescan

# A rescan's status.
QUEUED_STATUS, RUNNING, COMPLETED, FAILED, INTERRUPTED = QUEUED, "running", "completed", "failed", "interrupted"
NEVER = "never"  # GET before the first rescan
STATUSES = (NEVER, QUEUED_STATUS, RUNNING, COMPLETED, FAILED, INTERRUPTED)
ACTIVE = (QUEUED_STATUS, RUNNING)

SETTLE_SECONDS = 10.0  # a file changed more recently than this may still be being written
BATCH_FILES = 200  # files imported per transaction
CHECK_FILES = 1000  # files on disk held against the records per query
RECORDS_PAGE = 500  # file records checked per transaction
MAX_FILES_PER_JOB = 500
PROGRESS_EVERY_SECONDS = 1.0  # progress events (and the CLI's lines) at most this often
# A running rescan writes its heartbeat with every batch, and every BEAT_SECONDS while it hashes.
# A queued one may wait for a worker thread busy with a download.
STALE_RUNNING = timedelta(minutes=5)
BEAT_SECONDS = 30.0  # a rescan busy hashing says it is alive at least this often
STALE_QUEUED = timedelta(minutes=30)
MAX_PROBLEMS = 20  # the first errors kept with the result (path and why)
MAX_INFO_JSON_BYTES = 16 * 1024 * 1024
PARTIAL_SUFFIXES = (".part", ".ytdl", ".temp", ".tmp", ".crdownload")

COUNTS = ("scanned", "known", "imported_jobs", "imported_files", "duplicate_files", "gone", "back", "skipped",
          "errors")

DurationProbe = Callable[[Path], "float | None"]


class _Superseded(Exception):
    """This rescan is no longer the current one (judged dead and replaced): stop quietly."""


# -- the state row -----------------------------------------------------------------------------------

def _stored() -> tuple[dict | None, datetime | None]:
    row = db.session.execute(select(Setting.value, Setting.updated_at).where(Setting.key == KEY)).first()
    if row is None or not isinstance(row.value, dict):
        return None, (row.updated_at if row is not None else None)
    return dict(row.value), row.updated_at


def _effective(value: dict | None, now: datetime | None = None) -> dict:
    """The stored state as it stands: a queued or running rescan whose runner went silent too
    long is reported interrupted."""
    if not value:
        return {"id": None, "status": NEVER, "counts": {name: 0 for name in COUNTS}, "problems": []}
    value = dict(value)
    now = now or utcnow()
    if value.get("status") in ACTIVE:
        if value["status"] == RUNNING:
            beat, limit, why = value.get("heartbeat_at"), STALE_RUNNING, "stopped answering"
        else:
            beat, limit, why = value.get("requested_at"), STALE_QUEUED, "was never started by a worker"
        try:
            last = datetime.fromisoformat(beat) if beat else None
        except ValueError:
            last = None
        if last is None or now - last > limit:
            value["status"] = INTERRUPTED
            value["error"] = f"The rescan {why}; start it again."
    return value


def current() -> dict:
    """The current or last rescan: status, counts, who asked and when (for the API and the page)."""
    value, _ = _stored()
    state = _effective(value)
    state["running"] = state["status"] in ACTIVE
    return state


def begin(user_id: int | None, username: str | None, via: str) -> dict:
    """Claim the rescan for a new run (queued); Conflict `rescan_running` while one runs.

    A compare-and-set on the row's `updated_at`: of two requests at once, one wins."""
    now = utcnow()
    value, version = _stored()
    state = _effective(value, now)
    if state["status"] in ACTIVE:
        db.session.rollback()
        raise _running(state)
    new = {
        "id": int((value or {}).get("id") or 0) + 1, "status": QUEUED_STATUS, "via": via,
        "requested_by": {"id": user_id, "username": username} if user_id is not None else None,
        "requested_at": isoformat(now), "started_at": None, "finished_at": None, "heartbeat_at": None,
        "phase": None, "counts": {name: 0 for name in COUNTS}, "elapsed_seconds": 0.0, "problems": [],
        "error": None,
    }
    if version is None:
        db.session.add(Setting(key=KEY, value=new, updated_at=now))
        try:
            db.session.flush()
        except IntegrityError:
            db.session.rollback()
            raise _running(current()) from None
    else:
        done = db.session.execute(update(Setting).where(Setting.key == KEY, Setting.updated_at == version)
                                  .values(value=new, updated_at=now))
        if done.rowcount != 1:  # another request claimed it between the read and the write
            db.session.rollback()
            raise _running(current())
    events.publish_queue(events.RESCAN_PROGRESS, **_public(new))
    db.session.commit()
    return _public(new)


def request(user_id: int | None, username: str | None, via: str) -> dict:
    """An admin asks for a rescan (the Settings button, the API): claimed, then handed to a worker
    (dispatch.WorkerQueue). Conflict `rescan_running` while one runs; 503 when the worker's queue
    cannot be reached (the claim is then given up)."""
    state = begin(user_id, username, via)
    try:
        dispatch.rescan_library_later(state["id"])
    except Exception:
        log.exception("could not hand library rescan %s to the worker", state["id"])
        abandon(state["id"], "The worker's queue could not be reached.")
        raise HaulError("The worker's queue could not be reached; try again", error_code="worker_unavailable",
                        status=503) from None
    return current()


def _running(state: dict) -> Conflict:
    return Conflict(f"A library rescan is already running (#{state.get('id')}); wait for it to finish",
                    error_code="rescan_running", extra={"rescan": _public(state)})


def abandon(rescan_id: int, error: str, status: str = FAILED) -> None:
    """End a queued or running rescan that cannot go on (it could not be handed to a worker, or
    the command running it was stopped); what it recorded stays."""
    db.session.rollback()
    value, _ = _stored()
    if value and value.get("id") == rescan_id and value.get("status") in ACTIVE:
        value.update(status=status, error=error, finished_at=isoformat(utcnow()))
        db.session.execute(update(Setting).where(Setting.key == KEY).values(value=value, updated_at=utcnow()))
        events.publish_queue(events.RESCAN_FINISHED, **_public(value))
    db.session.commit()


def _public(value: dict) -> dict:
    state = dict(value)
    state["running"] = state.get("status") in ACTIVE
    return state


# -- what is on disk -----------------------------------------------------------------------------------

def is_partial(name: str) -> bool:
    """A downloader's unfinished file: `x.part`, `x.ytdl`, `x.part-Frag3`, yt-dlp's `x.temp.mp4`."""
    lower = name.lower()
    if lower.endswith(PARTIAL_SUFFIXES) or ".part-frag" in lower:
        return True
    return any(part in ("temp", "part") for part in lower.split(".")[1:-1])


@dataclass
class _File:
    name: str
    path: str  # relative to the storage root
    size: int
    mtime_ns: int
    sha256: str = ""
    mime: str | None = None
    kind: str = ""


@dataclass
class _Item:
    """The unknown files of one folder that become one imported job."""

    folder: str  # relative to the storage root ("" for the root itself)
    files: list[_File]
    title: str
    fields: dict = field(default_factory=dict)  # webapp/core/item_metadata.py's fields


def _is_av(name: str) -> bool:
    mime = mimetypes.guess_type(name.lower())[0] or ""
    return mime.startswith("video/") or file_kind(name) == AUDIO_FILE


def group_folder(names: list[str]) -> list[list[str]]:
    """The names of one folder's unknown files, grouped into jobs (see the module's decisions)."""
    names = sorted(names)
    media = [name for name in names if _is_av(name)]
    if len(media) <= 1:
        groups = [names]
    else:
        stems = {PurePosixPath(name).stem: [name] for name in media}
        rest = []
        for name in names:
            if name in media:
                continue
            owner = max((stem for stem in stems if name.startswith(stem + ".")), key=len, default=None)
            (stems[owner] if owner is not None else rest).append(name)
        groups = [*stems.values(), *([rest] if rest else [])]
    return [group[start:start + MAX_FILES_PER_JOB] for group in groups if group
            for start in range(0, len(group), MAX_FILES_PER_JOB)]


def _open_nofollow(path: Path):
    return os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb")


def read_info_json(path: Path) -> dict | None:
    """An info.json's fields (webapp/core/item_metadata.py), or None when it is not one we can read."""
    try:
        with _open_nofollow(path) as fh:
            raw = fh.read(MAX_INFO_JSON_BYTES + 1)
    except OSError:
        return None
    if len(raw) > MAX_INFO_JSON_BYTES:
        return None
    try:
        info = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(info, dict):
        return None
    return item_metadata.from_ytdlp(info) if "extractor" in info or "webpage_url" in info or "duration" in info \
        else item_metadata.from_gallery_dl(info)


def sha256_of(path: Path, tick: Callable[[], None] = lambda: None) -> str:
    """The file's SHA-256, read through O_NOFOLLOW (a file swapped for a link since its folder was
    listed is not read through it); `tick()` every 64 MiB, so a long hash can say it is alive."""
    digest = hashlib.sha256()
    with _open_nofollow(path) as fh:
        for number, block in enumerate(iter(lambda: fh.read(1024 * 1024), b""), start=1):
            digest.update(block)
            if number % 64 == 0:
                tick()
    return digest.hexdigest()


# -- the rescan ----------------------------------------------------------------------------------------

class _Scan:
    def __init__(self, rescan_id: int, *, duration_of: DurationProbe | None, should_stop: Callable[[], bool],
                 on_imported: Callable[[list[int]], None] | None, on_progress: Callable[[dict], None] | None):
        settings = current_app.config["HAUL"]
        self.id = rescan_id
        self.root = Path(settings.storage_root).resolve()
        data_dir = Path(settings.data_dir).resolve()
        # The data dir inside the library (a setup that put it there) holds Haul's own files.
        self.excluded = {data_dir} if self.root in data_dir.parents else set()
        self.duration_of = duration_of
        self.should_stop = should_stop
        self.on_imported = on_imported
        self.on_progress = on_progress
        self.counts = {name: 0 for name in COUNTS}
        self.problems: list[dict] = []
        self.phase = "records"
        self.started = time.monotonic()
        self.last_progress = self.last_saved = 0.0
        self.published = False  # the transaction being written carries a progress event
        self.pending: list[_Item] = []  # described, to record in the next batch
        self.pending_files = 0
        self.candidates: list[tuple[Path, dict[str, _File], list[str]]] = []  # settled, not yet held to the records
        self.candidate_files = 0
        self.state: dict = {}
        self.stopped = False

    # -- the state row, within each write transaction --

    def _lock(self) -> dict:
        """Take the write lock (the row's update comes first), then read the state: still ours?"""
        db.session.execute(update(Setting).where(Setting.key == KEY).values(updated_at=utcnow()))
        value, _ = _stored()
        if not value or value.get("id") != self.id or value.get("status") != RUNNING:
            db.session.rollback()
            raise _Superseded()
        return value

    def _save(self, value: dict, *, status: str | None = None, error: str | None = None,
              finished: bool = False, force_event: bool = False) -> dict:
        now = utcnow()
        value = dict(value)
        value.update(counts=dict(self.counts), problems=list(self.problems), phase=self.phase,
                     heartbeat_at=isoformat(now), elapsed_seconds=round(time.monotonic() - self.started, 2))
        if status is not None:
            value["status"] = status
        if error is not None:
            value["error"] = error
        if finished:
            value["finished_at"] = isoformat(now)
        db.session.execute(update(Setting).where(Setting.key == KEY).values(value=value, updated_at=now))
        self.last_saved = time.monotonic()
        if finished or force_event or self.last_saved - self.last_progress >= PROGRESS_EVERY_SECONDS:
            self.last_progress = self.last_saved
            events.publish_queue(events.RESCAN_FINISHED if finished else events.RESCAN_PROGRESS, **_public(value))
            self.published = True
        self.state = value
        return value

    def _commit(self) -> None:
        """Commit, then tell the CLI what the committed event told the streams."""
        db.session.commit()
        if self.published and self.on_progress is not None:
            self.on_progress(_public(self.state))
        self.published = False

    def beat(self) -> None:
        """Say it is alive (and how far it got) when it has not for BEAT_SECONDS: a long hash."""
        if time.monotonic() - self.last_saved >= BEAT_SECONDS:
            self._save(self._lock())
            self._commit()

    def start(self) -> bool:
        """Queued → running, when this rescan is still the one asked for."""
        now = utcnow()
        db.session.execute(update(Setting).where(Setting.key == KEY).values(updated_at=now))
        value, _ = _stored()
        if not value or value.get("id") != self.id or value.get("status") != QUEUED_STATUS:
            db.session.rollback()
            return False
        value.update(status=RUNNING, started_at=isoformat(now))
        self._save(value, force_event=True)
        self._commit()
        return True

    def finish(self, status: str, error: str | None = None) -> dict | None:
        try:
            value = self._lock()
        except _Superseded:
            return None
        value = self._save(value, status=status, error=error, finished=True)
        self._commit()
        return _public(value)

    def problem(self, path: str, detail: str) -> None:
        self.counts["errors"] += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append({"path": path, "detail": detail[:300]})

    def _stop_asked(self) -> bool:
        if not self.stopped and self.should_stop():
            self.stopped = True
        return self.stopped

    # -- pass 1: every record against the disk --

    def check_records(self) -> None:
        after = 0
        while not self._stop_asked():
            rows = db.session.execute(select(JobFile.id, JobFile.path, JobFile.gone_at).where(JobFile.id > after)
                                      .order_by(JobFile.id).limit(RECORDS_PAGE)).all()
            db.session.rollback()  # no read transaction held while the disk is asked
            if not rows:
                return
            after = rows[-1].id
            gone, back = [], []
            for row in rows:
                present = file_on_disk(self.root, row.path) is not None
                if not present and row.gone_at is None:
                    gone.append(row.id)
                elif present and row.gone_at is not None:
                    back.append(row.id)
            value = self._lock()
            now = utcnow()
            if gone:
                self.counts["gone"] += db.session.execute(
                    update(JobFile).where(JobFile.id.in_(gone), JobFile.gone_at.is_(None)).values(gone_at=now)
                ).rowcount or 0
            if back:
                self.counts["back"] += db.session.execute(
                    update(JobFile).where(JobFile.id.in_(back), JobFile.gone_at.is_not(None)).values(gone_at=None)
                ).rowcount or 0
            self._save(value)
            self._commit()

    # -- pass 2: the disk against the records --

    def walk(self) -> None:
        self.phase = "files"
        stack = [self.root]
        while stack and not self._stop_asked():
            folder = stack.pop()
            try:
                inside_root(self.root, folder)
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except (OSError, UnsafePath) as exc:
                self.problem(self._relative(folder), f"could not list the folder: {exc}")
                continue
            subfolders, files = [], []
            for entry in entries:
                self._sort_entry(entry, subfolders, files)
            if files:
                self._folder(folder, files, [entry.name for entry in entries])
            stack.extend(reversed(subfolders))
            self.beat()
        if not self._stop_asked():
            self._sift()
            self.flush()

    def _relative(self, path: Path) -> str:
        try:
            return Path(path).relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def _sort_entry(self, entry: os.DirEntry, subfolders: list, files: list) -> None:
        try:
            if entry.is_symlink():
                if not entry.is_dir():  # a linked folder is not walked, and nothing in it counted
                    self.counts["scanned"] += 1
                    self.counts["skipped"] += 1
                return
            if entry.is_dir(follow_symlinks=False):
                path = Path(entry.path)
                if not entry.name.startswith(".") and path.resolve() not in self.excluded:
                    subfolders.append(path)
                return
            if not entry.is_file(follow_symlinks=False):
                return  # sockets, fifos, devices: not library files
            self.counts["scanned"] += 1
            if entry.name.startswith(".") or is_partial(entry.name):
                self.counts["skipped"] += 1
                return
            files.append(entry)
        except OSError as exc:
            self.problem(self._relative(Path(entry.path)), str(exc))

    def _folder(self, folder: Path, entries: list[os.DirEntry], neighbours: list[str]) -> None:
        """One folder's settled files, gathered to be held against the records with other folders'."""
        now = time.time()
        settled: dict[str, _File] = {}
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError as exc:
                self.problem(self._relative(Path(entry.path)), str(exc))
                continue
            if max(info.st_mtime, info.st_ctime) > now - SETTLE_SECONDS:
                self.counts["skipped"] += 1  # maybe still being written or moved in: next time
                continue
            relative = self._relative(Path(entry.path))
            settled[relative] = _File(entry.name, relative, info.st_size, info.st_mtime_ns)
        if not settled:
            return
        self.candidates.append((folder, settled, neighbours))
        self.candidate_files += len(settled)
        if self.candidate_files >= CHECK_FILES:
            self._sift()

    def _sift(self) -> None:
        """The gathered folders' unknown files, described (hashed, probed) and queued for the next batch.

        Which files are known is asked for many folders at once: the paths have no index of
        their own, so each question reads the file records once."""
        candidates, self.candidates, self.candidate_files = self.candidates, [], 0
        if not candidates:
            return
        known = _recorded(path for _, settled, _ in candidates for path in settled)
        running = _running_folders(self.root)
        db.session.rollback()  # no read transaction held while hashing
        for folder, settled, neighbours in candidates:
            folder_relative = self._relative(folder) if folder != self.root else ""
            unknown = [described for path, described in settled.items() if path not in known]
            self.counts["known"] += len(settled) - len(unknown)
            if not unknown:
                continue
            if _under_any(folder_relative, running):
                self.counts["skipped"] += len(unknown)  # a download is writing here: its runner records them
                continue
            by_name = {described.name: described for described in unknown}
            for names in group_folder(list(by_name)):
                if self._stop_asked():
                    return
                item = self._describe(folder, folder_relative, [by_name[name] for name in names], neighbours)
                if item is not None:
                    self.pending.append(item)
                    self.pending_files += len(item.files)
                if self.pending_files >= BATCH_FILES:
                    self.flush()

    def _describe(self, folder: Path, folder_relative: str, files: list[_File], neighbours: list[str]) -> _Item | None:
        described = []
        for file in files:
            path = folder / file.name
            if self._stop_asked():
                return None
            try:
                inside_root(self.root, path)
                file.sha256 = sha256_of(path, tick=self.beat)
            except (OSError, UnsafePath) as exc:
                self.problem(file.path, f"could not read the file: {exc}")
                continue
            file.mime = mimetypes.guess_type(file.name)[0]
            file.kind = file_kind(file.name, neighbours)
            described.append(file)
        if not described:
            return None
        infos = [f for f in described if f.name.lower().endswith(".info.json")]
        media = [f for f in described if _is_av(f.name)]
        fields: dict = {}
        if infos:
            main_stem = PurePosixPath(media[0].name).stem if media else None
            chosen = next((f for f in infos if main_stem and f.name == f"{main_stem}.info.json"), infos[0])
            fields = read_info_json(folder / chosen.name) or {}
        if media and fields.get("duration") is None and self.duration_of is not None:
            duration = self.duration_of(folder / media[0].name)
            if duration is not None:
                fields["duration"] = duration
        if fields.get("title"):
            title = fields["title"]
        elif len(described) == 1 or media:
            title = PurePosixPath((media or described)[0].name).stem
        else:
            title = PurePosixPath(folder_relative).name or described[0].name
        return _Item(folder_relative, described, str(title)[:500], fields)

    def flush(self) -> None:
        """Record the pending items in one transaction, after looking again under the write lock."""
        if not self.pending:
            return
        items, self.pending, self.pending_files = self.pending, [], 0
        value = self._lock()
        paths = {f.path: f for item in items for f in item.files}
        known = _recorded(paths)
        running = _running_folders(self.root)
        seen_hashes = _known_hashes({f.sha256 for f in paths.values()})
        user = (value.get("requested_by") or {}).get("id")
        via = value.get("via") or "cli"
        job_ids = []
        for item in items:
            if _under_any(item.folder, running):
                self.counts["skipped"] += len(item.files)
                continue
            files = []
            for f in item.files:
                if f.path in known:
                    self.counts["known"] += 1  # its job recorded it meanwhile
                elif not self._unchanged(f):
                    self.counts["skipped"] += 1  # changed or gone since it was hashed: next time
                else:
                    files.append(f)
            if not files:
                continue
            self.counts["duplicate_files"] += sum(1 for f in files if f.sha256 in seen_hashes)
            seen_hashes.update(f.sha256 for f in files)
            job_ids.append(_record(item, files, user, via, self.id))
            self.counts["imported_jobs"] += 1
            self.counts["imported_files"] += len(files)
        self._save(value)
        self._commit()  # the session holds committed rows weakly: memory stays one batch deep
        if job_ids and self.on_imported is not None:
            try:
                self.on_imported(job_ids)
            except Exception:  # thumbnails are a nicety: the files are recorded
                log.exception("could not ask for the thumbnails of imported jobs")

    def _unchanged(self, f: _File) -> bool:
        try:
            info = os.lstat(self.root / f.path)
        except OSError:
            return False
        return stat.S_ISREG(info.st_mode) and info.st_size == f.size and info.st_mtime_ns == f.mtime_ns


def _recorded(paths: Iterable[str]) -> set[str]:
    """Which of `paths` a file record names (asked in chunks: SQLite's bound parameters are limited)."""
    paths = list(paths)
    known: set[str] = set()
    for start in range(0, len(paths), CHECK_FILES):
        chunk = paths[start:start + CHECK_FILES]
        known.update(db.session.scalars(select(JobFile.path).where(JobFile.path.in_(chunk))))
    return known


def _known_hashes(hashes: set[str]) -> set[str]:
    listed = list(hashes)
    found: set[str] = set()
    for start in range(0, len(listed), 500):
        found.update(db.session.scalars(select(JobFile.sha256).where(JobFile.sha256.in_(listed[start:start + 500]))
                                        .distinct()))
    return found


def _running_folders(root: Path) -> set[str]:
    """The base folders (relative to the root) of the jobs downloading now: where their files land
    before the runner records them (jobs/runner.py, as it computes `base_dir`)."""
    rows = db.session.execute(
        select(Job.base_folder, Job.domain, Submission.post_title).join(Submission, Job.submission_id == Submission.id)
        .where(Job.status == DOWNLOADING, Job.kind == ITEM)).all()
    folders = set()
    for base_folder, domain, post_title in rows:
        try:
            if base_folder:
                folders.add(relative_to_root(root, root / base_folder))
            else:
                folders.add(relative_to_root(root, job_directory(root, post_title, domain)))
        except (UnsafePath, ValueError):
            continue
    return folders


def _under_any(folder: str, bases: set[str]) -> bool:
    return any(folder == base or folder.startswith(base + "/") or base in ("", ".") for base in bases)


def _http_url(value) -> str | None:
    if not isinstance(value, str) or len(value) > 2000:
        return None
    parts = urlsplit(value)
    return value if parts.scheme in ("http", "https") and parts.hostname else None


_TEXT_LIMITS = {"uploader": 300, "channel": 300, "webpage_url": 2000, "extractor": 60, "vcodec": 60, "acodec": 60,
                "container": 20, "gallery_title": 500, "item_date": 25, "upload_date": 10}
_METADATA_COLUMNS = ("uploader", "channel", "upload_date", "duration", "description", "view_count", "webpage_url",
                     "extractor", "width", "height", "vcodec", "acodec", "container", "gallery_title", "item_date",
                     "extra")


def _metadata(job_id: int, fields: dict) -> JobMetadata | None:
    values = {}
    for column in _METADATA_COLUMNS:
        value = fields.get(column)
        if value in (None, "", [], {}):
            continue
        if column in _TEXT_LIMITS:
            value = str(value)[:_TEXT_LIMITS[column]]
        values[column] = value
    tags = item_metadata.tags_text(fields.get("tags"))
    if tags:
        values["tags"] = tags
    if not values:
        return None
    return JobMetadata(job_id=job_id, **values)


def _record(item: _Item, files: list[_File], user_id: int | None, via: str, rescan_id: int) -> int:
    """One imported download: its submission, its completed (and cleared) job, files and metadata."""
    now = utcnow()
    webpage_url = _http_url(item.fields.get("webpage_url"))
    main = files[0].path
    url = webpage_url or f"import:{main}"[:2000]
    domain = (urlsplit(webpage_url).hostname or IMPORT) if webpage_url else IMPORT
    size = sum(f.size for f in files)
    submission = Submission(source=IMPORT, user_id=user_id, submitted_via=via[:16], trust=ADMIN_TRUST,
                            label=f"Library rescan #{rescan_id}", items=[], created_at=now)
    job = Job(submission=submission, url=url, domain=domain[:255], dedupe_key=None, engine=IMPORT_ENGINE,
              status=QUEUED, source=IMPORT, user_id=user_id, title=item.title,
              resource_id=sanitize_component(PurePosixPath(item.folder).name)[:200] if item.folder else None,
              bytes_done=size, bytes_total=size, items_done=len(files), items_total=len(files), attempts=0,
              created_at=now, updated_at=now)
    # Nothing to download: claimed and completed in one go, as an upload is.
    job.claim(IMPORT_ENGINE, now)
    job.finish(Outcome.COMPLETED, now=now)
    job.cleared_at = now  # never on the queue page: it was never queued
    for f in files:
        job.files.append(JobFile(path=f.path, size=f.size, sha256=f.sha256, mime=f.mime, kind=f.kind,
                                 created_at=now))
    db.session.add(submission)
    db.session.flush()
    submission.items = [{"url": job.url, "job_id": job.id, "duplicate_of": None}]
    metadata = _metadata(job.id, item.fields)
    if metadata is not None:
        db.session.add(metadata)
    return job.id


def run(rescan_id: int, *, duration_of: DurationProbe | None = None, should_stop: Callable[[], bool] = lambda: False,
        on_imported: Callable[[list[int]], None] | None = None,
        on_progress: Callable[[dict], None] | None = None) -> dict | None:
    """Run the queued rescan `rescan_id` to its end; its final state, or None when it was not
    (or no longer) the current one.

    `duration_of(path)` probes a media file's duration (the worker's ffprobe with its
    allowlists, jobs/library_rescan.py); `should_stop()` is asked between folders (the worker
    stopping); `on_imported(job_ids)` after each batch (thumbnails); `on_progress(state)` with
    each progress event (the CLI's lines).
    """
    scan = _Scan(rescan_id, duration_of=duration_of, should_stop=should_stop, on_imported=on_imported,
                 on_progress=on_progress)
    if not scan.start():
        return None
    status, error = COMPLETED, None
    try:
        scan.check_records()
        scan.walk()
        if scan.stopped:
            status, error = INTERRUPTED, "Haul was stopping; the rest is left for the next rescan."
    except _Superseded:
        return None
    except Exception as exc:  # recorded as the rescan's failure; what was imported stays
        log.exception("library rescan %s failed", rescan_id)
        db.session.rollback()
        status, error = FAILED, f"{exc.__class__.__name__}: {exc}"[:500]
    return scan.finish(status, error)
