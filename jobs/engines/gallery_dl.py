"""gallery-dl as a library: galleries, image pages and the sites it knows.

gallery-dl's configuration is process-wide, so what is the same for every job (retries,
progress interval, the admin's extra switches) is set once, and what differs per job (the
target folder) lives on the job object. Progress comes through a custom output object;
cancelling raises a TerminateExtraction subclass, the one exception gallery-dl lets through.
Extractors are looked up through a cached index (jobs/engines/gallery_dl_index.py), installed as
`gallery_dl.extractor.find`, so the process imports only the extractor modules that match.
The job's preset adds gallery-dl's own postprocessors per job (the metadata one writes each
file's `.info.json`; webapp/core/presets.py), answered by the job's extractors' config lookup
like the cookies; the first file's keywords describe the job (webapp/core/item_metadata.py).
"""
from __future__ import annotations

import logging
import os
import re
import threading
from datetime import datetime, timezone
from pathlib import Path

from gallery_dl import config as gdl_config
from gallery_dl import exception as gdl_exception
from gallery_dl import extractor as gdl_extractor
from gallery_dl import job as gdl_job
from gallery_dl import output as gdl_output
from gallery_dl.extractor.generic import GenericExtractor

from jobs.engines import gallery_dl_index, registry
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
from webapp.core import item_metadata
from webapp.core.item_filters import Item
from webapp.core.listings import Listing
from webapp.core.paths import resource_directory, sanitize_component
from webapp.core.presets import gallery_dl_options
from webapp.core.vocabulary import GALLERY_DL

log = logging.getLogger(__name__)

_setup_lock = threading.Lock()
_configured_with: tuple | None = None
# gallery-dl's own lookup (imports every extractor module), before the index takes its place:
# the reference the tests compare the index with.
gallery_dl_find = gdl_extractor.find
_index: gallery_dl_index.ExtractorIndex | None = None
_lookup_ready = False
# Keys of a directory's metadata that name the gallery/post, most specific first.
_RESOURCE_KEYS = ("gallery_id", "album_id", "post_id", "id")
_TITLE_KEYS = ("title", "og_title", "gallery_title", "album", "name")
# Where gallery-dl's metadata postprocessor leaves the path of the .info.json it wrote, in the
# file's keywords (its "metadata-path" option), so the file is recorded with the job's others.
_INFO_JSON_PATH = "_haul_info_json"


class _Stop(gdl_exception.TerminateExtraction):
    """Raised from our hooks to end a job; gallery-dl re-raises TerminateExtraction."""


def configure(options: tuple = (), data_dir: Path | None = None) -> None:
    """Set gallery-dl's process-wide options once (again only when `options` change).

    The first call also sets up the extractor lookup, its index cached in `data_dir` (by default
    the settings' data dir).
    """
    global _configured_with
    with _setup_lock:
        if _configured_with == options:
            return
        # Built aside, then swapped in one top-level section at a time: the options can change
        # while other threads' jobs run (an admin saved new switches), and they must never
        # see an empty configuration in between.
        fresh: dict = {}
        # Haul retries whole jobs with backoff; the tool's own retries would multiply that.
        gdl_config.set(("extractor",), "retries", 0, conf=fresh)
        gdl_config.set(("extractor",), "timeout", 30.0, conf=fresh)
        gdl_config.set(("downloader",), "retries", 0, conf=fresh)
        gdl_config.set(("downloader",), "progress", 0.25, conf=fresh)
        gdl_config.set(("downloader",), "part", True, conf=fresh)
        gdl_config.set(("output",), "mode", "null", conf=fresh)
        for path, key, value in options:
            gdl_config.set(path, key, value, conf=fresh)
        live = gdl_config._config
        for section, content in fresh.items():
            live[section] = content
        for section in [name for name in live if name not in fresh]:
            live.pop(section, None)
        # Building the extractor list from several threads at once races inside gallery-dl
        # (7 of 8 concurrent first calls fail): build it here, once, under the lock (the index,
        # or gallery-dl's own list when there is no index).
        _set_up_lookup(data_dir)
        if not any(isinstance(h, _JobLogHandler) for h in logging.getLogger().handlers):
            logging.getLogger().addHandler(_JobLogHandler())
        _configured_with = options


class PortAwareGenericExtractor(GenericExtractor):
    """gallery-dl's generic image extractor, keeping the port of http://host:PORT/… URLs.

    The stock pattern's domain group stops at ':' and the extractor then fetches port 80.
    """

    pattern = re.compile(
        r"(?i)(?P<generic>g(?:eneric)?:)"
        r"(?P<scheme>https?://)?"
        r"(?P<domain>(?:[-\w.]+|\[[0-9a-f:.]+\])(?::\d+)?)"
        r"(?P<path>/[^?#]*)?"
        r"(?:\?(?P<query>[^#]*))?"
        r"(?:#(?P<fragment>.*))?"
    )

    @classmethod
    def for_url(cls, url: str) -> "PortAwareGenericExtractor":
        return cls(cls.pattern.match("generic:" + url))


def _set_up_lookup(data_dir: Path | None) -> None:
    """Install the index's finder as gallery-dl's `find`, once; without an index, import them all.

    Called with _setup_lock held. gallery-dl's job code calls `extractor.find` itself for the
    URLs a gallery queues, so replacing it there keeps a gallery's children off the full import.
    An index that cannot be had never fails a download: gallery-dl's own lookup does the work.
    """
    global _index, _lookup_ready
    if _lookup_ready:
        return
    try:
        index = gallery_dl_index.load(data_dir if data_dir is not None else _data_dir())
    except Exception as exc:  # whatever went wrong, gallery-dl's own lookup still works
        log.warning("gallery-dl's extractor index is unavailable (%s); importing all its extractors", exc)
        gdl_extractor.extractors()
    else:
        _index = index
        gdl_extractor.find = index.find
    _lookup_ready = True


def _data_dir() -> Path | None:
    """The configured data dir, or None (the index is then not cached); the worker passes its own."""
    try:
        from webapp.config import load_settings

        return load_settings(check_tool_args=False).data_dir
    except Exception as exc:  # a missing cache costs a child process, nothing more
        log.warning("no data dir for gallery-dl's extractor index (%s); it is not cached", exc)
        return None


def site_extractor(url: str):
    """gallery-dl's site-specific extractor for `url`, or None (generic and direct links excluded)."""
    if not _lookup_ready:
        with _setup_lock:
            _set_up_lookup(None)
    if _index is not None and not _index.matches_site(url):
        return None
    extr = gdl_extractor.find(url)
    if extr is None or extr.category in gallery_dl_index.NOT_SITES:
        return None
    return extr


class _JobLogHandler(logging.Handler):
    """Routes gallery-dl's log records to the Haul job they belong to (records carry `job`)."""

    def emit(self, record):
        job = getattr(record, "job", None)
        context = getattr(job, "haul", None)
        if context is not None and record.levelno >= logging.WARNING:
            context.note_message(record.getMessage())


class _Context:
    """Per-job state shared by the job, its child jobs and the output object."""

    def __init__(self, request: DownloadRequest):
        self.request = request
        self.progress = Progress()
        self.messages: list[str] = []
        self.exception: Exception | None = None
        self.cancel: Cancelled | None = None
        self.duplicate: AlreadyDownloaded | None = None
        self.files = 0
        # The child URLs the top-level extractor queued (a profile's posts, a board's
        # galleries), kept instead of followed when the job may become a collection.
        self.queued: list[tuple[str, dict]] = []
        self.identified = False
        self.directory: dict | None = None  # the first directory's metadata (id, title)
        self.item: dict | None = None  # the first file's keywords (its date, uploader, tags)
        self.postprocessors = _postprocessors(request)

    def check(self):
        try:
            self.request.check()
        except Cancelled as exc:
            self.cancel = exc
            raise _Stop() from None

    def note_message(self, message: str):
        if len(self.messages) < 50:
            self.messages.append(message)

    def report(self):
        self.request.report(self.progress)


class _Output(gdl_output.NullOutput):
    def __init__(self, context: _Context, job: "_HaulJob"):
        self.context = context
        self.job = job

    def start(self, path):
        # The downloader writes to pathfmt.temppath (a .part file) until it finishes.
        self.context.request.temp_paths.add(self.job.pathfmt.temppath)
        self.context.progress.current_file = os.path.basename(path)
        self.context.progress.bytes_done = 0
        self.context.progress.bytes_total = None
        self.context.check()
        self.context.report()

    def progress(self, bytes_total, bytes_downloaded, bytes_per_second):
        progress = self.context.progress
        progress.bytes_total = int(bytes_total) if bytes_total else None
        progress.bytes_done = int(bytes_downloaded)
        progress.speed = float(bytes_per_second) if bytes_per_second else None
        if progress.bytes_total and bytes_per_second:
            progress.eta = max(0.0, (progress.bytes_total - progress.bytes_done) / bytes_per_second)
        self.context.check()
        self.context.report()

    def success(self, path):
        self._file_done(path)

    def skip(self, path):
        # Already on disk from an earlier attempt: still one of this job's files. (A file the
        # options filtered out, e.g. --filesize-max, is skipped too but is not on disk.)
        if os.path.isfile(path):
            self._file_done(path)

    def _file_done(self, path):
        context = self.context
        context.request.temp_paths.discard(self.job.pathfmt.temppath)
        context.request.add_file(Path(path))
        info_json = self.job.pathfmt.kwdict.get(_INFO_JSON_PATH)
        if info_json and os.path.isfile(info_json):
            context.request.add_file(Path(info_json))
        context.files += 1
        context.progress.items_done += 1
        context.report()


def _postprocessors(request: DownloadRequest) -> list[dict]:
    """gallery-dl's postprocessors for the job's preset, the metadata one telling where it wrote."""
    listed = []
    for pp in gallery_dl_options(request.preset)["postprocessors"]:
        if pp.get("name") == "metadata":
            pp = {**pp, "metadata-path": _INFO_JSON_PATH}
        listed.append(pp)
    return listed


def _use_postprocessors(extr, postprocessors: list[dict]) -> None:
    """Make this job's extractor run the preset's postprocessors before any configured ones
    (gallery-dl's configuration is process-wide; a preset is per job)."""
    accumulate = extr.config_accumulate

    def config_accumulate(key):
        if key == "postprocessors":
            return [dict(pp) for pp in postprocessors] + list(accumulate(key) or ())
        return accumulate(key)

    extr.config_accumulate = config_accumulate


def _use_cookies(extr, path: str) -> None:
    """Make this job's extractor load the site's cookies.txt.

    gallery-dl's configuration is process-wide, so the per-job file is answered by the
    extractor's own config lookup. The file is the admin's upload: gallery-dl must not write
    the session's cookies back into it.
    """
    lookup = extr.config

    def config(key, default=None):
        if key == "cookies":
            return path
        if key == "cookies-update":
            return False
        return lookup(key, default)

    extr.config = config


class _HaulJob(gdl_job.DownloadJob):
    """A DownloadJob writing into Haul's layout and reporting to a Haul job."""

    def __init__(self, extr, parent=None, context: _Context | None = None):
        super().__init__(extr, parent)
        self.top_level = parent is None  # the job for the URL sent, not one for a page it queued
        self.haul = context if context is not None else parent.haul
        self.out = _Output(self.haul, self)
        _use_postprocessors(extr, self.haul.postprocessors)
        if self.haul.request.cookies_file is not None:
            _use_cookies(extr, str(self.haul.request.cookies_file))

    def dispatch(self, messages):
        try:
            return super().dispatch(messages)
        except gdl_exception.ControlException:
            raise
        except Exception as exc:  # remember it for the retry decision, then let gallery-dl log it
            self.haul.exception = exc
            raise

    def get_downloader(self, scheme):
        """gallery-dl's downloader, its receive loop telling the bandwidth limits of each chunk
        as it arrives (jobs/bandwidth.py); its own `rate` option would limit each file alone."""
        instance = super().get_downloader(scheme)
        receive = getattr(instance, "receive", None)
        if receive is not None and not getattr(instance, "_haul_throttled", False):
            throttle = self.haul.request.throttle

            def throttled(fp, content, bytes_total, bytes_start):
                return receive(fp, _throttled_chunks(content, throttle), bytes_total, bytes_start)

            instance.receive, instance._haul_throttled = throttled, True
        return instance

    def initialize(self, kwdict=None):
        super().initialize(None)
        pathfmt = self.pathfmt
        pathfmt.basedirectory = str(self.haul.request.base_dir) + os.sep
        pathfmt.build_directory = self._build_directory
        build_filename = pathfmt.build_filename
        prefix = self.haul.request.name_prefix
        pathfmt.build_filename = lambda kw: sanitize_component(prefix + build_filename(kw), "file",
                                                               keep_extension=True)
        if kwdict is not None:
            pathfmt.set_directory(kwdict)

    def _build_directory(self, kwdict, segments=None):
        request = self.haul.request
        resource_id = next((str(kwdict[k]) for k in _RESOURCE_KEYS if kwdict.get(k) not in (None, "")), None)
        self._identify(kwdict, resource_id)
        folder = resource_directory(request.base_dir, request.storage_root, resource_id, request.url)
        progress = self.haul.progress
        progress.resource_id = folder.name
        title = next((str(kwdict[k]) for k in _TITLE_KEYS if kwdict.get(k)), None)
        if title and not progress.title:
            progress.title = title[:500]
        if isinstance(kwdict.get("count"), int):
            progress.items_total = kwdict["count"]
        return [folder.name]

    def _identify(self, kwdict, resource_id) -> None:
        """Tell the runner the gallery's identity (category + id) before its first file."""
        context = self.haul
        if context.identified:
            return
        context.identified = True
        context.directory = dict(kwdict)
        if context.request.list_only:
            raise _Stop()  # a subscription of one gallery: listed, not downloaded
        if context.request.identify is not None and resource_id and kwdict.get("category"):
            try:
                context.request.identify(f"{kwdict['category']}:{resource_id}")
            except AlreadyDownloaded as exc:
                context.duplicate = exc
                raise _Stop() from None

    def handle_queue(self, url, kwdict):
        # A top-level extractor that queues other pages lists a collection: its pages become
        # child jobs (the runner's), unless it also had files of its own (see GalleryDlEngine.run).
        if self.top_level and self.haul.request.on_collection is not None:
            self.haul.queued.append((url, dict(kwdict)))
            return
        super().handle_queue(url, kwdict)

    def handle_url(self, url, kwdict):
        self.haul.check()
        if self.haul.item is None:
            self.haul.item = dict(kwdict)
        kwdict["_http_validate"] = self._announced_size_check(kwdict.get("_http_validate"))
        super().handle_url(url, kwdict)

    def _announced_size_check(self, theirs):
        """gallery-dl's response check, wrapped: once the headers are in and before the body is
        read, report the size the site announces, so a job whose limits it passes
        (jobs/guest_limits.py) stops there. The extractor's own check (if any) still decides."""
        context = self.haul

        def validate(response):
            announced = response.headers.get("Content-Length", "")
            if response.status_code == 200 and announced.isdigit():
                context.progress.bytes_done, context.progress.bytes_total = 0, int(announced)
                context.report()
                context.check()
            return theirs(response) if theirs is not None else True

        return validate


def _throttled_chunks(content, throttle):
    for chunk in content:
        throttle(len(chunk))
        yield chunk


def _queue_listing(extr, queued: list[tuple[str, dict]]) -> Listing:
    """The pages a top-level extractor queued, as a collection's entries."""
    first = queued[0][1] if queued else {}
    items = []
    for url, kwdict in queued:
        ident = next((kwdict[k] for k in _RESOURCE_KEYS if kwdict.get(k) not in (None, "")), None)
        category = kwdict.get("category") or extr.category
        published = kwdict.get("date")
        items.append(Item(
            url=url, title=next((str(kwdict[k]) for k in _TITLE_KEYS if kwdict.get(k)), None),
            published=published.replace(tzinfo=timezone.utc) if isinstance(published, datetime) else None,
            item_key=f"{category}:{ident}" if ident is not None else None,
        ))
    collection_id = next((str(first[k]) for k in ("user", "username", "author", "board", "search_tags")
                          if first.get(k)), None)
    return Listing(collection_id or extr.subcategory, collection_id, extr.category, items)


def _single_listing(extr, url: str, kwdict: dict) -> Listing:
    """A gallery listed as one item (a subscription of a single gallery)."""
    ident = next((kwdict[k] for k in _RESOURCE_KEYS if kwdict.get(k) not in (None, "")), None)
    title = next((str(kwdict[k]) for k in _TITLE_KEYS if kwdict.get(k)), None)
    key = f"{kwdict.get('category') or extr.category}:{ident}" if ident is not None else None
    return Listing(str(ident) if ident is not None else None, title, extr.category,
                   [Item(url=url, title=title, item_key=key)])


@registry.register
class GalleryDlEngine(Engine):
    name = GALLERY_DL
    claim_order = 20

    def claims(self, url: str) -> bool:
        return site_extractor(url) is not None

    def run_generic(self, request: DownloadRequest) -> None:
        """The images gallery-dl's generic extractor finds on the page."""
        self.run(request, generic=True)

    def run(self, request: DownloadRequest, generic: bool = False) -> None:
        """Download with the site's extractor, or the page's images when `generic` or none fits."""
        configure(request.gallery_dl_options)
        extr = None if generic else gdl_extractor.find(request.url)
        if extr is None:
            generic = True
            extr = PortAwareGenericExtractor.for_url(request.url)
        context = _Context(request)
        job = _HaulJob(extr, context=context)
        try:
            status = job.run()
        except _Stop:
            if context.duplicate is not None:
                raise context.duplicate from None
            if context.cancel is None and request.list_only and context.directory is not None:
                request.on_collection(_single_listing(extr, request.url, context.directory))
                return
            raise context.cancel or Cancelled() from None
        if context.cancel is not None:
            raise context.cancel
        if context.duplicate is not None:
            raise context.duplicate
        if context.queued and (context.files == 0 or request.list_only):
            request.on_collection(_queue_listing(extr, context.queued))
            return
        for url, kwdict in context.queued:  # files of its own too: follow its pages as gallery-dl would
            gdl_job.DownloadJob.handle_queue(job, url, kwdict)
        if status == 0 and context.files:
            if context.item is not None:
                request.describe(item_metadata.from_gallery_dl(context.item, context.directory))
            return
        if status == 0:  # gallery-dl saw the page fine but saved nothing
            if generic:
                raise EngineError("No images or videos found on this page")
            reason = f": {context.messages[-1]}" if context.messages else ""
            raise EngineError(f"gallery-dl found nothing to download at this URL{reason}")
        raise self._failure(context)

    @staticmethod
    def _failure(context: _Context) -> EngineError:
        exc = context.exception
        message = next((m for m in reversed(context.messages) if "Failed to download" not in m), None)
        message = message or (context.messages[-1] if context.messages else None)
        status = getattr(exc, "status", None) or None
        if status is None:
            status = next((s for s in map(status_from_message, context.messages) if s), None)
        if exc is not None and not message:
            message = f"{exc.__class__.__name__}: {exc}"
        transient = is_transient_status(status) or (
            status is None and any("Connection" in m or "Timeout" in m or "timed out" in m for m in context.messages)
        )
        return EngineError(message or "gallery-dl could not download this URL", transient=transient)
