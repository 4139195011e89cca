"""Presets: the named sets of download choices admins edit and everyone picks from."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.core.presets import PresetSpec
from webapp.extensions import db
from webapp.models.base import UTCDateTime, utcnow


class Preset(db.Model):
    """One preset. `name` is what jobs, subscriptions, invites and the API refer to it by
    (Job.preset); the choices are kept as `options` and always read back through
    `PresetSpec.from_dict`, which checks them again."""

    __tablename__ = "presets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(16), unique=True)
    label: Mapped[str] = mapped_column(String(60))
    options: Mapped[dict] = mapped_column(JSON, default=dict)
    built_in: Mapped[bool] = mapped_column(Boolean, default=False)  # shipped with Haul: editable, not deletable
    position: Mapped[int] = mapped_column(Integer, default=100)  # the order menus list them in
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def spec(self) -> PresetSpec:
        return PresetSpec.from_dict({**(self.options or {}), "name": self.name, "label": self.label})

    def apply(self, spec: PresetSpec) -> None:
        data = spec.to_dict()
        self.name, self.label = data.pop("name"), data.pop("label")
        self.options = data
