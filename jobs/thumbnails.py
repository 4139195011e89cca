"""Thumbnails of downloaded files, made by the worker once a job has completed.

Images are scaled with Pillow; videos give a frame (and audio files their cover art, if
any) through ffmpeg. A thumbnail is a small WebP under `Settings.thumbnail_dir` (DATA_DIR/thumbnails by default), keyed by
the file's sha256 (webapp/services/library/files.py), so it is made once however often the same
content is downloaded. The web process only serves them. Files come from anyone, so each is
read as media only: ffmpeg gets that one file in a real container format, Pillow a common
image format of a sane size (jobs/media_safety.py); anything else simply gets no thumbnail.

The runner calls `after_job_completed(job_id)` after it has committed the outcome. That notes
the files for one background thread per worker process, and the worker thread goes on to its
next download at once. The thumbnails are made once the worker has been quiet for a few
seconds, by a short-lived child process at a lower CPU priority (see below). Nothing here may
fail a job: every error is logged and the file simply has no thumbnail (the page shows an
icon). Thumbnails still waiting when the worker is killed are made by
`python -m jobs.thumbnails`, which fills in every missing one.

When a batch is done, each job that got a thumbnail is announced with a `thumbnails` event (one
short transaction for the batch), so an open history page swaps its placeholders for the images.
"""
from __future__ import annotations

import atexit
import io
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy import select

from jobs import media_safety
from webapp.extensions import db
from webapp.models import Job, JobFile
from webapp.services.library.files import absolute_path, preview_kind, thumbnail_path
from webapp.services.queue import events

log = logging.getLogger(__name__)

BOX = (320, 320)  # the largest thumbnail side, enough for a sharp tile on a high-density screen
FRAME_WIDTH = 640  # ffmpeg scales the frame down to this before Pillow makes the thumbnail
FFMPEG_TIMEOUT_SECONDS = 30
VIDEO_SEEKS = (1.0, 0.0)  # a frame one second in (past a black first frame), else the first
# An audio file's cover art is one picture at the start, which any seek skips: read from the start.
AUDIO_SEEKS = (None,)
EXIT_DRAIN_SECONDS = 10.0
WEBP_QUALITY = 75


@dataclass(frozen=True)
class Work:
    source: Path
    sha256: str
    mime: str | None
    thumbnail_dir: Path
    job_id: int | None = None  # whose file: the job announced once its thumbnails are made
    app: Flask | None = field(default=None, compare=False)  # where to announce it


def _ffmpeg() -> str | None:
    return shutil.which("ffmpeg") or ("/usr/bin/ffmpeg" if os.path.exists("/usr/bin/ffmpeg") else None)


def _image_from_file(source: Path):
    from PIL import (
        ImageOps,  # see media_safety._pillow: Pillow is loaded only where images are decoded
    )

    with open(source, "rb") as fh:  # closed however the image is refused
        image = media_safety.open_image(fh)
        image.draft("RGB", (BOX[0] * 2, BOX[1] * 2))  # JPEG: decode at a reduced size, much faster
        image = ImageOps.exif_transpose(image)
        image.load()
    return image


def _frame_from_media(source: Path, kind: str):
    """A frame of a video (or an audio file's cover art) as a Pillow image, or None."""
    ffmpeg = _ffmpeg()
    if ffmpeg is None:
        log.info("no ffmpeg: no thumbnail for %s", source)
        return None
    nice = shutil.which("nice")
    for seek in AUDIO_SEEKS if kind == "audio" else VIDEO_SEEKS:
        # The input allowlists keep ffmpeg to this one file, read as media (jobs/media_safety.py).
        args = [ffmpeg, "-nostdin", "-v", "error", *media_safety.ffmpeg_input_args(),
                *(["-ss", str(seek)] if seek is not None else []), "-i", f"file:{source}", "-frames:v", "1",
                "-vf", f"scale=w='min({FRAME_WIDTH},iw)':h=-1", "-f", "image2pipe", "-vcodec", "png", "-"]
        if nice:
            args = [nice, "-n", "10", *args]
        try:
            done = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=FFMPEG_TIMEOUT_SECONDS)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.info("ffmpeg could not read %s: %s", source, exc)
            return None
        if done.returncode == 0 and done.stdout:
            image = media_safety.open_image(io.BytesIO(done.stdout), formats=("PNG",))
            image.load()
            return image
    log.info("no frame in %s: %s", source, done.stderr.decode(errors="replace").strip()[-300:])
    return None


def make_thumbnail(source: Path, sha256: str, thumbnail_dir: Path, mime: str | None = None) -> Path | None:
    """Make the thumbnail of one file unless it exists; returns its path, or None when there is none.

    Never raises: a file Pillow or ffmpeg cannot read gets no thumbnail.
    """
    target = thumbnail_path(thumbnail_dir, sha256)
    if target is None:
        return None
    if target.is_file():
        return target
    kind = preview_kind(str(source), mime)
    try:
        if kind == "image":
            image = _image_from_file(source)
        elif kind in ("video", "audio"):
            image = _frame_from_media(source, kind)
        else:
            return None
        if image is None:
            return None
        _save(image, target)
        return target
    except media_safety.Refused as refused:
        log.info("not decoding %s: %s", source, refused)
        return None
    except Exception as exc:  # a broken or unusual file must never fail the job or the thread
        log.info("no thumbnail for %s: %s: %s", source, exc.__class__.__name__, exc)
        return None


def _save(image, target: Path) -> None:
    """Scale into BOX and write as WebP, atomically (a reader never sees half a file)."""
    image.thumbnail(BOX)
    if image.mode not in ("RGB", "RGBA"):
        has_alpha = image.mode in ("LA", "PA") or (image.mode == "P" and "transparency" in image.info)
        image = image.convert("RGBA" if has_alpha else "RGB")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".webp")
    try:
        with os.fdopen(fd, "wb") as fh:
            image.save(fh, "WEBP", quality=WEBP_QUALITY, method=4)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _files_of(job_id: int, storage_root: Path, thumbnail_dir: Path, app: Flask | None = None) -> list[Work]:
    rows = db.session.execute(
        select(JobFile.path, JobFile.sha256, JobFile.mime).where(JobFile.job_id == job_id).order_by(JobFile.id)
    ).all()
    work = []
    for path, sha256, mime in rows:
        try:
            work.append(Work(absolute_path(storage_root, path), sha256, mime, Path(thumbnail_dir), job_id, app))
        except ValueError:  # UnsafePath: a record pointing outside the library is never read
            log.warning("not making a thumbnail of %s: outside the storage root", path)
    return work


# -- in the background, when the worker is quiet ------------------------------------------------
#
# Thumbnails wait until this process has run no download for QUIET_SECONDS (or, on a worker
# that never rests, MAX_DEFER_SECONDS), then a short-lived child process makes the batch at a
# lower CPU priority and exits. Downloads never share a core or the worker's memory with them,
# and Pillow is never loaded into the long-running worker.

QUIET_SECONDS = 5.0
MAX_DEFER_SECONDS = 60.0
CHILD_LOG_LINES = 200  # at most this many of a batch's log lines reach the worker's log
MONITOR_THREAD_PREFIX = "haul-monitor-"  # jobs/runner.py names each download's monitor thread so
PROJECT_ROOT = Path(__file__).resolve().parent.parent

_pending: list[Work] = []
_unfinished = 0  # queued or being made
_flush = False  # set by wait_idle: do not wait for a quiet moment
_cond = threading.Condition()
_thread: threading.Thread | None = None
_thread_pid: int | None = None


def _downloading() -> bool:
    return any(t.name.startswith(MONITOR_THREAD_PREFIX) for t in threading.enumerate())


def _wait_for_quiet() -> None:
    began = time.monotonic()
    quiet_since = None
    while not _flush and time.monotonic() - began < MAX_DEFER_SECONDS:
        now = time.monotonic()
        if _downloading():
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        elif now - quiet_since >= QUIET_SECONDS:
            return
        time.sleep(0.1)


def _make_in_child(batch: list[Work]) -> None:
    """Make a batch of thumbnails in a child process (`python -m jobs.thumbnails --stdin`)."""
    lines = "".join(json.dumps({"source": str(w.source), "sha256": w.sha256, "mime": w.mime,
                                "thumbnail_dir": str(w.thumbnail_dir)}) + "\n" for w in batch)
    args = [sys.executable, "-m", "jobs.thumbnails", "--stdin"]
    nice = shutil.which("nice")
    if nice:
        args = [nice, "-n", "10", *args]
    try:
        done = subprocess.run(args, input=lines.encode(), cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=60 + 10 * len(batch))
        if done.returncode != 0:
            log.warning("thumbnail process failed (%s): %s", done.returncode,
                        done.stderr.decode(errors="replace").strip()[-500:])
        else:
            # The child's reasons for a file without a thumbnail (a refused file among them).
            for line in done.stderr.decode(errors="replace").splitlines()[-CHILD_LOG_LINES:]:
                log.info("thumbnail process: %s", line)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("thumbnail process failed: %s", exc)


def announce(app: Flask, job_ids) -> None:
    """Publish a `thumbnails` event for each of these jobs that still exists (one short transaction).

    Never raises: a page that misses the event shows the thumbnails when it is next loaded."""
    job_ids = sorted(set(job_ids))
    if not job_ids:
        return
    try:
        with app.app_context():
            try:
                for job in db.session.scalars(select(Job).where(Job.id.in_(job_ids))):
                    events.publish_job(events.THUMBNAILS, job)
                db.session.commit()
            finally:
                db.session.remove()
    except Exception:
        log.exception("could not announce the thumbnails of jobs %s", job_ids)


def _announce_made(batch: list[Work]) -> None:
    """Announce the jobs of `batch` whose files now have a thumbnail, per app that queued them."""
    made: dict[Flask, set[int]] = {}
    for work in batch:
        if work.app is None or work.job_id is None:
            continue
        target = thumbnail_path(work.thumbnail_dir, work.sha256)
        if target is not None and target.is_file():
            made.setdefault(work.app, set()).add(work.job_id)
    for app, job_ids in made.items():
        announce(app, job_ids)


def _run() -> None:
    global _unfinished
    while True:
        with _cond:
            while not _pending:
                _cond.wait()
        _wait_for_quiet()
        with _cond:
            batch = _pending[:]
            _pending.clear()
        try:
            _make_in_child(batch)
            _announce_made(batch)
        except Exception:  # keep the thread alive whatever happens
            log.exception("thumbnail batch")
        finally:
            with _cond:
                _unfinished -= len(batch)
                _cond.notify_all()


def _ensure_thread() -> None:
    global _thread, _thread_pid
    with _cond:
        # A forked process worker inherits the module but not the thread.
        if _thread is None or _thread_pid != os.getpid() or not _thread.is_alive():
            _thread = threading.Thread(target=_run, name="haul-thumbnails", daemon=True)
            _thread.start()
            _thread_pid = os.getpid()


def after_job_completed(job_id: int) -> None:
    """The runner's hook after a job completed: its files' thumbnails are made later, in the background.

    Reads the job's file records in the caller's app context. Never raises.
    """
    global _unfinished
    try:
        settings = current_app.config["HAUL"]
        work = _files_of(job_id, settings.storage_root, settings.thumbnail_dir, current_app._get_current_object())
        work = [w for w in work if (t := thumbnail_path(w.thumbnail_dir, w.sha256)) is not None and not t.is_file()]
        if not work:
            return
        _ensure_thread()
        with _cond:
            _pending.extend(work)
            _unfinished += len(work)
            _cond.notify_all()
    except Exception:
        log.exception("could not queue the thumbnails of job %s", job_id)


def wait_idle(timeout: float = EXIT_DRAIN_SECONDS) -> bool:
    """Make what is pending now, without waiting for a quiet moment; False if not done within `timeout`."""
    global _flush
    deadline = time.monotonic() + timeout
    with _cond:
        _flush = True
        try:
            while _unfinished:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                _cond.wait(left)
        finally:
            _flush = False
    return True


@atexit.register
def _drain_at_exit() -> None:
    # A clean shutdown makes the thumbnails of the jobs that just completed (briefly).
    if _thread is not None and _thread_pid == os.getpid() and _thread.is_alive() and _unfinished:
        wait_idle(EXIT_DRAIN_SECONDS)


def _child_main() -> int:
    """The child: one JSON line per file on stdin, a thumbnail each (when it can be made)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # to stderr, which the worker logs
    made = 0
    for line in sys.stdin:
        if line.strip():
            item = json.loads(line)
            made += make_thumbnail(Path(item["source"]), item["sha256"], Path(item["thumbnail_dir"]),
                                   item.get("mime")) is not None
    print(made)
    return 0


# -- filling in missing thumbnails ----------------------------------------------------------------


def backfill(batch: int = 1000) -> tuple[int, int]:
    """Make every missing thumbnail of every recorded file; returns (files seen, thumbnails made)."""

    settings = current_app.config["HAUL"]
    app = current_app._get_current_object()
    seen = made = 0
    last_id = 0
    while True:
        rows = db.session.execute(
            select(JobFile.id, JobFile.path, JobFile.sha256, JobFile.mime, JobFile.job_id)
            .where(JobFile.id > last_id).order_by(JobFile.id).limit(batch)
        ).all()
        db.session.rollback()
        if not rows:
            return seen, made
        announced = set()
        for file_id, path, sha256, mime, job_id in rows:
            last_id, seen = file_id, seen + 1
            target = thumbnail_path(settings.thumbnail_dir, sha256)
            if target is None or target.is_file():
                continue
            try:
                source = absolute_path(settings.storage_root, path)
            except ValueError:
                continue
            if source.is_file() and make_thumbnail(source, sha256, settings.thumbnail_dir, mime) is not None:
                made += 1
                announced.add(job_id)
        announce(app, announced)


def main(argv=None) -> int:
    """`python -m jobs.thumbnails`: make the thumbnails that are missing (--stdin: the worker's child)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--stdin"]:
        return _child_main()
    from webapp import create_app

    app = create_app(role="worker")
    with app.app_context():
        seen, made = backfill()
    print(f"{seen} files, {made} thumbnails made")
    return 0


if __name__ == "__main__":
    sys.exit(main())
