"""yt-dlp as a library: video sites, and videos embedded in any page.

YoutubeDL sessions are reused job after job (`_SessionPool`, keyed by their params: the job's
preset turns into yt-dlp's own format choice and postprocessors, webapp/core/presets.py). The
info is extracted first, so the folder can be named after the extractor's id, then downloaded.
A progress hook reports (throttled by the caller) and raises DownloadCancelled to stop;
`paths.home` with a relative `outtmpl` (the preset's file-name template) keeps files in the
job's folder. The files written beside the media, the .nfo and the item's metadata are
jobs/engines/ytdlp_library.py's.
"""
from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import yt_dlp
from yt_dlp.networking.exceptions import HTTPError, TransportError
from yt_dlp.utils import DownloadCancelled, DownloadError, ExtractorError, LazyList, UnsupportedError, unsmuggle_url

from jobs import job_log
from jobs.engines import joined_patterns, registry, ytdlp_ffmpeg, ytdlp_library
from jobs.engines.base import (
    AlreadyDownloaded,
    Cancelled,
    DownloadRequest,
    Engine,
    EngineError,
    Progress,
    is_transient_status,
    status_from_message,
)
from webapp.core.item_filters import item_from_entry
from webapp.core.listings import Listing
from webapp.core.paths import resource_directory
from webapp.core.presets import ytdlp_params
from webapp.core.vocabulary import YTDLP

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

# Jobs restricted to public addresses (DownloadRequest.public_only) download with yt-dlp's own downloaders only: their
# connections are made in this process, where jobs/net_guard.py checks each one, whereas ffmpeg,
# aria2c or rtmpdump would connect out of its sight. These override the admin's --downloader.
# Not covered: yt-dlp still gives live streams, HLS with features its native downloader lacks
# (it "delegates to ffmpeg"), RTMP and --download-sections to an external program; net_guard
# refuses to start a program with a network URL for such a job, so those jobs fail instead.
# ffmpeg on files already downloaded (merging video and audio, embedding) runs as usual, reading
# them as media only (jobs/engines/ytdlp_ffmpeg.py).
_NATIVE_DOWNLOADERS = {
    "external_downloader": {"default": "native"},
    "hls_prefer_native": True,
}


class _SiteMatcher:
    """Which yt-dlp site-specific extractor matches a URL, in well under a millisecond.

    Asking each of ~1,800 extractors in turn costs ~4 ms per URL. Most extractors only match
    their `_VALID_URL`, so those patterns are joined into one regex that answers "no site
    matches" in one pass; extractors with their own `suitable()` or patterns that cannot be
    joined (back-references, conditionals) are still asked one by one. Only when something
    may match are the extractors asked in yt-dlp's own order, so the answer is the same.
    """

    def __init__(self):
        self.classes = [ie for ie in yt_dlp.extractor.gen_extractor_classes() if ie.ie_key() != "Generic"]
        joinable, self.individual = [], []
        for ie in self.classes:
            patterns = self._patterns(ie)
            if patterns is None or "suitable" in vars(ie):
                self.individual.append(ie)
            else:
                joinable.extend(patterns)
        self.combined = re.compile("|".join(f"(?:{p})" for p in joinable)) if joinable else None

    @staticmethod
    def _patterns(ie) -> list[str] | None:
        valid = getattr(ie, "_VALID_URL", None)
        if not valid:
            return None
        result = []
        for pattern in valid if isinstance(valid, (list, tuple)) else [valid]:
            rewritten = joined_patterns.alternative(pattern)
            if rewritten is None:
                return None
            result.append(rewritten)
        return result

    def match(self, url: str) -> str | None:
        maybe = (self.combined is not None and self.combined.match(url)) or any(
            ie.suitable(url) for ie in self.individual
        )
        if not maybe:
            return None
        for ie in self.classes:
            if ie.suitable(url) and ie.working():
                return ie.ie_key()
        return None


_matcher: _SiteMatcher | None = None
_matcher_lock = threading.Lock()


def site_extractor_name(url: str) -> str | None:
    """The name of yt-dlp's site-specific extractor for `url`, or None (the generic one excluded)."""
    global _matcher
    with _matcher_lock:
        if _matcher is None:
            _matcher = _SiteMatcher()
    return _matcher.match(url)




class _JobHooks:
    """What one job needs from yt-dlp's callbacks: progress, files, and its messages."""

    def __init__(self, request: DownloadRequest):
        self.request = request
        self.progress = Progress()
        self.messages: list[str] = []
        # The job's own log (jobs/job_log.py), taken in the job's thread: yt-dlp's lines from
        # its other threads land in this job's log too.
        self.log = job_log.current()
        # Told the item's identity once, right before its download: only a job of one item
        # (a page with several videos of its own downloads them all).
        self.identify_item = False
        self.duplicate: AlreadyDownloaded | None = None
        self.recorded: set[Path] = set()
        self.counted: tuple[str | None, int] = (None, 0)  # (file, bytes) the bandwidth limits were told of

    def add_file(self, path: Path) -> None:
        """Record a finished file once (the library's postprocessor and yt-dlp's post hook both
        name the media file)."""
        path = Path(path)
        if path not in self.recorded:
            self.recorded.add(path)
            self.request.add_file(path)

    def on_progress(self, d: dict) -> None:
        request, progress = self.request, self.progress
        if request.cancel_event.is_set():
            raise DownloadCancelled(request.cancel_reason())
        tmp = d.get("tmpfilename")
        if tmp:
            request.temp_paths.add(tmp)
        # Keyed by the final name: the "finished" call names no .part file and must add nothing.
        self._throttle(d.get("filename") or tmp, int(d.get("downloaded_bytes") or 0))
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

    def _throttle(self, file: str | None, downloaded: int) -> None:
        """Tell the bandwidth limits of the bytes read since the last block (yt-dlp calls the
        hook after every block it reads), and wait while they say so (jobs/bandwidth.py)."""
        counted_file, counted = self.counted
        fresh = downloaded - counted if file == counted_file and downloaded >= counted else downloaded
        self.counted = (file, downloaded)
        if fresh > 0:
            self.request.throttle(fresh)

    def on_match(self, info: dict, incomplete: bool) -> None:
        """Before a video downloads: report the size its format announces, so a job whose
        limits it passes (jobs/guest_limits.py) stops before fetching a byte of it."""
        request, progress = self.request, self.progress
        if self.identify_item and not incomplete and request.identify is not None:
            self.identify_item = False
            if info.get("extractor_key") and info.get("id"):
                try:
                    request.identify(f"{info['extractor_key']}:{info['id']}")
                except AlreadyDownloaded as exc:
                    self.duplicate = exc
                    raise DownloadCancelled("duplicate") from None
        size = None if incomplete else (info.get("filesize") or info.get("filesize_approx"))
        if size:
            progress.bytes_done, progress.bytes_total = 0, int(size)
            request.report(progress)
        if request.cancel_event.is_set():
            raise DownloadCancelled(request.cancel_reason())

    def on_file(self, filepath: str) -> None:
        self.add_file(Path(filepath))
        self.progress.items_done += 1
        self.request.report(self.progress)

    def tool_line(self, level: str, msg) -> None:
        """One of yt-dlp's messages, into the job's log."""
        if self.log is not None:
            text = str(msg)
            for prefix in ("ERROR: ", "WARNING: "):
                text = text.removeprefix(prefix)
            self.log.add(level, "yt-dlp", text)

    def keep(self, msg) -> None:
        if len(self.messages) < 50:
            self.messages.append(str(msg).removeprefix("ERROR: ").removeprefix("WARNING: "))


class _Session:
    """A YoutubeDL kept by one worker thread and reused job after job.

    Building a YoutubeDL costs ~45 ms (and its HTTP stack ~25 ms more on first use); the
    yt-dlp command line also reuses one instance for many URLs. Its callbacks point at the
    session, which forwards them to the job running now.
    """

    def __init__(self, params: dict):
        self.job: _JobHooks | None = None
        params = dict(params)
        # The admin's --match-filter (HAUL_YTDLP_EXTRA_ARGS) still decides after ours.
        self.their_filter = params.get("match_filter")
        params.update(logger=self, progress_hooks=[self._progress], post_hooks=[self._file],
                      match_filter=self._match_filter,
                      postprocessor_args=ytdlp_ffmpeg.postprocessor_args(params.get("postprocessor_args")))
        ytdlp_ffmpeg.guard_probes()
        self.ydl = yt_dlp.YoutubeDL(params)
        ytdlp_library.install(self.ydl, lambda: self.job)

    def _progress(self, d):
        self.job.on_progress(d)

    def _match_filter(self, info, *, incomplete=False):
        self.job.on_match(info, incomplete)
        return self.their_filter(info, incomplete=incomplete) if self.their_filter is not None else None

    def _file(self, filepath):
        self.job.on_file(filepath)

    # The logger interface yt-dlp calls: every message goes to the job's log (jobs/job_log.py);
    # its screen messages ("[info] …", "[download] Destination: …") come as debug.
    def debug(self, msg):
        if self.job is not None:
            self.job.tool_line("DEBUG" if str(msg).startswith("[debug]") else "INFO", msg)

    def info(self, msg):
        if self.job is not None:
            self.job.tool_line("INFO", msg)

    def warning(self, msg):
        if self.job is not None:
            self.job.tool_line("WARNING", msg)
            self.job.keep(msg)

    def error(self, msg):
        if self.job is not None:
            self.job.tool_line("ERROR", msg)
            self.job.keep(msg)


class _SessionPool:
    """Idle YoutubeDL sessions, lent to one job at a time and given back after it.

    A pool rather than one session per worker thread: the consumer keeps more threads than
    jobs may run at once (the concurrency setting can change at any time), and any of them
    may take the next job. Sessions ever built = most yt-dlp jobs that ran at once, not threads.
    """

    def __init__(self):
        self._idle: dict[str, list[tuple[object, _Session]]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(params: dict) -> str:
        # The postprocessors are built when the session is: they are part of the key (a list of
        # plain dicts built in a fixed order, so equal presets give equal keys).
        return repr(sorted(params.items(), key=lambda kv: kv[0]))

    def take(self, params: dict, version=None) -> _Session:
        """A session for these parameters (a new one when none is idle or `version` changed).

        `version` stands for what the parameters name but do not contain: YoutubeDL reads its
        cookie file once, so a re-uploaded file (a new mtime) needs a new instance.
        """
        with self._lock:
            idle = self._idle.get(self.key(params), [])
            while idle:
                held_version, session = idle.pop()
                if held_version == version:
                    return session
        return _Session(params)  # built outside the lock: it takes ~45 ms

    def give_back(self, params: dict, version, session: _Session) -> None:
        with self._lock:
            self._idle.setdefault(self.key(params), []).append((version, session))


_pool = _SessionPool()


def _plain_entry(entry: dict) -> dict:
    """A flat entry with its URL as a person would send it: data yt-dlp smuggled into the
    fragment (a feed's guid, say) is taken out, the id it forced kept as the entry's id."""
    url, smuggled = unsmuggle_url(entry.get("url") or "", {})
    entry = dict(entry, url=url)
    if not entry.get("id") and smuggled.get("force_videoid"):
        entry["id"] = smuggled["force_videoid"]
    return entry


@registry.register
class YtDlpEngine(Engine):
    name = YTDLP
    claim_order = 10  # a site yt-dlp has an extractor for is a video site: before gallery-dl's

    def claims(self, url: str) -> bool:
        return bool(site_extractor_name(url))

    def run(self, request: DownloadRequest) -> None:
        params = dict(_BASE_PARAMS)
        params.update(ytdlp_params(request.preset))
        # The admin's extra switches win where they set the same parameter (a format, say);
        # they can never set postprocessors (webapp/core/tool_args.py).
        params.update(request.ytdlp_options)
        if request.public_only:
            params.update(_NATIVE_DOWNLOADERS)  # part of the pool key: restricted jobs stay apart
        cookies_version = None
        if request.cookies_file is not None:
            params["cookiefile"] = str(request.cookies_file)
            try:
                cookies_version = request.cookies_file.stat().st_mtime_ns
            except OSError:  # deleted since the job started: yt-dlp reports the missing file
                cookies_version = -1
        session = _pool.take(params, cookies_version)
        if request.cookies_file is None:
            # The session outlives the job; cookies a site set during an earlier job (maybe
            # someone else's) must not go with this one. A session with a cookie file is only
            # ever lent to jobs of people allowed that file.
            session.ydl.cookiejar.clear()
        hooks = session.job = _JobHooks(request)
        progress = hooks.progress
        ydl = session.ydl
        reusable = True
        try:
            request.check()
            info = ydl.extract_info(request.url, download=False, process=False)
            request.check()
            if request.on_collection is not None:
                listing = self._listing(ydl, info, request)
                if listing is not None:
                    request.on_collection(listing)
                    return
            hooks.identify_item = info.get("_type") not in ("playlist", "multi_video")
            folder = resource_directory(request.base_dir, request.storage_root, info.get("id"), request.url)
            progress.resource_id = folder.name
            progress.title = (info.get("title") or "")[:500] or None
            if info.get("_type") == "playlist" and isinstance(info.get("entries"), list):
                progress.items_total = len(info["entries"])
            request.report(progress)
            ydl.params["paths"] = {"home": str(folder)}
            ydl.params["outtmpl"] = ytdlp_library.output_templates(request.preset, request.name_prefix)
            ydl.process_ie_result(info, download=True)
        except DownloadCancelled:
            if hooks.duplicate is not None:
                raise hooks.duplicate from None
            raise Cancelled(request.cancel_reason()) from None
        except DownloadError as exc:
            if request.cancel_event.is_set():
                raise Cancelled(request.cancel_reason()) from None
            raise self._failure(exc, hooks.messages) from None
        except Exception:
            reusable = False  # an unexpected error may leave it half-way: not lent again
            raise
        finally:
            session.job = None
            ydl.params.pop("paths", None)
            ydl.params["outtmpl"] = dict(params.get("outtmpl") or _BASE_PARAMS["outtmpl"])
            if reusable:
                _pool.give_back(params, cookies_version, session)
        if progress.items_done == 0:
            raise EngineError("yt-dlp found nothing to download at this URL")

    def _listing(self, ydl, info: dict, request: DownloadRequest) -> Listing | None:
        """The entries when `info` lists other pages (a playlist, channel, feed), read flat —
        no entry extracted, no media fetched; None for anything else (a video, or a page whose
        videos are its own), which then downloads as one job. With `list_only`, a single item
        is a listing of one."""
        for _ in range(3):  # a link to a playlist (a url result) is followed to the playlist
            if info.get("_type") not in ("url", "url_transparent") or not info.get("url"):
                break
            resolved = ydl.extract_info(info["url"], download=False, process=False, ie_key=info.get("ie_key"))
            request.check()
            if resolved.get("_type") not in ("playlist", "multi_video", "url", "url_transparent"):
                break
            info = resolved
        if info.get("_type") not in ("playlist", "multi_video"):
            if not request.list_only:
                return None
            entry = dict(info, url=info.get("webpage_url") or request.url, ie_key=info.get("extractor_key"))
            return Listing(info.get("id"), info.get("title"), info.get("extractor_key"), [item_from_entry(entry)])
        entries = info.get("entries")
        if entries is not None and not isinstance(entries, (list, tuple)) and not hasattr(entries, "getslice"):
            info["entries"] = LazyList(entries)  # read once here; kept, in case it is downloaded after all
        saved = ydl.params.get("extract_flat")
        ydl.params["extract_flat"] = "in_playlist"
        try:
            flat = ydl.process_ie_result(dict(info), download=False)
        finally:
            ydl.params["extract_flat"] = saved
        listed = [entry for entry in (flat.get("entries") or []) if entry]
        if not request.list_only and (not listed or any(
                entry.get("_type") not in ("url", "url_transparent") for entry in listed)):
            return None  # the videos are the page's own: one job downloads them all
        items = [item_from_entry(_plain_entry(entry)) for entry in listed]
        return Listing(flat.get("id") or info.get("id"), flat.get("title") or info.get("title"),
                       info.get("extractor_key"), [item for item in items if item.url])

    @staticmethod
    def _failure(exc: DownloadError, messages: list[str]) -> EngineError:
        cause = exc.exc_info[1] if exc.exc_info else None
        message = str(exc).removeprefix("ERROR: ") or (messages[-1] if messages else "yt-dlp failed")
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
