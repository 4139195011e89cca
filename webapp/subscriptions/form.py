"""The subscription form: its fields in their groups, the posted text turned into what
webapp.services.subscriptions.manage takes, and a refusal put next to the field it is about.

The page keeps what was typed (a refusal answers the form with the same values) and checks
only what it must to build the dict (numbers, lengths); every rule is the service's, so the
page and the API refuse the same things with the same words.
"""
from __future__ import annotations

import re

from webapp.core.vocabulary import AUTO, DIRECT, ENGINES
from webapp.models.subscription import FIRST_RUN_CHOICES, FIRST_RUN_NEWEST
from webapp.services.library import presets

TEXT_FIELDS = ("name", "url", "schedule", "engine", "preset", "post_title", "published_after",
               "title_include", "title_exclude", "first_run")
NUMBER_FIELDS = ("max_items", "within_days", "first_run_count")
DURATION_FIELDS = ("min_duration", "max_duration")
CHECK_FIELDS = ("skip_live", "skip_shorts", "enabled")
FIELDS = TEXT_FIELDS + NUMBER_FIELDS + DURATION_FIELDS + CHECK_FIELDS

ENGINE_CHOICES = (AUTO, *[engine for engine in ENGINES if engine != DIRECT], DIRECT)
FIRST_RUN_LABELS = {
    "only_new": "Only items published from now on",
    "newest": "The newest few, then only new ones",
    "all": "Everything the source lists (within the filters)",
}
SCHEDULE_EXAMPLES = ("every 6 hours", "every 30 minutes", "every 1 day", "0 7 * * *")

# The field a refusal from the service is about, from its error_code; the rest go on top.
_FIELD_OF_CODE = {
    "invalid_schedule": "schedule", "schedule_too_frequent": "schedule", "invalid_url": "url",
    "invalid_name": "name", "invalid_engine": "engine", "invalid_preset": "preset",
    "invalid_filters": "filters", "invalid_first_run": "first_run", "invalid_post_title": "post_title",
    "invalid_max_items": "max_items", "invalid_published_after": "published_after",
    "invalid_title_include": "title_include", "invalid_title_exclude": "title_exclude",
}
# Where each field's own error shows: the filters share one message above their group.
GROUP_OF_FIELD = {"within_days": "filters", "min_duration": "filters", "max_duration": "filters",
                  "title_include": "filters", "title_exclude": "filters", "published_after": "filters",
                  "skip_live": "filters", "skip_shorts": "filters"}

_CLOCK = re.compile(r"^(?:(\d{1,3}):)?(\d{1,3}):(\d{1,2})$")
MAX_NUMBER = 10**7


def blank_values() -> dict:
    """A new subscription's form as it first shows."""
    return {"name": "", "url": "", "schedule": "every 6 hours", "engine": AUTO, "preset": "", "post_title": "",
            "max_items": "", "published_after": "", "within_days": "", "title_include": "", "title_exclude": "",
            "min_duration": "", "max_duration": "", "skip_live": True, "skip_shorts": False, "enabled": True,
            "first_run": FIRST_RUN_NEWEST, "first_run_count": "5"}


def values_of(subscription, schedule_text: str) -> dict:
    """An existing subscription's form."""
    def text(value) -> str:
        return "" if value is None else str(value)

    return {
        "name": subscription.name, "url": subscription.url, "schedule": schedule_text,
        "engine": subscription.engine or AUTO, "preset": subscription.preset or "",
        "post_title": text(subscription.post_title), "max_items": text(subscription.max_items),
        "published_after": subscription.published_after.isoformat() if subscription.published_after else "",
        "within_days": text(subscription.within_days), "title_include": text(subscription.title_include),
        "title_exclude": text(subscription.title_exclude), "min_duration": text(subscription.min_duration),
        "max_duration": text(subscription.max_duration), "skip_live": bool(subscription.skip_live),
        "skip_shorts": bool(subscription.skip_shorts), "enabled": bool(subscription.enabled),
        "first_run": subscription.first_run or FIRST_RUN_NEWEST, "first_run_count": text(subscription.first_run_count),
    }


def values_from(form) -> dict:
    """What was posted, as the form shows it again (text trimmed, boxes ticked or not)."""
    values = {key: (form.get(key) or "").strip() for key in TEXT_FIELDS + NUMBER_FIELDS + DURATION_FIELDS}
    values.update({key: form.get(key) in ("1", "on", "y", "true") for key in CHECK_FIELDS})
    return values


def parse_duration(text: str) -> int:
    """Seconds from "90", "1:30" or "1:02:03"; ValueError otherwise."""
    if text.isdigit():
        return int(text)
    match = _CLOCK.match(text)
    if not match:
        raise ValueError(text)
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    if seconds >= 60 or (hours and minutes >= 60):
        raise ValueError(text)
    return hours * 3600 + minutes * 60 + seconds


def data_from(values: dict) -> tuple[dict, dict[str, str]]:
    """The service's input dict from the form's values, and the page's own refusals by field."""
    errors: dict[str, str] = {}
    data: dict = {key: values[key] or None for key in TEXT_FIELDS}
    data["name"] = values["name"]
    data["url"] = values["url"]
    data["schedule"] = values["schedule"]
    data["engine"] = values["engine"] or AUTO
    if data["first_run"] not in FIRST_RUN_CHOICES:
        data["first_run"] = FIRST_RUN_NEWEST
    for key in NUMBER_FIELDS:
        text = values[key]
        if not text:
            data[key] = None
        elif text.isdigit() and 0 < int(text) <= MAX_NUMBER:
            data[key] = int(text)
        else:
            errors[key] = "Enter a whole number above 0."
    for key in DURATION_FIELDS:
        text = values[key]
        try:
            data[key] = parse_duration(text) if text else None
        except ValueError:
            errors[key] = "Enter seconds (90) or minutes and seconds (1:30)."
    for key in CHECK_FIELDS:
        data[key] = bool(values[key])
    return data, errors


def field_of(error_code: str, named: str | None = None) -> str:
    """The form field (or group) a service refusal is about: the field it names, else the one its
    error_code points at; "form" when none fits. The filters share one message for their group."""
    if named in FIELDS:
        return GROUP_OF_FIELD.get(named, named)
    if error_code in _FIELD_OF_CODE:
        return _FIELD_OF_CODE[error_code]
    if error_code.startswith("invalid_") and error_code[len("invalid_"):] in FIELDS:
        return error_code[len("invalid_"):]
    return "form"


def preset_choices() -> list[tuple[str, str]]:
    """The presets as they are now, "Default (<label>)" first (the value "")."""
    return presets.menu()
