"""Guest uploads in chunks (in-process, Flask test client against the real routes and services).

The protocol: POST /i/<token>/uploads starts, PUT …/uploads/<id>?offset=N sends a chunk with its
SHA-256 in X-Chunk-SHA256, GET …/uploads/<id> says how much the server has, POST …/finish
hashes the whole file and stores it (or reports a duplicate). Chunks are 4 KiB here.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from pathlib import Path

import pytest

from webapp.extensions import db

CHUNK = 4096


@pytest.fixture
def settings(settings, tmp_path):
    """Small chunks, and a data dir of this test's own (partial files land in data_dir/partial)."""
    return dataclasses.replace(settings, upload_chunk_bytes=CHUNK, data_dir=tmp_path / "data")


@pytest.fixture(autouse=True)
def _fresh_g_per_request(client):
    """The `client` fixture makes each request start with a fresh `g` (where the CSRF token is
    cached), as in production; every Guest below has a test client of its own."""


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_invite(**fields):
    from webapp.services.guests import invites

    fields.setdefault("name", "Party photos")
    fields.setdefault("post_title", "Summer party")
    invite = invites.create_invite(None, fields)
    return invite, invites.token_for(invite)


class Guest:
    """One visitor with a browser of their own (own cookies): opens the link, then calls its JSON routes."""

    def __init__(self, app, token: str):
        self.client = app.test_client()
        self.token = token
        self.page = self.client.get(f"/i/{token}")
        found = re.search(r'name="csrf-token" content="([^"]+)"', self.page.get_data(as_text=True))
        self.csrf = found.group(1) if found else ""

    @property
    def headers(self):
        return {"X-CSRFToken": self.csrf, "Accept": "application/json"}

    def url(self, path: str) -> str:
        return f"/i/{self.token}{path}"

    def start(self, filename: str, size: int, mime: str | None = "image/jpeg"):
        return self.client.post(self.url("/uploads"), json={"filename": filename, "size": size, "mime": mime},
                                headers=self.headers)

    def chunk(self, upload_id: str, offset: int, data: bytes, digest: str | None = None, **headers):
        sent = {**self.headers, "Content-Type": "application/octet-stream",
                "X-Chunk-SHA256": sha(data) if digest is None else digest, **headers}
        return self.client.put(self.url(f"/uploads/{upload_id}?offset={offset}"), data=data, headers=sent)

    def status(self, upload_id: str):
        return self.client.get(self.url(f"/uploads/{upload_id}"), headers=self.headers)

    def finish(self, upload_id: str):
        return self.client.post(self.url(f"/uploads/{upload_id}/finish"), headers=self.headers)

    def upload(self, filename: str, data: bytes, mime: str | None = "image/jpeg") -> dict:
        """The whole protocol for one file; returns the finish answer's JSON."""
        started = self.start(filename, len(data), mime)
        assert started.status_code == 201, started.get_json()
        upload_id = started.get_json()["upload"]["upload_id"]
        for offset in range(0, len(data), CHUNK):
            answer = self.chunk(upload_id, offset, data[offset:offset + CHUNK])
            assert answer.status_code == 200, answer.get_json()
        done = self.finish(upload_id)
        assert done.status_code == 200, done.get_json()
        return done.get_json()


def file_bytes(size: int, seed: int = 1) -> bytes:
    out, counter = bytearray(), 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def all_files(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).rglob("*") if p.is_file())


def assert_no_server_paths(app, *responses):
    settings = app.config["HAUL"]
    for response in responses:
        text = response.get_data(as_text=True)
        for secret in (str(settings.storage_root), str(settings.data_dir), str(Path(settings.storage_root).parent)):
            assert secret not in text, f"a server path leaked: {text[:500]}"
        assert ".part" not in text
        assert '"path"' not in text


# -- the protocol ----------------------------------------------------------------------------------


def test_a_file_goes_up_in_chunks_and_lands_under_the_post_title(app):
    """start → four chunks (the last one short) → finish: the file is in
    storage_root/<post_title>/uploads/<slug>/, byte for byte, recorded as a completed job."""
    from webapp.models import Job, JobFile, Upload

    invite, token = make_invite()
    guest = Guest(app, token)
    data = file_bytes(3 * CHUNK + 1000)

    started = guest.start("beach.jpg", len(data))
    assert started.status_code == 201
    upload = started.get_json()["upload"]
    assert upload["chunk_size"] == CHUNK and upload["received"] == 0 and upload["status"] == "uploading"
    upload_id = upload["upload_id"]

    answers = []
    for offset in range(0, len(data), CHUNK):
        answer = guest.chunk(upload_id, offset, data[offset:offset + CHUNK])
        assert answer.status_code == 200, answer.get_json()
        assert answer.get_json()["received"] == min(len(data), offset + CHUNK)
        answers.append(answer)
    done = guest.finish(upload_id)
    assert done.status_code == 200
    body = done.get_json()["upload"]
    assert body["status"] == "stored" and body["sha256"] == sha(data) and body["duplicate"] is False

    folder = app.config["HAUL"].storage_root / "Summer party" / "uploads" / invite.slug
    assert (folder / "beach.jpg").read_bytes() == data
    row = db.session.get(Upload, upload_id)
    job = db.session.get(Job, row.job_id)
    assert job.status == "completed" and job.engine == "upload" and job.source == "invite"
    assert job.submission.guest_session_id == row.guest_session_id and job.submission.invite_id == invite.id
    assert db.session.query(JobFile).filter_by(sha256=sha(data)).count() == 1
    assert not (app.config["HAUL"].data_dir / "partial" / f"{upload_id}.part").exists()
    assert_no_server_paths(app, started, done, *answers, guest.status(upload_id))


def test_status_after_a_dropped_connection_and_resume(app):
    """Two chunks in, then the connection drops: the server says how much it has, a chunk from
    the wrong place is refused naming that amount, and the rest goes on from there."""
    _, token = make_invite()
    guest = Guest(app, token)
    data = file_bytes(5 * CHUNK, seed=2)
    upload_id = guest.start("clip.mp4", len(data), "video/mp4").get_json()["upload"]["upload_id"]
    for offset in (0, CHUNK):
        assert guest.chunk(upload_id, offset, data[offset:offset + CHUNK]).status_code == 200

    status = guest.status(upload_id)
    assert status.status_code == 200
    assert status.get_json()["upload"]["received"] == 2 * CHUNK

    again = guest.chunk(upload_id, 0, data[:CHUNK])  # a client that lost track
    assert again.status_code == 409
    assert again.get_json()["error_code"] == "offset_mismatch" and again.get_json()["received"] == 2 * CHUNK

    # A fresh page (new test client with the same cookies) resumes from the status.
    received = guest.status(upload_id).get_json()["upload"]["received"]
    for offset in range(received, len(data), CHUNK):
        assert guest.chunk(upload_id, offset, data[offset:offset + CHUNK]).status_code == 200
    done = guest.finish(upload_id).get_json()["upload"]
    assert done["status"] == "stored" and done["sha256"] == sha(data)


def test_a_chunk_whose_hash_does_not_match_is_refused_and_can_be_resent(app):
    _, token = make_invite()
    guest = Guest(app, token)
    data = file_bytes(2 * CHUNK, seed=3)
    upload_id = guest.start("a.jpg", len(data)).get_json()["upload"]["upload_id"]
    part = app.config["HAUL"].data_dir / "partial" / f"{upload_id}.part"

    wrong = guest.chunk(upload_id, 0, data[:CHUNK], digest=sha(b"something else"))
    assert wrong.status_code == 422
    assert wrong.get_json()["error_code"] == "chunk_hash_mismatch"
    assert guest.status(upload_id).get_json()["upload"]["received"] == 0
    assert part.stat().st_size == 0  # the bad bytes were dropped

    # Corrupted on the way: the header says what the client meant to send.
    damaged = guest.chunk(upload_id, 0, b"\x00" + data[1:CHUNK], digest=sha(data[:CHUNK]))
    assert damaged.status_code == 422

    assert guest.chunk(upload_id, 0, data[:CHUNK]).status_code == 200
    assert guest.chunk(upload_id, CHUNK, data[CHUNK:]).status_code == 200
    assert guest.finish(upload_id).get_json()["upload"]["sha256"] == sha(data)


def test_chunks_out_of_order_or_malformed_are_refused(app):
    _, token = make_invite()
    guest = Guest(app, token)
    data = file_bytes(3 * CHUNK, seed=4)
    upload_id = guest.start("b.jpg", len(data)).get_json()["upload"]["upload_id"]

    ahead = guest.chunk(upload_id, 2 * CHUNK, data[2 * CHUNK:])
    assert ahead.status_code == 409 and ahead.get_json()["error_code"] == "offset_mismatch"
    assert ahead.get_json()["received"] == 0

    short = guest.chunk(upload_id, 0, data[:100])
    assert short.status_code == 400 and short.get_json()["error_code"] == "chunk_length_mismatch"

    no_hash = guest.client.put(guest.url(f"/uploads/{upload_id}?offset=0"), data=data[:CHUNK],
                               headers={**guest.headers, "Content-Type": "application/octet-stream"})
    assert no_hash.status_code == 400 and no_hash.get_json()["error_code"] == "chunk_hash_required"

    no_offset = guest.client.put(guest.url(f"/uploads/{upload_id}"), data=data[:CHUNK],
                                 headers={**guest.headers, "X-Chunk-SHA256": sha(data[:CHUNK])})
    assert no_offset.status_code == 400 and no_offset.get_json()["error_code"] == "offset_required"

    too_big = guest.chunk(upload_id, 0, data[:CHUNK] + b"x")
    assert too_big.status_code == 413 and too_big.get_json()["error_code"] == "chunk_too_large"

    # More than the route takes at all: refused before the body is read.
    huge = guest.chunk(upload_id, 0, b"\0" * (CHUNK + 70 * 1024))
    assert huge.status_code == 413 and huge.get_json()["error_code"] == "too_large"

    form = guest.client.put(guest.url(f"/uploads/{upload_id}?offset=0"), data={"file": "x"},
                            headers={**guest.headers, "X-Chunk-SHA256": sha(b"x")})
    assert form.status_code == 415

    early = guest.finish(upload_id)
    assert early.status_code == 409 and early.get_json()["error_code"] == "upload_incomplete"
    assert guest.status(upload_id).get_json()["upload"]["received"] == 0


def test_every_call_needs_the_csrf_token_and_a_page_session(app):
    _, token = make_invite()
    stranger = app.test_client()  # never opened the page
    answer = stranger.post(f"/i/{token}/uploads", json={"filename": "a.jpg", "size": 10, "mime": "image/jpeg"},
                           headers={"Accept": "application/json"})
    assert answer.status_code == 400 and answer.get_json()["error_code"] == "csrf_failed"

    guest = Guest(app, token)
    no_csrf = guest.client.post(guest.url("/uploads"), json={"filename": "a.jpg", "size": 10, "mime": "image/jpeg"})
    assert no_csrf.status_code == 400 and no_csrf.get_json()["error_code"] == "csrf_failed"

    # A visitor of another invite has a session cookie and a CSRF token, but no session on this one.
    _, other_token = make_invite(name="Other")
    elsewhere = Guest(app, other_token)
    missing = elsewhere.client.post(f"/i/{token}/uploads", json={"filename": "a.jpg", "size": 10, "mime": "image/jpeg"},
                                    headers=elsewhere.headers)
    assert missing.status_code == 401, missing.get_json()
    assert missing.get_json()["error_code"] == "guest_session_missing"


# -- limits ----------------------------------------------------------------------------------------


def test_limits_are_refused_at_the_start_before_anything_is_stored_or_counted(app):
    from webapp.models import Invite, Upload

    invite, token = make_invite(max_file_bytes=10_000, max_total_bytes=15_000, allowed_kinds="image video",
                                max_uses=1)
    guest = Guest(app, token)
    partial = app.config["HAUL"].data_dir / "partial"

    cases = [
        (("big.jpg", 10_001, "image/jpeg"), 413, "file_too_large"),
        (("doc.pdf", 100, "application/pdf"), 422, "kind_not_allowed"),
        (("song.mp3", 100, "audio/mpeg"), 422, "kind_not_allowed"),
        (("tool.exe", 100, "image/jpeg"), 422, "kind_not_allowed"),  # the name says otherwise
        (("empty.jpg", 0, "image/jpeg"), 422, "empty_file"),
    ]
    for (name, size, mime), status, code in cases:
        answer = guest.start(name, size, mime)
        assert answer.status_code == status, (name, answer.get_json())
        body = answer.get_json()
        assert body["error_code"] == code and body["detail"]
    bad = guest.client.post(guest.url("/uploads"), json={"filename": "a.jpg", "size": 5, "engine": "yt-dlp"},
                            headers=guest.headers)
    assert bad.status_code == 400 and bad.get_json()["error_code"] == "invalid_field"

    db.session.expire_all()
    assert db.session.get(Invite, invite.id).uses == 0  # refused requests use up nothing
    assert db.session.query(Upload).count() == 0
    assert not partial.exists() or all_files(partial) == []

    # The session's total: 8 000 fits, another 8 000 does not.
    assert guest.start("one.jpg", 8_000).status_code == 201
    over = guest.start("two.jpg", 8_000)
    assert over.status_code == 413 and over.get_json()["error_code"] == "quota_exceeded"
    assert over.get_json()["bytes_left"] == 7_000
    db.session.expire_all()
    assert db.session.get(Invite, invite.id).uses == 1


def test_uploads_switched_off_are_refused(app):
    _, token = make_invite(allow_uploads=False, allow_urls=True)
    guest = Guest(app, token)
    answer = guest.start("a.jpg", 10)
    assert answer.status_code == 403 and answer.get_json()["error_code"] == "uploads_not_allowed"
    assert "Choose files" not in guest.page.get_data(as_text=True)


def test_cancelling_gives_the_reservation_back(app):
    from webapp.models import Upload

    _, token = make_invite(max_total_bytes=10_000)
    guest = Guest(app, token)
    data = file_bytes(9_000, seed=9)
    upload_id = guest.start("a.jpg", len(data)).get_json()["upload"]["upload_id"]
    assert guest.chunk(upload_id, 0, data[:CHUNK]).status_code == 200
    assert guest.start("b.jpg", 9_000).status_code == 413

    gone = guest.client.delete(guest.url(f"/uploads/{upload_id}"), headers=guest.headers)
    assert gone.status_code == 204
    assert db.session.get(Upload, upload_id) is None
    assert not (app.config["HAUL"].data_dir / "partial" / f"{upload_id}.part").exists()
    assert guest.status(upload_id).status_code == 404
    assert guest.start("b.jpg", 9_000).status_code == 201


# -- dedupe and paths ------------------------------------------------------------------------------


def test_the_same_content_twice_is_a_duplicate_stored_once(app):
    from webapp.models import JobFile, Upload

    invite, token = make_invite()
    first, second = Guest(app, token), Guest(app, token)
    data = file_bytes(2 * CHUNK + 5, seed=5)

    stored = first.upload("party.jpg", data)
    assert stored["upload"]["status"] == "stored" and stored["item"]["status"] == "stored"
    again = second.upload("party-copy.jpg", data)
    assert again["upload"]["status"] == "duplicate" and again["upload"]["duplicate"] is True
    assert again["upload"]["sha256"] == sha(data)
    same_guest = first.upload("party.jpg", data)
    assert same_guest["upload"]["status"] == "duplicate"

    folder = app.config["HAUL"].storage_root / "Summer party" / "uploads" / invite.slug
    assert [p.name for p in all_files(folder)] == ["party.jpg"]
    assert db.session.query(JobFile).filter_by(sha256=sha(data)).count() == 1
    dupes = db.session.query(Upload).filter_by(status="duplicate").all()
    assert len(dupes) == 2 and all(u.job_id == db.session.query(JobFile).one().job_id for u in dupes)
    # The duplicate's answer names no job, path or anything of the other guest's.
    # The duplicate's answer names the guest's own file only: no job, no path, not the other file.
    assert again["upload"]["filename"] == "party-copy.jpg"
    assert "job_id" not in again["upload"] and "job_id" not in again["item"]
    assert "party.jpg" not in str(again)


@pytest.mark.parametrize("hostile", ["../../x", "..\\..\\x.jpg", "/etc/passwd.jpg", "....//....//x.jpg",
                                     "a/../../../../x.jpg", ".hidden.jpg", "CON.jpg", "\x00x.jpg"])
def test_hostile_file_names_stay_inside_the_storage_root(app, tmp_path, hostile):
    from webapp.models import Upload

    invite, token = make_invite(allowed_kinds="image video other")
    guest = Guest(app, token)
    data = file_bytes(CHUNK + 10, seed=len(hostile))
    before = set(all_files(tmp_path))
    done = guest.upload(hostile, data, mime="image/jpeg")
    assert done["upload"]["status"] == "stored"

    settings = app.config["HAUL"]
    folder = (settings.storage_root / "Summer party" / "uploads" / invite.slug).resolve()
    new = set(all_files(tmp_path)) - before
    library = [p for p in new if settings.storage_root.resolve() in p.resolve().parents]
    assert len(library) == 1 and library[0].resolve().parent == folder
    assert library[0].read_bytes() == data
    # Nothing else appeared anywhere (the database files aside).
    others = [p for p in new if p not in library and not p.name.startswith("haul.db")]
    assert others == [], others
    assert not (tmp_path.parent / "x").exists() and not Path("/x").exists()
    stored_name = db.session.get(Upload, done["upload"]["upload_id"]).filename
    assert "/" not in stored_name and "\\" not in stored_name and ".." != stored_name


def test_parallel_requests_for_one_upload_do_not_interleave(app):
    """A chunk request that finds the upload busy (another request holds its file) is told so."""
    import fcntl

    _, token = make_invite()
    guest = Guest(app, token)
    data = file_bytes(2 * CHUNK, seed=7)
    upload_id = guest.start("a.jpg", len(data)).get_json()["upload"]["upload_id"]
    part = app.config["HAUL"].data_dir / "partial" / f"{upload_id}.part"
    with open(part, "r+b") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        busy = guest.chunk(upload_id, 0, data[:CHUNK])
        assert busy.status_code == 409 and busy.get_json()["error_code"] == "upload_busy"
    assert guest.chunk(upload_id, 0, data[:CHUNK]).status_code == 200
    assert os.path.getsize(part) == CHUNK


def test_a_browser_without_a_type_is_judged_by_the_file_name(app):
    _, token = make_invite()
    guest = Guest(app, token)
    for mime in (None, "", "application/octet-stream"):
        answer = guest.start("holiday.MOV", 100, mime)
        assert answer.status_code == 201, answer.get_json()
        assert answer.get_json()["upload"]["mime"] == "video/quicktime"
    refused = guest.start("notes.txt", 100, "application/octet-stream")
    assert refused.status_code == 422 and refused.get_json()["error_code"] == "kind_not_allowed"


def test_an_uploaded_file_is_recorded_with_its_kind(app, tmp_path):
    """A song uploaded is audio in the history's files by kind, a photo media (as downloads are)."""
    from webapp.models import Job
    from webapp.services.guests import upload_store

    kinds = {}
    for name, content in (("song.mp3", b"ID3 not really a song " + os.urandom(8)), ("photo.jpg", os.urandom(64))):
        temp = tmp_path / f"{name}.part"
        temp.write_bytes(content)
        stored = upload_store.import_file(temp, filename=name, post_title="Kinds", folder="kinds", source="api")
        kinds[name] = [f.kind for f in db.session.get(Job, stored.job_id).files]
    assert kinds == {"song.mp3": ["audio"], "photo.jpg": ["media"]}
