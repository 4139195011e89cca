"""Presets: a named, validated set of download choices, and the tool options each turns into.

A preset is data (a row in `presets`, edited by admins; webapp/services/library/presets.py)
checked here field by field against allowlists: every choice that reaches a tool is one of a
fixed set of words or a number in range, and the file-name template is built from a fixed set
of fields, so no preset can carry a tool switch, a shell word or a path. `ytdlp_params` turns a
spec into yt-dlp's own parameters and postprocessors (the same ones its command line builds);
`gallery_dl_options` into gallery-dl's. Pure: no Flask, no database.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields

VIDEO, AUDIO_ONLY = "video", "audio"
KINDS = (VIDEO, AUDIO_ONLY)
ANY = "any"
VIDEO_CODECS = (ANY, "h264", "h265", "vp9", "av1")
CONTAINERS = (ANY, "mp4", "mkv", "webm")
# How a video reaches the chosen container: remux copies the streams (fast, lossless) and
# falls back to keeping the file as it is when they do not fit; recode re-encodes only when
# the streams do not fit the container.
CONVERSIONS = ("remux", "recode")
AUDIO_CODECS = ("best", "mp3", "m4a", "opus", "flac", "wav")
LOSSLESS_AUDIO = ("flac", "wav")
SUBTITLE_MODES = ("embed", "beside")
NFO_LAYOUTS = ("movie", "episode", "series")
SPONSORBLOCK_MODES = ("off", "mark", "remove")
SPONSORBLOCK_CATEGORIES = ("sponsor", "intro", "outro", "selfpromo", "preview", "filler", "interaction",
                           "music_offtopic")
SPONSORBLOCK_API = "https://sponsor.ajay.app"

# The fields a file-name template may use, and the yt-dlp field each stands for.
TEMPLATE_FIELDS = {
    "title": "%(title).90B",
    "uploader": "%(uploader,channel,creator|Unknown).40B",
    "upload_date": "%(upload_date>%Y-%m-%d|)s",
    "id": "%(id)s",
    "index": "%(playlist_index|)s",
}
DEFAULT_TEMPLATE = "{title} [{id}]"
MAX_TEMPLATE = 120
# Literal text between fields: letters, digits, spaces and a few punctuation marks. No path
# separator, no '%' (a yt-dlp field), no dot run that could become '..'.
_LITERAL_RE = re.compile(r"[\w \-_,.()\[\]#&+!']*")
_TEMPLATE_PART_RE = re.compile(r"\{([^{}]*)\}|([^{}]+)|([{}])")
NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,15}")
LANGUAGE_RE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})?")
MAX_LANGUAGES = 10


class PresetError(ValueError):
    """A preset field that is not allowed; `field` names it for the form and the API."""

    def __init__(self, field_name: str, message: str):
        super().__init__(message)
        self.field = field_name
        self.message = message


@dataclass(frozen=True)
class PresetSpec:
    """The choices of one preset. Build it with `PresetSpec.from_dict` (which validates)."""

    name: str
    label: str
    kind: str = VIDEO
    max_height: int | None = None
    video_codec: str = ANY
    container: str = ANY
    conversion: str = "remux"
    audio_codec: str = "best"
    audio_quality: int | None = None  # kbit/s for lossy codecs; None: the tool's default (VBR 5)
    subtitles: bool = False
    subtitle_languages: tuple[str, ...] = ("en",)
    auto_captions: bool = False
    subtitle_mode: str = "embed"
    embed_metadata: bool = True
    embed_chapters: bool = True
    embed_thumbnail: bool = False
    write_info_json: bool = False
    write_nfo: bool = False
    nfo_layout: str = "movie"
    write_poster: bool = False
    sponsorblock: str = "off"
    sponsorblock_categories: tuple[str, ...] = ("sponsor",)
    filename_template: str = DEFAULT_TEMPLATE

    @classmethod
    def from_dict(cls, data: dict) -> "PresetSpec":
        """A checked spec from submitted values (a form, JSON, a row); raises PresetError."""
        if not isinstance(data, dict):
            raise PresetError("preset", "A preset is an object of fields")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise PresetError(unknown[0], f"Unknown preset field: {unknown[0]}")
        values = {}
        values["name"] = _name(data.get("name"))
        values["label"] = _label(data.get("label"), values["name"])
        values["kind"] = _choice(data, "kind", KINDS, VIDEO)
        values["max_height"] = _int_or_none(data, "max_height", 144, 4320)
        values["video_codec"] = _choice(data, "video_codec", VIDEO_CODECS, ANY)
        values["container"] = _choice(data, "container", CONTAINERS, ANY)
        values["conversion"] = _choice(data, "conversion", CONVERSIONS, "remux")
        values["audio_codec"] = _choice(data, "audio_codec", AUDIO_CODECS, "best")
        values["audio_quality"] = _int_or_none(data, "audio_quality", 32, 320)
        values["subtitles"] = _flag(data, "subtitles", False)
        values["subtitle_languages"] = _languages(data.get("subtitle_languages"))
        values["auto_captions"] = _flag(data, "auto_captions", False)
        values["subtitle_mode"] = _choice(data, "subtitle_mode", SUBTITLE_MODES, "embed")
        values["embed_metadata"] = _flag(data, "embed_metadata", True)
        values["embed_chapters"] = _flag(data, "embed_chapters", True)
        values["embed_thumbnail"] = _flag(data, "embed_thumbnail", False)
        values["write_info_json"] = _flag(data, "write_info_json", False)
        values["write_nfo"] = _flag(data, "write_nfo", False)
        values["nfo_layout"] = _choice(data, "nfo_layout", NFO_LAYOUTS, "movie")
        values["write_poster"] = _flag(data, "write_poster", False)
        values["sponsorblock"] = _choice(data, "sponsorblock", SPONSORBLOCK_MODES, "off")
        values["sponsorblock_categories"] = _categories(data.get("sponsorblock_categories"))
        values["filename_template"] = check_template(data.get("filename_template"))
        if values["kind"] == AUDIO_ONLY and values["audio_codec"] in LOSSLESS_AUDIO and values["audio_quality"]:
            raise PresetError("audio_quality", f"{values['audio_codec']} is lossless: leave the bitrate empty")
        return cls(**values)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["subtitle_languages"] = list(self.subtitle_languages)
        data["sponsorblock_categories"] = list(self.sponsorblock_categories)
        return data

    def summary(self) -> str:
        """One line for lists and menus: "Video · up to 1080p · mp4 · subtitles · NFO"."""
        if self.kind == AUDIO_ONLY:
            parts = ["Audio", "best audio as-is" if self.audio_codec == "best" else self.audio_codec]
            if self.audio_quality:
                parts.append(f"{self.audio_quality} kbit/s")
        else:
            parts = ["Video", f"up to {self.max_height}p" if self.max_height else "best quality"]
            if self.video_codec != ANY:
                parts.append(self.video_codec)
            if self.container != ANY:
                parts.append(self.container)
        if self.subtitles:
            parts.append("subtitles")
        if self.embed_thumbnail:
            parts.append("cover art")
        if self.write_nfo:
            parts.append("NFO")
        if self.sponsorblock != "off":
            parts.append(f"SponsorBlock ({self.sponsorblock})")
        return " · ".join(parts)


def _name(value) -> str:
    name = (value or "").strip() if isinstance(value, str) else ""
    if not NAME_RE.fullmatch(name):
        raise PresetError("name", "The name is 1–16 lowercase letters, digits, '-' or '_', starting with a letter or "
                                  "digit (it is what the API and the queue form send)")
    if name == "default":
        raise PresetError("name", "'default' stands for the configured default preset; choose another name")
    return name


def _label(value, name: str) -> str:
    label = " ".join(value.split()) if isinstance(value, str) else ""
    if len(label) > 60:
        raise PresetError("label", "The label is at most 60 characters")
    return label or name


def _choice(data: dict, key: str, allowed: tuple, default: str) -> str:
    value = data.get(key)
    if value in (None, ""):
        return default
    if value not in allowed:
        raise PresetError(key, f"{key.replace('_', ' ').capitalize()} must be one of {', '.join(allowed)}")
    return value


def _flag(data: dict, key: str, default: bool) -> bool:
    value = data.get(key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if value in ("1", "true", "on", "yes"):
        return True
    if value in ("0", "false", "off", "no", ""):
        return False
    raise PresetError(key, f"{key.replace('_', ' ').capitalize()} is true or false")


def _int_or_none(data: dict, key: str, low: int, high: int) -> int | None:
    value = data.get(key)
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        raise PresetError(key, f"{key.replace('_', ' ').capitalize()} is a number")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise PresetError(key, f"{key.replace('_', ' ').capitalize()} is a number") from None
    if not low <= number <= high:
        raise PresetError(key, f"{key.replace('_', ' ').capitalize()} is between {low} and {high}")
    return number


def _word_list(value) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        return [part for part in re.split(r"[\s,]+", value) if part]
    if isinstance(value, (list, tuple)) and all(isinstance(part, str) for part in value):
        return [part.strip() for part in value if part.strip()]
    raise PresetError("list", "a list of words")


def _languages(value) -> tuple[str, ...]:
    try:
        languages = _word_list(value)
    except PresetError:
        raise PresetError("subtitle_languages", "Subtitle languages are language codes such as en, de, pt-BR") from None
    if not languages:
        return ("en",)
    if languages == ["all"]:
        return ("all",)
    if len(languages) > MAX_LANGUAGES:
        raise PresetError("subtitle_languages", f"At most {MAX_LANGUAGES} subtitle languages")
    for language in languages:
        if not LANGUAGE_RE.fullmatch(language):
            raise PresetError("subtitle_languages",
                              f"'{language[:20]}' is not a language code (such as en, de, pt-BR, or 'all')")
    return tuple(dict.fromkeys(languages))


def _categories(value) -> tuple[str, ...]:
    try:
        categories = _word_list(value)
    except PresetError:
        raise PresetError("sponsorblock_categories", "SponsorBlock categories are a list of words") from None
    if not categories:
        return ("sponsor",)
    for category in categories:
        if category not in SPONSORBLOCK_CATEGORIES:
            raise PresetError("sponsorblock_categories",
                              f"SponsorBlock categories are among {', '.join(SPONSORBLOCK_CATEGORIES)}")
    return tuple(dict.fromkeys(categories))


def check_template(value) -> str:
    """A file-name template made of {fields} and plain text; raises PresetError otherwise.

    The template names one file, never a folder: '/', '\\', '..' and '%' are refused (the
    result is sanitised by yt-dlp's rules for Windows names on top), and a template that
    names neither {title} nor {id} is refused, since every item would get the same name."""
    template = value.strip() if isinstance(value, str) else ""
    if not template:
        return DEFAULT_TEMPLATE
    if len(template) > MAX_TEMPLATE:
        raise PresetError("filename_template", f"The file-name template is at most {MAX_TEMPLATE} characters")
    if "/" in template or "\\" in template or ".." in template:
        raise PresetError("filename_template", "The file-name template names a file, not a path: no '/', '\\' or '..'")
    used = set()
    for match in _TEMPLATE_PART_RE.finditer(template):
        name, literal, brace = match.groups()
        if brace:
            raise PresetError("filename_template", "A '{' or '}' without its pair in the file-name template")
        if name is not None:
            if name not in TEMPLATE_FIELDS:
                raise PresetError("filename_template",
                                  f"Unknown field {{{name[:30]}}}; use {', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)}")
            used.add(name)
        elif not _LITERAL_RE.fullmatch(literal):
            raise PresetError("filename_template",
                              "Text in the file-name template may hold letters, digits, spaces and - _ , . ( ) [ ] # & + ! '")
    if not used & {"title", "id"}:
        raise PresetError("filename_template", "The file-name template needs {title} or {id}, or every file gets one name")
    return template


def ytdlp_template(template: str, name_prefix: str = "") -> str:
    """A checked template as yt-dlp's output template (relative: the job's folder is `paths.home`)."""
    out = name_prefix.replace("%", "%%")
    for match in _TEMPLATE_PART_RE.finditer(check_template(template)):
        name, literal, _ = match.groups()
        out += TEMPLATE_FIELDS[name] if name is not None else literal.replace("%", "%%")
    return out + ".%(ext)s"


# -- what a spec asks of yt-dlp --------------------------------------------------------------

_CODEC_SORT = {"h264": "vcodec:h264", "h265": "vcodec:h265", "vp9": "vcodec:vp9", "av1": "vcodec:av01"}
_AUDIO_EXT = {"mp3": "mp3", "m4a": "m4a", "opus": "opus", "flac": "flac", "wav": "wav"}


def ytdlp_params(spec: PresetSpec) -> dict:
    """yt-dlp's parameters for a spec: format choice, subtitles, files beside, postprocessors.

    The postprocessors are yt-dlp's own, in the order its command line puts them (conversions,
    then subtitles, chapters, metadata, then the cover art last), so each sees the file the
    previous one left."""
    params: dict = {}
    postprocessors: list[dict] = []
    if spec.kind == AUDIO_ONLY:
        params["format"] = "ba/b"
        if spec.audio_codec != "best":
            postprocessors.append({
                "key": "FFmpegExtractAudio", "preferredcodec": spec.audio_codec,
                "preferredquality": str(spec.audio_quality) if spec.audio_quality else "5",
                "nopostoverwrites": False,
            })
        else:
            # As-is, but still an audio file: the best audio stream in its own container.
            postprocessors.append({"key": "FFmpegExtractAudio", "preferredcodec": "best",
                                   "preferredquality": "5", "nopostoverwrites": False})
    else:
        if spec.max_height:
            height = f"[height<={spec.max_height}]"
            # The best within the height; a site without heights still gives its best.
            params["format"] = f"bv*{height}+ba/b{height}/bv*+ba/b"
        else:
            params["format"] = "bv*+ba/b"
        sort = []
        if spec.video_codec != ANY:
            sort.append(_CODEC_SORT[spec.video_codec])
        if spec.container != ANY:
            params["merge_output_format"] = spec.container
            if spec.container == "mp4":
                sort.extend(["vext:mp4", "aext:m4a"])  # streams that fit mp4 first: no re-encode
            elif spec.container == "webm":
                sort.extend(["vext:webm", "aext:webm"])
            key = "FFmpegVideoRemuxer" if spec.conversion == "remux" else "FFmpegVideoConvertor"
            postprocessors.append({"key": key, "preferedformat": spec.container})
        if sort:
            params["format_sort"] = sort
    if spec.subtitles:
        params["writesubtitles"] = True
        params["writeautomaticsub"] = spec.auto_captions
        params["subtitleslangs"] = list(spec.subtitle_languages)
        if spec.kind == VIDEO and spec.subtitle_mode == "embed":
            # mp4 holds mov_text only: the embedder converts; srt beside keeps players happy.
            postprocessors.append({"key": "FFmpegEmbedSubtitle", "already_have_subtitle": False})
        else:
            postprocessors.insert(0, {"key": "FFmpegSubtitlesConvertor", "format": "srt", "when": "before_dl"})
    if spec.sponsorblock != "off":
        categories = list(spec.sponsorblock_categories)
        postprocessors.insert(0, {"key": "SponsorBlock", "categories": categories, "api": SPONSORBLOCK_API,
                                  "when": "after_filter"})
        postprocessors.append({
            "key": "ModifyChapters", "remove_chapters_patterns": [],
            "remove_sponsor_segments": categories if spec.sponsorblock == "remove" else [],
            "remove_ranges": [], "sponsorblock_chapter_title": "[SponsorBlock]: %(category_names)l",
            "force_keyframes": False,
        })
    if spec.embed_metadata or spec.embed_chapters:
        postprocessors.append({"key": "FFmpegMetadata", "add_chapters": spec.embed_chapters,
                               "add_metadata": spec.embed_metadata, "add_infojson": False})
    if spec.write_poster or spec.embed_thumbnail:
        params["writethumbnail"] = True
        # Posters and cover art as JPEG: what every media server and tag reader takes.
        postprocessors.insert(0, {"key": "FFmpegThumbnailsConvertor", "format": "jpg", "when": "before_dl"})
    if spec.embed_thumbnail:
        postprocessors.append({"key": "EmbedThumbnail", "already_have_thumbnail": spec.write_poster})
    if spec.write_info_json:
        params["writeinfojson"] = True
        params["clean_infojson"] = True
        params["allow_playlist_files"] = False
    params["postprocessors"] = postprocessors
    return params


def gallery_dl_options(spec: PresetSpec) -> dict:
    """gallery-dl's settings for a spec: its metadata postprocessor writes the info JSON beside
    each file; ugoira animations become a video. Its exec postprocessor is never used."""
    postprocessors = []
    if spec.write_info_json:
        postprocessors.append({"name": "metadata", "mode": "json", "extension-format": "info.json"})
    # ugoira's frames come from the site's zip: ffmpeg reads them with the image2 demuxer, which
    # decodes each frame as an image by its extension, where the concat demuxer would probe each
    # file for any format (a "frame" could be a playlist that makes ffmpeg fetch URLs).
    postprocessors.append({"name": "ugoira", "extension": "webm" if spec.container == "webm" else "mp4",
                           "mode": "image2", "whitelist": ["pixiv", "danbooru"]})
    return {"postprocessors": postprocessors}


# -- the presets Haul ships -------------------------------------------------------------------

BUILT_IN: tuple[PresetSpec, ...] = (
    PresetSpec(name="best", label="Best available", embed_thumbnail=True, write_poster=True, write_nfo=True),
    PresetSpec(name="1080p", label="Up to 1080p", max_height=1080, container="mp4", embed_thumbnail=True,
               write_poster=True, write_nfo=True),
    PresetSpec(name="720p", label="Up to 720p", max_height=720, container="mp4", embed_thumbnail=True,
               write_poster=True, write_nfo=True),
    PresetSpec(name="audio", label="Audio only (mp3)", kind=AUDIO_ONLY, audio_codec="mp3", audio_quality=192,
               embed_chapters=True, embed_thumbnail=True),
)


def field_names() -> tuple[str, ...]:
    return tuple(f.name for f in fields(PresetSpec))


__all__ = ["PresetSpec", "PresetError", "BUILT_IN", "ytdlp_params", "gallery_dl_options", "ytdlp_template",
           "check_template", "field_names"]
