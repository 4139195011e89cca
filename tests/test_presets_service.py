"""The presets service (webapp/services/library/presets.py): admins create, change, rename, reorder
and delete presets; the built-in ones stay; a preset in use stays; a dry run shows the tool options.
"""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select, update

from webapp.core.vocabulary import COMPLETED, QUEUED
from webapp.errors import Conflict, Forbidden, Invalid, NotFound
from webapp.extensions import db
from webapp.models import Job, Preset, Setting
from webapp.services.accounts.identity import Principal
from webapp.services.admin import runtime_settings
from webapp.services.guests import invites
from webapp.services.library import presets
from webapp.services.queue.submissions import submit
from webapp.services.subscriptions import manage


@pytest.fixture
def root(admin):
    return Principal(user=admin)


@pytest.fixture
def user(alice):
    return Principal(user=alice)


def make(root, **fields):
    return presets.create({"name": "podcast", "label": "Podcast", "kind": "audio", "audio_codec": "opus",
                           **fields}, root)


def subscription(admin, preset: str):
    return manage.create({"name": "News", "url": "https://example.com/feed.xml", "schedule": "every 6 hours",
                          "enabled": False, "preset": preset}, Principal(user=admin))


def refusal(call, *args) -> Invalid:
    with pytest.raises(Invalid) as caught:
        call(*args)
    assert caught.value.error_code == "invalid_preset" and caught.value.status == 422
    return caught.value


# -- create -------------------------------------------------------------------------------------------


def test_an_admin_creates_a_preset_listed_after_the_built_in_ones(app, root):
    row = make(root)
    assert (row.name, row.label, row.built_in) == ("podcast", "Podcast", False)
    assert presets.names() == ["best", "1080p", "720p", "audio", "podcast"]
    assert row.spec.audio_codec == "opus" and row.spec.kind == "audio"
    shown = presets.to_dict(row)
    assert shown["summary"] == "Audio · opus" and shown["built_in"] is False and shown["valid"] is True


def test_a_user_may_not_create_change_or_delete_a_preset(app, root, user):
    make(root)
    for call, args in ((presets.create, ({"name": "x"},)), (presets.update, ("podcast", {"label": "y"})),
                       (presets.delete, ("podcast",)), (presets.reorder, (presets.names(),))):
        with pytest.raises(Forbidden):
            call(*args, user)
        with pytest.raises(Forbidden):
            call(*args, None)
    assert presets.get("podcast").label == "Podcast"


@pytest.mark.parametrize("fields, field", [
    ({"audio_codec": "aiff"}, "audio_codec"),
    ({"filename_template": "../{title}"}, "filename_template"),
    ({"filename_template": "{title}/{id}"}, "filename_template"),
    ({"filename_template": "%(title)s"}, "filename_template"),
    ({"filename_template": "{uploader}"}, "filename_template"),
    ({"name": "Bad Name"}, "name"),
    ({"name": "default"}, "name"),
    ({"max_height": 99999}, "max_height"),
    ({"subtitle_languages": ["en;rm -rf"]}, "subtitle_languages"),
    ({"sponsorblock": "skip"}, "sponsorblock"),
    ({"exec": "rm -rf /"}, "exec"),
    ({"audio_codec": "flac", "audio_quality": 192}, "audio_quality"),
])
def test_a_bad_value_is_refused_naming_its_field_and_nothing_is_stored(app, root, fields, field):
    error = refusal(lambda: make(root, **fields))
    assert error.extra == {"field": field}
    assert presets.names() == ["best", "1080p", "720p", "audio"]


def test_a_taken_name_is_a_conflict(app, root):
    make(root)
    with pytest.raises(Conflict) as caught:
        make(root, label="Again")
    assert caught.value.error_code == "preset_exists"
    with pytest.raises(Conflict):
        presets.create({"name": "best"}, root)


# -- update and rename ---------------------------------------------------------------------------------


def test_an_update_changes_only_the_fields_sent(app, root):
    make(root, audio_quality=96)
    row = presets.update("podcast", {"label": "Talk shows", "embed_thumbnail": True}, root)
    spec = row.spec
    assert (spec.label, spec.audio_codec, spec.audio_quality, spec.embed_thumbnail) == ("Talk shows", "opus", 96, True)
    refusal(presets.update, "podcast", {"audio_codec": "wma"}, root)
    db.session.expire_all()
    assert presets.get("podcast").spec.audio_codec == "opus"


def test_a_built_in_preset_is_editable_but_keeps_its_name_and_stays(app, root):
    row = presets.update("720p", {"label": "Small", "write_nfo": False}, root)
    assert row.label == "Small" and row.spec.write_nfo is False and row.spec.max_height == 720
    with pytest.raises(Conflict) as caught:
        presets.update("720p", {"name": "small"}, root)
    assert caught.value.error_code == "preset_built_in"
    with pytest.raises(Conflict) as caught:
        presets.delete("720p", root)
    assert caught.value.error_code == "preset_built_in"
    assert presets.get("720p") is not None


def test_a_rename_carries_along_what_uses_the_preset(app, root, admin):
    make(root)
    sub = subscription(admin, "podcast")
    invite = invites.create_invite(admin.id, {"name": "Party", "preset": "podcast"})
    runtime_settings.save({"default_preset": "podcast"})
    queued = submit(["https://example.com/a.mp3"], principal=root, preset="podcast").entries[0].job_id
    done = submit(["https://example.com/b.mp3"], principal=root, preset="podcast").entries[0].job_id
    db.session.execute(update(Job).where(Job.id == done).values(status=COMPLETED))  # as if it ran
    db.session.commit()

    presets.update("podcast", {"name": "talk"}, root)
    db.session.expire_all()
    assert presets.get("podcast") is None and presets.get("talk").label == "Podcast"
    assert db.session.get(type(sub), sub.id).preset == "talk"
    assert db.session.get(type(invite), invite.id).preset == "talk"
    assert runtime_settings.current().default_preset == "talk"
    assert db.session.get(Job, queued).preset == "talk"
    assert db.session.get(Job, done).preset == "podcast"  # history keeps the name it downloaded with


def test_a_rename_to_a_taken_name_changes_nothing(app, root):
    make(root)
    make(root, name="music", label="Music")
    with pytest.raises(Conflict) as caught:
        presets.update("podcast", {"name": "music"}, root)
    assert caught.value.error_code == "preset_exists"
    db.session.expire_all()
    assert presets.get("podcast").label == "Podcast"


def test_an_unknown_preset_is_404(app, root):
    with pytest.raises(NotFound) as caught:
        presets.update("nope", {"label": "x"}, root)
    assert caught.value.error_code == "preset_not_found"
    with pytest.raises(NotFound):
        presets.delete("nope", root)


# -- delete ---------------------------------------------------------------------------------------------


def test_a_preset_in_use_is_not_deleted_and_the_message_names_its_users(app, root, admin):
    make(root)
    subscription(admin, "podcast")
    invites.create_invite(admin.id, {"name": "Party", "preset": "podcast"})
    runtime_settings.save({"default_preset": "podcast"})
    with pytest.raises(Conflict) as caught:
        presets.delete("podcast", root)
    error = caught.value
    assert error.error_code == "preset_in_use"
    assert "default preset" in error.detail and "“News”" in error.detail and "“Party”" in error.detail
    assert error.extra["used_by"] == {"default": True, "subscriptions": ["News"], "invites": ["Party"]}
    assert presets.get("podcast") is not None


def test_an_unused_preset_is_deleted_and_queued_jobs_fall_back_to_the_default(app, root):
    make(root)
    job_id = submit(["https://example.com/c.mp3"], principal=root, preset="podcast").entries[0].job_id
    presets.delete("podcast", root)
    assert presets.get("podcast") is None
    assert db.session.get(Job, job_id).status == QUEUED
    assert presets.spec_for("podcast", "720p").name == "720p"


# -- order, checks elsewhere, dry run -------------------------------------------------------------------------


def test_reorder_and_move_set_the_menus_order(app, root):
    make(root)
    presets.reorder(["podcast", "audio", "720p", "1080p", "best"], root)
    assert presets.names() == ["podcast", "audio", "720p", "1080p", "best"]
    presets.move("best", -1, root)
    assert presets.names() == ["podcast", "audio", "720p", "best", "1080p"]
    refusal(presets.reorder, ["podcast", "audio"], root)
    refusal(presets.reorder, ["podcast", "podcast", "720p", "1080p", "best"], root)
    assert presets.menu()[0] == ("", "Default (Best available)")


def test_the_default_preset_setting_takes_the_rows(app, root):
    make(root)
    runtime_settings.save({"default_preset": "podcast"})
    assert runtime_settings.current().default_preset == "podcast"
    assert presets.menu()[0] == ("", "Default (Podcast)")
    with pytest.raises(runtime_settings.SettingsInvalid):
        runtime_settings.save({"default_preset": "4k"})
    assert "podcast" in runtime_settings.limits()["default_preset"]["choices"]


def test_check_name_takes_a_row_and_refuses_the_rest(app, root):
    make(root)
    assert presets.check_name("podcast") == "podcast"
    assert presets.check_name("default") is None and presets.check_name("") is None
    error = refusal(presets.check_name, "4k")
    assert error.extra == {"field": "preset"} and "podcast" in error.detail


def test_a_dry_run_turns_an_audio_preset_into_yt_dlps_audio_extraction(app, root):
    spec = presets.check_spec({"name": "mp3", "kind": "audio", "audio_codec": "mp3", "audio_quality": 192,
                               "embed_thumbnail": True})
    options = presets.dry_run(spec)
    assert json.loads(json.dumps(options)) == options
    keys = [pp["key"] for pp in options["ytdlp"]["postprocessors"]]
    assert "FFmpegExtractAudio" in keys and "EmbedThumbnail" in keys and "FFmpegMetadata" in keys
    extract = next(pp for pp in options["ytdlp"]["postprocessors"] if pp["key"] == "FFmpegExtractAudio")
    assert (extract["preferredcodec"], extract["preferredquality"]) == ("mp3", "192")
    assert options["ytdlp"]["format"] == "ba/b"
    assert options["ytdlp"]["outtmpl"].endswith(".%(ext)s")
    assert "postprocessors" in options["gallery_dl"]


def test_a_damaged_row_is_listed_as_not_valid_rather_than_breaking_the_list(app, root):
    db.session.add(Preset(name="broken", label="Broken", options={"audio_codec": "wma"}, position=50))
    db.session.commit()
    shown = {item["name"]: item for item in map(presets.to_dict, presets.all_presets())}
    assert shown["broken"]["valid"] is False and shown["best"]["valid"] is True
    # An admin can still repair it field by field.
    presets.update("broken", {"audio_codec": "mp3"}, root)
    assert presets.get("broken").spec.audio_codec == "mp3"
    assert db.session.scalar(select(Setting).where(Setting.key == "default_preset")) is None
