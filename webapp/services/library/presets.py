"""Presets as everyone uses them: look one up, check a name someone sent, list the choices.

Admins keep the rows (the create/update/delete rules live below the lookups); a job, a
subscription and an invite refer to a preset by name, and the worker reads its spec when the
job starts, so an edit applies to every job that has not started yet.
"""
from __future__ import annotations

import logging

from sqlalchemy import select

from webapp.core.presets import BUILT_IN, PresetError, PresetSpec
from webapp.errors import Invalid
from webapp.extensions import db
from webapp.models import Preset

log = logging.getLogger(__name__)

_BUILT_IN_BY_NAME = {spec.name: spec for spec in BUILT_IN}
FALLBACK = BUILT_IN[0].name  # "best": what a job gets when its preset and the default are gone


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
