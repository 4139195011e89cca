"""Listing a collection without downloading anything, for a subscription's preview.

The web process never imports the download tools (yt-dlp's extractors alone are ~30 MB), and a
preview must not wait behind the downloads the worker's threads are busy with, so each preview
runs here, in a short-lived process of its own: `python -m jobs.listing '<json request>'`
prints the listing as JSON (webapp/services/queue/dispatch.py list_collection runs it). The
engines list in `list_only` mode: no media is fetched, a single item is a listing of one, and a
job restricted to public addresses is checked by net_guard as its download would be.
"""
from __future__ import annotations

import json
import sys
import tempfile
import threading
from pathlib import Path

from jobs import net_guard
from jobs.engines import picker
from jobs.engines.base import DownloadRequest, EngineError
from webapp.core.listings import Listing


def list_url(url: str, engine: str | None, public_only: bool, settings) -> Listing:
    """The entries at `url` (EngineError when the tools find nothing to list)."""
    found: list[Listing] = []
    with tempfile.TemporaryDirectory(prefix="haul-listing-") as scratch:
        request = DownloadRequest(
            url=url, base_dir=Path(scratch), storage_root=Path(scratch), report=lambda progress: None,
            add_file=lambda path: None, cancel_event=threading.Event(),
            gallery_dl_options=settings.gallery_dl_options, ytdlp_options=settings.ytdlp_options,
            public_only=public_only, on_collection=found.append, list_only=True,
        )
        with net_guard.guarded(public_only) as guard:
            try:
                picker.download(picker.pick(url, engine), request, started=lambda name: None)
            except EngineError:
                if guard.refusal is not None:
                    raise EngineError(str(guard.refusal)) from None
                raise
    if not found:
        raise EngineError("Nothing to list at this URL")
    return found[0]


def main(argv: list[str]) -> int:
    from webapp.config import load_settings

    request = json.loads(argv[1])
    settings = load_settings(check_tool_args=False)
    try:
        listing = list_url(request["url"], request.get("engine"), bool(request.get("public_only", True)), settings)
    except EngineError as exc:
        print(json.dumps({"error": exc.message}))
        return 1
    print(json.dumps({"listing": listing.to_json()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
