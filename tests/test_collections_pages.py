"""Collections on the pages: the add form's playlist / channel options, a collection as one row of
the queue with its counts and its children behind an expand control, the queue's live updates
of a child and of its parent, and a finished collection as one history entry listing its items.
"""
from __future__ import annotations

import re

from sqlalchemy import select
from support.collection_jobs import fresh_id, make_collection
from support.web import htmx_post, sign_in_as

from webapp.core.vocabulary import COMPLETED, DOWNLOADING, FAILED, QUEUED
from webapp.extensions import db
from webapp.models import Event, Job
from webapp.queue.stream import _QueueView
from webapp.services.accounts import identity as accounts
from webapp.services.queue import collections, events
from webapp.services.queue.events import EventRecord


def page(response) -> str:
    return response.get_data(as_text=True)


def row_ids(html: str, list_id: str) -> list[int]:
    """The ids of the top-level rows of one of the queue page's lists."""
    start = html.index(f'id="{list_id}"')
    end = html.index("</ol>", start)
    part = html[start:end]
    # Children are loaded on demand, so a list holds no nested rows until a parent is expanded.
    return [int(found) for found in re.findall(r'<li id="job-(\d+)"', part)]


# the add form ------------------------------------------------------------------------------------


def test_the_add_form_has_the_collection_options_with_own_folder_ticked(alice_client):
    html = page(alice_client.get("/"))
    assert "Playlist / channel options" in html
    assert re.search(r'name="coll_folder" value="1" checked', html)
    assert 'name="coll_limit"' in html and 'name="coll_items"' in html and 'name="coll_order"' in html
    assert re.search(r'name="coll_numbered" value="1"\s*>', html)  # not ticked


def test_adding_with_collection_options_stores_them(alice_client):
    response = htmx_post(alice_client, "/queue/add", {
        "urls": "https://example.com/playlist", "coll": "1", "coll_limit": "3", "coll_order": "oldest",
        "coll_numbered": "1"})  # own folder left unticked
    assert response.status_code == 200, page(response)
    job = db.session.scalar(select(Job))
    assert job.collection_options == {"items": None, "limit": 3, "order": "oldest", "numbered": True,
                                      "folder": False}


def test_adding_with_the_default_options_stores_none(alice_client):
    htmx_post(alice_client, "/queue/add", {"urls": "https://example.com/one", "coll": "1", "coll_folder": "1",
                                           "coll_order": "newest"})
    assert db.session.scalar(select(Job)).collection_options is None


def test_bad_collection_options_are_shown_inline_and_queue_nothing(alice_client):
    response = htmx_post(alice_client, "/queue/add", {
        "urls": "https://example.com/playlist", "coll": "1", "coll_folder": "1", "coll_items": "one to four"})
    assert response.status_code == 422
    html = page(response)
    assert 'id="collection-problem"' in html and "must be a range" in html
    assert 'aria-invalid="true" aria-describedby="collection-problem"' in html
    assert "<details class=\"options collection-options\" open>" in html
    assert db.session.scalar(select(Job)) is None


# the queue page ----------------------------------------------------------------------------------


def test_a_collection_is_one_row_with_its_counts_and_children_are_no_rows(alice, alice_client):
    parent, children = make_collection(alice, [COMPLETED, COMPLETED, FAILED, QUEUED, DOWNLOADING])
    html = page(alice_client.get("/"))
    assert row_ids(html, "active-jobs") == [fresh_id(parent)]
    assert row_ids(html, "finished-jobs") == []
    assert "2/5 · 1 failed" in html
    assert f'hx-get="/queue/jobs/{fresh_id(parent)}/children"' in html
    for child in children:
        assert f'id="job-{fresh_id(child)}"' not in html


def test_expanding_a_collection_lists_its_children_with_their_controls(alice, alice_client):
    parent, children = make_collection(alice, [COMPLETED, FAILED, QUEUED, DOWNLOADING])
    html = page(alice_client.get(f"/queue/jobs/{fresh_id(parent)}/children", headers={"HX-Request": "true"}))
    ids = [int(found) for found in re.findall(r'<li id="job-(\d+)"', html)]
    assert ids == [fresh_id(child) for child in children]
    failed, queued, running = (fresh_id(child) for child in children[1:])
    assert f"/queue/jobs/{failed}/retry" in html and "It broke" in html
    assert f"/queue/jobs/{queued}/cancel" in html and f"/queue/jobs/{running}/cancel" in html
    assert 'role="progressbar"' in html
    assert "/move/" not in html  # a child keeps its place in its collection


def test_children_come_fifty_at_a_time_with_a_more_link(alice, alice_client):
    parent, _ = make_collection(alice, [QUEUED] * 55)
    first = page(alice_client.get(f"/queue/jobs/{fresh_id(parent)}/children"))
    assert len(re.findall(r'<li id="job-\d+"', first)) == 50
    assert f"/queue/jobs/{fresh_id(parent)}/children?page=2" in first and "More (5 left)" in first
    second = page(alice_client.get(f"/queue/jobs/{fresh_id(parent)}/children?page=2"))
    assert len(re.findall(r'<li id="job-\d+"', second)) == 5 and "More" not in second


def test_a_failed_collection_offers_retry_failed_and_it_retries_them(alice, alice_client):
    parent, children = make_collection(alice, [COMPLETED, FAILED])
    html = page(alice_client.get("/"))
    assert "Retry failed" in html
    response = htmx_post(alice_client, f"/queue/jobs/{fresh_id(parent)}/retry")
    assert response.status_code == 200
    db.session.expire_all()
    assert db.session.get(Job, fresh_id(children[1])).status == QUEUED
    assert db.session.get(Job, fresh_id(parent)).status == DOWNLOADING


def test_cancelling_a_child_from_its_line(alice, alice_client):
    parent, children = make_collection(alice, [QUEUED, QUEUED])
    response = htmx_post(alice_client, f"/queue/jobs/{fresh_id(children[0])}/cancel")
    assert response.status_code == 200 and 'class="job cancelled child"' in page(response)
    db.session.expire_all()
    assert db.session.get(Job, fresh_id(parent)).status == DOWNLOADING


def test_alice_cannot_expand_bobs_collection(alice_client):
    bob = accounts.create_user("bob", "bobpassword1")
    parent, children = make_collection(bob, [QUEUED, FAILED])
    assert alice_client.get(f"/queue/jobs/{fresh_id(parent)}/children").status_code == 404
    assert alice_client.get(f"/history/{fresh_id(parent)}/children").status_code == 404
    assert htmx_post(alice_client, f"/queue/jobs/{fresh_id(children[1])}/retry").status_code == 404
    assert fresh_id(parent) not in row_ids(page(alice_client.get("/")), "active-jobs")


def test_an_admin_expands_anyones_collection(client, admin, alice):
    parent, _ = make_collection(alice, [QUEUED])
    sign_in_as(client, admin)
    assert client.get(f"/queue/jobs/{fresh_id(parent)}/children").status_code == 200


# live updates ------------------------------------------------------------------------------------


def _record_of_last_event(job_id: int) -> EventRecord:
    row = db.session.scalars(select(Event).where(Event.job_id == job_id).order_by(Event.id.desc())).first()
    return EventRecord(row.id, row.type, row.submission_id, row.job_id, row.user_id, row.data or {},
                       token_id=row.token_id)


def test_a_childs_event_replaces_its_line_and_is_never_inserted_as_a_row(app, alice):
    _, children = make_collection(alice, [QUEUED, QUEUED])
    child = db.session.get(Job, fresh_id(children[0]))
    child.claim("tests")
    events.publish_job(events.STATUS, child)
    db.session.commit()
    view = _QueueView(alice.id, False, alice.id)
    with app.test_request_context("/queue/events"):
        html, _ = view.fragments(_record_of_last_event(fresh_id(children[0])))
    assert f'<li id="job-{fresh_id(children[0])}" class="job downloading child"' in html
    assert 'hx-swap-oob="true"' in html
    assert "active-jobs" not in html and "finished-jobs" not in html


def test_a_finished_childs_event_is_not_moved_to_the_finished_list(app, alice):
    from webapp.models.job import Outcome

    parent, children = make_collection(alice, [DOWNLOADING, QUEUED])
    child = db.session.get(Job, fresh_id(children[0]))
    child.finish(Outcome.COMPLETED)
    events.publish_job(events.COMPLETED, child)
    collections.refresh_parent(child.parent_id)
    db.session.commit()
    view = _QueueView(alice.id, False, alice.id)
    with app.test_request_context("/queue/events"):
        child_html, _ = view.fragments(_record_of_last_event(fresh_id(children[0])))
        parent_html, _ = view.fragments(_record_of_last_event(fresh_id(parent)))
    assert "finished-jobs" not in child_html and 'class="job completed child"' in child_html
    # The parent's own event redraws its head only (its counts), so an expanded list stays open.
    assert f'id="job-{fresh_id(parent)}-head"' in parent_html and 'hx-swap-oob="true"' in parent_html
    assert "1/2" in parent_html
    assert f'<li id="job-{fresh_id(parent)}"' not in parent_html


def test_bobs_childs_event_is_not_sent_to_alices_page(app, alice):
    bob = accounts.create_user("bob", "bobpassword1")
    _, children = make_collection(bob, [QUEUED])
    child = db.session.get(Job, fresh_id(children[0]))
    events.publish_job(events.STATUS, child)
    db.session.commit()
    view = _QueueView(alice.id, False, alice.id)
    with app.test_request_context("/queue/events"):
        html, _ = view.fragments(_record_of_last_event(fresh_id(children[0])))
    assert html == ""


# history -----------------------------------------------------------------------------------------


def test_a_finished_collection_is_one_history_entry_with_its_items(alice, alice_client):
    parent, children = make_collection(alice, [COMPLETED, FAILED])
    html = page(alice_client.get("/history"))
    assert f'id="entry-{fresh_id(parent)}"' in html
    assert f'id="entry-{fresh_id(children[0])}"' not in html and f'id="entry-{fresh_id(children[1])}"' not in html
    assert "1/2 items · 1 failed" in html
    assert f'hx-get="/history/{fresh_id(parent)}/children"' in html
    details = page(alice_client.get(f"/history/{fresh_id(parent)}"))
    assert 'hx-trigger="load"' in details  # on its own page the items load at once
    items = page(alice_client.get(f"/history/{fresh_id(parent)}/children"))
    assert f'href="/history/{fresh_id(children[0])}"' in items and "It broke" in items


def test_the_phone_layout_keeps_the_children_readable():
    with open("static/css/queue.css") as sheet:
        css = sheet.read()
    assert "ol.jobs.children { margin-left: 0; }" in css.split("@media (max-width: 640px)")[-1]


def test_downloading_a_collection_again_keeps_its_options(alice, alice_client):
    parent, _ = make_collection(alice, [COMPLETED])
    stored = db.session.get(Job, fresh_id(parent))
    stored.collection_options = {"items": None, "limit": 2, "order": "oldest", "numbered": True, "folder": True}
    db.session.commit()
    response = htmx_post(alice_client, f"/history/{fresh_id(parent)}/again")
    assert response.status_code == 204  # htmx: a toast, nothing to swap
    again = db.session.scalars(select(Job).order_by(Job.id.desc())).first()
    assert again.id != fresh_id(parent) and again.url == stored.url
    assert again.collection_options == stored.collection_options


def test_a_job_that_has_just_become_a_collection_is_redrawn_whole(app, alice):
    parent, _ = make_collection(alice, [QUEUED, QUEUED])
    job = db.session.get(Job, fresh_id(parent))
    events.publish_job(events.STATUS, job, children=2)  # as the listing's expand publishes it
    db.session.commit()
    view = _QueueView(alice.id, False, alice.id)
    with app.test_request_context("/queue/events"):
        html, _ = view.fragments(_record_of_last_event(fresh_id(parent)))
    # Its row was a single job's until now: the whole row, with its expand control, replaces it.
    assert f'<li id="job-{fresh_id(parent)}" class="job collection downloading"' in html
    assert 'hx-swap-oob="true"' in html and f"/queue/jobs/{fresh_id(parent)}/children" in html


def test_the_history_reads_its_top_level_jobs_from_the_partial_index(app, admin, alice):
    """Leaving the children out costs no row reads: the count and the page come from ix_jobs_history_top."""
    from webapp.services.accounts.identity import Principal
    from webapp.services.library import history

    make_collection(alice, [COMPLETED, FAILED])
    filters, _ = history.parse_filters({}, Principal(admin))
    page, count, _ = history.history_query(filters, Principal(admin), "sqlite")
    raw = db.session.connection().connection.driver_connection
    for statement in (page, count):
        compiled = statement.compile(db.engine, compile_kwargs={"literal_binds": True})
        plan = " | ".join(row[3] for row in raw.execute(f"EXPLAIN QUERY PLAN {compiled}").fetchall())
        assert "ix_jobs_history_top" in plan and "TEMP B-TREE" not in plan, plan
