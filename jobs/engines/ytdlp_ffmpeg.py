"""yt-dlp's ffmpeg and ffprobe runs on downloaded files read them as media only (jobs/media_safety.py).

After a download yt-dlp runs ffmpeg through its post-processors: merging separate video and
audio, fixing HLS and DASH downloads, and whatever an admin's switches add (metadata, thumbnails,
subtitles, audio extraction). The files are what a site served, so each input gets Haul's
allowlists: through yt-dlp's `postprocessor_args`, under the "<post-processor>+ffmpeg_i" key that
yt-dlp puts before every `-i` of that post-processor (a plain "ffmpeg_i" or "default" key does
not reach inputs). Its ffprobe runs (`get_metadata_object`, `get_audio_codec`) take no such
arguments, so those two methods are wrapped once per process (`guard_probes`).

yt-dlp's ffmpeg *downloader* (live streams, some HLS) reads `external_downloader_args`, not
these: it is left free to fetch playlists over the network, which is what it is for.
"""
from __future__ import annotations

import functools
import re

import yt_dlp.postprocessor
from yt_dlp.postprocessor.ffmpeg import FFmpegPostProcessor
from yt_dlp.utils import PostProcessingError

from jobs import media_safety

_READS_MEDIA = media_safety.CONTAINER_FORMATS + media_safety.SIDE_FORMATS
# Post-processors that read more than media: thumbnails to convert or embed (images), and the
# concat list of downloaded parts that yt-dlp writes itself (FFmpegConcat, ModifyChapters; both
# only with an admin's switches). ffmpeg opens the list's entries with the same allowlists, concat
# included: a part that is itself a concat list could reach the files beside it in its folder (the
# concat demuxer's safe mode refuses absolute paths and URLs), never a URL or an HLS/DASH playlist.
_EXTRA_FORMATS = {
    "thumbnailsconvertor": media_safety.STILL_FORMATS,
    "embedthumbnail": media_safety.STILL_FORMATS,
    "concat": ("concat",),
    "modifychapters": ("concat",),
}
_INPUT_KEY = re.compile(r"^(?P<pp>[a-z0-9_]+)\+ffmpeg_i\d*$")


@functools.lru_cache(maxsize=1)
def _ffmpeg_postprocessors() -> tuple[str, ...]:
    """The keys of every ffmpeg post-processor yt-dlp has ("merger", "fixupm3u8", …), lowercase."""
    classes = (getattr(yt_dlp.postprocessor, name) for name in dir(yt_dlp.postprocessor))
    return tuple(sorted({cls.pp_key().lower() for cls in classes
                         if isinstance(cls, type) and issubclass(cls, FFmpegPostProcessor)}))


def _input_args(pp: str) -> list[str]:
    return media_safety.ffmpeg_input_args(_READS_MEDIA + _EXTRA_FORMATS.get(pp, ()))


def postprocessor_args(admin_args: dict | None = None) -> dict:
    """yt-dlp's `postprocessor_args` with Haul's input allowlists for every ffmpeg post-processor.

    Kept from `admin_args` (HAUL_YTDLP_EXTRA_ARGS' --postprocessor-args): everything; Haul's
    options come after the admin's for the same input, so they are the ones ffmpeg keeps.
    """
    merged = {key.lower(): list(value) for key, value in (admin_args or {}).items()}
    for pp in _ffmpeg_postprocessors():
        key = f"{pp}+ffmpeg_i"
        merged[key] = [*merged.get(key, []), *_input_args(pp)]
    # yt-dlp takes "<pp>+ffmpeg_i1" instead of "<pp>+ffmpeg_i" for the first input when both exist.
    for key, value in list(merged.items()):
        numbered = _INPUT_KEY.match(key)
        if numbered and key != f"{numbered['pp']}+ffmpeg_i":
            merged[key] = [*value, *_input_args(numbered["pp"])]
    return merged


def guard_probes() -> None:
    """Make yt-dlp's ffprobe runs take the allowlists too (once per process; idempotent)."""
    if getattr(FFmpegPostProcessor.get_metadata_object, "_haul_guarded", False):
        return
    unguarded_metadata = FFmpegPostProcessor.get_metadata_object

    def get_metadata_object(self, path, opts=()):
        # Probes read a downloaded file only (never a concat list or a thumbnail).
        return unguarded_metadata(self, path, [*media_safety.ffmpeg_input_args(_READS_MEDIA), *opts])

    def get_audio_codec(self, path):
        # yt-dlp's own asks ffprobe (or, without ffprobe, `ffmpeg -i`) with no way to add options;
        # this asks the guarded get_metadata_object for the same answer: the first audio stream's
        # codec. Without ffprobe there is no answer (yt-dlp then skips an AAC fix-up newer ffmpeg
        # makes by itself, or tells that it cannot extract the audio).
        if self.probe_basename != "ffprobe":
            return None
        try:
            streams = self.get_metadata_object(path).get("streams") or []
        except (PostProcessingError, ValueError, OSError):
            return None
        return next((s.get("codec_name") for s in streams if s.get("codec_type") == "audio"), None)

    get_metadata_object._haul_guarded = True
    FFmpegPostProcessor.get_metadata_object = get_metadata_object
    FFmpegPostProcessor.get_audio_codec = get_audio_codec
