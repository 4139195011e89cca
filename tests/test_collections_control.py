"""Job controls on collections: a parent is cancelled and retried through its children, a child's
change brings its parent along, and deleting a parent from the history takes its children's files.

Parents and children are built straight in the database (tests/support/collections.py); the
worker's listing is tested elsewhere.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from support.collection_jobs import fresh, fresh_id, make_collection

from webapp.core.vocabulary import (
    CANCELLED,
    COLLECTION,
    COMPLETED,
    DOWNLOADING,
    FAILED,
    PAUSED,
    QUEUED,
)
from webapp.errors import Conflict
from webapp.extensions import db
from webapp.models import Job, JobFile
from webapp.services.accounts.identity import Principal
from webapp.services.library import history
from webapp.services.queue import job_control
from webapp.services.queue.submissions import submit


def statuses(children) -> list[str]:
    return [fresh(child).status for child in children]


# cancelling ---------------------------------------------------------------------------------


def test_cancelling_a_parent_cancels_what_has_not_finished(alice):
    parent, children = make_collection(alice, [COMPLETED, QUEUED, PAUSED, DOWNLOADING, FAILED])
    assert parent.status == DOWNLOADING
    job_control.cancel(fresh(parent))
    assert statuses(children) == [COMPLETED, CANCELLED, CANCELLED, DOWNLOADING, FAILED]
    assert fresh(children[3]).cancel_requested  # the running one is asked to stop; its worker confirms
    assert fresh(parent).status == DOWNLOADING  # until that child stops


def test_cancelling_a_parent_whose_children_all_wait_finishes_it(alice):
    parent, children = make_collection(alice, [QUEUED, QUEUED])
    job_control.cancel(fresh(parent))
    assert statuses(children) == [CANCELLED, CANCELLED]
    assert fresh(parent).status == CANCELLED


def test_a_finished_collection_is_not_cancellable(alice):
    parent, _ = make_collection(alice, [COMPLETED, FAILED])
    assert fresh(parent).status == FAILED
    with pytest.raises(Conflict) as caught:
        job_control.cancel(fresh(parent))
    assert caught.value.error_code == "not_cancellable"


def test_a_parent_still_listing_is_cancelled_as_any_job(alice):
    result = submit(["https://example.com/channel"], principal=Principal(alice))
    job = db.session.get(Job, result.entries[0].job_id)
    job.claim("tests")
    db.session.commit()
    job_control.cancel(job)
    assert fresh(job).cancel_requested and fresh(job).kind != COLLECTION


def test_cancelling_a_child_refreshes_its_parent(alice):
    parent, children = make_collection(alice, [COMPLETED, QUEUED])
    job_control.cancel(fresh(children[1]))
    assert fresh(children[1]).status == CANCELLED
    assert fresh(parent).status == COMPLETED  # nothing left running, nothing failed
    assert fresh(parent).items_done == 1 and fresh(parent).items_total == 2


# retrying -----------------------------------------------------------------------------------


def test_retrying_a_failed_parent_retries_its_failed_and_cancelled_children(alice):
    parent, children = make_collection(alice, [COMPLETED, FAILED, CANCELLED, FAILED])
    assert fresh(parent).status == FAILED
    job_control.retry(fresh(parent))
    assert statuses(children) == [COMPLETED, QUEUED, QUEUED, QUEUED]
    again = fresh(parent)
    assert again.status == DOWNLOADING and again.error is None and again.finished_at is None


def test_retrying_a_cancelled_parent_retries_its_children(alice):
    parent, children = make_collection(alice, [CANCELLED, CANCELLED])
    assert fresh(parent).status == CANCELLED
    job_control.retry(fresh(parent))
    assert statuses(children) == [QUEUED, QUEUED] and fresh(parent).status == DOWNLOADING


def test_retrying_a_parent_skips_a_child_whose_url_another_job_holds(alice):
    parent, children = make_collection(alice, [FAILED, FAILED])
    holder = submit([children[0].url], principal=Principal(alice)).entries[0]
    assert not holder.duplicate
    job_control.retry(fresh(parent))
    assert statuses(children) == [FAILED, QUEUED]


def test_retrying_a_parent_with_nothing_left_to_retry_is_a_conflict(alice):
    parent, children = make_collection(alice, [FAILED])
    submit([children[0].url], principal=Principal(alice))
    with pytest.raises(Conflict) as caught:
        job_control.retry(fresh(parent))
    assert caught.value.error_code == "not_retryable"
    assert statuses(children) == [FAILED] and fresh(parent).status == FAILED


def test_retrying_a_child_brings_its_parent_back_to_downloading(alice):
    parent, children = make_collection(alice, [COMPLETED, FAILED])
    job_control.retry(fresh(children[1]))
    assert fresh(children[1]).status == QUEUED
    assert fresh(parent).status == DOWNLOADING


def test_retry_all_retries_a_failed_collection_once_as_a_group(alice):
    parent, children = make_collection(alice, [FAILED, FAILED])
    retried, problems = job_control.retry_many([], Principal(alice))
    assert [fresh_id(job) for job in retried] == [fresh_id(parent)] and problems == []
    assert statuses(children) == [QUEUED, QUEUED]


# removing, pausing, moving ------------------------------------------------------------------


def test_removing_a_waiting_child_cancels_it_and_refreshes_its_parent(alice):
    parent, children = make_collection(alice, [FAILED, QUEUED])
    job_control.remove(fresh(children[1]))
    assert fresh(children[1]).status == CANCELLED and fresh(children[1]).cleared_at is not None
    assert fresh(parent).status == FAILED


def test_children_are_paused_resumed_and_moved_as_any_job(alice):
    _, children = make_collection(alice, [QUEUED, QUEUED, QUEUED])
    job_control.pause(fresh(children[0]))
    assert fresh(children[0]).status == PAUSED
    job_control.resume(fresh(children[0]))
    assert fresh(children[0]).status == QUEUED
    job_control.move(fresh(children[2]), "top", Principal(alice))
    waiting = [job.id for job in job_control._waiting_jobs(Principal(alice))]
    assert waiting.index(fresh_id(children[2])) < waiting.index(fresh_id(children[0]))
    job_control.update_job(fresh(children[1]), Principal(alice), priority=5)
    assert fresh(children[1]).priority == 5


# deleting from the history ------------------------------------------------------------------


def _write(app, path: str) -> Path:
    full = Path(app.config["HAUL"].storage_root) / path
    full.parent.mkdir(parents=True, exist_ok=True)
    full.write_bytes(b"abc")
    return full


def test_deleting_a_parent_deletes_its_children_and_their_files(app, alice):
    paths = ["Post/example.com/list/one/a.mp4", "Post/example.com/list/two/b.mp4"]
    written = [_write(app, path) for path in paths]
    parent, children = make_collection(alice, [COMPLETED, COMPLETED], files={0: [paths[0]], 1: [paths[1]]})
    result = history.delete_entry(fresh(parent), with_files=True)
    assert result.removed == 2 and result.files_recorded == 2
    assert not any(path.exists() for path in written)
    db.session.expire_all()
    ids = [fresh_id(parent), *(fresh_id(child) for child in children)]
    assert db.session.scalars(select(Job.id).where(Job.id.in_(ids))).all() == []
    assert db.session.scalars(select(JobFile.id)).all() == []


def test_deleting_a_parent_keeps_a_file_another_download_lists(app, alice):
    path = "Post/example.com/shared/a.mp4"
    written = _write(app, path)
    parent, _ = make_collection(alice, [COMPLETED], files={0: [path]})
    other, _ = make_collection(alice, [COMPLETED], url="https://example.com/other", files={0: [path]})
    result = history.delete_entry(fresh(parent), with_files=True)
    assert result.kept == 1 and written.exists()
    assert fresh(other) is not None


def test_deleting_a_child_refreshes_its_parent(alice):
    parent, children = make_collection(alice, [COMPLETED, FAILED])
    assert fresh(parent).status == FAILED
    history.delete_entry(fresh(children[1]), with_files=False)
    again = fresh(parent)
    assert again.status == COMPLETED and again.items_total == 1
