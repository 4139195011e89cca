"""Queue controls as services and as the queue page's htmx endpoints: pause, reorder, remove, clear, links in pasted text."""
from __future__ import annotations

import pytest
from sqlalchemy import select
from support.web import CSRF_META, USER_PASSWORD, csrf, sign_in
from test_claim_and_recovery import job, new_job

from jobs import runner
from webapp.core.link_text import parse_links
from webapp.errors import Conflict
from webapp.extensions import db
from webapp.models import Event, Job
from webapp.models.job import Outcome
from webapp.services.accounts import identity as accounts
from webapp.services.accounts.identity import Principal
from webapp.services.queue import job_control
from webapp.services.queue import pause as queue_state
from webapp.services.queue.submissions import submit


def claim_order(count: int) -> list[int]:
    return [runner.claim_next_job() for _ in range(count)]


# Pasted text ---------------------------------------------------------------------------------


def test_links_are_found_in_pasted_text():
    text = ("see https://example.com/a, and (https://example.org/b).\n"
            "https://example.com/wiki/Foo_(bar)\n\n  http://x.test/p?q=1#frag  \nhttps://example.com/a")
    parsed = parse_links(text)
    assert parsed.urls == ["https://example.com/a", "https://example.org/b",
                           "https://example.com/wiki/Foo_(bar)", "http://x.test/p?q=1#frag"]
    assert parsed.problems == []


def test_lines_without_a_valid_link_are_problems_with_their_line_number():
    parsed = parse_links("https://ok.example/1\nexample.com/no-scheme\nhttp://\nftp://files.example/x")
    assert parsed.urls == ["https://ok.example/1"]
    assert [p["line"] for p in parsed.problems] == [2, 3, 4]
    assert "not a link" in parsed.problems[0]["reason"]


def test_too_many_links_are_cut_at_the_limit_and_said_so():
    parsed = parse_links("\n".join(f"https://example.com/{n}" for n in range(205)))
    assert len(parsed.urls) == 200
    assert parsed.problems[-1]["reason"].startswith("at most 200 links")


# Pausing -------------------------------------------------------------------------------------


def test_a_paused_job_is_not_claimed_until_resumed(app):
    paused = new_job("http://example.com/paused")
    other = new_job("http://example.com/other")
    job_control.pause(db.session.get(Job, paused))
    assert claim_order(2) == [other, None]
    job_control.resume(db.session.get(Job, paused))
    assert runner.claim_next_job() == paused


def test_only_a_queued_job_can_be_paused(app):
    job_id = new_job("http://example.com/x")
    runner.claim_next_job()
    with pytest.raises(Conflict):
        job_control.pause(db.session.get(Job, job_id))


def test_pause_all_stops_claims_and_is_kept_in_the_database(app):
    job_id = new_job("http://example.com/held")
    job_control.pause_all()
    db.session.remove()  # a fresh session, as after a restart, still reads it paused
    assert queue_state.is_paused()
    assert runner.claim_next_job() is None
    job_control.resume_all()
    assert not queue_state.is_paused()
    assert runner.claim_next_job() == job_id
    kinds = db.session.scalars(select(Event.type).where(Event.job_id.is_(None)).order_by(Event.id)).all()
    assert [k for k in kinds if k.startswith("queue_")] == ["queue_paused", "queue_resumed"]


def test_a_paused_job_still_counts_as_a_duplicate(app):
    job_id = new_job("http://example.com/dup")
    job_control.pause(db.session.get(Job, job_id))
    again = submit(["http://example.com/dup"], principal=None)
    assert again.entries[0].duplicate and again.entries[0].job_id == job_id


# Reordering ----------------------------------------------------------------------------------

# The static token: an admin with no user, who moves jobs through the whole queue.
ADMIN = Principal(user=None, via_static_token=True)


def test_moves_change_the_order_workers_take(app):
    a, b, c, d = (new_job(f"http://example.com/{name}") for name in "abcd")
    job_control.move(db.session.get(Job, d), "top", ADMIN)  # d a b c
    job_control.move(db.session.get(Job, a), "down", ADMIN)  # d b a c
    job_control.move(db.session.get(Job, c), "up", ADMIN)  # d b c a
    job_control.move(db.session.get(Job, b), "bottom", ADMIN)  # d c a b
    assert claim_order(4) == [d, c, a, b]


def test_moving_to_the_top_passes_higher_priority_jobs(app):
    urgent = new_job("http://example.com/urgent", priority=10)
    normal = new_job("http://example.com/normal")
    job_control.move(db.session.get(Job, normal), "top", ADMIN)
    assert claim_order(2) == [normal, urgent]


def test_moving_the_first_job_up_changes_nothing(app):
    a, b = new_job("http://example.com/a"), new_job("http://example.com/b")
    job_control.move(db.session.get(Job, a), "up", ADMIN)
    assert claim_order(2) == [a, b]


def _users_jobs(user, *names) -> list[int]:
    return [submit([f"https://example.com/{name}"], principal=Principal(user=user)).entries[0].job_id
            for name in names]


def test_a_user_moving_to_the_top_passes_nobody_elses_job(app):
    """The attack: a user moves their newest job to the top to jump everyone's queue. It goes
    ahead of their own jobs only, in the places those held."""
    mallory = accounts.create_user("mallory", "mallory-password")
    alice = accounts.create_user("alice", "alice-password")
    [m1] = _users_jobs(mallory, "m1")
    [a1] = _users_jobs(alice, "a1")
    [m2] = _users_jobs(mallory, "m2")
    [a2] = _users_jobs(alice, "a2")
    [m3] = _users_jobs(mallory, "m3")
    job_control.move(db.session.get(Job, m3), "top", Principal(user=mallory))
    assert claim_order(5) == [m3, a1, m1, a2, m2]


def test_a_users_moves_up_and_down_trade_places_with_their_own_jobs(app):
    mallory = accounts.create_user("mallory", "mallory-password")
    alice = accounts.create_user("alice", "alice-password")
    [m1] = _users_jobs(mallory, "m1")
    [a1] = _users_jobs(alice, "a1")
    [m2] = _users_jobs(mallory, "m2")
    mine = Principal(user=mallory)
    job_control.move(db.session.get(Job, m2), "up", mine)  # m2 a1 m1
    job_control.move(db.session.get(Job, m1), "up", mine)  # back: m1 a1 m2
    job_control.move(db.session.get(Job, m1), "bottom", mine)  # m2 a1 m1
    assert claim_order(3) == [m2, a1, m1]


def test_a_users_reorder_stays_within_their_own_places(app):
    mallory = accounts.create_user("mallory", "mallory-password")
    alice = accounts.create_user("alice", "alice-password")
    [a1] = _users_jobs(alice, "a1")
    m1, m2 = _users_jobs(mallory, "m1", "m2")
    job_control.reorder([m2, m1], Principal(user=mallory))
    assert claim_order(3) == [a1, m2, m1]


def test_an_admin_moves_a_job_ahead_of_everyone(app):
    root = accounts.create_user("root", "root-password", role="admin")
    alice = accounts.create_user("alice", "alice-password")
    [a1] = _users_jobs(alice, "a1")
    [r1] = _users_jobs(root, "r1")
    job_control.move(db.session.get(Job, r1), "top", Principal(user=root))
    assert claim_order(2) == [r1, a1]


@pytest.mark.parametrize("priority", [11, 1000])
def test_a_user_cannot_give_a_priority_above_high(app, priority):
    from webapp.errors import Forbidden

    mallory = accounts.create_user("mallory", "mallory-password")
    with pytest.raises(Forbidden) as refused:
        submit(["https://example.com/jump"], principal=Principal(user=mallory), priority=priority)
    assert refused.value.error_code == "priority_reserved"
    [mine] = _users_jobs(mallory, "mine")
    with pytest.raises(Forbidden):
        job_control.update_job(db.session.get(Job, mine), Principal(user=mallory), priority=priority)
    assert db.session.get(Job, mine).priority == 0
    assert db.session.scalar(select(Job.id).where(Job.url == "https://example.com/jump")) is None


def test_a_user_may_give_high_and_an_admin_more(app):
    mallory = accounts.create_user("mallory", "mallory-password")
    root = accounts.create_user("root", "root-password", role="admin")
    high = submit(["https://example.com/high"], principal=Principal(user=mallory), priority=10).entries[0].job_id
    top = submit(["https://example.com/top"], principal=Principal(user=root), priority=500).entries[0].job_id
    assert claim_order(2) == [top, high]


def test_a_running_job_cannot_be_moved_or_removed(app):
    job_id = new_job("http://example.com/running")
    runner.claim_next_job()
    with pytest.raises(Conflict):
        job_control.move(db.session.get(Job, job_id), "top", ADMIN)
    with pytest.raises(Conflict):
        job_control.remove(db.session.get(Job, job_id))


# Removing and clearing -----------------------------------------------------------------------


def test_removing_a_waiting_job_cancels_it_and_keeps_the_record(app):
    job_id = new_job("http://example.com/remove-me")
    job_control.remove(db.session.get(Job, job_id))
    removed = job(job_id)
    assert removed.status == "cancelled" and removed.cleared_at is not None
    assert runner.claim_next_job() is None
    # Cancelled means the URL can be queued again.
    assert not submit(["http://example.com/remove-me"], principal=None).entries[0].duplicate


def test_clear_finished_only_touches_the_named_status_and_own_jobs(app):
    alice = accounts.create_user("alice", "alice-password")
    bob = accounts.create_user("bobby", "bobby-password")
    mine = submit(["http://example.com/mine"], principal=Principal(alice)).entries[0].job_id
    theirs = submit(["http://example.com/theirs"], principal=Principal(bob)).entries[0].job_id
    failed = submit(["http://example.com/failed"], principal=Principal(alice)).entries[0].job_id
    for job_id, status in ((mine, "completed"), (theirs, "completed"), (failed, "failed")):
        db.session.get(Job, job_id).claim("tests")
        db.session.get(Job, job_id).finish(Outcome(status))
    db.session.commit()
    assert job_control.clear_finished(["completed"], Principal(alice)) == 1
    assert job(mine).cleared_at is not None
    assert job(theirs).cleared_at is None
    assert job(failed).cleared_at is None


def test_status_counts_cover_every_status(app):
    new_job("http://example.com/1")
    paused = new_job("http://example.com/2")
    job_control.pause(db.session.get(Job, paused))
    counts = job_control.status_counts()
    assert counts["queued"] == 1 and counts["paused"] == 1 and counts["completed"] == 0


# The htmx endpoints ----------------------------------------------------------------------------


@pytest.fixture
def signed_in(client, admin):
    """The admin, signed in through the form, every request carrying the CSRF header as htmx does."""
    assert sign_in(client).status_code == 302
    client.environ_base["HTTP_X_CSRFTOKEN"] = csrf(client, "/")
    return client


HX = {"HX-Request": "true"}


def test_adding_links_answers_the_form_partial_with_problems_and_queues_the_rest(signed_in):
    response = signed_in.post("/queue/add", data={"urls": "https://example.com/a\nnonsense", "priority": "high",
                                                  "preset": "720p", "engine": "yt-dlp"}, headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="add-links"')  # the partial, not the page
    assert "Line 2" in html and "nonsense" in html
    assert "Queued 1 link" in response.headers["HX-Trigger"]
    queued = db.session.scalars(select(Job)).one()
    assert (queued.url, queued.priority, queued.preset, queued.requested_engine, queued.source) == (
        "https://example.com/a", 10, "720p", "yt-dlp", "gui")


def test_adding_nothing_valid_is_a_422_with_the_form(signed_in):
    response = signed_in.post("/queue/add", data={"urls": "just words"}, headers=HX)
    assert response.status_code == 422
    assert "not a link" in response.get_data(as_text=True)
    assert db.session.scalars(select(Job)).all() == []


def test_the_form_posted_without_javascript_answers_the_whole_page(signed_in):
    """The add form's action works without htmx too: the queue page comes back around the form,
    with the result in it and the new job in the list (a bare form post, no HX-Request)."""
    response = signed_in.post("/queue/add", data={"urls": "https://example.com/plain\nnonsense"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.lstrip().lower().startswith("<!doctype html")
    queued = db.session.scalars(select(Job)).one()
    assert queued.url == "https://example.com/plain"
    assert f'id="job-{queued.id}"' in html  # the list around the form shows it
    assert 'id="add-links"' in html and "Line 2" in html
    refused = signed_in.post("/queue/add", data={"urls": "just words"})
    assert refused.status_code == 422
    assert "not a link" in refused.get_data(as_text=True)
    assert refused.get_data(as_text=True).lstrip().lower().startswith("<!doctype html")


def test_a_form_without_the_csrf_token_is_refused(signed_in):
    del signed_in.environ_base["HTTP_X_CSRFTOKEN"]
    response = signed_in.post("/queue/add", data={"urls": "https://example.com/a"}, headers=HX)
    assert response.status_code == 400
    assert db.session.scalars(select(Job)).all() == []


def test_job_actions_answer_the_changed_row(signed_in):
    job_id = new_job("https://example.com/row")
    response = signed_in.post(f"/queue/jobs/{job_id}/pause", headers=HX)
    assert response.status_code == 200
    assert f'id="job-{job_id}"' in response.get_data(as_text=True)
    assert 'data-status="paused"' in response.get_data(as_text=True)
    again = signed_in.post(f"/queue/jobs/{job_id}/pause", headers=HX)
    assert again.status_code == 409 and "only a queued job" in again.headers["HX-Trigger"]
    assert signed_in.post(f"/queue/jobs/{job_id}/explode", headers=HX).status_code == 404
    assert signed_in.post("/queue/jobs/999999/cancel", headers=HX).status_code == 404


def test_queue_pages_need_a_signed_in_person(client):
    assert client.get("/").status_code == 302
    assert client.get("/queue/events").status_code == 302
    assert client.post("/queue/pause").status_code in (302, 400)  # no session (and no CSRF token)


def test_only_an_admin_pauses_the_whole_queue(client, alice):
    sign_in(client, "alice", USER_PASSWORD)
    page = client.get("/").get_data(as_text=True)
    token = CSRF_META.search(page).group(1)
    assert "Pause all" not in page
    response = client.post("/queue/pause", headers={**HX, "X-CSRFToken": token})
    assert response.status_code == 403
    assert not queue_state.is_paused()


# Replaying the event stream -----------------------------------------------------------------


def test_replay_sends_missed_changes_or_everything_after_a_gap(app):
    from webapp.queue.stream import _QueueView
    from webapp.services.queue import events

    first = new_job("http://example.com/first")
    start = events.latest_event_id()
    second = new_job("http://example.com/second")
    view = _QueueView(user_id=0, is_admin=True, owner=None)
    with app.test_request_context("/queue/events"):
        messages, newest = view.missed(start)
        joined = "".join(messages)
        assert f'id="job-{second}"' in joined and f'id="job-{first}"' not in joined
        assert newest == events.latest_event_id()
        # Nothing missed: no messages.
        assert view.missed(newest) == ([], newest)
        # The events the page missed were pruned: it gets the whole lists instead.
        db.session.execute(Event.__table__.delete().where(Event.id <= start + 0))
        db.session.commit()
        messages, _ = view.missed(start - 1)
        assert len(messages) == 1 and 'id="queue-lists"' in messages[0]
        assert f'id="job-{first}"' in messages[0] and f'id="job-{second}"' in messages[0]
