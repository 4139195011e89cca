"""The subscriptions pages (/subscriptions) through the test client, as a browser drives them:
the list and its empty state, the form with its inline refusals and its preview, on/off, check
now, delete, and who may reach what (someone else's subscription is a 404, never a 403)."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.support.web import csrf, form_post, htmx_post
from webapp.core.item_filters import Item
from webapp.core.listings import Listing
from webapp.models import Subscription, SubscriptionRun
from webapp.services.accounts.identity import Principal
from webapp.services.subscriptions import manage

FEED = "https://media.example/feed/news.xml"


def form_data(**changes) -> dict:
    data = {"name": "News", "url": FEED, "schedule": "every 6 hours", "engine": "auto", "preset": "",
            "post_title": "", "max_items": "", "published_after": "", "within_days": "", "title_include": "",
            "title_exclude": "", "min_duration": "", "max_duration": "", "skip_live": "1", "enabled": "1",
            "first_run": "newest", "first_run_count": "5"}
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def subscribe(user, **changes) -> int:
    """A subscription of `user`'s, made by the service; its id (requests end the test's session)."""
    data = {"name": "Someone's feed", "url": FEED, "schedule": "every 6 hours", **changes}
    return manage.create(data, Principal(user=user)).id


def reload(db, subscription_id: int) -> Subscription | None:
    db.session.expire_all()
    return db.session.get(Subscription, subscription_id)


def page(response) -> str:
    return response.get_data(as_text=True)


# -- the list -----------------------------------------------------------------------------------------

def test_the_empty_list_explains_subscriptions_and_offers_to_add_one(alice_client):
    response = alice_client.get("/subscriptions")
    assert response.status_code == 200
    html = page(response)
    assert "No subscriptions yet" in html
    assert "follows a channel, a playlist" in html
    assert 'href="/subscriptions/new"' in html


def test_the_navigation_links_to_subscriptions_for_signed_in_people(alice_client):
    html = page(alice_client.get("/history"))
    assert 'href="/subscriptions"' in html


def test_the_list_shows_schedule_next_run_last_result_and_sparkline(alice_client, alice, db):
    sub_id = subscribe(alice, name="Cooking channel")
    db.session.add(SubscriptionRun(subscription_id=sub_id, trigger="manual", status="completed", found=20,
                                   new=12, queued=12, downloaded=12, failed=0,
                                   started_at=datetime(2026, 12, 1, tzinfo=UTC),
                                   finished_at=datetime(2026, 12, 1, 0, 5, tzinfo=UTC)))
    db.session.commit()
    html = page(alice_client.get("/subscriptions"))
    assert "Cooking channel" in html
    assert "media.example" in html
    assert "Every 6 hours" in html or "every 6 hours" in html
    assert "12 new · 12 downloaded" in html
    assert 'class="sparkline"' in html and 'role="img"' in html
    assert 'aria-label="Last 1 run: 1 completed; the latest queued 12"' in html
    assert 'class="spark-completed"' in html


def test_an_admin_sees_everyones_subscriptions_with_the_owners_name(admin_client, alice):
    subscribe(alice, name="Alice's feed")
    html = page(admin_client.get("/subscriptions"))
    assert "Alice&#39;s feed" in html or "Alice's feed" in html
    assert "· alice" in html


# -- create and edit --------------------------------------------------------------------------------

def test_create_shows_a_refused_schedule_at_its_field_with_422_then_saves(alice_client, db):
    html = page(alice_client.get("/subscriptions/new"))
    assert "Source" in html and "Schedule" in html and "What to fetch" in html and "First run" in html

    refused = htmx_post(alice_client, "/subscriptions/new", form_data(schedule="whenever you like"))
    assert refused.status_code == 422
    html = page(refused)
    assert 'id="schedule-error"' in html
    assert 'aria-invalid="true"' in html
    assert 'value="whenever you like"' in html  # what was typed stays
    assert f'value="{FEED}"' in html
    assert db.session.query(Subscription).count() == 0

    saved = htmx_post(alice_client, "/subscriptions/new", form_data())
    assert saved.status_code == 204
    sub = db.session.query(Subscription).one()
    assert saved.headers["HX-Redirect"] == f"/subscriptions/{sub.id}"
    assert sub.name == "News" and sub.url == FEED and sub.interval_seconds == 6 * 3600


def test_the_pages_own_checks_and_a_refused_url_show_inline(alice_client):
    refused = htmx_post(alice_client, "/subscriptions/new", form_data(max_items="lots", min_duration="a while"))
    assert refused.status_code == 422
    html = page(refused)
    assert 'id="max_items-error"' in html and 'id="min_duration-error"' in html

    refused = htmx_post(alice_client, "/subscriptions/new", form_data(url="not a link"))
    assert refused.status_code == 422
    assert 'id="url-error"' in page(refused)


def test_a_plain_form_post_without_javascript_works_too(alice_client, db):
    refused = form_post(alice_client, "/subscriptions/new", form_data(schedule="every 0 minutes"))
    assert refused.status_code == 422
    assert "<html" in page(refused) and 'id="schedule-error"' in page(refused)
    saved = form_post(alice_client, "/subscriptions/new", form_data(name="Plain"))
    assert saved.status_code == 302
    assert db.session.query(Subscription).filter_by(name="Plain").count() == 1


def test_edit_shows_the_values_and_saves_changes(alice_client, alice, db):
    sub_id = subscribe(alice, name="Old name", max_items=3, min_duration=90)
    html = page(alice_client.get(f"/subscriptions/{sub_id}/edit"))
    assert 'value="Old name"' in html and 'id="max_items" name="max_items" value="3"' in html
    saved = htmx_post(alice_client, f"/subscriptions/{sub_id}/edit",
                      form_data(name="New name", schedule="every 1 day", min_duration="1:30", enabled=None))
    assert saved.status_code == 204
    sub = reload(db, sub_id)
    assert sub.name == "New name" and sub.interval_seconds == 86400 and sub.min_duration == 90
    assert sub.enabled is False

    refused = htmx_post(alice_client, f"/subscriptions/{sub_id}/edit", form_data(min_duration="600", max_duration="60"))
    assert refused.status_code == 422
    assert 'id="filters-error"' in page(refused)


# -- actions ------------------------------------------------------------------------------------------

def test_the_switch_turns_the_schedule_off_and_on(alice_client, alice, db):
    sub_id = subscribe(alice)
    off = htmx_post(alice_client, f"/subscriptions/{sub_id}/enabled", {"enabled": "0"})
    assert off.status_code == 200
    assert 'aria-checked="false"' in page(off)
    sub = reload(db, sub_id)
    assert sub.enabled is False and sub.next_run_at is None
    on = htmx_post(alice_client, f"/subscriptions/{sub_id}/enabled", {"enabled": "1"})
    assert 'aria-checked="true"' in page(on)
    sub = reload(db, sub_id)
    assert sub.enabled is True and sub.next_run_at is not None


def test_check_now_starts_a_run_and_a_second_check_while_it_goes_is_skipped(alice_client, alice, db):
    sub_id = subscribe(alice)
    first = htmx_post(alice_client, f"/subscriptions/{sub_id}/check")
    assert first.status_code == 200
    run = db.session.query(SubscriptionRun).filter_by(subscription_id=sub_id).one()
    assert f"Checking… run #{run.id} started" in page(first)
    html = page(alice_client.get(f"/subscriptions/{sub_id}"))
    assert f'id="run-{run.id}"' in html and "by hand" in html

    second = htmx_post(alice_client, f"/subscriptions/{sub_id}/check")
    assert f"Skipped: run #{run.id} is still going" in page(second)
    statuses = [r.status for r in db.session.query(SubscriptionRun).filter_by(subscription_id=sub_id)]
    assert sorted(statuses) == ["listing", "skipped"]


def test_delete_keeps_the_files_by_default(alice_client, alice, db, monkeypatch):
    sub_id = subscribe(alice)
    calls = []
    real_delete = manage.delete
    monkeypatch.setattr(manage, "delete", lambda s, *, delete_files: calls.append(delete_files) or real_delete(
        s, delete_files=delete_files))
    html = page(alice_client.get("/subscriptions"))
    assert 'value="keep" checked' in html and 'value="delete"' in html
    response = form_post(alice_client, f"/subscriptions/{sub_id}/delete", {"files": "keep"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/subscriptions")
    assert calls == [False]
    assert db.session.get(Subscription, sub_id) is None
    assert "its files are kept" in page(alice_client.get("/subscriptions"))


def test_forget_seen_items_asks_first_and_forgets(alice_client, alice, db):
    from webapp.models import SubscriptionItem

    sub_id = subscribe(alice)
    db.session.add(SubscriptionItem(subscription_id=sub_id, item_key="x:1", url=FEED + "#1"))
    db.session.commit()
    html = page(alice_client.get(f"/subscriptions/{sub_id}"))
    assert "Forget seen items…" in html  # the confirm step's disclosure
    response = form_post(alice_client, f"/subscriptions/{sub_id}/forget")
    assert response.status_code == 302
    assert db.session.query(SubscriptionItem).count() == 0


# -- preview ------------------------------------------------------------------------------------------

def _listing() -> Listing:
    return Listing("news", "Daily news", "Generic", [
        Item(url="https://media.example/v/1", title="Morning bulletin", published=datetime(2026, 12, 3, tzinfo=UTC),
             duration=754, item_key="generic:1"),
        Item(url="https://media.example/v/2", title="Evening bulletin", published=datetime(2026, 12, 2, tzinfo=UTC),
             duration=30, item_key="generic:2"),
    ])


def test_preview_lists_what_would_be_fetched_and_what_the_filters_skip(alice_client, monkeypatch):
    from webapp.services.queue import dispatch

    seen = []
    monkeypatch.setattr(dispatch, "list_collection",
                        lambda url, engine, public_only, timeout=60.0: seen.append((url, public_only)) or _listing())
    response = htmx_post(alice_client, "/subscriptions/preview", form_data(min_duration="60"))
    assert response.status_code == 200
    html = page(response)
    assert "This would fetch 1 item now" in html
    assert "Morning bulletin" in html and "2026-12-03" in html and "12:34" in html
    assert "Skipped by the filters (1)" in html and "Evening bulletin" in html
    assert seen == [(FEED, True)]  # a user's preview lists public addresses only


def test_a_failed_listing_is_said_plainly(alice_client, monkeypatch):
    from webapp.services.queue import dispatch

    def fail(*args, **kwargs):
        raise dispatch.ListingFailed("HTTP Error 404: Not Found")

    monkeypatch.setattr(dispatch, "list_collection", fail)
    response = htmx_post(alice_client, "/subscriptions/preview", form_data())
    html = page(response)
    assert "could not be listed" in html and "HTTP Error 404" in html
    assert 'role="alert"' in html


def test_the_form_has_a_preview_button_with_a_loading_indicator(alice_client):
    html = page(alice_client.get("/subscriptions/new"))
    assert 'hx-post="/subscriptions/preview"' in html
    assert 'hx-trigger="change delay:600ms"' in html
    assert 'class="htmx-indicator preview-loading"' in html


# -- who may reach what -------------------------------------------------------------------------------

@pytest.fixture
def admins_subscription(admin):
    return subscribe(admin, name="The admin's feed")


@pytest.mark.parametrize("path", ["/subscriptions/{id}", "/subscriptions/{id}/edit", "/subscriptions/{id}/runs",
                                  "/subscriptions/{id}/events"])
def test_alice_gets_404_for_the_admins_subscription_pages(alice_client, admins_subscription, path):
    assert alice_client.get(path.format(id=admins_subscription)).status_code == 404


@pytest.mark.parametrize("action", ["enabled", "check", "delete", "forget", "edit"])
def test_alice_gets_404_for_actions_on_the_admins_subscription(alice_client, admins_subscription, db, action):
    response = htmx_post(alice_client, f"/subscriptions/{admins_subscription}/{action}",
                         {"enabled": "0", "files": "delete", **form_data(name="hijacked")})
    assert response.status_code == 404
    db.session.expire_all()
    sub = reload(db, admins_subscription)
    assert sub is not None and sub.name == "The admin's feed" and sub.enabled is True
    assert db.session.query(SubscriptionRun).count() == 0


def test_alice_does_not_see_the_admins_subscription_in_her_list(alice_client, admins_subscription):
    assert "The admin&#39;s feed" not in page(alice_client.get("/subscriptions"))


def test_the_preview_of_an_edit_checks_the_subscription_is_hers(alice_client, admins_subscription, monkeypatch):
    from webapp.services.queue import dispatch

    monkeypatch.setattr(dispatch, "list_collection", lambda *a, **k: _listing())
    response = htmx_post(alice_client, "/subscriptions/preview",
                         {**form_data(), "subscription_id": str(admins_subscription)})
    assert response.status_code == 404


@pytest.mark.parametrize("path", ["/subscriptions", "/subscriptions/new", "/subscriptions/1"])
def test_anonymous_visitors_are_sent_to_sign_in(client, db, path):
    response = client.get(path)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_post_without_the_csrf_token_is_refused(alice_client, alice, db):
    sub_id = subscribe(alice)
    response = alice_client.post(f"/subscriptions/{sub_id}/check", headers={"HX-Request": "true"})
    assert response.status_code == 400
    assert db.session.query(SubscriptionRun).count() == 0
    assert csrf(alice_client)  # the page itself still works


def test_the_live_page_is_told_only_of_its_own_subscriptions_runs(app):
    from webapp.services.queue import events
    from webapp.services.queue.events import EventRecord
    from webapp.subscriptions.stream import _SubscriptionView

    view = _SubscriptionView(7)
    ours = EventRecord(10, events.RUN_FINISHED, None, None, 1, {"subscription_id": 7, "run_id": 3})
    theirs = EventRecord(11, events.RUN_FINISHED, None, None, 1, {"subscription_id": 8, "run_id": 4})
    a_job = EventRecord(12, events.PROGRESS, None, 5, 1, {"subscription_id": 7})
    [frame] = view.frames(ours)
    assert "event: run" in frame and "data: 3" in frame
    assert view.frames(theirs) == [] and view.frames(a_job) == []
