"""A small local media website for Haul's test-suite and benchmark.

There is no internet in the test environment, so everything Haul downloads in
tests comes from this server on 127.0.0.1.  Standard library only (plus the
ffmpeg binary for JPEG/MP4 generation).

Usage::

    with MediaSite(asset_dir) as site:
        url = site.url("/img/7.png")
        ...
        assert site.count("/flaky/k1/") == 3

Routes (GET and HEAD everywhere, POST too; HEAD sends the same headers without a body):

    /                               HTML index of the routes
    /img/<n>.png                    32x32 solid-colour PNG, distinct per integer n
    /img/<n>.jpg                    48x48 solid-colour JPEG (ffmpeg), distinct per n
    /gallery/<name>?count=N         HTML page with N <img> tags (default 3)
    /video/<name>                   HTML page with an HTML5 <video><source> clip
    /show/<name>                    a watch page as video sites make them: JSON-LD VideoObject (title,
                                    description, author, upload date, duration, keywords, thumbnail,
                                    views, chapters as hasPart clips) whose contentUrl is its player,
                                    /embed/<name>; see MediaSite.show() for the values
    /embed/<name>                   the player: <video poster> with a <source> (/media/chaptered<n>.mp4)
                                    and a <track kind="subtitles" srclang="en" src="/subs/<name>.en.vtt">
    /subs/<name>.en.vtt             WebVTT subtitles of /show/<name> (two cues)
    /media/chaptered<n>.mp4         a 4 s 160x120 H.264/AAC clip with two chapters ("Opening" 0–2 s,
                                    "Ending" 2–4 s, from an ffmetadata input)
    /song/<name>                    a song page: JSON-LD AudioObject (title, byArtist, author, upload
                                    date, duration, keywords, thumbnail) whose contentUrl is
                                    /media/song<n>.m4a; see MediaSite.song()
    /media/song<n>.m4a              a 2 s AAC audio-only m4a (Range ok)
    /media/clip.mp4                 the base 1 s 160x120 H.264/AAC clip
    /media/clip<n>.mp4              a clip with distinct bytes per n (Range ok)
    /media/big<n>.mp4               a 1.2 s noisy 320x240 MPEG-4 video of ~3.1 MiB, distinct per n (Range ok)
    /media/video<n>.mp4             clip n's video stream alone (Range ok)
    /media/audio<n>.m4a             clip n's audio stream alone (Range ok)
    /dash/<name>.mpd?video=<url>    a DASH manifest of /video/<name>'s clip as separate video and
                                    audio streams, which yt-dlp downloads and merges; `video`
                                    replaces the video stream's address
    /playlist/<name>.mp4?ref=<a>…   an HLS playlist (text) served as video/mp4, listing each
                                    `ref` (a path on disk or a URL) as a segment
    /large/<mb>.bin|.jpg|.mp4       MB MiB of deterministic bytes, streamed (Range ok); .jpg is a real
                                    JPEG padded with COM segments, .mp4 a real 1 s clip followed by an
                                    MP4 `free` box of filler (served as video/mp4: yt-dlp takes it
                                    as a direct video, ffprobe reads the clip)
    /slow/<name>.jpg?kb=N&rate=R    N KiB (default 2048) at ~R KiB/s (default 128)
    /nolength/<name>.jpg|.mp4?kb=N  N KiB (default 2048) with no Content-Length: the body ends
                                    when the connection closes (a server that does not say)
    /status/<code>                  answers with that status code
    /missing.jpg                    404
    /flaky/<key>/<n>.png?fail=K     first K requests for <key> answer 500 (default 2)
    /redirect?to=<url>[&code=302]   redirect to <url>
    /feed/<name>.xml?count=N        an RSS 2.0 podcast feed (itunes namespace) of MediaSite.feed(name),
                                    newest item first; `count` (default 5) sizes a feed on its
                                    first request only; `links=slow` points the items at
                                    /slow/<name>-<k>.jpg?kb=256&rate=32 instead of /video/<name>-<k>,
                                    `links=song` at /song/<name>-<k> and `links=show` at /show/<name>-<k>
    /feed/<name>/add?count=N        (POST or GET) adds N items (default 1); answers {"count": total}
    /feed/<name>/reset?count=N      (POST or GET) starts the feed again with N items (default 5)
    anything else                   404
    ?set_cookie=<v> on any route    the answer sets the cookie haul_test=<v>

Notes for test authors:

* Gallery images are /img/<k>.png (root-relative) except the last one, which
  is an absolute http://127.0.0.1:PORT/img/<k>.jpg when count >= 2; see
  gallery_items() / MediaSite.gallery_image_urls() for the expected list.
* /large/*.jpg and /slow/*.jpg are real JPEGs padded with COM segments up to
  the requested size, so they decode as images.
* Every request counts for /flaky/ (HEAD too), as does every entry in the log.
* cookies_sent(prefix) lists the Cookie header each request sent (None for none).
* yt-dlp's generic extractor finds /video/<name> through its HTML5 embed
  extractor, which always numbers entries: the id is "<name>-1".
* Rich pages (yt-dlp 2026.10.26).  yt-dlp's generic extractor never merges a page's JSON-LD with
  an HTML5 <video> on the same page: the HTML5 embed extractor answers first and the JSON-LD is
  not read (only <title>/og:title, og:description and og:image are added).  So /show/<name>
  carries the JSON-LD and no <video>; its contentUrl names the player /embed/<name>, which
  yt-dlp follows as a url_transparent result: the formats and the <track> subtitles come from
  the player, and the watch page's fields (title, uploader, upload_date, duration, tags,
  thumbnail, view_count, chapters) win over the player's.  The id is the player's: "<name>-1"
  (extractor_key "HTML5MediaEmbed"), the title "Show <name>".  /song/<name>'s contentUrl is
  the m4a itself (no encodingFormat, so also url_transparent): id "<name>", extractor "Generic",
  `artist` from byArtist, `uploader` from author.
* Feeds (yt-dlp 2026.10.26).  site.feed(name) holds a feed's items (Feed.add(),
  Feed.set_count()); item k has title "Episode k of <name>", pubDate 2026-01-01 + k days,
  itunes:duration 1 s unless overridden.  yt-dlp's generic extractor reads the feed as a
  playlist.  A flat listing (extract_flat) gives each entry `_type` "url_transparent", the
  title, timestamp (epoch) and duration, and *no* `id` and no `ie_key`: the id exists only
  as the guid smuggled into the url, which reads
  "http://127.0.0.1:PORT/video/<name>-<k>#__youtubedl_smuggle=...force_videoid...".  The
  fragment is all that tells it from the page's own address, so a normalised URL (fragment
  dropped) matches the page sent by hand.  Resolved fully, an entry is extractor_key
  "HTML5MediaEmbed" with id "<name>-<k>-1", the same as /video/<name>-<k> downloaded alone
  (the guid is chosen to be that id).  With links=slow the entries resolve to extractor_key
  "Generic" and id = the guid "<name>-<k>", as /slow/<name>-<k>.jpg alone gives.

Run it by hand with ``python tests/support/media_site.py [asset_dir] [port]``.
"""

from __future__ import annotations

import bisect
import hashlib
import html
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from functools import lru_cache
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterator
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = [
    "MediaSite",
    "Feed",
    "FeedItem",
    "gallery_items",
    "video_clip_number",
    "video_stream_md5",
    "make_png",
]

FFMPEG = shutil.which("ffmpeg") or "/usr/bin/ffmpeg"

KIB = 1024
MIB = 1024 * 1024
CHUNK = 64 * KIB  # write size for streamed bodies
SLOW_CHUNK = 16 * KIB
PATTERN_SIZE = 64 * KIB  # period of the deterministic filler bytes

# Range requests: parsed result for an unsatisfiable range (-> 416).
_UNSATISFIABLE = object()


# --------------------------------------------------------------------------
# Stable derivations shared by the server and by tests computing expectations
# --------------------------------------------------------------------------

def _name_number(name: str) -> int:
    """Stable small int from a name (Python's hash() is salted per process)."""
    return zlib.crc32(name.encode("utf-8")) % 100000


def gallery_items(name: str, count: int = 3) -> list[tuple[int, str]]:
    """The (n, ext) images shown on /gallery/<name>?count=<count>, in order.

    All are PNGs except the last one, which is a JPEG referenced by absolute
    URL when the gallery has at least two images.
    """
    base = _name_number(name) * 100
    items = [(base + i, "png") for i in range(count)]
    if count >= 2:
        items[-1] = (items[-1][0], "jpg")
    return items


def video_clip_number(name: str) -> int:
    """The n of /media/clip<n>.mp4 embedded in /video/<name>."""
    return _name_number(name)


def _colour(n: int) -> tuple[int, int, int]:
    digest = hashlib.sha256(b"haul-colour:%d" % n).digest()
    return digest[0], digest[1], digest[2]


# --------------------------------------------------------------------------
# Media generation
# --------------------------------------------------------------------------

def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


@lru_cache(maxsize=4096)
def make_png(n: int, size: int = 32) -> bytes:
    """A size x size solid-colour RGB PNG for integer n (pure Python).

    The colour comes from a hash of n; a tEXt chunk carrying n guarantees
    distinct bytes even if two colours happened to collide.
    """
    row = b"\x00" + bytes(_colour(n)) * size  # filter byte 0 + RGB pixels
    ihdr = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB
    text = b"Comment\x00haul-test-image n=%d" % n
    return (b"\x89PNG\r\n\x1a\n"
            + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"tEXt", text)
            + _png_chunk(b"IDAT", zlib.compress(row * size, 9))
            + _png_chunk(b"IEND", b""))


def _jpeg_insert_point(jpeg: bytes) -> int:
    """Offset just past SOI and any APPn segments (where COMs may go)."""
    if jpeg[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG")
    pos = 2
    while jpeg[pos] == 0xFF and 0xE0 <= jpeg[pos + 1] <= 0xEF:  # APP0..APP15
        pos += 2 + struct.unpack(">H", jpeg[pos + 2:pos + 4])[0]
    return pos


def _jpeg_add_comment(jpeg: bytes, comment: bytes) -> bytes:
    """Insert a COM segment carrying `comment`.

    Neighbouring colours can quantise to identical JPEG bytes, so the comment
    (which carries n) is what guarantees distinct files per n.
    """
    pos = _jpeg_insert_point(jpeg)
    segment = b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment
    return jpeg[:pos] + segment + jpeg[pos:]


def _jpeg_padded_parts(jpeg: bytes, size: int) -> list[bytes | int]:
    """Layout of a valid JPEG of exactly `size` bytes: `jpeg` with filler.

    The filler goes into COM segments (which decoders skip by their length)
    rather than after EOI, where ffmpeg would try to decode it as another
    image.  Returns parts: bytes are literal, ints are runs of filler.
    """
    pad = size - len(jpeg)
    if pad < 4:  # no room for even an empty COM segment: truncate/append
        return [jpeg[:size]] + ([pad] if pad > 0 else [])
    cut = _jpeg_insert_point(jpeg)
    parts: list[bytes | int] = [jpeg[:cut]]
    while pad > 0:
        seg = min(pad, 4 + 65533)  # marker + length + max payload
        if 0 < pad - seg < 4:  # leave enough for a final (empty) segment
            seg = pad - 4
        parts += [b"\xff\xfe" + struct.pack(">H", seg - 2), seg - 4]
        pad -= seg
    parts.append(jpeg[cut:])
    return parts


def _ffmpeg(args: list[str], capture: bool = False) -> bytes:
    cmd = [FFMPEG, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg failed ({proc.returncode}): "
                           f"{proc.stderr.decode(errors='replace')}")
    return proc.stdout if capture else b""


def _write_jpeg(n: int, dest: str) -> None:
    r, g, b = _colour(n)
    jpeg = _ffmpeg(["-f", "lavfi", "-i", f"color=c=0x{r:02x}{g:02x}{b:02x}:s=48x48",
                    "-frames:v", "1", "-f", "image2pipe", "-c:v", "mjpeg", "pipe:1"],
                   capture=True)
    with open(dest, "wb") as fh:
        fh.write(_jpeg_add_comment(jpeg, b"haul-test-image n=%d" % n))


def _write_clip(n: int | None, dest: str) -> None:
    # Distinct per n: a different sine frequency and a title tag naming the
    # clip.  -threads 1 keeps x264 output deterministic and is also the
    # fastest option for such a tiny clip (~0.1 s).
    freq = 440 if n is None else 200 + (n % 40) * 25
    title = "clip" if n is None else f"clip{n}"
    _ffmpeg(["-f", "lavfi", "-i", "testsrc=duration=1:size=160x120:rate=25",
             "-f", "lavfi", "-i", f"sine=frequency={freq}:duration=1",
             "-c:v", "libx264", "-preset", "veryfast", "-threads", "1",
             "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", "-shortest",
             "-movflags", "+faststart", "-metadata", f"title={title}",
             "-f", "mp4", dest])


def _write_big_clip(n: int, dest: str) -> None:
    # 1.2 s of noisy 320x240 MPEG-4 at a fine quantiser: ~3.1 MiB, distinct per n (the noise seed).
    _ffmpeg(["-f", "lavfi", "-i", f"testsrc2=duration=1.2:size=320x240:rate=25,noise=alls=60:allf=t:all_seed={n}",
             "-c:v", "mpeg4", "-q:v", "2", "-threads", "1", "-movflags", "+faststart", "-f", "mp4", dest])


CHAPTERS = (("Opening", 0, 2), ("Ending", 2, 4))  # (title, start s, end s) of /media/chaptered<n>.mp4


def _write_chaptered_clip(n: int, dest: str) -> None:
    # A 4 s clip carrying chapters, from an ffmetadata input (as a site's own encoder would
    # leave them), so a download can be checked for chapters that survive every postprocessor.
    meta = dest + ".ffmeta"
    with open(meta, "w", encoding="utf-8") as fh:
        fh.write(f";FFMETADATA1\ntitle=chaptered{n}\n")
        for title, start, end in CHAPTERS:
            fh.write(f"[CHAPTER]\nTIMEBASE=1/1000\nSTART={start * 1000}\nEND={end * 1000}\ntitle={title}\n")
    try:
        _ffmpeg(["-f", "lavfi", "-i", "testsrc=duration=4:size=160x120:rate=25",
                 "-f", "lavfi", "-i", f"sine=frequency={200 + (n % 40) * 25}:duration=4",
                 "-f", "ffmetadata", "-i", meta, "-map", "0:v", "-map", "1:a",
                 "-map_metadata", "2", "-map_chapters", "2",
                 "-c:v", "libx264", "-preset", "veryfast", "-threads", "1", "-pix_fmt", "yuv420p",
                 "-c:a", "aac", "-b:a", "64k", "-shortest", "-movflags", "+faststart", "-f", "mp4", dest])
    finally:
        os.unlink(meta)


def _write_song(n: int, dest: str) -> None:
    # Audio only, as a music site serves it: AAC in an m4a, no cover and no tags of its own.
    _ffmpeg(["-f", "lavfi", "-i", f"sine=frequency={300 + (n % 40) * 20}:duration=2",
             "-c:a", "aac", "-b:a", "96k", "-vn", "-map_metadata", "-1", "-movflags", "+faststart",
             "-f", "mp4", dest])


def _subtitles_vtt(name: str) -> bytes:
    return (f"WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello from {name}\n\n"
            f"00:00:02.000 --> 00:00:03.500\nGoodbye from {name}\n").encode("utf-8")


def _json_ld(data: dict) -> str:
    text = json.dumps(data).replace("</", "<\\/")  # never ends the script element early
    return f'<script type="application/ld+json">{text}</script>\n'


def video_stream_md5(path: str | os.PathLike) -> str:
    """The MD5 of a file's first video stream's packets: equal for a clip and a download whose
    container was rewritten around the same stream (tags, chapters or a cover added)."""
    out = _ffmpeg(["-i", os.fspath(path), "-map", "0:v:0", "-c", "copy", "-f", "md5", "-"], capture=True)
    return out.decode().strip().removeprefix("MD5=")


def _write_stream(clip_path: str, kind: str, dest: str) -> None:
    # One stream of a clip, copied as it is: what a DASH site serves as separate formats.
    keep = ["-map", "0:v", "-an"] if kind == "video" else ["-map", "0:a", "-vn"]
    _ffmpeg(["-i", clip_path, *keep, "-c", "copy", "-movflags", "+faststart", "-f", "mp4", dest])


def _dash_manifest(video_url: str, audio_url: str) -> bytes:
    """A static on-demand DASH manifest: one video-only and one audio-only representation."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT1S"
     minBufferTime="PT1S" profiles="urn:mpeg:dash:profile:isoff-on-demand:2011">
  <Period>
    <AdaptationSet contentType="video" mimeType="video/mp4">
      <Representation id="video" bandwidth="200000" width="160" height="120" codecs="avc1.64000c">
        <BaseURL>{html.escape(video_url)}</BaseURL>
      </Representation>
    </AdaptationSet>
    <AdaptationSet contentType="audio" mimeType="audio/mp4" lang="en">
      <Representation id="audio" bandwidth="64000" audioSamplingRate="44100" codecs="mp4a.40.2">
        <BaseURL>{html.escape(audio_url)}</BaseURL>
      </Representation>
    </AdaptationSet>
  </Period>
</MPD>
""".encode()


@lru_cache(maxsize=64)
def _pattern(seed: str) -> bytes:
    """A PATTERN_SIZE block of pseudo-random bytes, stored twice in a row so
    that any PATTERN_SIZE-long window can be sliced without wrapping.

    0xFF is avoided so filler inside JPEG COM segments can never look like a
    marker to scanners that search for them (e.g. ffmpeg's mjpeg parser).
    """
    block = hashlib.shake_256(seed.encode("utf-8")).digest(PATTERN_SIZE)
    block = block.translate(bytes(range(255)) + b"\xfe")
    return block + block


class _FillerBody:
    """A deterministic body of `size` bytes built from `parts`.

    Parts are literal bytes or ints (runs of filler); by default the whole
    body is filler.  The filler byte at body offset i is pattern[i %
    PATTERN_SIZE], so any range is produced without materialising the body.
    """

    def __init__(self, seed: str, size: int, parts: list[bytes | int] | None = None):
        self.size = size
        self._pattern = _pattern(seed)
        self._parts = [p for p in (parts if parts is not None else [size])
                       if (len(p) if isinstance(p, bytes) else p) > 0]
        self._offsets, pos = [], 0
        for part in self._parts:
            self._offsets.append(pos)
            pos += len(part) if isinstance(part, bytes) else part
        if pos != size:
            raise ValueError(f"parts add up to {pos}, not {size}")

    def read(self, start: int, end: int, chunk: int = CHUNK) -> Iterator[bytes]:
        """Yield the bytes start..end (inclusive) in pieces of <= chunk."""
        pos = start
        idx = bisect.bisect_right(self._offsets, pos) - 1
        while pos <= end:
            part, part_start = self._parts[idx], self._offsets[idx]
            part_len = len(part) if isinstance(part, bytes) else part
            want = min(chunk, end + 1 - pos, part_start + part_len - pos)
            if isinstance(part, bytes):
                piece = part[pos - part_start:pos - part_start + want]
            else:
                off = pos % PATTERN_SIZE
                piece = self._pattern[off:off + min(want, PATTERN_SIZE)]
            yield piece
            pos += len(piece)
            if pos >= part_start + part_len:
                idx += 1

    def getvalue(self) -> bytes:
        return b"".join(self.read(0, self.size - 1))


def _bytes_reader(data: bytes) -> Callable[[int, int], Iterator[bytes]]:
    def read(start: int, end: int) -> Iterator[bytes]:
        for pos in range(start, end + 1, CHUNK):
            yield data[pos:min(pos + CHUNK, end + 1)]
    return read


def _parse_range(header: str | None, size: int):
    """Parse a single `bytes=` range into (start, end) inclusive.

    Returns None to serve the whole body (no header, malformed or multiple
    ranges -- ignoring those is allowed by RFC 9110) and _UNSATISFIABLE for
    a well-formed range that lies outside the body.
    """
    if not header:
        return None
    m = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header)
    if not m or (m.group(1) == "" and m.group(2) == ""):
        return None
    first, last = m.group(1), m.group(2)
    if first == "":  # suffix range: the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            return _UNSATISFIABLE
        return max(0, size - length), size - 1
    start = int(first)
    end = size - 1 if last == "" else min(int(last), size - 1)
    if start >= size or start > end:
        return _UNSATISFIABLE
    return start, end


def _html_page(title: str, body: str, extra_head: str = "") -> bytes:
    t = html.escape(title)
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            f"<title>{t}</title>\n{extra_head}</head>\n"
            f"<body>\n<h1>{t}</h1>\n{body}\n</body></html>\n").encode("utf-8")


INDEX_BODY = """<ul>
<li><a href="/img/1.png">/img/&lt;n&gt;.png</a> and <a href="/img/1.jpg">/img/&lt;n&gt;.jpg</a></li>
<li><a href="/gallery/demo?count=3">/gallery/&lt;name&gt;?count=N</a></li>
<li><a href="/video/demo">/video/&lt;name&gt;</a></li>
<li><a href="/show/demo">/show/&lt;name&gt;</a> (JSON-LD), <a href="/embed/demo">/embed/&lt;name&gt;</a> (its player), <a href="/song/demo">/song/&lt;name&gt;</a></li>
<li><a href="/media/clip1.mp4">/media/clip&lt;n&gt;.mp4</a> (Range supported)</li>
<li><a href="/media/video1.mp4">/media/video&lt;n&gt;.mp4</a>, <a href="/media/audio1.m4a">/media/audio&lt;n&gt;.m4a</a></li>
<li><a href="/dash/demo.mpd">/dash/&lt;name&gt;.mpd?video=&lt;url&gt;</a></li>
<li><a href="/playlist/demo.mp4?ref=/img/1.png">/playlist/&lt;name&gt;.mp4?ref=&lt;path or url&gt;</a></li>
<li><a href="/large/1.bin">/large/&lt;mb&gt;.bin</a> and <a href="/large/1.jpg">/large/&lt;mb&gt;.jpg</a> (Range supported)</li>
<li><a href="/slow/demo.jpg?kb=256&amp;rate=128">/slow/&lt;name&gt;.jpg?kb=N&amp;rate=R</a></li>
<li><a href="/nolength/demo.jpg?kb=256">/nolength/&lt;name&gt;.jpg|.mp4?kb=N</a> (no Content-Length)</li>
<li><a href="/status/404">/status/&lt;code&gt;</a>, <a href="/missing.jpg">/missing.jpg</a></li>
<li><a href="/flaky/demo/1.png?fail=2">/flaky/&lt;key&gt;/&lt;n&gt;.png?fail=K</a></li>
<li><a href="/redirect?to=/img/1.png">/redirect?to=&lt;url&gt;</a></li>
<li><a href="/feed/demo.xml">/feed/&lt;name&gt;.xml?count=N&amp;links=slow</a> (RSS), POST /feed/&lt;name&gt;/add?count=N and /feed/&lt;name&gt;/reset?count=N</li>
</ul>"""


# --------------------------------------------------------------------------
# Feeds: a channel whose items a test adds over time
# --------------------------------------------------------------------------

FEED_EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)
FEED_DEFAULT_COUNT = 5
ITUNES_NS = "http://www.itunes.com/dtds/podcast-1.0.dtd"


@dataclass
class FeedItem:
    """One episode of a feed; `link` None means the feed's usual page for it (see Feed.link_path)."""
    key: int
    title: str
    published: datetime
    duration: int = 1
    link: str | None = None


@dataclass
class Feed:
    """The items of /feed/<name>.xml, oldest first (the XML lists them newest first)."""
    name: str
    items: list[FeedItem] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, count: int = 1, **overrides) -> list[FeedItem]:
        """Append `count` new (newest) items; `overrides` replace FeedItem fields on each of them."""
        with self._lock:
            added = []
            for _ in range(max(0, count)):
                k = len(self.items) + 1
                values = {"key": k, "title": f"Episode {k} of {self.name}",
                          "published": FEED_EPOCH + timedelta(days=k), "duration": 1, "link": None}
                values.update(overrides)
                added.append(FeedItem(**values))
                self.items.append(added[-1])
            return added

    def set_count(self, n: int) -> None:
        """Keep the oldest n items, or add items until there are n."""
        with self._lock:
            del self.items[max(0, n):]
        self.add(n - len(self.items))

    def link_path(self, item: FeedItem, slow: bool | str = False) -> str:
        """The item's link; `slow` is the feed's `links` mode (True or "slow", "song", "show")."""
        if item.link is not None:
            return item.link
        if slow is True or slow == "slow":
            return f"/slow/{self.name}-{item.key}.jpg?kb=256&rate=32"
        if slow in ("song", "show"):
            return f"/{slow}/{self.name}-{item.key}"
        return f"/video/{self.name}-{item.key}"

    def guid(self, item: FeedItem, slow: bool | str = False) -> str:
        # The id yt-dlp gives the item's link when it is downloaded alone (see the module
        # docstring), so an entry from the feed and the same link sent by hand are one video.
        if slow is True or slow in ("slow", "song"):
            return f"{self.name}-{item.key}"
        return f"{self.name}-{item.key}-1"

    def rss(self, base_url: str, slow: bool | str = False) -> bytes:
        with self._lock:
            items = list(self.items)
        entries = []
        for item in reversed(items):
            link = self.link_path(item, slow)
            link = link if "://" in link else base_url + link
            entries.append(
                "<item>"
                f"<title>{html.escape(item.title)}</title>"
                f"<link>{html.escape(link)}</link>"
                f'<guid isPermaLink="false">{html.escape(self.guid(item, slow))}</guid>'
                f"<pubDate>{format_datetime(item.published.astimezone(timezone.utc), usegmt=True)}</pubDate>"
                f"<itunes:duration>{int(item.duration)}</itunes:duration>"
                "</item>")
        name = html.escape(self.name)
        return ('<?xml version="1.0" encoding="UTF-8"?>\n'
                f'<rss version="2.0" xmlns:itunes="{ITUNES_NS}"><channel>'
                f"<title>Feed {name}</title><link>{html.escape(base_url)}/feed/{name}.xml</link>"
                f"<description>Test feed {name}</description>"
                + "".join(entries) + "</channel></rss>\n").encode("utf-8")


# --------------------------------------------------------------------------
# HTTP server
# --------------------------------------------------------------------------

class _Server(ThreadingHTTPServer):
    daemon_threads = True
    site: "MediaSite"

    def handle_error(self, request, client_address):
        # Clients hanging up mid-response is routine in download tests.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, socket.timeout)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    # Without TCP_NODELAY the small header write followed by the body write
    # hits Nagle + delayed ACK and every keep-alive request stalls ~40 ms.
    disable_nagle_algorithm = True
    server: _Server
    server_version = "HaulMediaSite/1.0"

    # -- plumbing ----------------------------------------------------------

    def log_message(self, format, *args):  # noqa: A002 - silence access log
        pass

    def setup(self):
        super().setup()
        self.server.site._track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.site._track(self.connection, False)

    def send_response(self, code, message=None):
        self._response_started = True
        super().send_response(code, message)

    def end_headers(self):
        # ?set_cookie=V on any route: the site sets a cookie, as a site a visitor signs in to would.
        value = parse_qs(urlsplit(self.path).query).get("set_cookie")
        if value:
            self.send_header("Set-Cookie", f"haul_test={value[-1]}; Path=/")
        super().end_headers()

    def do_GET(self):
        self._handle()

    def do_HEAD(self):
        self._handle()

    def do_POST(self):
        # Only the feed controls take POSTs; a body, if any, is read and ignored so that the
        # keep-alive connection stays in step.
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self._handle()

    def _handle(self):
        site = self.server.site
        site._log(self.command, self.path, self.headers.get("Cookie"))
        self._response_started = False
        try:
            self._dispatch(site)
        except ConnectionError:
            self.close_connection = True
        except Exception:
            traceback.print_exc()
            if self._response_started:
                self.close_connection = True  # can't recover mid-body
            else:
                self._send_html(500, "Internal Server Error", "<p>media_site crashed</p>")

    # -- response helpers --------------------------------------------------

    def _send_bytes(self, status: int, body: bytes, ctype: str, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_html(self, status: int, title: str, body: str = "", head: str = "",
                   headers=()):
        self._send_bytes(status, _html_page(title, body, head),
                         "text/html; charset=utf-8", headers)

    def _not_found(self):
        self._send_html(404, "404 Not Found", f"<p>{html.escape(self.path)}</p>")

    def _send_ranged(self, size: int, read: Callable[[int, int], Iterator[bytes]],
                     ctype: str, rate_kib: float | None = None):
        """Send a body of `size` bytes honouring a single Range header.

        `read(start, end)` yields the inclusive byte range in chunks; with
        `rate_kib` the chunks are paced to about that many KiB per second.
        """
        rng = _parse_range(self.headers.get("Range"), size)
        if rng is _UNSATISFIABLE:
            self._send_bytes(416, b"", ctype, [("Content-Range", f"bytes */{size}"),
                                                ("Accept-Ranges", "bytes")])
            return
        start, end = rng if rng else (0, size - 1)
        self.send_response(206 if rng else 200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if self.command == "HEAD":
            return
        began, sent = time.monotonic(), 0
        for piece in read(start, end):
            self.wfile.write(piece)
            if rate_kib:
                # Pace against the start time so sleep jitter doesn't accumulate.
                sent += len(piece)
                delay = began + sent / (rate_kib * KIB) - time.monotonic()
                # An Event rather than sleep() so that stop() can cut it short.
                if delay > 0 and self.server.site._stopping.wait(delay):
                    self.close_connection = True
                    return

    # -- routing -----------------------------------------------------------

    def _dispatch(self, site: "MediaSite"):
        parts = urlsplit(self.path)
        path = parts.path
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}

        def qint(key: str, default: int) -> int:
            try:
                return int(query.get(key, default))
            except ValueError:
                return default

        if path in ("/", "/index.html"):
            self._send_html(200, "Haul test media site", INDEX_BODY)
            return

        if m := re.fullmatch(r"/img/(-?\d+)\.(png|jpg)", path):
            n = int(m.group(1))
            if m.group(2) == "png":
                self._send_bytes(200, site.png_bytes(n), "image/png")
            else:
                self._send_bytes(200, site.jpeg_bytes(n), "image/jpeg")
            return

        if m := re.fullmatch(r"/gallery/([^/]+)/?", path):
            name = unquote(m.group(1))
            count = max(0, min(qint("count", 3), 1000))
            imgs = "\n".join(f'<img src="{html.escape(src)}" alt="image {i}">'
                             for i, src in enumerate(site._gallery_srcs(name, count)))
            og = f'<meta property="og:title" content="{html.escape(f"Gallery {name}")}">\n'
            self._send_html(200, f"Gallery {name}", f'<div class="gallery">\n{imgs}\n</div>', og)
            return

        if m := re.fullmatch(r"/video/([^/]+)/?", path):
            name = unquote(m.group(1))
            n = video_clip_number(name)
            og = (f'<meta property="og:title" content="{html.escape(f"Video {name}")}">\n'
                  f'<meta property="og:type" content="video.other">\n')
            body = (f'<video controls width="160"><source src="/media/clip{n}.mp4" '
                    f'type="video/mp4"></video>')
            self._send_html(200, f"Video {name}", body, og)
            return

        if m := re.fullmatch(r"/show/([^/]+)/?", path):
            name = unquote(m.group(1))
            show = site.show(name)
            head = _json_ld({
                "@context": "https://schema.org", "@type": "VideoObject", "name": show["title"],
                "description": show["description"],
                "author": {"@type": "Person", "name": show["uploader"]},
                "uploadDate": show["upload_date"] + "T10:00:00Z", "duration": f"PT{show['duration']}S",
                "keywords": ",".join(show["tags"]), "thumbnailUrl": show["thumbnail"],
                "interactionStatistic": {"@type": "InteractionCounter", "interactionType": {"@type": "WatchAction"},
                                         "userInteractionCount": show["view_count"]},
                "hasPart": [{"@type": "Clip", "name": title, "startOffset": start, "endOffset": end}
                            for title, start, end in CHAPTERS],
                "contentUrl": site.url(f"/embed/{name}"),
            })
            body = f'<p>{html.escape(show["description"])}</p>'
            self._send_html(200, show["title"], body, head)
            return

        if m := re.fullmatch(r"/embed/([^/]+)/?", path):
            name = unquote(m.group(1))
            n = _name_number(name)
            body = (f'<video controls width="160" poster="/img/{n}.jpg">'
                    f'<source src="/media/chaptered{n}.mp4" type="video/mp4">'
                    f'<track kind="subtitles" srclang="en" label="English" src="/subs/{html.escape(name)}.en.vtt">'
                    f'</video>')
            self._send_html(200, f"Player {name}", body)
            return

        if m := re.fullmatch(r"/subs/([^/]+)\.en\.vtt", path):
            self._send_bytes(200, _subtitles_vtt(unquote(m.group(1))), "text/vtt; charset=utf-8")
            return

        if m := re.fullmatch(r"/song/([^/]+)/?", path):
            name = unquote(m.group(1))
            song = site.song(name)
            head = _json_ld({
                "@context": "https://schema.org", "@type": "AudioObject", "name": song["title"],
                "byArtist": {"@type": "MusicGroup", "name": song["artist"]},
                "author": {"@type": "Person", "name": song["uploader"]},
                "uploadDate": song["upload_date"], "duration": f"PT{song['duration']}S",
                "keywords": ",".join(song["tags"]), "thumbnailUrl": song["thumbnail"],
                "contentUrl": site.url(f"/media/song{_name_number(name)}.m4a"),
            })
            self._send_html(200, song["title"], f'<p>{html.escape(song["artist"])}</p>', head)
            return

        if m := re.fullmatch(r"/media/chaptered(\d+)\.mp4", path):
            data = site.chaptered_bytes(int(m.group(1)))
            self._send_ranged(len(data), _bytes_reader(data), "video/mp4")
            return

        if m := re.fullmatch(r"/media/song(\d+)\.m4a", path):
            data = site.song_bytes(int(m.group(1)))
            self._send_ranged(len(data), _bytes_reader(data), "audio/mp4")
            return

        if m := re.fullmatch(r"/media/big(\d+)\.mp4", path):
            data = site.big_clip_bytes(int(m.group(1)))
            self._send_ranged(len(data), _bytes_reader(data), "video/mp4")
            return

        if m := re.fullmatch(r"/media/clip(\d*)\.mp4", path):
            data = site.clip_bytes(int(m.group(1)) if m.group(1) else None)
            self._send_ranged(len(data), _bytes_reader(data), "video/mp4")
            return

        if m := re.fullmatch(r"/media/(video|audio)(\d+)\.(mp4|m4a)", path):
            data = site.stream_bytes(int(m.group(2)), m.group(1))
            self._send_ranged(len(data), _bytes_reader(data), f"{m.group(1)}/mp4")
            return

        if m := re.fullmatch(r"/dash/([^/]+)\.mpd", path):
            n = video_clip_number(unquote(m.group(1)))
            video = query.get("video") or site.url(f"/media/video{n}.mp4")
            self._send_bytes(200, _dash_manifest(video, site.url(f"/media/audio{n}.m4a")),
                             "application/dash+xml")
            return

        if re.fullmatch(r"/playlist/[^/]+\.mp4", path):
            refs = parse_qs(parts.query).get("ref", [])
            body = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:0\n"
            body += "".join(f"#EXTINF:1.0,\n{ref}\n" for ref in refs) + "#EXT-X-ENDLIST\n"
            self._send_bytes(200, body.encode(), "video/mp4")
            return

        if m := re.fullmatch(r"/large/(\d+(?:\.\d+)?)\.(bin|jpg|mp4)", path):
            body = site._large_body(m.group(1), m.group(2))
            ctype = {"jpg": "image/jpeg", "mp4": "video/mp4"}.get(m.group(2), "application/octet-stream")
            self._send_ranged(body.size, body.read, ctype)
            return

        if m := re.fullmatch(r"/slow/([^/]+)\.jpg", path):
            name = unquote(m.group(1))
            kb = max(0, qint("kb", 2048))
            try:
                rate = float(query.get("rate", 128))
            except ValueError:
                rate = 128.0
            rate = rate if rate > 0 else 128.0
            body = site._slow_body(name, kb)
            self._send_ranged(body.size, lambda s, e: body.read(s, e, SLOW_CHUNK),
                              "image/jpeg", rate_kib=rate)
            return

        if m := re.fullmatch(r"/nolength/([^/]+)\.(jpg|mp4)", path):
            body = site._nolength_body(unquote(m.group(1)), max(0, qint("kb", 2048)), m.group(2))
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg" if m.group(2) == "jpg" else "video/mp4")
            self.send_header("Connection", "close")  # the only end of this body a client can see
            self.end_headers()
            self.close_connection = True
            if self.command != "HEAD" and body.size:
                for piece in body.read(0, body.size - 1):
                    self.wfile.write(piece)
            return

        if m := re.fullmatch(r"/status/(\d{3})", path):
            code = int(m.group(1))
            if not 200 <= code <= 599:
                self._send_html(400, "Bad status code", "<p>use 200..599</p>")
                return
            headers = []
            if "retry_after" in query:
                headers.append(("Retry-After", query["retry_after"]))
            if code in (204, 304):  # these must not carry a body
                self.send_response(code)
                for key, value in headers:
                    self.send_header(key, value)
                self.end_headers()
                return
            try:
                phrase = HTTPStatus(code).phrase
            except ValueError:
                phrase = "Status"
            self._send_html(code, f"{code} {phrase}", headers=headers)
            return

        if path == "/missing.jpg":
            self._not_found()
            return

        if m := re.fullmatch(r"/flaky/([^/]+)/(-?\d+)\.png", path):
            key = unquote(m.group(1))
            attempt = site._flaky_attempt(key)
            if attempt <= qint("fail", 2):
                self._send_html(500, "500 Internal Server Error",
                                f"<p>flaky {html.escape(key)}: attempt {attempt}</p>")
            else:
                self._send_bytes(200, site.png_bytes(int(m.group(2))), "image/png")
            return

        if m := re.fullmatch(r"/feed/([^/]+)\.xml", path):
            feed = site.feed(unquote(m.group(1)), count=qint("count", FEED_DEFAULT_COUNT))
            links = query.get("links")
            self._send_bytes(200, feed.rss(site.base_url, slow=links if links in ("slow", "song", "show") else False),
                             "application/rss+xml; charset=utf-8")
            return

        if m := re.fullmatch(r"/feed/([^/]+)/(add|reset)", path):
            feed = site.feed(unquote(m.group(1)))
            if m.group(2) == "add":
                feed.add(max(0, qint("count", 1)))
            else:
                feed.set_count(0)
                feed.add(max(0, qint("count", FEED_DEFAULT_COUNT)))
            body = json.dumps({"count": len(feed.items)}).encode()
            self._send_bytes(200, body, "application/json")
            return

        if path == "/redirect":
            target = query.get("to")
            if not target:
                self._send_html(400, "400 Bad Request", "<p>missing ?to=</p>")
                return
            code = qint("code", 302)
            code = code if code in (301, 302, 303, 307, 308) else 302
            self._send_html(code, "Redirect",
                            f'<p><a href="{html.escape(target)}">moved</a></p>',
                            headers=[("Location", target)])
            return

        self._not_found()


class MediaSite:
    """The local media website; see the module docstring for the routes.

    Media is generated lazily on first request and cached in `asset_dir`
    (JPEGs and MP4s, written atomically so several processes can share the
    folder) and in memory; PNGs are cheap and only cached in memory.
    """

    def __init__(self, asset_dir: str | os.PathLike | None = None, port: int = 0, host: str = "127.0.0.1"):
        self._own_dir = asset_dir is None
        self.host = host
        self.asset_dir = os.fspath(asset_dir) if asset_dir else tempfile.mkdtemp(prefix="haul-media-")
        os.makedirs(self.asset_dir, exist_ok=True)
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

        self._lock = threading.Lock()  # guards the log, counters and caches
        self._requests: list[tuple[str, str]] = []
        self._cookies: list[tuple[str, str | None]] = []  # (path, the Cookie header sent)
        self._flaky: dict[str, int] = {}
        self._feeds: dict[str, Feed] = {}
        self._conns: dict[socket.socket, threading.Thread] = {}  # open connections
        self._stopping = threading.Event()
        self._mem: dict[str, bytes] = {}
        self._gen_locks: dict[str, threading.Lock] = {}
        self.generation_times: dict[str, float] = {}  # asset file -> seconds

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> "MediaSite":
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server((self.host, self._port), _Handler)
        server.site = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        name=f"media-site-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        # Handler threads idling on keep-alive connections would otherwise
        # linger until the client hangs up; shutting the sockets ends them.
        with self._lock:
            conns = list(self._conns.items())
        for conn, _ in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + 2
        for _, thread in conns:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._own_dir:
            shutil.rmtree(self.asset_dir, ignore_errors=True)

    def __enter__(self) -> "MediaSite":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("MediaSite is not running")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    # -- request log -------------------------------------------------------

    @property
    def requests(self) -> list[tuple[str, str]]:
        """(method, path_with_query) of every request so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def cookies_sent(self, path_prefix: str = "/") -> list[str | None]:
        """The Cookie header (None when there was none) of each request whose path starts with path_prefix."""
        with self._lock:
            return [cookie for path, cookie in self._cookies if path.startswith(path_prefix)]

    def count(self, path_prefix: str = "/", method: str | None = None) -> int:
        """How many requests (optionally only of `method`) started with path_prefix."""
        with self._lock:
            return sum(1 for meth, path in self._requests
                       if path.startswith(path_prefix) and (method is None or meth == method))

    def reset(self) -> None:
        """Clear the request log and the flaky counters."""
        with self._lock:
            self._requests.clear()
            self._cookies.clear()
            self._flaky.clear()

    def _log(self, method: str, path: str, cookie: str | None = None) -> None:
        with self._lock:
            self._requests.append((method, path))
            self._cookies.append((path, cookie))

    def feed(self, name: str, count: int = FEED_DEFAULT_COUNT) -> Feed:
        """The feed behind /feed/<name>.xml, made with `count` items on first use.

        Feeds live as long as the site (reset() leaves them), so tests sharing a site pick
        their own names.
        """
        with self._lock:
            feed = self._feeds.get(name)
            if feed is None:
                feed = self._feeds[name] = Feed(name)
                feed.add(count)
            return feed

    def _flaky_attempt(self, key: str) -> int:
        with self._lock:
            self._flaky[key] = self._flaky.get(key, 0) + 1
            return self._flaky[key]

    def _track(self, conn: socket.socket, alive: bool) -> None:
        with self._lock:
            if alive:
                self._conns[conn] = threading.current_thread()
            else:
                self._conns.pop(conn, None)

    # -- expected content (what the routes serve) ----------------------------

    def png_bytes(self, n: int) -> bytes:
        return make_png(n)

    def jpeg_bytes(self, n: int) -> bytes:
        return self._cached_asset(f"img{n}.jpg", lambda dest: _write_jpeg(n, dest))

    def clip_bytes(self, n: int | None = None) -> bytes:
        """Bytes of /media/clip<n>.mp4 (n=None: /media/clip.mp4)."""
        name = "clip.mp4" if n is None else f"clip{n}.mp4"
        return self._cached_asset(name, lambda dest: _write_clip(n, dest))

    def big_clip_bytes(self, n: int) -> bytes:
        """Bytes of /media/big<n>.mp4: a real video of about 3 MiB (noise does not compress)."""
        return self._cached_asset(f"big{n}.mp4", lambda dest: _write_big_clip(n, dest))

    def stream_bytes(self, n: int, kind: str) -> bytes:
        """Bytes of /media/video<n>.mp4 (kind "video") or /media/audio<n>.m4a (kind "audio")."""
        self.clip_bytes(n)
        clip_path = os.path.join(self.asset_dir, f"clip{n}.mp4")
        return self._cached_asset(f"{kind}{n}.{'mp4' if kind == 'video' else 'm4a'}",
                                  lambda dest: _write_stream(clip_path, kind, dest))

    def chaptered_bytes(self, n: int) -> bytes:
        """Bytes of /media/chaptered<n>.mp4 (chapters CHAPTERS)."""
        return self._cached_asset(f"chaptered{n}.mp4", lambda dest: _write_chaptered_clip(n, dest))

    def song_bytes(self, n: int) -> bytes:
        """Bytes of /media/song<n>.m4a."""
        return self._cached_asset(f"song{n}.m4a", lambda dest: _write_song(n, dest))

    def show(self, name: str) -> dict:
        """What /show/<name> tells about its video (its JSON-LD), as yt-dlp should read it."""
        n = _name_number(name)
        return {
            "title": f"Show {name}", "description": f"All about {name} & friends: <the> first episode.",
            "uploader": f"Uploader {name}", "upload_date": "2026-02-03", "duration": 4,
            "tags": ["haul", "library", name], "view_count": 1234, "thumbnail": self.url(f"/img/{n}.jpg"),
            "chapters": [title for title, _, _ in CHAPTERS], "subtitles": _subtitles_vtt(name).decode(),
        }

    def song(self, name: str) -> dict:
        """What /song/<name> tells about its song (its JSON-LD)."""
        n = _name_number(name)
        return {
            "title": f"Song {name}", "artist": f"Artist {name}", "uploader": f"Uploader {name}",
            "upload_date": "2026-03-04", "duration": 2, "tags": ["music", name],
            "thumbnail": self.url(f"/img/{n + 1}.jpg"),
        }

    def large_bytes(self, mb: int | float | str, ext: str = "bin") -> bytes:
        """Whole body of /large/<mb>.<ext> (materialised: mind the size)."""
        return self._large_body(str(mb), ext).getvalue()

    def nolength_bytes(self, name: str, kb: int = 2048, ext: str = "jpg") -> bytes:
        return self._nolength_body(name, kb, ext).getvalue()

    def slow_bytes(self, name: str, kb: int = 2048) -> bytes:
        return self._slow_body(name, kb).getvalue()

    def gallery_image_urls(self, name: str, count: int = 3) -> list[str]:
        """Absolute URLs of the images on /gallery/<name>, in page order."""
        return [self.url(f"/img/{n}.{ext}") for n, ext in gallery_items(name, count)]

    def video_clip_url(self, name: str) -> str:
        return self.url(f"/media/clip{video_clip_number(name)}.mp4")

    def prepare(self, clips=range(10), jpegs=()) -> None:
        """Generate assets ahead of time (e.g. before a timed benchmark)."""
        for n in clips:
            self.clip_bytes(n)
        for n in jpegs:
            self.jpeg_bytes(n)

    # -- internals -----------------------------------------------------------

    def _gallery_srcs(self, name: str, count: int) -> list[str]:
        # Root-relative PNGs plus one absolute JPEG URL, to exercise both.
        return [self.url(f"/img/{n}.jpg") if ext == "jpg" else f"/img/{n}.png"
                for n, ext in gallery_items(name, count)]

    def _large_body(self, mb: str, ext: str) -> _FillerBody:
        name = f"{mb}.{ext}"
        size = int(float(mb) * MIB)
        if ext == "mp4":
            # A playable clip, then one top-level `free` box (players and ffprobe skip it) up to the size.
            clip = self.clip_bytes(_name_number(name))
            padding = size - len(clip) - 8
            if padding < 0:
                return _FillerBody(f"large/{name}", len(clip), [clip])
            return _FillerBody(f"large/{name}", size, [clip, struct.pack(">I4s", 8 + padding, b"free"), padding])
        if ext != "jpg":
            return _FillerBody(f"large/{name}", size)
        # The .jpg variant is a real (padded) JPEG so sniffers and decoders
        # see an image.
        return _FillerBody(f"large/{name}", size,
                           _jpeg_padded_parts(self.jpeg_bytes(_name_number(name)), size))

    def _nolength_body(self, name: str, kb: int, ext: str) -> _FillerBody:
        size = kb * KIB
        if ext != "jpg":
            return _FillerBody(f"nolength/{name}.{ext}", size)
        return _FillerBody(f"nolength/{name}.jpg", size, _jpeg_padded_parts(self.jpeg_bytes(_name_number(name)), size))

    def _slow_body(self, name: str, kb: int) -> _FillerBody:
        size = kb * KIB
        return _FillerBody(f"slow/{name}", size,
                           _jpeg_padded_parts(self.jpeg_bytes(_name_number(name)), size))

    def _cached_asset(self, filename: str, make: Callable[[str], None]) -> bytes:
        with self._lock:
            if filename in self._mem:
                return self._mem[filename]
            gen_lock = self._gen_locks.setdefault(filename, threading.Lock())
        with gen_lock:  # one generator per file; other requests wait for it
            with self._lock:
                if filename in self._mem:
                    return self._mem[filename]
            path = os.path.join(self.asset_dir, filename)
            if not os.path.exists(path):
                tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
                began = time.monotonic()
                try:
                    make(tmp)
                    os.replace(tmp, path)  # atomic: readers never see partial files
                finally:
                    if os.path.exists(tmp):
                        os.unlink(tmp)
                with self._lock:
                    self.generation_times[filename] = time.monotonic() - began
            with open(path, "rb") as fh:
                data = fh.read()
            with self._lock:
                self._mem[filename] = data
            return data


if __name__ == "__main__":
    asset_dir = sys.argv[1] if len(sys.argv) > 1 else None
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    with MediaSite(asset_dir, port=port) as site:
        print(f"Serving {site.base_url}  (assets: {site.asset_dir})  Ctrl-C to stop", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
