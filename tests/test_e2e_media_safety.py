"""End to end: what guests upload and what yt-dlp merges is decoded as media only, by the live
worker of a real stack (gunicorn + the Huey consumer), its thumbnails made by its own child process.

The guest sends files through the invite page's upload protocol over HTTP, as a browser would.
The files that attack are sent first; the worker makes the thumbnails of a batch in order, so once
the real files sent after them have theirs, the attacks have been dealt with too.
"""
from __future__ import annotations

import hashlib
import re
import time

import pytest
import requests
from test_media_safety import hls_playlist, make_real_media, streams_of, write_grey_png, write_secret_video

from webapp.services.library.files import thumbnail_path


class GuestBrowser:
    """A visitor who opened an invite link: the page's session cookie and CSRF token."""

    def __init__(self, stack, token: str):
        self.base = f"{stack.base_url}/i/{token}"
        self.session = requests.Session()
        page = self.session.get(self.base, timeout=10)
        assert page.status_code == 200, page.text[:300]
        self.session.headers.update({"X-CSRFToken": re.search(r'name="csrf-token" content="([^"]+)"', page.text)[1],
                                     "Accept": "application/json"})

    def upload(self, filename: str, data: bytes, mime: str) -> str:
        """Send one file in chunks, as the page's script does; its SHA-256."""
        started = self.session.post(f"{self.base}/uploads", json={"filename": filename, "size": len(data),
                                                                   "mime": mime}, timeout=10)
        assert started.status_code == 201, started.text
        upload = started.json()["upload"]
        for offset in range(0, len(data), upload["chunk_size"]):
            chunk = data[offset:offset + upload["chunk_size"]]
            sent = self.session.put(f"{self.base}/uploads/{upload['upload_id']}?offset={offset}", data=chunk,
                                    headers={"Content-Type": "application/octet-stream",
                                             "X-Chunk-SHA256": hashlib.sha256(chunk).hexdigest()}, timeout=30)
            assert sent.status_code == 200, sent.text
        done = self.session.post(f"{self.base}/uploads/{upload['upload_id']}/finish", timeout=30)
        assert done.status_code == 200, done.text
        return hashlib.sha256(data).hexdigest()


@pytest.fixture
def guest(stack):
    made = stack.session.post(f"{stack.base_url}/api/v1/invites", json={"name": "media safety"}, timeout=10)
    assert made.status_code == 201, made.text
    return GuestBrowser(stack, made.json()["token"])


def wait_for_thumbnails(stack, shas, timeout: float = 90) -> None:
    """Until each of `shas` has a thumbnail (the worker waits for a quiet moment, then makes a batch)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(thumbnail_path(stack.data_dir / "thumbnails", sha).is_file() for sha in shas):
            return
        time.sleep(0.2)
    raise TimeoutError(f"no thumbnails after {timeout}s; worker log:\n{stack.log('worker.log')[-3000:]}")


def wait_for_log(stack, pattern: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not re.search(pattern, stack.log("worker.log")):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{pattern!r} not in the worker log:\n{stack.log('worker.log')[-3000:]}")
        time.sleep(0.1)


def test_guest_uploads_are_decoded_as_media_only(stack, media_site, guest, tmp_path):
    """A playlist uploaded as x.mp4 and a decompression bomb get no thumbnail, read no secret, fetch no
    URL; the worker goes on and makes the thumbnails of the real photo and video sent after them."""
    from PIL import Image

    secret = write_secret_video(tmp_path / "private" / "secret.ts")
    trap = "/trap/e2e-upload/segment.ts"
    playlist = hls_playlist(str(secret), media_site.url(trap)).encode()
    bomb = write_grey_png(tmp_path / "bomb.png", 9000, 9000).read_bytes()
    clip, _ = make_real_media("mp4", tmp_path / "real")
    photo, _ = make_real_media("jpeg", tmp_path / "real")

    attacks = [guest.upload("x.mp4", playlist, "video/mp4"), guest.upload("bomb.png", bomb, "image/png")]
    real = [guest.upload("clip.mp4", clip.read_bytes(), "video/mp4"),
            guest.upload("photo.jpg", photo.read_bytes(), "image/jpeg")]
    wait_for_thumbnails(stack, real)

    for sha in real:
        with Image.open(thumbnail_path(stack.data_dir / "thumbnails", sha)) as thumbnail:
            assert thumbnail.size == (160, 120)
    for sha in attacks:
        assert not thumbnail_path(stack.data_dir / "thumbnails", sha).exists()
    made = sorted(p.name for p in (stack.data_dir / "thumbnails").rglob("*") if p.is_file())
    assert made == sorted(f"{sha}.webp" for sha in real)  # nothing else was written: the secret is nowhere
    assert media_site.count(trap) == 0
    # The child's reasons reach the worker's log once the child has exited (just after the files).
    wait_for_log(stack, r"not decoding \S+/bomb\.png: it declares 9000×9000 pixels, more than 50,000,000")
    wait_for_log(stack, r"no frame in \S+/x\.mp4: \[hls @ \w+\] Format not on whitelist")


def test_a_site_serving_separate_video_and_audio_is_merged_by_the_worker(stack, media_site):
    """yt-dlp's merger, run by the live worker with Haul's allowlists, still joins a DASH pair."""
    submitted = stack.submit([media_site.url("/dash/e2e-merge.mpd")])
    [entry] = submitted["jobs"]
    job = stack.wait_for_job(entry["id"], timeout=60)
    assert job["status"] == "completed", job
    [record] = [f for f in job["files"] if f["kind"] == "media"]  # its .nfo beside it
    assert record["path"].endswith(".mp4")
    assert streams_of(stack.storage_root / record["path"]) == [("aac", "audio"), ("h264", "video", "160", "120")]
    wait_for_thumbnails(stack, [record["sha256"]])
