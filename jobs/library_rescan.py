"""The library rescan's runners: in the worker (asked by the web) and `flask --app wsgi library rescan`.

Both run the same service (webapp/services/library/rescan.py) with what only this side may
give it: ffprobe under the media allowlists of jobs/media_safety.py (a library file is read as
media only, never as a playlist that would open other files or URLs), thumbnails for the jobs
it imports, and the worker's stop.

In the worker, the Huey task (jobs/tasks.py `rescan_library`) starts the rescan in a thread of
its own and returns: a first rescan of an old library hashes every file and may take hours,
which must not hold one of the download threads (the pool is sized to the download
concurrency). The thread stops between files when the worker stops; the state then says
interrupted. The CLI command lives here, not in webapp/commands.py, because it needs the same
probe, which the web's modules may not import; the app factory registers it.
"""
from __future__ import annotations

import json
import logging
import math
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from jobs import media_safety
from webapp.errors import Conflict
from webapp.services.library import rescan
from webapp.services.queue import dispatch

log = logging.getLogger("haul.library")
FFPROBE_TIMEOUT_SECONDS = 30


def duration_of(path: Path) -> float | None:
    """A media file's duration in seconds by ffprobe, or None (no ffprobe, not media, too slow).

    The path is an argument after `-i`, never through a shell; the allowlists come first."""
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        return None
    command = [ffprobe, "-v", "error", *media_safety.ffmpeg_input_args(), "-show_entries", "format=duration",
               "-of", "json", "-i", str(Path(path).resolve())]
    try:
        done = subprocess.run(command, capture_output=True, timeout=FFPROBE_TIMEOUT_SECONDS, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    try:
        duration = float(json.loads(done.stdout)["format"]["duration"])
    except (ValueError, KeyError, TypeError):
        return None
    return duration if math.isfinite(duration) and duration >= 0 else None


def _thumbnails(job_ids: list[int]) -> None:
    # In the worker: its own background thumbnailer (jobs/thumbnails.py) takes them.
    from jobs import thumbnails

    for job_id in job_ids:
        thumbnails.after_job_completed(job_id)


def _stopping() -> bool:
    # Imported here: the runner brings the engines, which only the worker process loads anyway.
    from jobs import runner

    return runner.SHUTDOWN.is_set()


def run_in_worker(app: Flask, rescan_id: int) -> None:
    """The Huey task's work: the rescan in a thread of its own (see the module's docstring)."""

    def work():
        with app.app_context():
            try:
                rescan.run(rescan_id, duration_of=duration_of, should_stop=_stopping, on_imported=_thumbnails)
            except Exception:  # the service records its own failures; this is the last word
                log.exception("library rescan %s", rescan_id)

    threading.Thread(target=work, name=f"haul-library-rescan-{rescan_id}", daemon=True).start()


# -- flask --app wsgi library rescan -----------------------------------------------------------

library_cli = AppGroup("library", help="The library on disk.")


def _counts_line(state: dict) -> str:
    counts = state.get("counts") or {}
    return (f"scanned {counts.get('scanned', 0)}, known {counts.get('known', 0)}, "
            f"imported {counts.get('imported_files', 0)} files in {counts.get('imported_jobs', 0)} jobs "
            f"({counts.get('duplicate_files', 0)} with content already in the library), "
            f"gone {counts.get('gone', 0)}, back {counts.get('back', 0)}, skipped {counts.get('skipped', 0)}, "
            f"errors {counts.get('errors', 0)}")


@library_cli.command("rescan")
def rescan_command():
    """Hold the storage root against the records: mark missing files gone, import unknown ones.

    Runs here, now, and prints its progress and counts; exits 1 when a rescan is already running
    (from Settings or another shell) or this one fails."""
    try:
        started = rescan.begin(None, None, "cli")
    except Conflict as exc:
        click.echo(f"haul: {exc.detail}", err=True)
        sys.exit(1)
    click.echo(f"Library rescan #{started['id']} of {current_app.config['HAUL'].storage_root}")

    def progress(state: dict) -> None:
        if state.get("status") == rescan.RUNNING:
            click.echo(f"  {state.get('phase') or 'starting'}: {_counts_line(state)}")

    def thumbnails_later(job_ids: list[int]) -> None:
        for job_id in job_ids:  # the worker makes them when it runs (python -m jobs.thumbnails fills gaps)
            dispatch.make_thumbnails_later(job_id)

    try:
        final = rescan.run(started["id"], duration_of=duration_of, on_imported=thumbnails_later,
                           on_progress=progress)
    except KeyboardInterrupt:
        rescan.abandon(started["id"], "Stopped from the command line.", status=rescan.INTERRUPTED)
        click.echo("haul: stopped; what was recorded so far stays", err=True)
        sys.exit(130)
    if final is None:
        click.echo("haul: the rescan was taken over by another one", err=True)
        sys.exit(1)
    click.echo(f"{final['status'].capitalize()} in {final.get('elapsed_seconds', 0):.1f} s: {_counts_line(final)}")
    for problem in final.get("problems") or []:
        click.echo(f"  error: {problem['path']}: {problem['detail']}", err=True)
    if final["status"] != rescan.COMPLETED:
        click.echo(f"haul: {final.get('error') or final['status']}", err=True)
        sys.exit(1)
