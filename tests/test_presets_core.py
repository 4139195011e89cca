"""Presets as yt-dlp and gallery-dl options (webapp/core/presets.py), and the file-name templates
a preset may hold: built from yt-dlp's own postprocessors, never a path, a command or a '%' field."""
from __future__ import annotations

import pytest
import yt_dlp

from jobs.engines.ytdlp_library import output_templates
from webapp.core.presets import (
    BUILT_IN,
    DEFAULT_TEMPLATE,
    PresetError,
    PresetSpec,
    check_template,
    gallery_dl_options,
    ytdlp_params,
    ytdlp_template,
)

BY_NAME = {spec.name: spec for spec in BUILT_IN}
YTDLP_POSTPROCESSORS = {name.removesuffix("PP") for name in dir(yt_dlp.postprocessor) if name.endswith("PP")}


def keys(params: dict) -> list[str]:
    return [pp["key"] for pp in params["postprocessors"]]


def spec(**fields) -> PresetSpec:
    return PresetSpec.from_dict({"name": "t", **fields})


def test_best_keeps_the_best_streams_and_writes_what_a_media_server_reads():
    params = ytdlp_params(BY_NAME["best"])
    assert params["format"] == "bv*+ba/b"
    assert "merge_output_format" not in params and "format_sort" not in params
    assert params["writethumbnail"] is True
    assert keys(params) == ["FFmpegThumbnailsConvertor", "FFmpegMetadata", "EmbedThumbnail"]
    assert params["postprocessors"][0] == {"key": "FFmpegThumbnailsConvertor", "format": "jpg", "when": "before_dl"}
    # Kept as the poster too: EmbedThumbnail must not delete it.
    assert params["postprocessors"][-1] == {"key": "EmbedThumbnail", "already_have_thumbnail": True}


@pytest.mark.parametrize("name,height", [("1080p", 1080), ("720p", 720)])
def test_the_height_presets_cap_the_height_in_mp4_by_remuxing(name, height):
    params = ytdlp_params(BY_NAME[name])
    assert params["format"] == f"bv*[height<={height}]+ba/b[height<={height}]/bv*+ba/b"
    assert params["merge_output_format"] == "mp4"
    assert params["format_sort"] == ["vext:mp4", "aext:m4a"]
    assert {"key": "FFmpegVideoRemuxer", "preferedformat": "mp4"} in params["postprocessors"]
    assert "FFmpegVideoConvertor" not in keys(params)


def test_audio_converts_to_a_tagged_mp3_with_its_cover():
    params = ytdlp_params(BY_NAME["audio"])
    assert params["format"] == "ba/b"
    assert params["postprocessors"][1] == {"key": "FFmpegExtractAudio", "preferredcodec": "mp3",
                                           "preferredquality": "192", "nopostoverwrites": False}
    assert keys(params) == ["FFmpegThumbnailsConvertor", "FFmpegExtractAudio", "FFmpegMetadata", "EmbedThumbnail"]
    metadata = params["postprocessors"][2]
    assert metadata["add_metadata"] is True and metadata["add_chapters"] is True
    # Not kept beside the song: a music player reads the embedded cover.
    assert params["postprocessors"][-1]["already_have_thumbnail"] is False


def test_every_postprocessor_any_spec_names_is_one_of_yt_dlps_own_and_never_exec():
    for extra in ({}, {"subtitles": True}, {"subtitles": True, "subtitle_mode": "beside"}, {"sponsorblock": "remove"},
                  {"container": "mkv", "conversion": "recode"}, {"kind": "audio", "audio_codec": "opus"},
                  {"write_info_json": True, "write_nfo": True, "write_poster": True, "embed_thumbnail": True}):
        for pp in ytdlp_params(spec(**extra))["postprocessors"]:
            assert pp["key"] in YTDLP_POSTPROCESSORS, pp
            assert pp["key"] != "Exec"
    for built_in in BUILT_IN:
        assert all(pp["key"] in YTDLP_POSTPROCESSORS for pp in ytdlp_params(built_in)["postprocessors"])


def test_subtitles_embedded_in_a_video_or_kept_beside_as_srt():
    embedded = ytdlp_params(spec(subtitles=True, subtitle_languages="en, de", auto_captions=True))
    assert embedded["writesubtitles"] is True and embedded["writeautomaticsub"] is True
    assert embedded["subtitleslangs"] == ["en", "de"]
    assert {"key": "FFmpegEmbedSubtitle", "already_have_subtitle": False} in embedded["postprocessors"]
    beside = ytdlp_params(spec(subtitles=True, subtitle_mode="beside"))
    assert beside["postprocessors"][0] == {"key": "FFmpegSubtitlesConvertor", "format": "srt", "when": "before_dl"}
    assert "FFmpegEmbedSubtitle" not in keys(beside)
    # A song has no subtitle track: its lyrics stay beside it.
    song = ytdlp_params(spec(kind="audio", subtitles=True))
    assert "FFmpegEmbedSubtitle" not in keys(song) and "FFmpegSubtitlesConvertor" in keys(song)


def test_sponsorblock_marks_or_removes_and_is_off_unless_asked():
    assert "SponsorBlock" not in keys(ytdlp_params(spec()))
    marked = ytdlp_params(spec(sponsorblock="mark", sponsorblock_categories=["sponsor", "intro"]))
    assert marked["postprocessors"][0]["key"] == "SponsorBlock"
    assert marked["postprocessors"][0]["categories"] == ["sponsor", "intro"]
    modify = next(pp for pp in marked["postprocessors"] if pp["key"] == "ModifyChapters")
    assert modify["remove_sponsor_segments"] == []
    removed = ytdlp_params(spec(sponsorblock="remove"))
    assert next(pp for pp in removed["postprocessors"] if pp["key"] == "ModifyChapters")[
        "remove_sponsor_segments"] == ["sponsor"]


def test_codec_and_container_choices_sort_and_convert():
    params = ytdlp_params(spec(video_codec="av1", container="webm", conversion="recode", max_height=480))
    assert params["format_sort"] == ["vcodec:av01", "vext:webm", "aext:webm"]
    assert {"key": "FFmpegVideoConvertor", "preferedformat": "webm"} in params["postprocessors"]
    assert ytdlp_params(spec(embed_metadata=False, embed_chapters=False))["postprocessors"] == []


def test_info_json_and_no_playlist_files():
    params = ytdlp_params(spec(write_info_json=True))
    assert params["writeinfojson"] is True and params["allow_playlist_files"] is False


def test_gallery_dl_gets_its_metadata_and_ugoira_postprocessors_never_exec():
    with_json = gallery_dl_options(spec(write_info_json=True))["postprocessors"]
    assert with_json[0] == {"name": "metadata", "mode": "json", "extension-format": "info.json"}
    assert [pp["name"] for pp in gallery_dl_options(spec())["postprocessors"]] == ["ugoira"]
    assert all(pp["name"] != "exec" for pp in with_json)


def test_ugoira_frames_are_read_as_images_never_probed_for_any_format():
    ugoira = next(pp for pp in gallery_dl_options(spec())["postprocessors"] if pp["name"] == "ugoira")
    assert ugoira["mode"] == "image2"


@pytest.mark.parametrize("bad,word", [
    ("../x", "path"), ("{title}/x", "path"), ("a\\{title}", "path"), ("{title}..{id}", "path"),
    ("{nope}", "Unknown field"), ("{title} %(id)s", "Text in the file-name template"),
    ("100%{title}", "Text in the file-name template"), ("{title", "without its pair"), ("plain", "needs {title}"),
    ("{uploader}", "needs {title}"), ("x" * 121 + "{id}", "at most"), ("{title}$(id)", "Text in the"),
])
def test_templates_that_could_name_a_path_or_a_tool_field_are_refused(bad, word):
    with pytest.raises(PresetError) as refused:
        check_template(bad)
    assert refused.value.field == "filename_template" and word in refused.value.message
    with pytest.raises(PresetError):
        spec(filename_template=bad)


def test_a_template_becomes_yt_dlps_with_the_prefix_taken_literally():
    assert check_template("") == DEFAULT_TEMPLATE
    assert ytdlp_template(DEFAULT_TEMPLATE) == "%(title).90B [%(id)s].%(ext)s"
    assert ytdlp_template("{index} - {title} ({upload_date})", "07 - ") == (
        "07 - %(playlist_index|)s - %(title).90B (%(upload_date>%Y-%m-%d|)s).%(ext)s")
    assert ytdlp_template("{title}", "50% ") == "50%% %(title).90B.%(ext)s"


def test_the_poster_is_named_after_the_media_only_when_kept():
    kept = output_templates(spec(write_poster=True), "01 - ")
    assert kept == {"default": "01 - %(title).90B [%(id)s].%(ext)s",
                    "thumbnail": "01 - %(title).90B [%(id)s]-poster.%(ext)s"}
    assert output_templates(spec()) == {"default": "%(title).90B [%(id)s].%(ext)s"}


@pytest.mark.parametrize("fields,field", [
    ({"audio_codec": "aiff"}, "audio_codec"), ({"video_codec": "mpeg2"}, "video_codec"),
    ({"kind": "audio", "audio_codec": "flac", "audio_quality": 320}, "audio_quality"),
    ({"subtitle_languages": "en;rm -rf"}, "subtitle_languages"), ({"postprocessors": []}, "postprocessors"),
    ({"max_height": 99999}, "max_height"), ({"sponsorblock_categories": "ads"}, "sponsorblock_categories"),
])
def test_a_bad_spec_is_refused_naming_its_field(fields, field):
    with pytest.raises(PresetError) as refused:
        spec(**fields)
    assert refused.value.field == field
