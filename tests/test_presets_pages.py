"""Settings → Presets (admin): the list, creating and editing a preset, refusals shown next to
their field (htmx and plain forms), deleting, moving, the dry run, and a new preset offered
wherever a preset is chosen (the queue form, subscriptions, invites, the default setting)."""
from __future__ import annotations

import re

import pytest
from support.web import form_post, htmx_post

from webapp.extensions import db
from webapp.models import Job
from webapp.services.library import presets

PODCAST = {"name": "podcast", "label": "Podcast talk", "kind": "audio", "audio_codec": "opus", "audio_quality": "96",
           "embed_metadata": "1", "embed_chapters": "1", "embed_thumbnail": "1", "subtitle_languages": "en",
           "filename_template": "{uploader} - {title}"}


def html_of(response) -> str:
    return response.get_data(as_text=True)


def field_error(html: str, field: str) -> str | None:
    found = re.search(rf'id="p-{field}-error"[^>]*>([^<]*)<', html)
    return found.group(1) if found else None


# -- who -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/settings/presets", "/settings/presets/new", "/settings/presets/best/edit"])
def test_a_user_gets_403_and_a_visitor_the_sign_in_page(client, alice_client, path):
    assert alice_client.get(path).status_code == 403
    assert "Presets" not in html_of(alice_client.get("/account")).split("settings-tabs")[1].split("</nav>")[0]


def test_a_user_cannot_post_to_the_preset_routes(alice_client):
    for path in ("/settings/presets/new", "/settings/presets/best/edit", "/settings/presets/best/delete",
                 "/settings/presets/best/move", "/settings/presets/dry-run"):
        assert form_post(alice_client, path, PODCAST).status_code == 403, path
    assert presets.names() == ["best", "1080p", "720p", "audio"]


def test_a_visitor_is_sent_to_sign_in(client, db):
    response = client.get("/settings/presets")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# -- the list --------------------------------------------------------------------------------------


def test_the_list_shows_each_preset_with_its_summary_and_the_built_in_badge(admin_client):
    html = html_of(admin_client.get("/settings/presets"))
    assert 'aria-current="page">Presets</a>' in html
    for name in ("best", "1080p", "720p", "audio"):
        assert f'id="preset-{name}"' in html
    assert "Audio · mp3 · 192 kbit/s" in html and html.count("chip built-in") == 4
    assert 'id="preset-best-delete"' not in html  # a built-in preset is not deleted


# -- create and edit ---------------------------------------------------------------------------------


def test_creating_a_preset_lists_it_and_offers_it_on_the_queue_form(admin_client):
    response = form_post(admin_client, "/settings/presets/new", PODCAST)
    assert response.status_code == 302 and response.headers["Location"].endswith("/settings/presets")
    page = html_of(admin_client.get("/settings/presets"))
    assert "Created the preset" in page and 'id="preset-podcast"' in page and "Audio · opus · 96 kbit/s" in page
    spec = presets.get("podcast").spec
    assert (spec.embed_thumbnail, spec.write_nfo, spec.filename_template) == (True, False, "{uploader} - {title}")

    queue = html_of(admin_client.get("/"))
    select = queue.split('<select id="preset" name="preset">')[1].split("</select>")[0]
    options = re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select)
    assert options[0] == ("", "Default (Best available)")
    assert ("podcast", "Podcast talk") in options
    sent = htmx_post(admin_client, "/queue/add", {"urls": "https://example.com/talk.mp3", "preset": "podcast"})
    assert sent.status_code == 200
    assert db.session.query(Job).one().preset == "podcast"


def test_creating_with_htmx_redirects_to_the_list(admin_client):
    response = htmx_post(admin_client, "/settings/presets/new", PODCAST)
    assert response.status_code == 204 and response.headers["HX-Redirect"].endswith("/settings/presets")
    assert presets.get("podcast") is not None


@pytest.mark.parametrize("change, field, words", [
    ({"audio_codec": "aiff"}, "audio_codec", "Audio codec must be one of"),
    ({"filename_template": "../{title}"}, "filename_template", "names a file, not a path"),
    ({"name": "Has Space"}, "name", "lowercase"),
    ({"max_height": "tall"}, "max_height", "is a number"),
    ({"subtitle_languages": "english please"}, "subtitle_languages", "not a language code"),
])
def test_a_refusal_is_shown_next_to_its_field(admin_client, change, field, words):
    data = {**PODCAST, **change}
    answer = htmx_post(admin_client, "/settings/presets/new", data)
    assert answer.status_code == 422
    html = html_of(answer)
    assert words in (field_error(html, field) or ""), html
    assert f'id="p-{field}"' in html and 'aria-invalid="true"' in html
    assert "<html" not in html  # htmx: the form alone
    page = form_post(admin_client, "/settings/presets/new", data)
    assert page.status_code == 422 and "<html" in html_of(page) and words in field_error(html_of(page), field)
    assert 'value="Podcast talk"' in html_of(page)  # what was typed stays
    if field != "subtitle_languages":
        assert 'name="subtitle_languages" value="en"' in html
    assert presets.get("podcast") is None


def test_a_taken_name_is_refused_at_the_name(admin_client):
    answer = htmx_post(admin_client, "/settings/presets/new", {**PODCAST, "name": "best"})
    assert answer.status_code == 422 and "already exists" in field_error(html_of(answer), "name")


def test_editing_a_preset_changes_it_and_a_built_in_keeps_its_name(admin_client):
    page = html_of(admin_client.get("/settings/presets/720p/edit"))
    assert 'id="p-name"' in page and "readonly" in page and 'value="720"' in page
    assert "Show yt-dlp options" in page and "Needs the internet" in page and "{upload_date}" in page
    data = {"name": "720p", "label": "Small screens", "kind": "video", "max_height": "720", "container": "mkv",
            "embed_metadata": "1"}
    response = form_post(admin_client, "/settings/presets/720p/edit", data)
    assert response.status_code == 302
    spec = presets.get("720p").spec
    assert (spec.label, spec.container, spec.embed_thumbnail, spec.write_nfo) == ("Small screens", "mkv", False, False)
    renamed = htmx_post(admin_client, "/settings/presets/720p/edit", {**data, "name": "small"})
    assert renamed.status_code == 422 and "keeps its name" in field_error(html_of(renamed), "name")


def test_an_unknown_preset_is_404(admin_client):
    assert admin_client.get("/settings/presets/nope/edit").status_code == 404


# -- delete and move ---------------------------------------------------------------------------------


def test_deleting_asks_first_and_refuses_a_preset_in_use(admin_client):
    form_post(admin_client, "/settings/presets/new", PODCAST)
    page = html_of(admin_client.get("/settings/presets"))
    assert 'hx-confirm="Delete the preset “Podcast talk”?' in page
    form_post(admin_client, "/settings/downloads", {"dl-download_concurrency": "2", "dl-job_timeout_seconds": "0",
                                                    "dl-default_engine": "auto", "dl-default_preset": "podcast",
                                                    "dl-subscription_min_interval_minutes": "15"})
    refused = htmx_post(admin_client, "/settings/presets/podcast/delete")
    assert refused.status_code == 422 and "default preset" in html_of(refused)
    assert 'id="preset-podcast-error"' in html_of(refused)
    form_post(admin_client, "/settings/downloads", {"dl-download_concurrency": "2", "dl-job_timeout_seconds": "0",
                                                    "dl-default_engine": "auto", "dl-default_preset": "best",
                                                    "dl-subscription_min_interval_minutes": "15"})
    deleted = htmx_post(admin_client, "/settings/presets/podcast/delete")
    assert deleted.status_code == 200 and 'id="preset-podcast"' not in html_of(deleted)
    assert presets.get("podcast") is None


def test_a_built_in_preset_is_not_deleted(admin_client):
    refused = htmx_post(admin_client, "/settings/presets/best/delete")
    assert refused.status_code == 422 and "built-in" in html_of(refused)
    assert presets.get("best") is not None


def test_moving_a_preset_changes_the_menus_order(admin_client):
    htmx_post(admin_client, "/settings/presets/audio/move", {"direction": "up"})
    assert presets.names() == ["best", "1080p", "audio", "720p"]
    queue = html_of(admin_client.get("/"))
    assert queue.index('value="audio"') < queue.index('value="720p"')


# -- dry run ----------------------------------------------------------------------------------------


def test_the_dry_run_shows_the_yt_dlp_options_of_the_form(admin_client):
    answer = htmx_post(admin_client, "/settings/presets/dry-run", {**PODCAST, "audio_codec": "mp3"})
    assert answer.status_code == 200
    html = html_of(answer)
    assert "FFmpegExtractAudio" in html and '"preferredcodec": "mp3"' in html
    assert presets.get("podcast") is None  # nothing stored
    refused = htmx_post(admin_client, "/settings/presets/dry-run", {**PODCAST, "filename_template": "a/{title}"})
    assert refused.status_code == 422 and "names a file, not a path" in html_of(refused)
    page = form_post(admin_client, "/settings/presets/dry-run", {**PODCAST, "original": ""})
    assert page.status_code == 200 and "<html" in html_of(page) and "FFmpegExtractAudio" in html_of(page)


# -- chosen elsewhere --------------------------------------------------------------------------------


def test_a_new_preset_is_offered_by_the_default_setting_subscriptions_and_invites(admin_client):
    form_post(admin_client, "/settings/presets/new", PODCAST)
    settings_page = html_of(admin_client.get("/settings"))
    assert '<option value="podcast">Podcast talk</option>' in settings_page
    assert 'value="podcast"' in html_of(admin_client.get("/subscriptions/new"))
    invites_page = html_of(admin_client.get("/invites"))
    assert 'value="podcast"' in invites_page and "Links download with" in invites_page


def test_an_invite_made_on_its_page_keeps_its_preset_and_an_unknown_one_is_refused_at_the_field(admin_client):
    from test_invites_page import new_form

    from webapp.models import Invite

    form_post(admin_client, "/settings/presets/new", PODCAST)
    made = htmx_post(admin_client, "/invites", new_form(name="Talks", preset="podcast"))
    assert made.status_code == 200, html_of(made)
    invite = db.session.query(Invite).filter_by(name="Talks").one()
    assert invite.preset == "podcast"
    assert "Links download with" in html_of(admin_client.get(f"/invites/{invite.id}"))

    refused = htmx_post(admin_client, "/invites", new_form(name="Other", preset="4k"))
    assert refused.status_code == 422
    error = re.search(r'id="new-preset-error"[^>]*>([^<]*)<', html_of(refused))
    assert error and "preset must be one of" in error.group(1)
    assert db.session.query(Invite).filter_by(name="Other").count() == 0
