"""Jinja filters every page uses: sizes, speeds, durations and dates people can read."""
from __future__ import annotations

from flask import Flask

from webapp.core.readable import human_bytes, human_duration, local_datetime


def register(app: Flask) -> None:
    app.add_template_filter(human_bytes, "bytes")
    app.add_template_filter(human_duration, "duration")
    app.add_template_filter(local_datetime, "when")
