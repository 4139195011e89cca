"""Presets as everyone uses them: look one up, check a name someone sent, list the choices.

Admins keep the rows (the create/update/delete rules live below the lookups); a job, a
subscription and an invite refer to a preset by name, and the worker reads its spec when the
job starts, so an edit applies to every job that has not started yet.

Renaming a preset carries the new name to what refers to it, in the same transaction: the
subscriptions, the invites, the default-preset setting and the jobs not started yet (a job that
ran keeps the name it downloaded with, as history shows it). The built-in presets keep their
names (other code and older clients know them) and cannot be deleted; everything else about
them is editable. A preset in use (the default, or a subscription's or an invite's) cannot be
deleted either: the message names what uses it.
"""
from __future__ import annotations

import json
import logging

from sqlalchemy import func, select
from sqlalchemy import update as update_rows
from sqlalchemy.exc import IntegrityError

from webapp.core.presets import (
    BUILT_IN,
    PresetError,
    PresetSpec,
    gallery_dl_options,
    ytdlp_params,
    ytdlp_template,
)
from webapp.core.vocabulary import PAUSED, QUEUED
from webapp.errors import Conflict, Forbidden, Invalid, NotFound
from webapp.extensions import db
from webapp.models import Invite, Job, Preset, Setting, Subscription
from webapp.services.accounts.identity import Principal

log = logging.getLogger(__name__)

_BUILT_IN_BY_NAME = {spec.name: spec for spec in BUILT_IN}
FALLBACK = BUILT_IN[0].name  # "best": what a job gets when its preset and the default are gone
# The runtime setting naming the default preset (webapp/services/admin/runtime_settings.py reads
# and checks it; it is named here too because a rename or a delete looks at it).
DEFAULT_SETTING = "default_preset"


def all_presets() -> list[Preset]:
    return list(db.session.scalars(select(Preset).order_by(Preset.position, Preset.id)))


def get(name: str | None) -> Preset | None:
    if not name:
        return None
    return db.session.scalar(select(Preset).where(Preset.name == name))


def names() -> list[str]:
    return list(db.session.scalars(select(Preset.name).order_by(Preset.position, Preset.id)))


def choices() -> list[tuple[str, str]]:
    """(name, label) of every preset, in menu order, for the forms' selects."""
    return [(row.name, row.label) for row in all_presets()]


def default_name() -> str:
    """The default preset's name: the admin's choice (Settings → Downloads), else "best"."""
    setting = db.session.get(Setting, DEFAULT_SETTING)
    if setting is not None and isinstance(setting.value, str) and get(setting.value) is not None:
        return setting.value
    return FALLBACK


def menu() -> list[tuple[str, str]]:
    """The choices of a form's preset select: "Default (<its label>)" (the value "") first, then
    every preset by its label."""
    rows = choices()
    default = default_name()
    label = dict(rows).get(default, default)
    return [("", f"Default ({label})"), *rows]


def check_name(preset) -> str | None:
    """The preset asked for by name (None for "", None or "default": the configured default),
    or Invalid `invalid_preset` naming the presets there are."""
    if preset in (None, "", "default"):
        return None
    if not isinstance(preset, str) or get(preset) is None:
        known = ", ".join(names()) or "none"
        raise Invalid(f"preset must be one of {known} (or default)", error_code="invalid_preset",
                      extra={"field": "preset"})
    return preset


def spec_for(name: str | None, default: str | None = None) -> PresetSpec:
    """The spec a job downloads with: its preset, else the configured default, else "best".

    A preset deleted or damaged since the job was queued is not the job's fault: the job
    downloads with the default instead (and the log says so)."""
    for candidate in (name, default, FALLBACK):
        if not candidate:
            continue
        row = get(candidate)
        if row is not None:
            try:
                return row.spec
            except PresetError as exc:
                log.warning("preset %s is not valid (%s); using the next choice", candidate, exc)
        elif candidate in _BUILT_IN_BY_NAME and candidate == FALLBACK:
            return _BUILT_IN_BY_NAME[candidate]
        else:
            log.warning("preset %s does not exist (any more); using the next choice", candidate)
    return _BUILT_IN_BY_NAME[FALLBACK]


# -- what admins do ---------------------------------------------------------------------------------


def _require_admin(principal: Principal | None) -> None:
    if principal is None or not principal.is_admin:
        raise Forbidden("Only an admin can change presets", error_code="admin_required")


def get_or_404(name: str) -> Preset:
    row = get(name) if isinstance(name, str) else None
    if row is None:
        raise NotFound(f"No preset named {str(name)[:40]!r}", error_code="preset_not_found")
    return row


def check_spec(data) -> PresetSpec:
    """A checked spec from submitted fields, or Invalid `invalid_preset` naming the field."""
    try:
        return PresetSpec.from_dict(data)
    except PresetError as exc:
        raise Invalid(exc.message, error_code="invalid_preset", extra={"field": exc.field}) from None


def _stored_fields(row: Preset) -> dict:
    """The row's fields as a dict to merge changes into (its raw options when they no longer
    pass the checks, so an admin can still repair it field by field)."""
    try:
        return row.spec.to_dict()
    except PresetError:
        return {**(row.options or {}), "name": row.name, "label": row.label}


def create(data: dict, principal: Principal | None) -> Preset:
    """A new preset, listed after the others; 409 `preset_exists` when the name is taken."""
    _require_admin(principal)
    spec = check_spec(data)
    if get(spec.name) is not None:
        raise Conflict(f"A preset named {spec.name!r} already exists", error_code="preset_exists",
                       extra={"field": "name"})
    last = db.session.scalar(select(func.max(Preset.position))) or 0
    row = Preset(built_in=False, position=last + 1)
    row.apply(spec)
    db.session.add(row)
    _commit(spec.name)
    return row


def update(name: str, data: dict, principal: Principal | None) -> Preset:
    """Change the fields sent (the others stay); a new `name` renames it everywhere it is used."""
    _require_admin(principal)
    row = get_or_404(name)
    if not isinstance(data, dict):
        raise Invalid("A preset is an object of fields", error_code="invalid_preset", extra={"field": "preset"})
    spec = check_spec({**_stored_fields(row), **data})
    old = row.name
    if spec.name != old:
        if row.built_in:
            raise Conflict(f"{old!r} is a built-in preset: it keeps its name (change its label instead)",
                           error_code="preset_built_in", extra={"field": "name"})
        if get(spec.name) is not None:
            raise Conflict(f"A preset named {spec.name!r} already exists", error_code="preset_exists",
                           extra={"field": "name"})
        _rename_uses(old, spec.name)
    row.apply(spec)
    _commit(spec.name)
    return row


def _rename_uses(old: str, new: str) -> None:
    db.session.execute(update_rows(Subscription).where(Subscription.preset == old).values(preset=new))
    db.session.execute(update_rows(Invite).where(Invite.preset == old).values(preset=new))
    db.session.execute(update_rows(Job).where(Job.preset == old, Job.status.in_((QUEUED, PAUSED)))
                       .values(preset=new))
    setting = db.session.get(Setting, DEFAULT_SETTING)
    if setting is not None and setting.value == old:
        setting.value = new


def _commit(name: str) -> None:
    try:
        db.session.commit()
    except IntegrityError:  # the same name written by another request a moment ago
        db.session.rollback()
        raise Conflict(f"A preset named {name!r} already exists", error_code="preset_exists",
                       extra={"field": "name"}) from None


def uses(name: str) -> dict:
    """What refers to a preset by name: whether it is the default, and which subscriptions and
    invites download with it."""
    setting = db.session.get(Setting, DEFAULT_SETTING)
    is_default = setting.value == name if setting is not None else name == FALLBACK
    return {
        "default": is_default,
        "subscriptions": list(db.session.scalars(
            select(Subscription.name).where(Subscription.preset == name).order_by(Subscription.name))),
        "invites": list(db.session.scalars(select(Invite.name).where(Invite.preset == name).order_by(Invite.name))),
    }


def _uses_text(used: dict) -> str:
    parts = []
    if used["default"]:
        parts.append("it is the default preset (Settings → Downloads)")
    for key, word in (("subscriptions", "subscription"), ("invites", "invite")):
        names = used[key]
        if names:
            shown = ", ".join(f"“{n}”" for n in names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            parts.append(f"{word}{'s' if len(names) != 1 else ''} {shown}")
    return "; ".join(parts)


def delete(name: str, principal: Principal | None) -> None:
    """Remove a preset no one uses. Queued jobs that named it download with the default."""
    _require_admin(principal)
    row = get_or_404(name)
    if row.built_in:
        raise Conflict(f"{row.name!r} is a built-in preset: edit it instead of deleting it",
                       error_code="preset_built_in")
    used = uses(row.name)
    if used["default"] or used["subscriptions"] or used["invites"]:
        raise Conflict(f"Preset {row.name!r} is in use: {_uses_text(used)}. Choose another preset there first.",
                       error_code="preset_in_use", extra={"used_by": used})
    db.session.delete(row)
    db.session.commit()


def reorder(order: list, principal: Principal | None) -> list[Preset]:
    """Put the presets in this order (every name once): the order menus list them in."""
    _require_admin(principal)
    rows = {row.name: row for row in all_presets()}
    if not isinstance(order, list) or sorted(map(str, order)) != sorted(rows) or len(set(order)) != len(order):
        raise Invalid(f"The order names every preset once: {', '.join(rows)}", error_code="invalid_preset",
                      extra={"field": "order"})
    for position, name in enumerate(order):
        rows[name].position = position
    db.session.commit()
    return all_presets()


def move(name: str, step: int, principal: Principal | None) -> list[Preset]:
    """Move one preset up (step -1) or down (+1) in the menus."""
    order = names()
    if name not in order:
        get_or_404(name)
    index = order.index(name)
    target = max(0, min(len(order) - 1, index + step))
    order.insert(target, order.pop(index))
    return reorder(order, principal)


# -- what a preset turns into ----------------------------------------------------------------------


def dry_run(spec: PresetSpec) -> dict:
    """The options a spec turns into, as the engines pass them to the tools (JSON-safe):
    yt-dlp's parameters with its postprocessors and output template, and gallery-dl's options."""
    params = ytdlp_params(spec)
    params["outtmpl"] = ytdlp_template(spec.filename_template)
    return {"name": spec.name, "summary": spec.summary(),
            "ytdlp": _json_safe(params), "gallery_dl": _json_safe(gallery_dl_options(spec))}


def _json_safe(value):
    return json.loads(json.dumps(value, default=lambda item: list(item) if isinstance(item, (tuple, set)) else str(item)))


def to_dict(row: Preset) -> dict:
    """A preset as the API and the pages show it: its fields, a one-line summary, whether it is
    built in. A row that no longer passes the checks is shown as stored, with `valid` false."""
    try:
        spec = row.spec
    except PresetError as exc:
        return {**(row.options or {}), "name": row.name, "label": row.label, "summary": f"Not valid: {exc.message}",
                "built_in": row.built_in, "position": row.position, "valid": False}
    return {**spec.to_dict(), "summary": spec.summary(), "built_in": row.built_in, "position": row.position,
            "valid": True}


def labels() -> dict[str, str]:
    """{name: label} of every preset, for pages that show a job's or a subscription's preset."""
    return dict(choices())
