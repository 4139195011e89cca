"""Media files are decoded as media only: the real thumbnailer (ffmpeg, Pillow) and yt-dlp's real
ffmpeg post-processors on files an attacker shaped, with the local media site as the outside world.

The attacks: a playlist (HLS, DASH, ffconcat) named like a video makes ffmpeg read the files it
lists — a secret beside the library, a URL — and a thumbnail or a merged video would show them;
an image whose header declares billions of pixels takes gigabytes to decode; a rarely used
image decoder is the usual home of decoder bugs. Each secret here is a small video or image of a
size nothing else has (96×64), so any output made from it would be unmistakable.
"""
from __future__ import annotations

import hashlib
import logging
import struct
import subprocess
import threading
import zlib
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests
from support.media_site import video_clip_number

from jobs import media_safety, thumbnails
from webapp.services.library.files import thumbnail_path

SECRET_SIZE = (96, 64)


def ffmpeg(*args: str) -> None:
    """Test tooling: make a fixture file (this ffmpeg is ours, not the one under test)."""
    subprocess.run(["ffmpeg", "-hide_banner", "-v", "error", "-nostdin", "-y", *args], check=True, timeout=60)


def write_secret_video(path: Path, container: str = "mpegts") -> Path:
    """A 2 s 96×64 H.264/AAC video: what an attacker's playlist would like ffmpeg to read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ffmpeg("-f", "lavfi", "-i", "color=c=blue:size=96x64:duration=2:rate=10",
           "-f", "lavfi", "-i", "sine=frequency=1000:duration=2",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-f", container, str(path))
    return path


def write_secret_image(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ffmpeg("-f", "lavfi", "-i", "color=c=blue:size=96x64", "-frames:v", "1", str(path))
    return path


def hls_playlist(*refs: str) -> str:
    segments = "".join(f"#EXTINF:2.0,\n{ref}\n" for ref in refs)
    return ("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"
            f"{segments}#EXT-X-ENDLIST\n")


def dash_manifest(*refs: str) -> str:
    representations = "".join(
        f'<Representation id="r{i}" bandwidth="100000" width="96" height="64" codecs="avc1.64000b">'
        f"<BaseURL>{ref}</BaseURL></Representation>" for i, ref in enumerate(refs))
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-on-demand:2011" '
            'type="static" mediaPresentationDuration="PT2S" minBufferTime="PT1S"><Period>'
            f'<AdaptationSet mimeType="video/mp4">{representations}</AdaptationSet></Period></MPD>\n')


def sha_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


@pytest.fixture
def refusals(caplog):
    """The thumbnailer's log lines (Alembic's logging config may have disabled its logger)."""
    logger = logging.getLogger("jobs.thumbnails")
    was_disabled, logger.disabled = logger.disabled, False
    caplog.set_level(logging.INFO, logger="jobs.thumbnails")
    yield caplog
    logger.disabled = was_disabled


# -- ffmpeg in the thumbnailer -----------------------------------------------------------------------


def _disguised(kind: str, folder: Path, private: Path, trap_url: str) -> Path:
    """x.mp4 in the library: a playlist of `kind` listing a secret (and, for HLS, a URL after it)."""
    folder.mkdir(parents=True, exist_ok=True)
    disguised = folder / "x.mp4"
    if kind == "hls":
        disguised.write_text(hls_playlist(str(write_secret_video(private / "secret.ts")), trap_url))
    elif kind == "dash":  # (ffmpeg's DASH demuxer gives up on all when one listed URL fails: no URL here)
        disguised.write_text(dash_manifest(str(write_secret_video(private / "secret.mp4", "mp4"))))
    else:  # ffconcat: its safe mode refuses absolute paths and URLs, so the secret sits beside it
        write_secret_image(folder / "secret.png")
        disguised.write_text("ffconcat version 1.0\nfile secret.png\nduration 2\n")
    return disguised


@pytest.mark.parametrize("kind", ["hls", "dash", "concat"])
def test_no_thumbnail_from_the_playlist(kind, tmp_path, media_site, refusals):
    """An HLS/DASH/concat playlist uploaded as x.mp4 gives no thumbnail and never reads what it lists."""
    trap = f"/trap/thumbnail-{kind}/segment.ts"
    disguised = _disguised(kind, tmp_path / "library" / "uploads" / "guest", tmp_path / "private",
                           media_site.url(trap))
    data_dir = tmp_path / "data"
    assert thumbnails.make_thumbnail(disguised, sha_of(disguised), data_dir, "video/mp4") is None
    assert files_under(data_dir) == []  # no thumbnail, no half-written file: the secret is shown nowhere
    assert media_site.count(trap) == 0
    assert "Format not on whitelist" in refusals.text  # ffmpeg refused the demuxer before it read a thing


def make_real_media(kind: str, folder: Path) -> tuple[Path, str]:
    """A genuine 160×120 file of `kind` in `folder`, and its MIME type."""
    folder.mkdir(parents=True, exist_ok=True)
    video = ["-f", "lavfi", "-i", "testsrc=duration=1:size=160x120:rate=10"]
    audio = ["-f", "lavfi", "-i", "sine=frequency=440:duration=1"]
    if kind == "mp4":
        path = folder / "clip.mp4"
        ffmpeg(*video, *audio, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path))
        return path, "video/mp4"
    if kind == "webm":
        path = folder / "clip.webm"
        ffmpeg(*video, *audio, "-c:v", "libvpx-vp9", "-c:a", "libopus", "-shortest", str(path))
        return path, "video/webm"
    if kind == "ts":  # what an HLS download is before yt-dlp's fix-up
        path = folder / "clip.ts"
        ffmpeg(*video, *audio, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path))
        return path, "video/mp2t"
    if kind == "mp3 with cover":
        cover = folder / "cover.jpg"
        ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x120", "-frames:v", "1", str(cover))
        path = folder / "song.mp3"
        ffmpeg(*audio, "-i", str(cover), "-map", "0", "-map", "1", "-c:a", "libmp3lame", "-c:v", "mjpeg",
               "-id3v2_version", "3", "-disposition:v", "attached_pic", str(path))
        return path, "audio/mpeg"
    path = folder / "photo.jpg"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x120", "-frames:v", "1", str(path))
    return path, "image/jpeg"


@pytest.mark.parametrize("kind", ["mp4", "webm", "ts", "mp3 with cover", "jpeg"])
def test_real_media_still_get_thumbnails(kind, tmp_path):
    from PIL import Image

    source, mime = make_real_media(kind, tmp_path / "library")
    made = thumbnails.make_thumbnail(source, sha_of(source), tmp_path / "data", mime)
    assert made is not None and made == thumbnail_path(tmp_path / "data", sha_of(source))
    with Image.open(made) as image:
        assert image.format == "WEBP" and image.size == (160, 120)


# -- Pillow -----------------------------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_grey_png(path: Path, width: int, height: int, *, with_pixels: bool = True) -> Path:
    """A greyscale PNG of width×height, all black: a few hundred KB on disk for 81 megapixels.
    Without pixels, only the header that declares the size."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = b""
    if with_pixels:
        packer, row, parts = zlib.compressobj(9), b"\x00" * (width + 1), []
        for _ in range(height):
            parts.append(packer.compress(row))
        parts.append(packer.flush())
        data = b"".join(parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
                     + (_png_chunk(b"IDAT", data) if data else b"") + _png_chunk(b"IEND", b""))
    return path


def test_a_decompression_bomb_is_refused_before_decoding(tmp_path, refusals):
    """9000×9000 pixels in 80 KB (under Pillow's own default limit, so Pillow alone would decode all
    81 million), and a bare header claiming 30000×30000: no thumbnail, refused by the header check."""
    from PIL import Image

    data_dir = tmp_path / "data"
    bomb = write_grey_png(tmp_path / "library" / "bomb.png", 9000, 9000)
    assert bomb.stat().st_size < 200_000
    assert thumbnails.make_thumbnail(bomb, sha_of(bomb), data_dir, "image/png") is None
    assert f"not decoding {bomb}: it declares 9000×9000 pixels, more than 50,000,000" in refusals.text

    claim = write_grey_png(tmp_path / "library" / "claim.png", 30000, 30000, with_pixels=False)
    assert thumbnails.make_thumbnail(claim, sha_of(claim), data_dir, "image/png") is None
    assert f"not decoding {claim}: it declares more than 100,000,000 pixels" in refusals.text

    assert files_under(data_dir) == []
    assert Image.MAX_IMAGE_PIXELS == media_safety.MAX_IMAGE_PIXELS == 50_000_000
    # The next image is made as usual.
    photo, mime = make_real_media("jpeg", tmp_path / "library")
    assert thumbnails.make_thumbnail(photo, sha_of(photo), data_dir, mime) is not None


def test_an_image_at_the_limit_is_decoded(tmp_path):
    """The limit refuses what is above it only: 7000×7000 (49 MP) is decoded into a thumbnail."""
    image = write_grey_png(tmp_path / "library" / "big.png", 7000, 7000)
    assert thumbnails.make_thumbnail(image, sha_of(image), tmp_path / "data", "image/png") is not None


@pytest.mark.parametrize("rare", ["PCX", "SGI", "TGA", "PPM"])
def test_a_rarely_used_image_decoder_is_never_reached(rare, tmp_path, refusals):
    """A PCX (or SGI, TGA, PPM) file named photo.jpg: Pillow could decode it, but only real web and
    camera formats are opened."""
    from PIL import Image

    disguised = tmp_path / "library" / "photo.jpg"
    disguised.parent.mkdir(parents=True)
    Image.new("RGB", SECRET_SIZE, (0, 0, 255)).save(disguised, rare)
    assert thumbnails.make_thumbnail(disguised, sha_of(disguised), tmp_path / "data", "image/jpeg") is None
    assert f"not decoding {disguised}: it is none of JPEG, PNG, GIF, WEBP, AVIF, BMP, TIFF" in refusals.text
    assert files_under(tmp_path / "data") == []


# -- yt-dlp's ffmpeg and ffprobe ---------------------------------------------------------------------


def haul_youtube_dl():
    """A YoutubeDL as Haul's yt-dlp engine builds it for a job."""
    from jobs.engines import ytdlp

    return ytdlp._Session(dict(ytdlp._BASE_PARAMS)).ydl


def test_yt_dlp_probes_a_disguised_download_as_media_only(tmp_path, media_site):
    """yt-dlp's HLS fix-up asks ffprobe about a downloaded "video" that is a playlist: nothing listed is read."""
    from yt_dlp.postprocessor import FFmpegFixupM3u8PP

    secret = write_secret_video(tmp_path / "private" / "secret.ts")
    trap = "/trap/probe/segment.ts"
    download = tmp_path / "library" / "video.mp4"
    download.parent.mkdir(parents=True)
    download.write_text(hls_playlist(media_site.url(trap), str(secret)))
    served = download.read_bytes()
    fixup = FFmpegFixupM3u8PP(haul_youtube_dl())
    assert fixup.get_metadata_object(str(download)) == {}
    assert fixup.get_audio_codec(str(download)) is None
    fixup.run({"filepath": str(download), "ext": "mp4", "protocol": "m3u8_native", "__files_to_move": {}})
    assert files_under(download.parent) == [download] and download.read_bytes() == served
    assert media_site.count(trap) == 0


def test_yt_dlp_still_probes_and_fixes_a_real_hls_download(tmp_path):
    """An HLS download (MPEG-TS saved as .mp4) is still recognised and remuxed into MP4."""
    from yt_dlp.postprocessor import FFmpegFixupM3u8PP

    clip, _ = make_real_media("ts", tmp_path / "made")
    download = tmp_path / "library" / "video.mp4"
    download.parent.mkdir(parents=True)
    clip.rename(download)
    fixup = FFmpegFixupM3u8PP(haul_youtube_dl())
    assert fixup.get_audio_codec(str(download)) == "aac"
    assert fixup.get_metadata_object(str(download))["format"]["format_name"] == "mpegts"
    fixup.run({"filepath": str(download), "ext": "mp4", "protocol": "m3u8_native", "__files_to_move": {}})
    assert "mp4" in fixup.get_metadata_object(str(download))["format"]["format_name"]


def run_ytdlp(url: str, tmp_path: Path, extra_args: str | dict = "") -> tuple[list[Path], Exception | None]:
    """Haul's yt-dlp engine on `url` (with an admin's HAUL_YTDLP_EXTRA_ARGS, or yt-dlp options as
    a dict); the files it recorded and its error, if any."""
    from jobs.engines import ytdlp
    from jobs.engines.base import DownloadRequest
    from webapp.core.tool_args import parse_ytdlp_args

    recorded = []
    request = DownloadRequest(url=url, base_dir=tmp_path / "library" / "site", storage_root=tmp_path / "library",
                              report=lambda progress: None, add_file=recorded.append, cancel_event=threading.Event(),
                              ytdlp_options=extra_args if isinstance(extra_args, dict) else parse_ytdlp_args(extra_args))
    try:
        ytdlp.YtDlpEngine().run(request)
    except Exception as exc:  # noqa: BLE001 - the caller asserts what it was
        return recorded, exc
    return recorded, None


def streams_of(path: Path) -> list[tuple]:
    done = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,codec_name,width,height",
                           "-of", "csv=p=0", f"file:{path}"], capture_output=True, text=True, check=True, timeout=30)
    return sorted(tuple(line.split(",")) for line in done.stdout.split())


def test_a_dash_video_and_audio_pair_is_still_merged(tmp_path, media_site):
    recorded, error = run_ytdlp(media_site.url("/dash/merge-pair.mpd"), tmp_path)
    assert error is None
    [merged] = recorded
    assert merged.suffix == ".mp4"
    assert streams_of(merged) == [("aac", "audio"), ("h264", "video", "160", "120")]
    assert files_under(tmp_path / "library") == [merged]


# Arguments for the merger's first input (which yt-dlp prefers to the ones for every input) would
# come first; Haul's allowlists still follow them. The switch that sets them (--ppa) is not on the
# admin's allowlist (tests/test_tool_switches.py): the options are given here as if it were.
@pytest.mark.parametrize("extra_args", ["", {"postprocessor_args": {
    "merger+ffmpeg_i1": ["-format_whitelist", "hls,mpegts,mov"]}}], ids=["plain", "merger-input-args"])
def test_a_video_format_that_is_a_playlist_is_not_followed_when_merging(extra_args, tmp_path, media_site):
    """The site's DASH "video" is an HLS playlist of a secret on the worker's disk and a URL: merging refuses it."""
    from jobs.engines.base import EngineError

    secret = write_secret_video(tmp_path / "private" / "secret.ts")
    trap = "/trap/merge/segment.ts"
    playlist = "/playlist/merge-trap.mp4?" + urlencode([("ref", media_site.url(trap)), ("ref", str(secret))])
    recorded, error = run_ytdlp(media_site.url("/dash/merge-trap.mpd?" + urlencode({"video": playlist})), tmp_path,
                                extra_args)
    assert isinstance(error, EngineError) and "Invalid argument" in error.message
    assert recorded == []
    # What is left are the two downloads as the site served them; nothing was made from the secret.
    served = {media_site.stream_bytes(video_clip_number("merge-trap"), "audio"),
              requests.get(media_site.url(playlist), timeout=10).content}
    assert {p.read_bytes() for p in files_under(tmp_path / "library")} <= served
    assert media_site.count(trap) == 0
