"""End to end: an invite's byte limits on its guests' link jobs, enforced by the real worker (the
Huey consumer of a live stack) with the real direct, gallery-dl and yt-dlp engines against the
local media site.

Attacks: a link to a file larger than the invite's largest file, announced (Content-Length) or
not (the body simply runs on); a link whose file would take the invite past its total; two links
that fit one at a time but not together. Each must end as a failed job saying why, tried once,
with nothing left in the library. The invites allow private addresses: the media site is on
127.0.0.1 (the guest URL policy has tests of its own, tests/test_e2e_guest_policy.py).
"""
from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from test_e2e_guest_policy import stack_app  # noqa: F401  (a fixture: an app on the stack's database)

MIB = 1024 * 1024
FILE_LIMIT_MESSAGE = "Stopped: a file was larger than this invite's limit of {} per file"
TOTAL_LIMIT_MESSAGE = "Stopped: this invite's limit of {} in all was reached"
_titles = itertools.count(1)


def guest_with(**limits):
    """A guest session on a fresh invite with these limits, its files under a post title of its own."""
    from webapp.services.guests import invites

    title = f"limits {next(_titles)}"
    invite = invites.create_invite(None, {"name": title, "post_title": title, "allow_private_urls": True, **limits})
    return invites.open_session(invite, None).id, title


def send(guest_id: str, *urls: str, engine: str | None = None) -> list[int]:
    """Queue links as the guest (at the service level, as the guest page does after its checks)."""
    from webapp.extensions import db
    from webapp.models import GuestSession
    from webapp.services.queue.submissions import submit

    guest = db.session.get(GuestSession, guest_id)
    result = submit(list(urls), principal=None, source="invite", post_title=guest.invite.post_title, guest=guest,
                    engine=engine)
    job_ids = [entry.job_id for entry in result.entries]
    assert all(job_ids) and not any(entry.duplicate for entry in result.entries)
    db.session.remove()
    return job_ids


def files_under(stack, title: str) -> list[Path]:
    folder = stack.storage_root / title
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def assert_cut_off(stack, job: dict, message: str, title: str) -> None:
    assert job["status"] == "failed", job
    assert job["error"] == message
    assert job["attempts"] == 1  # not retried: the same link would pass the limit again
    assert job["files"] == []
    assert files_under(stack, title) == []  # no partial or finished file is left


@pytest.mark.parametrize("engine,path,limit", [
    ("direct", "/large/2.jpg", MIB),
    ("direct", "/nolength/direct.jpg?kb=3072", MIB),
    ("gallery-dl", "/large/3.jpg", MIB),
    ("gallery-dl", "/nolength/gallery.jpg?kb=3072", MIB),
    ("yt-dlp", "/media/clip9401.mp4", 8 * 1024),
    ("yt-dlp", "/nolength/video.mp4?kb=3072", MIB),
])
def test_a_file_larger_than_the_invites_limit_fails_the_job_and_leaves_nothing(stack, stack_app, media_site,
                                                                             engine, path, limit):
    """Announced or not (no Content-Length: the size shows only as the bytes arrive), the file
    is cut off at the limit; the job fails with the limit in words, once."""
    from webapp.core.readable import human_bytes

    guest, title = guest_with(max_file_bytes=limit)
    [job_id] = send(guest, media_site.url(path), engine=engine)
    job = stack.wait_for_job(job_id, timeout=60)
    assert job["engine"] == engine
    assert_cut_off(stack, job, FILE_LIMIT_MESSAGE.format(human_bytes(limit)), title)
    assert not list(stack.storage_root.rglob("*.part"))


def test_a_file_under_the_limits_downloads_as_usual(stack, stack_app, media_site):
    guest, title = guest_with(max_file_bytes=3 * MIB, max_total_bytes=3 * MIB)
    [job_id] = send(guest, media_site.url("/nolength/fits.jpg?kb=2048"))
    job = stack.wait_for_job(job_id, timeout=60)
    assert job["status"] == "completed", job
    [stored] = files_under(stack, title)
    assert stored.read_bytes() == media_site.nolength_bytes("fits", 2048)


def test_a_link_that_would_pass_the_invites_total_fails_and_leaves_the_rest(stack, stack_app, media_site):
    """3 MiB in all: a first 2 MiB file is stored; the next file, announced or not, would pass
    the total and is cut off; the first stays."""
    guest, title = guest_with(max_total_bytes=3 * MIB)
    [first] = send(guest, media_site.url("/large/2.jpg"))
    assert stack.wait_for_job(first, timeout=60)["status"] == "completed"
    [kept] = files_under(stack, title)

    for path in ("/nolength/total.jpg?kb=2048", "/large/1.5.jpg"):
        [job_id] = send(guest, media_site.url(path))
        job = stack.wait_for_job(job_id, timeout=60)
        assert job["status"] == "failed", job
        assert job["error"] == TOTAL_LIMIT_MESSAGE.format("3.0 MB") and job["attempts"] == 1 and job["files"] == []
        assert files_under(stack, title) == [kept]
        assert media_site.count(path.split("?")[0]) == 1


def test_two_links_that_fit_alone_cannot_both_pass_the_total_together(stack, stack_app, media_site):
    """Downloaded at the same time by two worker threads, each under the total alone: what the
    library keeps of this invite stays within it, and a job that did not fit says so."""
    guest, title = guest_with(max_total_bytes=3 * MIB)
    job_ids = send(guest, media_site.url("/nolength/pair-a.jpg?kb=2048"),
                   media_site.url("/nolength/pair-b.jpg?kb=2048"))
    jobs = [stack.wait_for_job(job_id, timeout=60) for job_id in job_ids]
    failed = [job for job in jobs if job["status"] == "failed"]
    assert failed, jobs
    assert all(job["error"] == TOTAL_LIMIT_MESSAGE.format("3.0 MB") and job["files"] == [] for job in failed)
    assert sum(p.stat().st_size for p in files_under(stack, title)) <= 3 * MIB
