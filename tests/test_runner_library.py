"""What the runner records of a finished download: its metadata row (trimmed to the columns,
tags one per line) and each file's kind, from its name and its neighbours'."""
from __future__ import annotations

from jobs import runner
from webapp.extensions import db
from webapp.models import Job, JobMetadata
from webapp.services.queue.submissions import submit


def a_job() -> Job:
    return db.session.get(Job, submit(["http://example.com/v/1"], principal=None).entries[0].job_id)


def test_metadata_is_trimmed_to_its_columns_and_written_again_on_a_second_run(app):
    job = a_job()
    runner._record_metadata(job, {
        "title": "T", "uploader": "u" * 400, "upload_date": "2026-02-03", "duration": 61.5, "tags": ["a", "b"],
        "description": "d" * 50_000, "view_count": True, "width": 640, "extra": {"album": "A"},
    })
    db.session.commit()
    row = db.session.get(JobMetadata, job.id)
    assert row.uploader == "u" * 300 and len(row.description) == 50_000  # a description is kept whole
    assert row.tags == "a\nb" and row.tag_list == ["a", "b"]
    assert row.duration == 61.5 and row.width == 640 and row.view_count is None  # True is no count
    assert row.extra == {"album": "A"}
    runner._record_metadata(job, {"uploader": "v", "tags": []})
    db.session.commit()
    row = db.session.get(JobMetadata, job.id)
    assert (row.uploader, row.tags, row.duration, row.extra) == ("v", None, None, None)


def test_files_are_recorded_with_their_kind(app):
    job = a_job()
    folder = "t/site/item"
    names = ["Show.mp4", "Show-poster.jpg", "Show.en.srt", "Show.info.json", "Show.nfo", "cover.png",
             "Song.mp3", "Song.jpg", "other.txt"]
    runner._record_files(job, [{"path": f"{folder}/{name}", "size": 1, "sha256": "0" * 64, "mime": None}
                               for name in names])
    assert {f.path.rsplit("/", 1)[1]: f.kind for f in job.files} == {
        "Show.mp4": "media", "Show-poster.jpg": "poster", "Show.en.srt": "subtitle", "Show.info.json": "info-json",
        "Show.nfo": "nfo", "cover.png": "poster", "Song.mp3": "audio", "Song.jpg": "poster", "other.txt": "other",
    }


def test_the_direct_engine_hashes_as_it_writes_and_the_runner_records_that_digest(tmp_path, media_site):
    import hashlib
    import threading

    from jobs.engines.base import DownloadRequest
    from jobs.engines.direct import DirectEngine

    files = []
    request = DownloadRequest(url=media_site.url("/large/1.5.jpg"), base_dir=tmp_path / "base", storage_root=tmp_path,
                              report=lambda progress: None, add_file=files.append, cancel_event=threading.Event())
    DirectEngine().run(request)
    (path,) = files
    data = path.read_bytes()
    assert request.file_hashes == {str(path): (len(data), hashlib.sha256(data).hexdigest())}
    (described,) = runner._describe_files(files, tmp_path, request.file_hashes)
    assert described["sha256"] == hashlib.sha256(data).hexdigest() and described["size"] == len(data)


def test_a_digest_of_another_size_than_the_files_is_not_trusted(tmp_path):
    import hashlib

    path = tmp_path / "a.bin"
    path.write_bytes(b"grown after it was hashed")
    (described,) = runner._describe_files([path], tmp_path, {str(path): (3, "0" * 64)})
    assert described["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
