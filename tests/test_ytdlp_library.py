"""yt-dlp's library glue (jobs/engines/ytdlp_library.py), in this process against the local media site."""
from __future__ import annotations

import json
import threading
from pathlib import Path

from jobs.engines import ytdlp
from jobs.engines.base import DownloadRequest
from jobs.engines.ytdlp_library import _scrub_info_json
from webapp.core.file_kinds import file_kind
from webapp.core.presets import PresetSpec


def test_a_container_without_cover_art_keeps_the_thumbnail_beside_instead_of_failing(media_site, tmp_path):
    files: list[Path] = []
    spec = PresetSpec.from_dict({"name": "w", "container": "webm", "conversion": "recode", "embed_thumbnail": True})
    request = DownloadRequest(url=media_site.url("/show/webm-cover"), base_dir=tmp_path / "lib" / "site",
                              storage_root=tmp_path / "lib", report=lambda progress: None, add_file=files.append,
                              cancel_event=threading.Event(), preset=spec)
    ytdlp.YtDlpEngine().run(request)
    names = [path.name for path in files]
    assert names == ["Show webm-cover [webm-cover-1].webm", "Show webm-cover [webm-cover-1].jpg"]
    assert file_kind(names[1], names) == "poster"


def test_cookies_never_stay_in_an_info_json(tmp_path):
    path = tmp_path / "x.info.json"
    path.write_text(json.dumps({"id": "x", "cookies": "sid=1", "formats": [
        {"url": "u", "cookies": "sid=1", "http_headers": {"Cookie": "sid=1", "User-Agent": "ua"}}]}))
    _scrub_info_json(path)
    assert json.loads(path.read_text()) == {"id": "x", "formats": [{"url": "u", "http_headers": {"User-Agent": "ua"}}]}
