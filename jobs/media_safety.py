"""What ffmpeg and Pillow may read when Haul decodes a file: that file, as media, and nothing else.

Files in the library come from anyone a download link or an invite reaches, so their bytes and
their names prove nothing. ffmpeg picks a demuxer by content: an HLS, DASH or concat playlist
named `x.mp4` makes it open whatever the playlist lists — any file the worker can read, any URL
— and a thumbnail or a merged video would show it. So every ffmpeg that reads a library file
gets two allowlists as input options (docs/security.md):

* `-protocol_whitelist file`: local files only, never the network (nor `concat:`, `subfile:`…);
* `-format_whitelist …`: real containers only (below). Playlist-like demuxers (hls, dash, concat,
  image sequences) and virtual inputs (lavfi, tty) are refused before they read anything.

Pillow opens only the image formats below (its rarer decoders are where its security bugs have
been, and EPS runs Ghostscript), and no image is decoded whose header declares more than
MAX_IMAGE_PIXELS: a small file can claim 30000×30000 pixels and take gigabytes to decode.

yt-dlp's own ffmpeg runs on the files it has just downloaded get the same allowlists through
jobs/engines/ytdlp_ffmpeg.py; its ffmpeg *downloader* (live streams, HLS) is left as it is,
since fetching playlists over the network is its job.
"""
from __future__ import annotations

import warnings

# ffmpeg demuxer names, as `ffmpeg -demuxers` lists them (a demuxer listed as "mov,mp4,m4a,…"
# is allowed by any one of its names). Only formats that hold their media themselves.
VIDEO_FORMATS = ("mov", "matroska", "avi", "flv", "mpegts", "mpeg", "asf", "ogg")
AUDIO_FORMATS = ("mp3", "flac", "wav", "aac", "aiff", "ac3", "eac3", "wv")
CONTAINER_FORMATS = VIDEO_FORMATS + AUDIO_FORMATS
# What yt-dlp's post-processors read besides media: chapters/metadata they wrote themselves
# (ffmetadata), subtitles to embed or convert, and thumbnails to convert or embed. `image2` reads
# file-name patterns ("img%03d.jpg"): yt-dlp passes `-pattern_type none` where it forces it.
SIDE_FORMATS = ("ffmetadata", "srt", "webvtt", "ass", "lrc")
STILL_FORMATS = ("image2", "png_pipe", "jpeg_pipe", "webp_pipe", "gif")

PROTOCOLS = ("file",)


def ffmpeg_input_args(formats=CONTAINER_FORMATS) -> list[str]:
    """ffmpeg options to put before an `-i`: that input may be a local file of one of `formats`."""
    return ["-protocol_whitelist", ",".join(PROTOCOLS), "-format_whitelist", ",".join(formats)]


# -- Pillow -----------------------------------------------------------------------------------------

# Pillow's format names (Image.open's `formats`). JPEG covers MPO, the multi-picture JPEG of cameras.
IMAGE_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "AVIF", "BMP", "TIFF")
# 50 megapixels: a 48 MP phone photo (8000×6000) or an 8K frame (33 MP) fits. Decoding one costs
# up to 200 MB (RGBA); larger images are stored as they are and simply get no thumbnail.
MAX_IMAGE_PIXELS = 50_000_000


class Refused(ValueError):
    """A file Haul will not decode; the message says why (and never quotes the file's content)."""


def pixel_refusal(size: tuple[int, int]) -> str | None:
    """Why an image of `size` (width, height) is not decoded, or None when it may be."""
    width, height = size
    if width * height > MAX_IMAGE_PIXELS:
        return f"it declares {width}×{height} pixels, more than {MAX_IMAGE_PIXELS:,}"
    return None


def _pillow():
    # Imported on first use: the long-running worker never decodes an image (its thumbnails are
    # made by a short-lived child), so Pillow stays out of its memory.
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS  # Pillow's own check, for any path that skips ours
    # Pillow warns above that and raises above twice that. open_image refuses every image it would
    # warn about, with the reason, so the warning would only repeat it. (Set on every call: cheap,
    # and it holds where something resets the warning filters, as pytest does for each test.)
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
    return Image


def open_image(source, formats=IMAGE_FORMATS):
    """Open an image (a path or a binary file object) for decoding: its header is read and checked,
    no pixel yet. Raises Refused for another format or too many pixels."""
    Image = _pillow()
    try:
        image = Image.open(source, formats=list(formats))
    except Image.DecompressionBombError:
        raise Refused(f"it declares more than {2 * MAX_IMAGE_PIXELS:,} pixels") from None
    except Image.UnidentifiedImageError:
        raise Refused(f"it is none of {', '.join(formats)}") from None
    refusal = pixel_refusal(image.size)
    if refusal:
        image.close()
        raise Refused(refusal)
    return image
