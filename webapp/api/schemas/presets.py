"""Schemas of /api/v1/presets: a preset's fields, the preset as the API shows it, a dry run.

The fields are typed here (a number where a number belongs, else 422 `validation_error`) and
documented with their choices and bounds from webapp/core/presets.py, but the choices and
bounds are checked by the service (webapp/services/library/presets.py), one rule for the API
and the Settings page: a value that is not allowed is 422 `invalid_preset` with `field` naming
it. Unknown keys reach the service too, which refuses them the same way.
"""
from __future__ import annotations

from marshmallow import INCLUDE, Schema, fields, validate

from webapp.api.schemas import ApiErrorSchema
from webapp.core import presets as core

_NAME = ("1–16 lowercase letters, digits, '-' or '_', starting with a letter or digit: what jobs, subscriptions, "
         "invites and the queue form refer to it by. `default` is reserved.")
_TEMPLATE = ("The file name, without extension: plain text and the fields "
             + ", ".join("{" + name + "}" for name in core.TEMPLATE_FIELDS)
             + f"; at most {core.MAX_TEMPLATE} characters, needs {{title}} or {{id}}; no '/', '\\\\', '..' or '%'. "
             f"Default `{core.DEFAULT_TEMPLATE}`.")


def _choice(description: str, allowed: tuple, default: str) -> fields.String:
    return fields.String(allow_none=True, metadata={
        "description": f"{description}: one of {', '.join(allowed)} (default {default})", "enum": list(allowed)})


def _number(description: str, low: int, high: int) -> fields.Integer:
    return fields.Integer(strict=True, allow_none=True, metadata={
        "description": f"{description}; null: none", "minimum": low, "maximum": high})


def _flag(description: str, default: bool) -> fields.Boolean:
    return fields.Boolean(allow_none=True, metadata={"description": f"{description} (default {str(default).lower()})"})


class PresetFieldsSchema(Schema):
    """A preset's fields. POST needs `name`; PATCH changes the fields sent; a dry run takes them all."""

    class Meta:
        unknown = INCLUDE  # the service names them: 422 `invalid_preset` with `field`

    name = fields.String(metadata={"description": _NAME, "pattern": f"^{core.NAME_RE.pattern}$", "maxLength": 16})
    label = fields.String(allow_none=True, metadata={"description": "What menus show (≤ 60); default the name",
                                                     "maxLength": 60})
    kind = _choice("video, or audio only (converted to an audio file)", core.KINDS, core.VIDEO)
    max_height = _number("Video: the tallest picture, in pixels (the best within it)", 144, 4320)
    video_codec = _choice("Video: the codec preferred", core.VIDEO_CODECS, core.ANY)
    container = _choice("Video: the container the file ends up in", core.CONTAINERS, core.ANY)
    conversion = _choice("Video: how it reaches the container (remux copies the streams, recode re-encodes only "
                         "when they do not fit)", core.CONVERSIONS, "remux")
    audio_codec = _choice("Audio only: the codec (best keeps the best stream as it is)", core.AUDIO_CODECS, "best")
    audio_quality = _number("Audio only: the bitrate in kbit/s for lossy codecs (null: the tool's VBR default; "
                            "must be null for flac and wav)", 32, 320)
    subtitles = _flag("Download subtitles", False)
    subtitle_languages = fields.List(fields.String(), allow_none=True, metadata={
        "description": f"Language codes such as en, de, pt-BR (at most {core.MAX_LANGUAGES}), or [\"all\"]; "
                       "default [\"en\"]"})
    auto_captions = _flag("Also automatic captions", False)
    subtitle_mode = _choice("Subtitles embedded in the video or kept beside it as .srt", core.SUBTITLE_MODES, "embed")
    embed_metadata = _flag("Write title, artist, date, description into the file's tags", True)
    embed_chapters = _flag("Write the chapters into the file", True)
    embed_thumbnail = _flag("Embed the thumbnail as cover art", False)
    write_info_json = _flag("Keep what the extractor knew as <name>.info.json", False)
    write_nfo = _flag("Write a Kodi/Jellyfin .nfo beside each video", False)
    nfo_layout = _choice("The .nfo's style (series: a channel as a show)", core.NFO_LAYOUTS, "movie")
    write_poster = _flag("Keep the thumbnail beside the file as a poster (.jpg)", False)
    sponsorblock = _choice("SponsorBlock segments marked as chapters or removed; needs the internet (it asks "
                           f"{core.SPONSORBLOCK_API})", core.SPONSORBLOCK_MODES, "off")
    sponsorblock_categories = fields.List(fields.String(), allow_none=True, metadata={
        "description": f"Among {', '.join(core.SPONSORBLOCK_CATEGORIES)}; default [\"sponsor\"]"})
    filename_template = fields.String(allow_none=True, metadata={"description": _TEMPLATE,
                                                                 "maxLength": core.MAX_TEMPLATE})


class PresetCreateSchema(PresetFieldsSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=16),
                         metadata={"description": _NAME, "pattern": f"^{core.NAME_RE.pattern}$"})


# Answers --------------------------------------------------------------------------------------


class PresetSchema(PresetFieldsSchema):
    """A preset: every field with its value in force, and what the lists show."""

    name = fields.String(required=True)
    label = fields.String(required=True)
    summary = fields.String(required=True, metadata={"description": "One line: \"Video · up to 1080p · mp4 · NFO\""})
    built_in = fields.Boolean(required=True, metadata={"description": "Shipped with Haul: editable, not deletable, "
                                                                      "keeps its name"})
    position = fields.Integer(required=True, metadata={"description": "The order menus list the presets in"})
    valid = fields.Boolean(required=True, metadata={
        "description": "false for a stored preset that no longer passes the checks (jobs then use the default)"})


class PresetListSchema(Schema):
    items = fields.List(fields.Nested(PresetSchema), required=True)
    total = fields.Integer(required=True)


class PresetInUseSchema(ApiErrorSchema):
    """409: the preset is built in, in use, or its name taken."""

    used_by = fields.Dict(metadata={"description": "preset_in_use: {default: bool, subscriptions: [names], "
                                                   "invites: [names]}"})


class DryRunSchema(Schema):
    name = fields.String(required=True)
    summary = fields.String(required=True)
    ytdlp = fields.Dict(required=True, metadata={
        "description": "yt-dlp's parameters (its Python API's names): format, format_sort, merge_output_format, "
                       "subtitles, writethumbnail, writeinfojson, outtmpl and the postprocessors in order "
                       "(FFmpegExtractAudio, FFmpegVideoRemuxer, FFmpegEmbedSubtitle, FFmpegMetadata, "
                       "EmbedThumbnail, SponsorBlock, ModifyChapters, …)"})
    gallery_dl = fields.Dict(required=True, metadata={"description": "gallery-dl's options (postprocessors)"})
