"""Direct media links: one HTTP GET streamed to disk, with progress and cancellation."""
from __future__ import annotations

import hashlib
import logging
import mimetypes
import os
import re
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import requests

from jobs.engines import registry
from jobs.engines.base import Cancelled, DownloadRequest, Engine, EngineError, Progress, is_transient_status
from webapp.core.item_filters import Item
from webapp.core.listings import Listing
from webapp.core.paths import inside_root, resource_directory, sanitize_component
from webapp.core.vocabulary import DIRECT

MEDIA_EXTENSIONS = {
    "jpg", "jpeg", "jpe", "png", "gif", "webp", "avif", "bmp", "tif", "tiff", "heic", "svg",
    "mp4", "m4v", "mkv", "webm", "mov", "avi", "flv", "ogv",
    "mp3", "m4a", "aac", "ogg", "oga", "opus", "flac", "wav",
}
CHUNK = 64 * 1024
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) Haul"
# Its lines go to the job's own log too (jobs/job_log.py captures what the job's thread logs).
log = logging.getLogger(__name__)


def is_direct_media_url(url: str) -> bool:
    """True when the URL's path ends in a media file extension."""
    path = urlsplit(url).path
    _, dot, ext = path.rpartition(".")
    return bool(dot) and "/" not in ext and ext.lower() in MEDIA_EXTENSIONS


def _filename(url: str, response: requests.Response) -> str:
    disposition = response.headers.get("Content-Disposition", "")
    match = re.search(r"filename\*?=(?:UTF-8'')?\"?([^\";]+)", disposition)
    name = unquote(match.group(1)) if match else unquote(os.path.basename(urlsplit(url).path))
    if "." not in name:
        ext = mimetypes.guess_extension((response.headers.get("Content-Type") or "").split(";")[0].strip())
        name = (name or "file") + (ext or "")
    return sanitize_component(name, fallback="file", keep_extension=True)


_local = threading.local()


def _thread_session() -> requests.Session:
    """One HTTP session per worker thread: connections to a site are kept alive between jobs,
    cookies are not — what a site set during one person's job must not go with the next's."""
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
        session.headers["User-Agent"] = USER_AGENT
    session.cookies.clear()
    return session


@registry.register
class DirectEngine(Engine):
    name = DIRECT
    claim_order = 30  # a file extension says less than a site extractor: asked last

    def claims(self, url: str) -> bool:
        return is_direct_media_url(url)

    def run(self, request: DownloadRequest) -> None:
        if request.list_only:  # a subscription of one file: the listing is the file itself
            request.on_collection(Listing(None, None, DIRECT, [Item(url=request.url)]))
            return
        session = _thread_session()
        folder = resource_directory(request.base_dir, request.storage_root, None, request.url)
        progress = Progress(resource_id=folder.name, items_total=1)
        try:
            response = session.get(request.url, stream=True, timeout=(15, 60))
        except requests.RequestException as exc:
            raise EngineError(f"Could not connect: {exc.__class__.__name__}: {exc}", transient=True) from None
        with response:
            log.info("GET %s: %s %s, %s bytes, %s", request.url, response.status_code, response.reason,
                     response.headers.get("Content-Length") or "unknown",
                     response.headers.get("Content-Type") or "no type")
            if response.status_code != 200:
                raise EngineError(
                    f"HTTP Error {response.status_code}: {response.reason} for {request.url}",
                    transient=is_transient_status(response.status_code),
                )
            if (response.headers.get("Content-Type") or "").startswith("text/html"):
                raise EngineError("The server answered with a web page, not a media file")
            name = _filename(request.url, response)
            if request.name_prefix:
                name = sanitize_component(request.name_prefix + name, fallback="file", keep_extension=True)
            target = inside_root(request.storage_root, folder / name)
            if target.exists():  # an earlier attempt finished it
                request.add_file(target)
                return
            progress.current_file = name
            total = response.headers.get("Content-Length")
            progress.bytes_total = int(total) if total and total.isdigit() else None
            # The announced size, before a byte is written: a job whose limits it passes stops here.
            request.report(progress)
            request.check()
            folder.mkdir(parents=True, exist_ok=True)
            part = target.with_name(target.name + ".part")
            request.temp_paths.add(str(part))
            started = time.monotonic()
            # Hashed as it arrives (the runner records this digest instead of reading the file
            # again): the hashing overlaps the transfer (the socket fills meanwhile) instead of
            # being a second pass over the file after the last byte.
            digest = hashlib.sha256()
            try:
                with open(part, "wb") as fh:
                    for chunk in response.iter_content(CHUNK):
                        request.throttle(len(chunk))  # the bandwidth limits (jobs/bandwidth.py)
                        request.check()
                        fh.write(chunk)
                        digest.update(chunk)
                        progress.bytes_done += len(chunk)
                        elapsed = time.monotonic() - started
                        if elapsed > 0:
                            progress.speed = progress.bytes_done / elapsed
                            if progress.bytes_total:
                                progress.eta = (progress.bytes_total - progress.bytes_done) / max(progress.speed, 1)
                        request.report(progress)
            except requests.RequestException as exc:
                raise EngineError(f"Download interrupted: {exc}", transient=True) from None
            except Cancelled:
                raise
            if progress.bytes_total and progress.bytes_done < progress.bytes_total:
                raise EngineError(
                    f"Connection closed early ({progress.bytes_done} of {progress.bytes_total} bytes)", transient=True
                )
            os.replace(part, target)
            request.temp_paths.discard(str(part))
            request.file_hashes[str(target)] = (progress.bytes_done, digest.hexdigest())
            log.info("saved %s (%s bytes)", name, progress.bytes_done)
        progress.items_done = 1
        request.report(progress)
        request.add_file(Path(target))
