"""yt-dlp's side of the media library: collection tags, every file a download leaves, the .nfo.

The preset's choices reach yt-dlp as its own parameters and postprocessors
(webapp/core/presets.py). What yt-dlp has no option for is done here by three small
PostProcessors of its own kind, added to every YoutubeDL session (jobs/engines/ytdlp.py) and
asking the session for the job running now (sessions are reused job after job): an object with
the job's `request` and an `add_file` that records each file once.

- `CollectionTags` (pre_process, before the file is named): a child of a collection gets its
  position as `playlist_index` and `track_number` and the collection's title as `album` (the
  site's own, when it has them, stay), so `{index}` in a file-name template and FFmpegMetadata's
  track and album tags have them.
- `NoteFilesBeside` (post_process, after yt-dlp's own postprocessors): the files yt-dlp is about
  to move into place (`__files_to_move`: subtitles, the thumbnail kept as a poster), those the
  postprocessors deleted (embedded subtitles, an embedded cover) already gone from it.
- `LibraryFiles` (after_move, with the final path): records the media and each of those files
  that exists (`DownloadRequest.add_file`), the info.json, writes the Kodi/Jellyfin .nfo beside a
  video (and tvshow.nfo in a series' folder), and hands what the extractor knew back
  (`DownloadRequest.describe`).

yt-dlp's `post_hooks` only name the final media file, hence the notes above.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Callable, Protocol

from yt_dlp.postprocessor import EmbedThumbnailPP, PostProcessor
from yt_dlp.postprocessor.embedthumbnail import EmbedThumbnailPPError
from yt_dlp.postprocessor.ffmpeg import FFmpegPostProcessor
from yt_dlp.utils import PostProcessingError

from jobs.engines.base import DownloadRequest
from webapp.core import item_metadata, nfo
from webapp.core.presets import AUDIO_ONLY, VIDEO, PresetSpec, ytdlp_template

log = logging.getLogger(__name__)

POSTER_SUFFIX = "-poster"  # <media name>-poster.jpg: the local poster Kodi, Jellyfin and Emby read
_FILES_KEY = "__haul_files_beside"  # '__' keys stay out of info.json (yt-dlp drops them)


class RunningJob(Protocol):
    request: DownloadRequest

    def add_file(self, path: Path) -> None: ...


CurrentJob = Callable[[], "RunningJob | None"]


def output_templates(spec: PresetSpec, name_prefix: str = "") -> dict:
    """yt-dlp's `outtmpl` for a job: the preset's file-name template (with a numbered collection's
    prefix), and the thumbnail named as a poster when the preset keeps one."""
    default = ytdlp_template(spec.filename_template, name_prefix)
    templates = {"default": default}
    if spec.write_poster:
        templates["thumbnail"] = default.removesuffix(".%(ext)s") + POSTER_SUFFIX + ".%(ext)s"
    return templates


class CollectionTags(PostProcessor):
    """A collection's child: its position and the collection's title, for names and tags."""

    def __init__(self, downloader, current: CurrentJob):
        super().__init__(downloader)
        self.current = current

    @classmethod
    def pp_key(cls):
        return "HaulCollectionTags"

    def run(self, info):
        job = self.current()
        collection = job.request.collection if job is not None else None
        if collection is not None:
            if collection.position:
                info["playlist_index"] = collection.position
                info.setdefault("track_number", collection.position)
            if collection.title:
                info.setdefault("album", collection.title)
        return [], info


class NoteFilesBeside(PostProcessor):
    """Keeps the list of files yt-dlp moves into place after the postprocessors (it is dropped
    before the after_move stage, where LibraryFiles needs it)."""

    @classmethod
    def pp_key(cls):
        return "HaulNoteFiles"

    def run(self, info):
        info[_FILES_KEY] = dict(info.get("__files_to_move") or {})
        return [], info


class LibraryFiles(PostProcessor):
    """After the move: record every file of the item, write the .nfo, describe the item."""

    def __init__(self, downloader, current: CurrentJob):
        super().__init__(downloader)
        self.current = current
        self.probe = FFmpegPostProcessor(downloader)

    @classmethod
    def pp_key(cls):
        return "HaulLibraryFiles"

    def run(self, info):
        job = self.current()
        media = info.get("filepath")
        beside = info.pop(_FILES_KEY, None) or {}
        if job is None or not media:
            return [], info
        request = job.request
        media = Path(media)
        spec = request.preset
        job.add_file(media)  # first: the job's files list the media before what is beside it
        folder = media.parent
        written = []
        for old, new in beside.items():
            final = Path(new) if new else folder / Path(old).name
            if final.is_file():
                written.append(final)
        infojson = info.get("infojson_filename")
        if infojson and Path(infojson).is_file():
            _scrub_info_json(Path(infojson))
            written.append(Path(infojson))
        fields = item_metadata.from_ytdlp(self._as_written(info, media, spec))
        if spec.kind == VIDEO and spec.write_nfo and info.get("vcodec") != "none":
            written.extend(self._write_nfo(request, media, fields, written))
        for path in written:
            job.add_file(path)
        request.describe(fields)
        return [], info

    def _as_written(self, info: dict, media: Path, spec: PresetSpec) -> dict:
        """The info with the streams of the file written, read with ffprobe when a postprocessor
        re-encoded them (audio extracted to another codec, a video converted: yt-dlp keeps the
        source's) or the site never said (a plain <video> gives no codecs or size)."""
        converted = (spec.kind == AUDIO_ONLY and spec.audio_codec != "best") or (
            spec.kind == VIDEO and spec.conversion == "recode" and spec.container != "any")
        unknown = info.get("acodec") is None or info.get("vcodec") is None or (
            info.get("vcodec") != "none" and not info.get("height"))
        if not (converted or unknown) or not self.probe.probe_available:
            return info
        try:
            streams = self.probe.get_metadata_object(str(media)).get("streams") or []
        except (PostProcessingError, ValueError, OSError) as exc:
            log.warning("could not read the streams of %s: %s", media.name, exc)
            return info
        video = next((s for s in streams if s.get("codec_type") == "video"
                      and not (s.get("disposition") or {}).get("attached_pic")), None)
        audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
        return {**info, "vcodec": video.get("codec_name") if video else "none",
                "width": video.get("width") if video else None, "height": video.get("height") if video else None,
                "acodec": audio.get("codec_name") if audio else "none", "ext": media.suffix.lstrip(".")}

    def _write_nfo(self, request: DownloadRequest, media: Path, fields: dict, written: list[Path]) -> list[Path]:
        spec, collection = request.preset, request.collection
        poster = next((path.name for path in written if path.stem.endswith(POSTER_SUFFIX)), None)
        made = []
        target = media.with_suffix(".nfo")
        target.write_bytes(nfo.item_nfo(
            fields, spec.nfo_layout, poster=poster, show_title=collection.title if collection else None,
            position=collection.position if collection else None))
        made.append(target)
        if spec.nfo_layout == nfo.SERIES and collection is not None and collection.own_folder:
            # One per series folder: the first item that finds none writes it (an item deleted
            # with its files takes it along; the next download writes it again).
            show = request.base_dir / nfo.TVSHOW_NFO
            try:
                with open(show, "xb") as handle:
                    handle.write(nfo.tvshow_nfo(collection.title, fields))
                made.append(show)
            except FileExistsError:
                pass
        return made


def _scrub_info_json(path: Path) -> None:
    """Take cookies out of the info.json yt-dlp wrote: the formats carry the request's cookies
    (a site's cookies.txt the admin shared), which must not lie in the library."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    changed = False

    def clean(value):
        nonlocal changed
        if isinstance(value, dict):
            for key in [key for key in value if key.lower() in ("cookies", "cookie")]:
                del value[key]
                changed = True
            for inner in value.values():
                clean(inner)
        elif isinstance(value, list):
            for inner in value:
                clean(inner)

    clean(data)
    if changed:
        temp = path.with_name(path.name + ".tmp")
        temp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        os.replace(temp, path)


def _tolerate_unsupported_cover(pp: EmbedThumbnailPP) -> None:
    """A container yt-dlp cannot put a cover in (webm, wav) keeps its thumbnail beside it
    instead of failing the download after every byte of it arrived."""
    run = pp.run

    def run_or_skip(info):
        try:
            return run(info)
        except EmbedThumbnailPPError as exc:
            pp.report_warning(f"{exc}; the thumbnail stays beside the file")
            return [], info

    pp.run = run_or_skip


def install(ydl, current: CurrentJob) -> None:
    """Add Haul's library postprocessors to a YoutubeDL (once, when the session is built)."""
    for pp in ydl._pps.get("post_process", []):
        if isinstance(pp, EmbedThumbnailPP):
            _tolerate_unsupported_cover(pp)
    ydl.add_post_processor(CollectionTags(ydl, current), when="pre_process")
    ydl.add_post_processor(NoteFilesBeside(ydl), when="post_process")
    ydl.add_post_processor(LibraryFiles(ydl, current), when="after_move")
