"""The invites page's forms (Flask-WTF: each carries its CSRF token), and turning one into the
fields webapp/services/guests/invites.py takes.

The fields are strings the page parses itself (sizes such as "500 MB", a local date and time),
so a refusal reads like a person wrote it and sits next to its field. The service checks the
values again: one set of rules for the page and the API.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.fields import SelectChoice
from wtforms.validators import Length
from wtforms.widgets import CheckboxInput, ListWidget

from webapp.models.invite import DEFAULT_KINDS, KINDS
from webapp.services.guests.invites import MAX_NAME, MAX_PASSWORD, MAX_POST_TITLE
from webapp.services.library import presets

KIND_LABELS = {"image": "Images", "video": "Videos", "audio": "Audio", "other": "Other files"}
USE_LABELS = {"once": "One-time", "limited": "A number of times", "unlimited": "Unlimited"}
_UNITS = {"": 1024**2, "b": 1, "kb": 1024, "kib": 1024, "mb": 1024**2, "mib": 1024**2,
          "gb": 1024**3, "gib": 1024**3, "tb": 1024**4, "tib": 1024**4}
_SIZE = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*([a-zA-Z]*)\s*$")
# The formats a datetime-local input sends (seconds only when its step allows them).
_LOCAL_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M")


def _choices(labels: dict) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in labels.items()]


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class InviteForm(FlaskForm):
    """A new invite link."""

    name = StringField("Name", validators=[Length(max=MAX_NAME)])
    post_title = StringField("Post title (folder)", validators=[Length(max=MAX_POST_TITLE)])
    expires_at = StringField("Expires", render_kw={"type": "datetime-local"})
    tz = HiddenField()  # the browser's time zone, set by invites.js; without it the time is UTC
    uses = RadioField("Uses", choices=_choices(USE_LABELS), default="unlimited")
    max_uses = StringField("Number of uses", render_kw={"type": "number", "min": 1, "inputmode": "numeric"})
    password = PasswordField("Password", validators=[Length(max=MAX_PASSWORD)])
    allow_uploads = BooleanField("Upload files", default=True)
    allow_urls = BooleanField("Send links to download", default=True)
    max_file = StringField("Largest file")
    max_total = StringField("Total per guest")
    kinds = MultiCheckboxField("Kinds of files", choices=_choices(KIND_LABELS), default=DEFAULT_KINDS.split())
    allow_private_urls = BooleanField("Allow private addresses")
    # The presets are rows: listed when the form is made, the name checked by the service.
    preset = SelectField("Links download with", validate_choice=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.preset.choices = presets.menu()


class EditInviteForm(InviteForm):
    """An existing link: the same fields, plus on/off and removing the password."""

    password = PasswordField("New password", validators=[Length(max=MAX_PASSWORD)])
    remove_password = BooleanField("Remove the password")
    enabled = BooleanField("Link is on")


class ActionForm(FlaskForm):
    """Nothing but the CSRF token (enable, disable, delete, bulk actions)."""


# -- between the form and the service ----------------------------------------------------------------


def size_text(value: int | None) -> str:
    """Bytes as the form shows them, exactly: "2 GB", "500 MB", "1500 B" (powers of 1024)."""
    if value is None:
        return ""
    for unit, factor in (("TB", 1024**4), ("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if value % factor == 0:
            return f"{value // factor} {unit}"
    return f"{value} B"


def parse_size(text: str) -> int | None:
    """ "500 MB", "1.5 GB", "2048" (MB when no unit) -> bytes; empty -> None; ValueError when unreadable."""
    text = (text or "").strip()
    if not text:
        return None
    match = _SIZE.match(text)
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _UNITS:
        raise ValueError("Write a size such as 500 MB or 2 GB")
    size = round(float(match.group(1).replace(",", ".")) * _UNITS[unit])
    if size < 1:
        raise ValueError("A limit must be at least 1 byte; leave it empty for no limit")
    return size


def zone(name: str | None):
    """The browser's time zone, or UTC when it sent none or one this server does not know."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return timezone.utc


def parse_local_time(text: str, tz_name: str | None) -> datetime | None:
    """A datetime-local value in the browser's zone -> an aware UTC datetime; ValueError when unreadable."""
    text = (text or "").strip()
    if not text:
        return None
    for fmt in _LOCAL_FORMATS:
        try:
            naive = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return naive.replace(tzinfo=zone(tz_name)).astimezone(timezone.utc)
    raise ValueError("Pick a date and time, or leave it empty for a link that never expires")


def local_time_value(value: datetime | None) -> str:
    """An expiry as a datetime-local value in UTC (invites.js shows it in the browser's zone)."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M") if value else ""


def fill_from(form: EditInviteForm, invite) -> EditInviteForm:
    """Put the invite's values in the edit form (for showing it, before anything was posted)."""
    form.name.data = invite.name
    form.post_title.data = invite.post_title or ""
    form.expires_at.data = local_time_value(invite.expires_at)
    form.tz.data = "UTC"
    form.uses.data = "unlimited" if invite.max_uses is None else "once" if invite.max_uses == 1 else "limited"
    form.max_uses.data = str(invite.max_uses) if invite.max_uses and invite.max_uses > 1 else ""
    form.allow_uploads.data = invite.allow_uploads
    form.allow_urls.data = invite.allow_urls
    form.allow_private_urls.data = invite.allow_private_urls
    form.max_file.data = size_text(invite.max_file_bytes)
    form.max_total.data = size_text(invite.max_total_bytes)
    form.kinds.data = list(invite.kinds)
    form.preset.data = invite.preset or ""
    form.enabled.data = invite.enabled
    return form


def fields_from(form: InviteForm, invite=None) -> dict:
    """The service's fields from a posted form; each unreadable value goes on its field's errors.

    For an existing `invite`, an expiry still showing its current minute and sizes still
    showing its current value are left out: the form rounds them for display, and sending the
    rounded value back would change the invite (or refuse an expired one) though nobody edited it.
    """
    fields = {
        "name": form.name.data or "",
        "post_title": form.post_title.data or "",
        "allow_uploads": bool(form.allow_uploads.data),
        "allow_urls": bool(form.allow_urls.data),
        "allow_private_urls": bool(form.allow_private_urls.data),
        "allowed_kinds": [kind for kind in KINDS if kind in (form.kinds.data or [])],
        "preset": form.preset.data or None,
    }
    if not fields["allowed_kinds"]:
        form.kinds.errors = [*form.kinds.errors, "Pick at least one kind of file"]

    try:
        expires = parse_local_time(form.expires_at.data, form.tz.data)
    except ValueError as exc:
        form.expires_at.errors = [*form.expires_at.errors, str(exc)]
    else:
        current = invite.expires_at.replace(second=0, microsecond=0) if invite and invite.expires_at else None
        if invite is None or expires != current:
            fields["expires_at"] = expires

    if form.uses.data == "once":
        fields["max_uses"] = 1
    elif form.uses.data == "limited":
        text = (form.max_uses.data or "").strip()
        if not text.isdigit() or not 1 <= int(text) <= 1_000_000:
            form.max_uses.errors = [*form.max_uses.errors, "Enter how many times, from 1 to 1,000,000"]
        else:
            fields["max_uses"] = int(text)
    else:
        fields["max_uses"] = None

    for name, key in (("max_file", "max_file_bytes"), ("max_total", "max_total_bytes")):
        field = getattr(form, name)
        if invite is not None and (field.data or "").strip() == size_text(getattr(invite, key)):
            continue
        try:
            fields[key] = parse_size(field.data)
        except ValueError as exc:
            field.errors = [*field.errors, str(exc)]

    if isinstance(form, EditInviteForm):
        fields["enabled"] = bool(form.enabled.data)
        if form.remove_password.data:
            fields["password"] = None
        elif form.password.data:
            fields["password"] = form.password.data
    elif form.password.data:
        fields["password"] = form.password.data
    return fields


# Which form field a refusal of the service belongs next to.
FIELD_OF_ERROR = {
    "invalid_name": "name", "invalid_post_title": "post_title", "invalid_expires_at": "expires_at",
    "expires_in_past": "expires_at", "invalid_max_uses": "max_uses", "weak_password": "password",
    "invalid_password": "password", "invalid_max_file_bytes": "max_file", "invalid_max_total_bytes": "max_total",
    "invalid_allowed_kinds": "kinds", "nothing_allowed": "allow_uploads", "invalid_preset": "preset",
}

