"""Group commit: several submissions written in one transaction behave exactly as if they had
been written one after another (dedupe against each other, refusals, force), and the batcher
hands each waiting request its own outcome."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from webapp.errors import Conflict
from webapp.extensions import db
from webapp.models import Event, Job, Submission
from webapp.services.queue import submit_batcher
from webapp.services.queue.submissions import Prepared, SubmitResult, submit, write_batch


def prepared(*urls, force=False, refuse=False, user_id=None) -> Prepared:
    return Prepared(list(urls), None, None, force, None, 0, None, "api", refuse, user_id, None, "static-token")


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_a_batch_dedupes_against_stored_jobs_and_against_itself(app):
    stored = submit(["http://example.com/old"], principal=None).entries[0].job_id
    a, b, c = write_batch([
        prepared("http://example.com/new", "http://example.com/old"),
        prepared("http://example.com/new", "http://example.com/other"),
        prepared("http://example.com/other", "http://example.com/other"),
    ])
    assert [(e.duplicate, e.job_id) for e in a.entries] == [(False, a.entries[0].job_id), (True, stored)]
    new_id = a.entries[0].job_id
    assert [(e.duplicate, e.job_id) for e in b.entries] == [(True, new_id), (False, b.entries[1].job_id)]
    other_id = b.entries[1].job_id
    assert [(e.duplicate, e.job_id) for e in c.entries] == [(True, other_id), (True, other_id)]
    assert count(Job) == 3  # old, new, other
    assert count(Submission) == 4 and count(Event) == 4  # one submission and one event each
    # What each answer says it created is what was stored, in order.
    assert [row["url"] for row in a.created] == ["http://example.com/new"]
    assert c.created == []


def test_a_refused_submission_writes_nothing_and_names_the_jobs_even_from_its_own_batch(app):
    first, refused, forced = write_batch([
        prepared("http://example.com/x"),
        prepared("http://example.com/x", refuse=True),
        prepared("http://example.com/x", force=True, refuse=True),
    ])
    assert isinstance(first, SubmitResult)
    assert isinstance(refused, Conflict)
    assert refused.extra["duplicate_of"] == first.entries[0].job_id
    assert isinstance(forced, SubmitResult) and not forced.entries[0].duplicate  # force: a job again
    assert count(Submission) == 2 and count(Job) == 2


def test_a_batch_of_only_refusals_writes_nothing(app):
    job_id = submit(["http://example.com/y"], principal=None).entries[0].job_id
    before = (count(Submission), count(Event))
    [refused] = write_batch([prepared("http://example.com/y", refuse=True)])
    assert isinstance(refused, Conflict) and refused.extra["duplicate_of"] == job_id
    assert (count(Submission), count(Event)) == before


def test_the_batcher_gives_each_waiting_request_its_own_outcome(app):
    batcher = submit_batcher.SubmitBatcher(app, write_batch)
    outcomes = {}

    def send(name, item):
        with app.app_context():
            try:
                outcomes[name] = batcher.submit(item)
            except Conflict as exc:
                outcomes[name] = exc
            finally:
                db.session.remove()

    submit(["http://example.com/known"], principal=None)
    db.session.remove()
    items = {f"new{i}": prepared(f"http://example.com/b{i}") for i in range(8)}
    items["dup"] = prepared("http://example.com/known", refuse=True)
    threads = [threading.Thread(target=send, args=pair) for pair in items.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert isinstance(outcomes["dup"], Conflict)
    urls = {name: outcome.entries[0].url for name, outcome in outcomes.items() if name != "dup"}
    assert urls == {f"new{i}": f"http://example.com/b{i}" for i in range(8)}
    assert count(Job) == 9


def test_submit_uses_the_apps_batcher_when_it_has_one(app, monkeypatch):
    batcher = submit_batcher.SubmitBatcher(app, write_batch)
    seen = []
    real = batcher.submit
    monkeypatch.setattr(batcher, "submit", lambda item: seen.append(item) or real(item))
    app.extensions["haul_submit_batcher"] = batcher
    try:
        result = submit(["http://example.com/via-batcher"], principal=None)
    finally:
        del app.extensions["haul_submit_batcher"]
    assert [item.urls for item in seen] == [["http://example.com/via-batcher"]]
    assert db.session.get(Job, result.entries[0].job_id).url == "http://example.com/via-batcher"


@pytest.mark.parametrize("attempts_failing", [1, 3])
def test_a_racing_insert_is_retried_then_each_submission_alone(app, monkeypatch, attempts_failing):
    """The unique dedupe index tripping (another process queued the URL meanwhile) redoes the
    batch; a batch that keeps failing is written one submission at a time."""
    from sqlalchemy.exc import IntegrityError

    from webapp.services.queue import submissions

    real = submissions._write_batch_once
    calls = []

    def flaky(batch):
        calls.append(len(batch))
        if len(calls) <= attempts_failing:
            raise IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed: jobs.dedupe_key"))
        return real(batch)

    monkeypatch.setattr(submissions, "_write_batch_once", flaky)
    outcomes = write_batch([prepared("http://example.com/r1"), prepared("http://example.com/r2")])
    assert [o.entries[0].url for o in outcomes] == ["http://example.com/r1", "http://example.com/r2"]
    assert calls == ([2, 2] if attempts_failing == 1 else [2, 2, 2, 1, 1])
