"""/api/v1/presets: who may read and change presets, the refusals, the dry runs, and a preset
chosen by name on /api/v1/queue, the seed's POST /downloads and an invite's guest links."""
from __future__ import annotations

import pytest
from conftest import API_TOKEN, assert_api_error
from sqlalchemy import select
from test_guest_uploads import Guest

from webapp.extensions import db
from webapp.models import Job
from webapp.services.guests import invites
from webapp.services.library import presets

PODCAST = {"name": "podcast", "label": "Podcast", "kind": "audio", "audio_codec": "opus", "audio_quality": 96,
           "embed_thumbnail": True}
BUILT_IN = ["best", "1080p", "720p", "audio"]


def create(client, headers, **fields):
    return client.post("/api/v1/presets", json={**PODCAST, **fields}, headers=headers)


# -- reading -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("caller", ["read", "user", "admin", "static"])
def test_anyone_with_read_lists_the_presets_with_their_fields(client, api_callers, caller):
    response = client.get("/api/v1/presets", headers=api_callers[caller])
    assert response.status_code == 200
    body = response.get_json()
    assert [item["name"] for item in body["items"]] == BUILT_IN and body["total"] == 4
    audio = body["items"][3]
    assert (audio["label"], audio["kind"], audio["audio_codec"], audio["built_in"]) == (
        "Audio only (mp3)", "audio", "mp3", True)
    assert audio["summary"].startswith("Audio · mp3")
    assert {"filename_template", "subtitles", "write_nfo", "sponsorblock", "position", "valid"} <= set(audio)
    one = client.get("/api/v1/presets/720p", headers=api_callers[caller])
    assert one.status_code == 200 and one.get_json()["max_height"] == 720


@pytest.mark.parametrize("caller, status", [("anonymous", 401), ("revoked", 401), ("submit", 403)])
def test_without_a_read_token_the_presets_are_not_listed(client, api_callers, caller, status):
    assert_api_error(client.get("/api/v1/presets", headers=api_callers[caller]), status)
    assert_api_error(client.get("/api/v1/presets/best", headers=api_callers[caller]), status)


def test_an_unknown_preset_is_404(client, api_callers):
    assert_api_error(client.get("/api/v1/presets/nope", headers=api_callers["user"]), 404, "preset_not_found")
    assert_api_error(client.patch("/api/v1/presets/nope", json={"label": "x"}, headers=api_callers["admin"]),
                     404, "preset_not_found")
    assert_api_error(client.delete("/api/v1/presets/nope", headers=api_callers["admin"]), 404, "preset_not_found")


# -- changing ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("caller, status", [("anonymous", 401), ("revoked", 401), ("submit", 403), ("read", 403),
                                            ("user", 403)])
def test_only_an_admin_creates_changes_or_deletes(client, api_callers, caller, status):
    headers = api_callers[caller]
    assert_api_error(create(client, headers), status)
    assert_api_error(client.patch("/api/v1/presets/720p", json={"label": "x"}, headers=headers), status)
    assert_api_error(client.delete("/api/v1/presets/720p", headers=headers), status)
    assert_api_error(client.post("/api/v1/presets/dry-run", json=PODCAST, headers=headers), status)
    assert presets.names() == BUILT_IN and presets.get("720p").label == "Up to 720p"


def test_an_admin_creates_changes_and_deletes_a_preset(client, api_callers):
    admin = api_callers["admin"]
    response = create(client, admin)
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert response.headers["Location"].endswith("/api/v1/presets/podcast")
    assert (body["name"], body["audio_codec"], body["audio_quality"], body["built_in"]) == ("podcast", "opus", 96, False)
    assert client.get("/api/v1/presets/podcast", headers=admin).get_json() == body

    changed = client.patch("/api/v1/presets/podcast", json={"label": "Talk", "audio_quality": None}, headers=admin)
    assert changed.status_code == 200
    assert (changed.get_json()["label"], changed.get_json()["audio_quality"], changed.get_json()["audio_codec"]) == (
        "Talk", None, "opus")
    renamed = client.patch("/api/v1/presets/podcast", json={"name": "talk"}, headers=admin)
    assert renamed.status_code == 200 and renamed.get_json()["name"] == "talk"

    assert client.delete("/api/v1/presets/talk", headers=admin).status_code == 204
    assert_api_error(client.get("/api/v1/presets/talk", headers=admin), 404, "preset_not_found")


@pytest.mark.parametrize("fields, field", [
    ({"audio_codec": "aiff"}, "audio_codec"),
    ({"filename_template": "../{title}"}, "filename_template"),
    ({"filename_template": "{title}/../../etc/passwd"}, "filename_template"),
    ({"filename_template": "%(title)s.%(ext)s"}, "filename_template"),
    ({"name": "Has Spaces"}, "name"),
    ({"container": "avi"}, "container"),
    ({"sponsorblock_categories": ["everything"]}, "sponsorblock_categories"),
    ({"postprocessor_args": "-exec rm"}, "postprocessor_args"),
])
def test_a_bad_preset_is_422_invalid_preset_naming_the_field(client, api_callers, fields, field):
    body = assert_api_error(create(client, api_callers["admin"], **fields), 422, "invalid_preset")
    assert body["field"] == field
    assert presets.names() == BUILT_IN


def test_a_bad_change_is_refused_and_changes_nothing(client, api_callers):
    body = assert_api_error(client.patch("/api/v1/presets/audio", json={"audio_codec": "aiff"},
                                         headers=api_callers["admin"]), 422, "invalid_preset")
    assert body["field"] == "audio_codec"
    assert presets.get("audio").spec.audio_codec == "mp3"


def test_a_wrongly_typed_value_is_422(client, api_callers):
    assert_api_error(create(client, api_callers["admin"], max_height="tall"), 422, "validation_error")


def test_a_duplicate_name_is_409(client, api_callers):
    admin = api_callers["admin"]
    assert create(client, admin).status_code == 201
    body = assert_api_error(create(client, admin), 409, "preset_exists")
    assert body["field"] == "name"
    assert_api_error(create(client, admin, name="best"), 409, "preset_exists")


def test_a_built_in_preset_is_not_deleted_nor_renamed(client, api_callers):
    admin = api_callers["admin"]
    assert_api_error(client.delete("/api/v1/presets/best", headers=admin), 409, "preset_built_in")
    assert_api_error(client.patch("/api/v1/presets/best", json={"name": "top"}, headers=admin), 409,
                     "preset_built_in")
    edited = client.patch("/api/v1/presets/best", json={"label": "Top quality", "write_nfo": False}, headers=admin)
    assert edited.status_code == 200 and edited.get_json()["label"] == "Top quality"


def test_a_preset_in_use_is_not_deleted(client, api_callers):
    admin = api_callers["admin"]
    create(client, admin)
    invites.create_invite(api_callers.root.id, {"name": "Party", "preset": "podcast"})
    assert client.patch("/api/v1/settings", json={"default_preset": "podcast"}, headers=admin).status_code == 200
    body = assert_api_error(client.delete("/api/v1/presets/podcast", headers=admin), 409, "preset_in_use")
    assert "Party" in body["detail"] and "default" in body["detail"]
    assert body["used_by"] == {"default": True, "subscriptions": [], "invites": ["Party"]}


# -- dry runs ----------------------------------------------------------------------------------------


def test_a_dry_run_of_an_mp3_preset_extracts_audio(client, api_callers):
    response = client.post("/api/v1/presets/dry-run", json={"kind": "audio", "audio_codec": "mp3"},
                           headers=api_callers["admin"])
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    postprocessors = body["ytdlp"]["postprocessors"]
    assert any(pp["key"] == "FFmpegExtractAudio" and pp["preferredcodec"] == "mp3" for pp in postprocessors)
    assert body["ytdlp"]["format"] == "ba/b" and "gallery_dl" in body
    assert presets.names() == BUILT_IN  # nothing stored


def test_a_dry_run_refuses_a_bad_preset(client, api_callers):
    body = assert_api_error(client.post("/api/v1/presets/dry-run", json={"filename_template": "../x"},
                                        headers=api_callers["admin"]), 422, "invalid_preset")
    assert body["field"] == "filename_template"


def test_a_stored_presets_dry_run(client, api_callers):
    body = client.get("/api/v1/presets/1080p/dry-run", headers=api_callers["read"]).get_json()
    assert "[height<=1080]" in body["ytdlp"]["format"] and body["ytdlp"]["merge_output_format"] == "mp4"
    assert_api_error(client.get("/api/v1/presets/nope/dry-run", headers=api_callers["read"]), 404)


# -- choosing a preset by name ------------------------------------------------------------------------


def test_the_queue_takes_a_custom_preset_and_refuses_an_unknown_one(client, api_callers):
    create(client, api_callers["admin"])
    user = api_callers["user"]
    response = client.post("/api/v1/queue", json={"url": "https://example.com/talk.mp3", "preset": "podcast"},
                           headers=user)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert db.session.get(Job, response.get_json()["jobs"][0]["id"]).preset == "podcast"
    body = assert_api_error(client.post("/api/v1/queue", json={"url": "https://example.com/x.mp3", "preset": "4k"},
                                        headers=user), 422, "invalid_preset")
    assert body["field"] == "preset" and "podcast" in body["detail"]
    assert db.session.scalar(select(Job).where(Job.url == "https://example.com/x.mp3")) is None


def test_the_seed_downloads_endpoint_takes_a_preset(client, api_callers):
    create(client, api_callers["admin"])
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    response = client.post("/downloads", json={"urls": ["https://example.com/seed.mp3"], "preset": "podcast"},
                           headers=headers)
    assert response.status_code == 202
    assert db.session.get(Job, response.get_json()["jobs"][0]["id"]).preset == "podcast"
    query = client.post("/downloads?url=https://example.com/q.mp3&preset=audio", headers=headers)
    assert db.session.get(Job, query.get_json()["jobs"][0]["id"]).preset == "audio"
    assert_api_error(client.post("/downloads", json={"urls": ["https://example.com/y.mp3"], "preset": "4k"},
                                 headers=headers), 422, "invalid_preset")


def test_subscriptions_take_a_custom_preset(client, api_callers):
    create(client, api_callers["admin"])
    body = {"name": "News", "url": "https://example.com/feed.xml", "schedule": "every 6 hours", "enabled": False}
    made = client.post("/api/v1/subscriptions", json={**body, "preset": "podcast"}, headers=api_callers["user"])
    assert made.status_code == 201 and made.get_json()["preset"] == "podcast"
    refused = assert_api_error(client.post("/api/v1/subscriptions", json={**body, "preset": "4k"},
                                           headers=api_callers["user"]), 422, "invalid_preset")
    assert refused["field"] == "preset"


def test_an_invites_preset_is_set_and_checked(client, api_callers):
    admin = api_callers["admin"]
    create(client, admin)
    made = client.post("/api/v1/invites", json={"name": "Party", "preset": "podcast"}, headers=admin)
    assert made.status_code == 201 and made.get_json()["preset"] == "podcast"
    invite_id = made.get_json()["id"]
    assert_api_error(client.patch(f"/api/v1/invites/{invite_id}", json={"preset": "4k"}, headers=admin), 422,
                     "invalid_preset")
    cleared = client.patch(f"/api/v1/invites/{invite_id}", json={"preset": None}, headers=admin)
    assert cleared.get_json()["preset"] is None


def test_a_guests_link_downloads_with_the_invites_preset(app, client, api_callers):
    create(client, api_callers["admin"])
    invite = invites.create_invite(api_callers.root.id, {"name": "Party", "preset": "podcast"})
    guest = Guest(app, invites.token_for(invite))
    url = "http://93.184.216.34/talk.mp3"  # an IP literal: public, and no DNS needed
    response = guest.client.post(guest.url("/links"), json={"urls": [url]}, headers=guest.headers)
    assert response.status_code == 202, response.get_data(as_text=True)
    job = db.session.scalar(select(Job).where(Job.url == url))
    assert job.preset == "podcast" and job.source == "invite"
    # The guest cannot choose one.
    refused = guest.client.post(guest.url("/links"), json={"urls": ["http://93.184.216.34/b.mp3"], "preset": "best"},
                                headers=guest.headers)
    assert refused.status_code == 400 and refused.get_json()["error_code"] == "guest_field_refused"
