"""Settings → Presets (admin): the presets listed, one created or edited in groups, moved in the
menus, deleted, and the yt-dlp options a form's choices turn into (a dry run).

The rules are the API's (webapp/services/library/presets.py): a refusal comes back as the form
with the message next to its field (422; the section alone for htmx, the whole page without).
Every route is an admin's; others get the friendly 403 page.
"""
from __future__ import annotations

from flask import abort, make_response, request, url_for

from webapp.core import presets as core
from webapp.errors import Conflict, HaulError, Invalid
from webapp.services.library import presets
from webapp.settings import bp
from webapp.settings.forms import ConfirmForm
from webapp.settings.routes import _answer, admin_required
from webapp.views import is_htmx, redirect_with_notice, render_view, session_principal, with_toast

EXPIRED = "The form expired; reload the page and try again."
FLAGS = ("subtitles", "auto_captions", "embed_metadata", "embed_chapters", "embed_thumbnail", "write_info_json",
         "write_nfo", "write_poster")
CHECK_LISTS = ("sponsorblock_categories",)  # a checkbox per choice
# What the form offers, with the words people read; the values are core.presets' own.
CHOICES = {
    "kind": [(core.VIDEO, "Video"), (core.AUDIO_ONLY, "Audio only")],
    "video_codec": [(core.ANY, "Any"), ("h264", "H.264 (plays everywhere)"), ("h265", "H.265 / HEVC"),
                    ("vp9", "VP9"), ("av1", "AV1")],
    "container": [(core.ANY, "As the site has it"), ("mp4", "mp4"), ("mkv", "mkv"), ("webm", "webm")],
    "conversion": [("remux", "Remux (copy the streams; fast, lossless)"),
                   ("recode", "Re-encode only when the streams do not fit")],
    "audio_codec": [("best", "Best audio as it is"), ("mp3", "mp3"), ("m4a", "m4a (AAC)"), ("opus", "opus"),
                    ("flac", "flac (lossless)"), ("wav", "wav (lossless)")],
    "subtitle_mode": [("embed", "Embed in the video"), ("beside", "Keep beside the file (.srt)")],
    "nfo_layout": [("movie", "Movie (one video)"), ("episode", "Episode"),
                   ("series", "Series (a channel as a show: tvshow.nfo)")],
    "sponsorblock": [("off", "Off"), ("mark", "Mark the segments as chapters"), ("remove", "Cut the segments out")],
    "sponsorblock_categories": [(name, name.replace("_", " ")) for name in core.SPONSORBLOCK_CATEGORIES],
}


def _form_values(spec_dict: dict) -> dict:
    """A spec (or stored fields) as the form shows it: numbers and lists as text."""
    values = dict(spec_dict)
    for key in ("max_height", "audio_quality"):
        values[key] = "" if values.get(key) is None else str(values[key])
    languages = values.get("subtitle_languages") or ()
    values["subtitle_languages"] = languages if isinstance(languages, str) else ", ".join(languages)
    values["sponsorblock_categories"] = list(values.get("sponsorblock_categories") or ())
    return values


def _posted() -> dict:
    """The preset's fields from the posted form (a checkbox not sent is off)."""
    form = request.form
    data = {}
    for name in core.field_names():
        if name in FLAGS:
            data[name] = form.get(name) == "1"
        elif name in CHECK_LISTS:
            data[name] = form.getlist(name)
        else:
            data[name] = (form.get(name) or "").strip()
    return data


def _check_csrf() -> None:
    if not ConfirmForm().validate_on_submit():
        abort(400, description=EXPIRED)


def _errors_of(exc: HaulError) -> dict[str, str]:
    """{field: message} for the form; a refusal of no field the form shows goes on top."""
    field = exc.extra.get("field")
    return {field if field in core.field_names() else "form": exc.detail}


# -- the list --------------------------------------------------------------------------------------


def _list_context(row_errors: dict | None = None) -> dict:
    return {"rows": [presets.to_dict(row) for row in presets.all_presets()], "default_name": presets.default_name(),
            "row_errors": row_errors or {}, "confirm_form": ConfirmForm(formdata=None)}


def _list_answer(message: str, level: str = "success", status: int = 200, row_errors: dict | None = None):
    return _answer("settings/presets.html", "settings/_presets_list.html", _list_context(row_errors),
                   message=message, level=level, status=status, redirect_to=url_for("settings.presets_page"))


@bp.get("/settings/presets")
@admin_required
def presets_page():
    return render_view("settings/presets.html", None, **_list_context())


@bp.post("/settings/presets/<name>/delete")
@admin_required
def delete_preset(name):
    """From the list (the list again) or from the preset's own form (back to the list)."""
    _check_csrf()
    from_form = request.form.get("from") == "edit"
    try:
        presets.delete(name, session_principal())
    except Conflict as exc:
        if from_form:
            row = presets.get_or_404(name)
            context = _form_context(_form_values(presets.to_dict(row)), original=name, built_in=row.built_in,
                                    errors={"form": exc.detail})
            return _form_answer(context, 422, exc.detail)
        return _list_answer(exc.detail, "error", 422, row_errors={name: exc.detail})
    if from_form:
        return _saved(f"Deleted the preset “{name}”.")
    return _list_answer(f"Deleted the preset “{name}”.")


@bp.post("/settings/presets/<name>/move")
@admin_required
def move_preset(name):
    _check_csrf()
    step = -1 if request.form.get("direction") == "up" else 1
    presets.move(name, step, session_principal())
    return _list_answer(f"Moved “{name}” {'up' if step < 0 else 'down'}.")


# -- one preset: new, edit, dry run ------------------------------------------------------------------


def _form_context(values: dict, *, original: str | None = None, built_in: bool = False, errors=None,
                  dry_run=None, dry_run_error=None) -> dict:
    return {"values": values, "original": original, "built_in": built_in, "errors": errors or {},
            "choices": CHOICES, "template_fields": list(core.TEMPLATE_FIELDS), "dry_run": dry_run,
            "dry_run_error": dry_run_error, "sponsorblock_api": core.SPONSORBLOCK_API,
            "max_template": core.MAX_TEMPLATE, "confirm_form": ConfirmForm(formdata=None)}


def _form_answer(context: dict, status: int = 200, message: str | None = None, level: str = "error"):
    response = make_response(render_view("settings/preset_edit.html", "settings/_preset_form.html", **context),
                             status)
    return with_toast(response, message, level) if message and is_htmx() else response


def _saved(message: str):
    """Back to the list with the outcome shown there."""
    return redirect_with_notice(url_for("settings.presets_page"), message)


@bp.get("/settings/presets/new")
@admin_required
def new_preset():
    values = _form_values(core.PresetSpec(name="", label="").to_dict())
    return _form_answer(_form_context(values))


@bp.post("/settings/presets/new")
@admin_required
def create_preset():
    _check_csrf()
    data = _posted()
    try:
        row = presets.create(data, session_principal())
    except (Invalid, Conflict) as exc:
        context = _form_context(_form_values(data), errors=_errors_of(exc))
        return _form_answer(context, 422, f"Not created: {exc.detail}")
    return _saved(f"Created the preset “{row.label}” ({row.name}).")


@bp.get("/settings/presets/<name>/edit")
@admin_required
def edit_preset(name):
    row = presets.get_or_404(name)
    values = _form_values(presets.to_dict(row))
    return _form_answer(_form_context(values, original=row.name, built_in=row.built_in))


@bp.post("/settings/presets/<name>/edit")
@admin_required
def update_preset(name):
    _check_csrf()
    row = presets.get_or_404(name)
    data = _posted()
    try:
        row = presets.update(name, data, session_principal())
    except (Invalid, Conflict) as exc:
        context = _form_context(_form_values(data), original=name, built_in=row.built_in, errors=_errors_of(exc))
        return _form_answer(context, 422, f"Not saved: {exc.detail}")
    return _saved(f"Saved the preset “{row.label}”; jobs that start from now on use it.")


@bp.post("/settings/presets/dry-run")
@admin_required
def preset_dry_run():
    """The options the posted choices turn into; nothing is stored. htmx: the options alone;
    without it, the form again with the options under it."""
    _check_csrf()
    data = _posted()
    original = request.form.get("original") or None
    try:
        spec = presets.check_spec({**data, "name": data.get("name") or "dry-run"})
    except Invalid as exc:
        result, error, status = None, exc, 422
    else:
        result, error, status = presets.dry_run(spec), None, 200
    if is_htmx():
        return make_response(render_view("settings/_preset_dry_run.html", None, dry_run=result,
                                         dry_run_error=error.detail if error else None), status)
    row = presets.get(original) if original else None
    context = _form_context(_form_values(data), original=original, built_in=bool(row and row.built_in),
                            errors=_errors_of(error) if error else None, dry_run=result,
                            dry_run_error=error.detail if error else None)
    return _form_answer(context, status)
