"""Collections in /api/v1: the `collection` option on submit, the children fields of every job, a
collection's summary and children on /queue/{id} and /downloads/{id}, the /children endpoints,
and who may see them (exactly who may see the parent)."""
from __future__ import annotations

from conftest import assert_api_error
from support.collection_jobs import fresh_id, make_collection

from webapp.core.vocabulary import COMPLETED, DOWNLOADING, FAILED, QUEUED
from webapp.extensions import db
from webapp.models import Job
from webapp.services.accounts import identity as accounts

SUMMARY_KEYS = {"total", "completed", "failed", "cancelled", "active", "duplicates"}


def bearer(user, scopes=None) -> dict:
    return {"Authorization": f"Bearer {accounts.create_token(user, 'test', scopes)[1]}"}


# submitting ----------------------------------------------------------------------------------


def test_submit_stores_the_collection_options_on_each_new_job(client, alice):
    body = {"urls": ["https://example.com/list", "https://example.com/channel"],
            "collection": {"items": "1-5, 8", "order": "oldest", "numbered": True, "folder": False}}
    response = client.post("/api/v1/queue", json=body, headers=bearer(alice))
    assert response.status_code == 201, response.get_data(as_text=True)
    jobs = response.get_json()["jobs"]
    for job in jobs:
        assert job["kind"] == "item" and job["parent_id"] is None and job["duplicate_of"] is None
        stored = db.session.get(Job, job["id"]).collection_options
        assert stored == {"items": "1-5,8", "limit": None, "order": "oldest", "numbered": True, "folder": False}


def test_submit_without_collection_options_stores_none(client, alice):
    response = client.post("/api/v1/queue", json={"url": "https://example.com/one"}, headers=bearer(alice))
    assert db.session.get(Job, response.get_json()["jobs"][0]["id"]).collection_options is None


def test_bad_collection_options_are_422_invalid_collection_and_queue_nothing(client, alice):
    headers = bearer(alice)
    for bad in ({"items": "5-x"}, {"limit": 0}, {"limit": 20000}, {"order": "random"},
                {"numbered": "yes"}, {"colour": "red"}, "1-5", [1]):
        response = client.post("/api/v1/queue", json={"url": "https://example.com/x", "collection": bad},
                               headers=headers)
        assert_api_error(response, 422, "invalid_collection")
    assert db.session.query(Job).count() == 0


def test_the_seed_api_takes_collection_options_too(client, alice):
    response = client.post("/downloads", json={"url": "https://example.com/pl", "collection": {"limit": 3}},
                           headers=bearer(alice))
    assert response.status_code == 202
    job_id = response.get_json()["jobs"][0]["id"]
    assert db.session.get(Job, job_id).collection_options["limit"] == 3
    bad = client.post("/downloads", json={"url": "https://example.com/pl2", "collection": {"limit": -1}},
                      headers=bearer(alice))
    assert_api_error(bad, 422, "invalid_collection")


# one job with its children -------------------------------------------------------------------


def test_a_collection_shows_its_summary_and_first_page_of_children(client, alice):
    parent, _ = make_collection(alice, [COMPLETED, FAILED, QUEUED, DOWNLOADING])
    parent_id = fresh_id(parent)
    body = client.get(f"/api/v1/queue/{parent_id}?children_per_page=2", headers=bearer(alice)).get_json()
    assert body["kind"] == "collection" and body["parent_id"] is None
    assert body["children_summary"] == {"total": 4, "completed": 1, "failed": 1, "cancelled": 0, "active": 2,
                                        "duplicates": 0}
    page = body["children"]
    assert (page["total"], page["page"], page["per_page"], page["pages"]) == (4, 1, 2, 2)
    assert [child["position"] for child in page["items"]] == [1, 2]
    first = page["items"][0]
    assert first["parent_id"] == parent_id and first["kind"] == "item" and first["item_key"].startswith("tests:")
    second = client.get(f"/api/v1/queue/{parent_id}?children_page=2&children_per_page=2",
                        headers=bearer(alice)).get_json()
    assert [child["position"] for child in second["children"]["items"]] == [3, 4]


def test_an_item_has_no_children_fields_beyond_its_own(client, alice):
    _, children = make_collection(alice, [QUEUED])
    body = client.get(f"/api/v1/queue/{fresh_id(children[0])}", headers=bearer(alice)).get_json()
    assert body["kind"] == "item" and body["position"] == 1
    assert "children" not in body and "children_summary" not in body


def test_the_children_endpoint_pages_and_filters_by_status(client, alice):
    parent, _ = make_collection(alice, [COMPLETED, FAILED, FAILED, QUEUED])
    parent_id = fresh_id(parent)
    body = client.get(f"/api/v1/queue/{parent_id}/children?status=failed", headers=bearer(alice)).get_json()
    assert body["total"] == 2 and [child["status"] for child in body["items"]] == [FAILED, FAILED]
    paged = client.get(f"/api/v1/queue/{parent_id}/children?page=2&per_page=3", headers=bearer(alice)).get_json()
    assert paged["total"] == 4 and [child["position"] for child in paged["items"]] == [4]
    assert_api_error(client.get(f"/api/v1/queue/{parent_id}/children?status=nope", headers=bearer(alice)), 422)
    assert_api_error(client.get(f"/api/v1/queue/{parent_id}/children?per_page=0", headers=bearer(alice)), 422)


def test_a_duplicate_child_names_the_job_it_duplicates(client, alice):
    parent, children = make_collection(alice, [COMPLETED, COMPLETED])
    child = db.session.get(Job, fresh_id(children[1]))
    child.duplicate_of_id = fresh_id(children[0])
    db.session.commit()
    body = client.get(f"/api/v1/queue/{fresh_id(parent)}", headers=bearer(alice)).get_json()
    assert body["children_summary"]["duplicates"] == 1
    assert body["children"]["items"][1]["duplicate_of"] == fresh_id(children[0])


def test_the_library_shows_a_finished_collection_with_its_children(client, alice):
    parent, _ = make_collection(alice, [COMPLETED, FAILED])
    parent_id = fresh_id(parent)
    body = client.get(f"/api/v1/downloads/{parent_id}", headers=bearer(alice)).get_json()
    assert body["kind"] == "collection" and body["status"] == FAILED
    assert body["children_summary"]["total"] == 2
    assert [child["position"] for child in body["children"]["items"]] == [1, 2]
    children = client.get(f"/api/v1/downloads/{parent_id}/children?status=completed", headers=bearer(alice))
    assert [child["status"] for child in children.get_json()["items"]] == [COMPLETED]
    listed = client.get("/api/v1/downloads", headers=bearer(alice)).get_json()
    assert [item["id"] for item in listed["items"]] == [parent_id]  # its children are not entries of their own


def test_children_are_not_rows_of_the_queue_list(client, alice):
    parent, _ = make_collection(alice, [QUEUED, QUEUED])
    body = client.get("/api/v1/queue", headers=bearer(alice)).get_json()
    assert [item["id"] for item in body["items"]] == [fresh_id(parent)]
    assert body["total"] == 1 and body["counts"]["queued"] == 0


def test_cancel_and_retry_a_collection_through_the_api(client, alice):
    parent, _ = make_collection(alice, [QUEUED, QUEUED])
    parent_id = fresh_id(parent)
    cancelled = client.post(f"/api/v1/queue/{parent_id}/cancel", headers=bearer(alice))
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    retried = client.post(f"/api/v1/queue/{parent_id}/retry", headers=bearer(alice))
    assert retried.status_code == 202 and retried.get_json()["status"] == DOWNLOADING


# who sees what -------------------------------------------------------------------------------


def test_another_users_children_are_404_everywhere(client, alice, admin):
    bob = accounts.create_user("bob", "bobpassword1")
    parent, children = make_collection(bob, [COMPLETED, FAILED])
    parent_id, child_id = fresh_id(parent), fresh_id(children[0])
    headers = bearer(alice)
    for path in (f"/api/v1/queue/{parent_id}", f"/api/v1/queue/{parent_id}/children",
                 f"/api/v1/queue/{child_id}", f"/api/v1/downloads/{parent_id}",
                 f"/api/v1/downloads/{parent_id}/children", f"/api/v1/downloads/{child_id}"):
        assert_api_error(client.get(path, headers=headers), 404)
    assert_api_error(client.post(f"/api/v1/queue/{parent_id}/retry", headers=headers), 404)
    assert_api_error(client.post(f"/api/v1/queue/{child_id}/retry", headers=headers), 404)
    # An admin sees everyone's.
    assert client.get(f"/api/v1/queue/{parent_id}/children", headers=bearer(admin)).get_json()["total"] == 2


def test_a_submit_only_token_sees_the_children_of_what_it_sent_only(client, alice):
    own_token = bearer(alice, "submit")
    sent = client.post("/api/v1/queue", json={"url": "https://example.com/mine"}, headers=own_token)
    mine_id = sent.get_json()["jobs"][0]["id"]
    parent, _ = make_collection(alice, [QUEUED])  # alice's, sent through her session, not that token
    assert_api_error(client.get(f"/api/v1/queue/{fresh_id(parent)}/children", headers=own_token), 404)
    assert client.get(f"/api/v1/queue/{mine_id}/children", headers=own_token).get_json()["total"] == 0


def test_the_children_endpoints_need_a_token(client, alice):
    parent, _ = make_collection(alice, [COMPLETED])
    assert_api_error(client.get(f"/api/v1/queue/{fresh_id(parent)}/children"), 401)
    assert_api_error(client.get(f"/api/v1/downloads/{fresh_id(parent)}/children"), 401)
