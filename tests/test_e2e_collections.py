"""End to end: a feed (a playlist to yt-dlp) becomes a collection — a parent job listing it and a
child job per entry — with the real gunicorn web process, Huey consumer and yt-dlp against the
local media site; items are deduped by identity (extractor + id), not only by URL."""
from __future__ import annotations

import time

import requests

from support.media_site import video_stream_md5


def parent_and_children(stack, parent_id: int, timeout: float = 60) -> tuple[dict, list[dict]]:
    """The collection once it and every child finished, with its children in order."""
    parent = stack.wait_for_job(parent_id, timeout=timeout)
    children = all_children(stack, parent_id)
    return parent, children


def all_children(stack, parent_id: int) -> list[dict]:
    children, page = [], 1
    while True:
        answer = stack.session.get(f"{stack.base_url}/api/v1/downloads/{parent_id}/children",
                                   params={"page": page, "per_page": 100}, timeout=10)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        children.extend(body["items"])
        if len(children) >= body["total"]:
            return children
        page += 1


def queue(stack, urls, **fields) -> dict:
    answer = stack.session.post(f"{stack.base_url}/api/v1/queue", json={"urls": urls, **fields}, timeout=10)
    assert answer.status_code in (201, 202), answer.text
    return answer.json()


def first_job_id(answer: dict) -> int:
    return answer["jobs"][0]["id"]


def test_a_feed_of_five_becomes_a_parent_with_five_children_in_order(stack, media_site, tmp_path):
    feed = media_site.feed("five")
    answer = queue(stack, [media_site.url("/feed/five.xml")], post_title="Shows")
    parent, children = parent_and_children(stack, first_job_id(answer))
    assert parent["status"] == "completed", parent
    assert parent["kind"] == "collection"
    assert parent["title"] == "Feed five"
    assert parent["children_summary"]["total"] == 5 and parent["children_summary"]["completed"] == 5
    assert [child["position"] for child in children] == [1, 2, 3, 4, 5]
    # The feed lists the newest first; the children keep the feed's order.
    expected = [media_site.url(f"/video/five-{item.key}") for item in reversed(feed.items)]
    assert [child["url"] for child in children] == expected
    assert all(child["status"] == "completed" and child["parent_id"] == parent["id"] for child in children)
    for child in children:
        [record] = [f for f in child["files"] if f["kind"] == "media"]  # its .nfo beside it
        # <post_title>/<domain>/<collection folder>/<the child's resource folder>/<file>
        assert record["path"].startswith("Shows/127.0.0.1/Feed five/"), record["path"]
        clip = tmp_path / f"{child['id']}.mp4"
        clip.write_bytes(requests.get(media_site.video_clip_url(child["url"].rsplit("/", 1)[1]), timeout=5).content)
        assert video_stream_md5(stack.storage_root / record["path"]) == video_stream_md5(clip)


def test_the_same_item_sent_alone_afterwards_is_a_duplicate(stack, media_site):
    media_site.feed("again", count=3)
    parent, children = parent_and_children(stack, first_job_id(queue(stack, [media_site.url("/feed/again.xml")])))
    assert parent["status"] == "completed", parent
    child = children[0]
    # Its watch page, as sent by hand: the URL is known, nothing new is queued.
    same_url = stack.submit([child["url"]])
    assert same_url["jobs"] == [{"id": child["id"], "url": child["url"], "status": "duplicate",
                                 "duplicate_of": child["id"]}]
    # A short link to the same page: only the worker can tell it is the same item (extractor + id).
    short = media_site.url("/redirect?to=" + child["url"])
    job = stack.wait_for_job(first_job_id(stack.submit([short])))
    assert job["status"] == "completed", job
    assert job["duplicate_of"] == child["id"]
    assert job["files"] == []


def test_collection_options_take_the_first_items_oldest_first_numbered(stack, media_site):
    media_site.feed("options", count=6)
    answer = queue(stack, [media_site.url("/feed/options.xml")], post_title="Numbered",
                   collection={"limit": 3, "order": "oldest", "numbered": True})
    parent, children = parent_and_children(stack, first_job_id(answer))
    assert parent["status"] == "completed", parent
    # The first 3 listed (the newest: 6, 5, 4), queued and numbered oldest first.
    assert [child["url"].rsplit("-", 1)[1] for child in children] == ["4", "5", "6"]
    names = [child["files"][0]["path"].rsplit("/", 1)[1] for child in children]
    assert [name[:5] for name in names] == ["01 - ", "02 - ", "03 - "], names


def test_cancelling_the_parent_cancels_what_has_not_finished(stack, media_site):
    media_site.feed("slowfeed", count=4)
    answer = queue(stack, [media_site.url("/feed/slowfeed.xml?links=slow")])
    parent_id = first_job_id(answer)
    deadline = time.monotonic() + 30
    while stack.job(parent_id).get("kind") != "collection":  # listed: its children are queued
        assert time.monotonic() < deadline, "the feed was never listed"
        time.sleep(0.1)
    cancelled = stack.session.post(f"{stack.base_url}/api/v1/queue/{parent_id}/cancel", timeout=10)
    assert cancelled.status_code in (200, 202), cancelled.text
    parent, children = parent_and_children(stack, parent_id)
    assert parent["status"] in ("cancelled", "completed"), parent
    assert {child["status"] for child in children} <= {"cancelled", "completed"}
    assert any(child["status"] == "cancelled" for child in children)
