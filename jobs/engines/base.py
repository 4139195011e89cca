"""The interface every engine implements, and what engines report back.

An engine knows nothing of Flask, the database or HTTP requests to Haul: it gets a
`DownloadRequest` with the URL, the folder to write under, the preset to apply and four
callbacks — `report` (throttled progress), `add_file` (a finished file: the media and every file
written beside it), `describe` (what the tool knew about the item) and `check` (raises
`Cancelled` when the job must stop) — and raises `EngineError` when the download fails.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from webapp.core.listings import Listing
from webapp.core.presets import PresetSpec

# What an engine makes of a download when nobody chose a preset (the runner always does): the
# files as the tool gives them, nothing embedded or written beside them.
AS_IS = PresetSpec(name="as-is", label="As the site gives it", embed_metadata=False, embed_chapters=False)


class Cancelled(Exception):
    """The job was cancelled, timed out or the worker is shutting down."""

    def __init__(self, reason: str = "cancelled"):
        super().__init__(reason)
        self.reason = reason


class AlreadyDownloaded(Exception):
    """The item (extractor + id) is another job's already: this job downloads nothing."""

    def __init__(self, job_id: int):
        super().__init__(f"already downloaded as job {job_id}")
        self.job_id = job_id


class EngineError(Exception):
    """A download failed. `transient` errors (connection, 5xx, 429) are worth another attempt."""

    def __init__(self, message: str, transient: bool = False, unsupported: bool = False):
        super().__init__(message)
        self.message = message
        self.transient = transient
        self.unsupported = unsupported


@dataclass
class Progress:
    bytes_done: int = 0
    bytes_total: int | None = None
    speed: float | None = None
    eta: float | None = None
    items_done: int = 0
    items_total: int | None = None
    current_file: str | None = None
    title: str | None = None
    resource_id: str | None = None


@dataclass(frozen=True)
class CollectionContext:
    """Where a child job stands in its collection: tags and names use it (album, track number)."""

    title: str | None  # the collection's title (a playlist's, a feed's, a channel's)
    position: int | None  # 1-based, in the collection's chosen order
    own_folder: bool = False  # the collection's files are in a folder of its own (base_dir)


@dataclass
class DownloadRequest:
    url: str
    base_dir: Path  # storage_root/<post_title>/<domain>; the engine adds <resource-id>/
    storage_root: Path
    report: Callable[[Progress], None]
    add_file: Callable[[Path], None]
    cancel_event: threading.Event
    cancel_reason: Callable[[], str] = lambda: "cancelled"
    gallery_dl_options: tuple = ()
    ytdlp_options: dict = field(default_factory=dict)
    # What to make of the download (container, audio, subtitles, files beside it): the job's
    # preset as the worker read it when the job started.
    preset: PresetSpec = AS_IS
    cookies_file: Path | None = None  # the site's cookies.txt (Netscape format), if the admin gave one
    temp_paths: set = field(default_factory=set)  # partial files to remove if the job stops
    # str(path) → (size, sha256 hex) of a file whose bytes the engine hashed as it wrote them:
    # the runner then records that digest instead of reading the file again (a 1 GiB file is
    # ~0.8 s of CPU on the benchmarks' machine type, and a second read from a slow disk or NAS).
    file_hashes: dict = field(default_factory=dict)
    # A job restricted to public addresses (jobs/net_guard.py checks its connections);
    # engines that could start an external downloader keep to their own instead.
    public_only: bool = False
    # A URL that lists other pages (a playlist, channel, feed, profile): the engine hands the
    # listing here instead of downloading, and the runner queues a child job per entry. None:
    # download whatever the URL holds, as one job (a child of a collection is never expanded).
    on_collection: Callable[[Listing], None] | None = None
    # Only list: a subscription's run wants the entries even when the URL is a single item
    # (a listing of one), and never downloads media itself.
    list_only: bool = False
    # Told the item's identity ("<extractor>:<id>") before any media is fetched; raises
    # AlreadyDownloaded when another job has the item. None: no identity check.
    identify: Callable[[str], None] | None = None
    name_prefix: str = ""  # put before each file name (a numbered collection's "007 - ")
    collection: CollectionContext | None = None  # set for a child of a collection
    # Told what the tool knew about the item (webapp/core/item_metadata.py's fields, a plain
    # dict), once per item it downloaded; the runner keeps the first.
    describe: Callable[[dict], None] = lambda fields: None
    # Called with the size of each chunk as it arrives; waits while the bandwidth limits say so
    # (jobs/bandwidth.py). Every engine calls it from its read loop.
    throttle: Callable[[int], None] = lambda size: None

    def check(self) -> None:
        """Raise Cancelled when the job has to stop."""
        if self.cancel_event.is_set():
            raise Cancelled(self.cancel_reason())


class Engine:
    """A download tool behind Haul's interface.

    Each engine module registers one instance under its `name` (jobs/engines/registry.py); the
    picker asks the registered engines, by `claim_order`, whether one `claims` a URL.
    """

    name = "engine"  # its word in webapp/core/vocabulary.py, recorded as Job.engine
    claim_order = 100  # asked before engines with a higher number

    def claims(self, url: str) -> bool:
        """Whether this engine has something made for `url` (a site extractor, a media file type)."""
        return False

    def run(self, request: DownloadRequest) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def run_generic(self, request: DownloadRequest) -> None:
        """Download from a page no engine claims, when the picker's fall-back comes to this engine."""
        self.run(request)


_STATUS_IN_TEXT = re.compile(r"\b(?:HTTP Error |')?([1-5]\d\d)(?:[: ]|' )")


def is_transient_status(status: int | None) -> bool:
    return status is not None and (status >= 500 or status in (408, 425, 429))


def status_from_message(message: str) -> int | None:
    """The HTTP status a tool's error message names, e.g. "'500 Internal Server Error' for …"."""
    match = _STATUS_IN_TEXT.search(message or "")
    return int(match.group(1)) if match else None
