"""yt-dlp as a library: video sites, and videos embedded in any page.

One YoutubeDL per job (its params are per instance, so jobs in threads don't share them).
The info is extracted first, so the folder can be named after the extractor's id, then
downloaded. A progress hook reports (throttled by the caller) and raises DownloadCancelled
to stop; `paths.home` with a relative `outtmpl` keeps files in the job's folder.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import yt_dlp
from yt_dlp.networking.exceptions import HTTPError, TransportError
from yt_dlp.utils import DownloadCancelled, DownloadError, ExtractorError, UnsupportedError

from jobs.engines.base import (
    Cancelled,
    DownloadRequest,
    Engine,
    EngineError,
    Progress,
    is_transient_status,
    status_from_message,
)
from webapp.services.library import resource_directory

# Quality presets offered to people; None leaves yt-dlp's own best choice.
PRESETS = {
    "best": None,
    "1080p": "bv*[height<=1080]+ba/b[height<=1080]/bv*+ba/b",
    "720p": "bv*[height<=720]+ba/b[height<=720]/bv*+ba/b",
    "audio": "ba/b",
}

_BASE_PARAMS = {
    "quiet": True,
    "no_warnings": True,
    "noprogress": True,
    "color": {"stdout": "no_color", "stderr": "no_color"},
    # Haul retries whole jobs with backoff; the tool's own retries would multiply that.
    "retries": 0,
    "fragment_retries": 0,
    "extractor_retries": 0,
    "socket_timeout": 30,
    "windowsfilenames": True,
    "trim_file_name": 100,
    "overwrites": False,
    "cachedir": False,
    "outtmpl": {"default": "%(title).90B [%(id)s].%(ext)s"},
}

_site_extractors = None
_site_lock = threading.Lock()


def site_extractor_name(url: str) -> str | None:
    """The name of yt-dlp's site-specific extractor for `url`, or None (the generic one excluded)."""
    global _site_extractors
    with _site_lock:
        if _site_extractors is None:
            _site_extractors = [ie for ie in yt_dlp.extractor.gen_extractor_classes() if ie.ie_key() != "Generic"]
    for ie in _site_extractors:
        if ie.suitable(url) and ie.working():
            return ie.ie_key()
    return None


class _Logger:
    """Collects yt-dlp's warnings and errors for the job's message; drops the chatter."""

    def __init__(self):
        self.messages: list[str] = []

    def debug(self, msg):
        pass

    def info(self, msg):
        pass

    def warning(self, msg):
        self._keep(msg)

    def error(self, msg):
        self._keep(msg)

    def _keep(self, msg):
        if len(self.messages) < 50:
            self.messages.append(str(msg).removeprefix("ERROR: ").removeprefix("WARNING: "))


class YtDlpEngine(Engine):
    name = "yt-dlp"

    def run(self, request: DownloadRequest) -> None:
        progress = Progress()
        logger = _Logger()

        def on_progress(d):
            if request.cancel_event.is_set():
                raise DownloadCancelled(request.cancel_reason())
            tmp = d.get("tmpfilename")
            if tmp:
                request.temp_paths.add(tmp)
            info = d.get("info_dict") or {}
            progress.current_file = os.path.basename(d.get("filename") or "") or None
            progress.bytes_done = int(d.get("downloaded_bytes") or 0)
            total = d.get("total_bytes") or d.get("total_bytes_estimate")
            progress.bytes_total = int(total) if total else None
            progress.speed = d.get("speed")
            progress.eta = d.get("eta")
            if info.get("n_entries"):
                progress.items_total = info["n_entries"]
            if d.get("status") == "finished" and tmp:
                request.temp_paths.discard(tmp)
            request.report(progress)

        def on_file(filepath):
            request.add_file(Path(filepath))
            progress.items_done += 1
            request.report(progress)

        params = dict(_BASE_PARAMS)
        params.update(request.ytdlp_options)
        preset_format = PRESETS.get(request.preset or "best")
        if preset_format and "format" not in request.ytdlp_options:
            params["format"] = preset_format
        params.update({"logger": logger, "progress_hooks": [on_progress], "post_hooks": [on_file]})

        try:
            with yt_dlp.YoutubeDL(params) as ydl:
                request.check()
                info = ydl.extract_info(request.url, download=False, process=False)
                request.check()
                folder = resource_directory(request.base_dir, request.storage_root, info.get("id"), request.url)
                progress.resource_id = folder.name
                progress.title = (info.get("title") or "")[:500] or None
                if info.get("_type") == "playlist" and isinstance(info.get("entries"), list):
                    progress.items_total = len(info["entries"])
                request.report(progress)
                ydl.params["paths"] = {"home": str(folder)}
                ydl.process_ie_result(info, download=True)
        except DownloadCancelled:
            raise Cancelled(request.cancel_reason()) from None
        except DownloadError as exc:
            if request.cancel_event.is_set():
                raise Cancelled(request.cancel_reason()) from None
            raise self._failure(exc, logger) from None
        if progress.items_done == 0:
            raise EngineError("yt-dlp found nothing to download at this URL")

    @staticmethod
    def _failure(exc: DownloadError, logger: _Logger) -> EngineError:
        cause = exc.exc_info[1] if exc.exc_info else None
        message = str(exc).removeprefix("ERROR: ") or (logger.messages[-1] if logger.messages else "yt-dlp failed")
        if isinstance(cause, UnsupportedError):
            return EngineError(message, unsupported=True)
        seen = set()
        while isinstance(cause, ExtractorError) and cause.cause is not None and id(cause) not in seen:
            seen.add(id(cause))
            cause = cause.cause
        if isinstance(cause, HTTPError):
            return EngineError(message, transient=is_transient_status(cause.status))
        if isinstance(cause, TransportError):
            return EngineError(message, transient=True)
        status = status_from_message(message)
        return EngineError(message, transient=is_transient_status(status))

