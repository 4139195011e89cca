"""Settings → Downloads → Download windows (admin): the rules, their time zone and a preview.

The section is one form of rule rows (days, start, end) and the zone; a row left empty is
dropped, and one empty row is always offered to add another. Saved through the runtime
settings like every other download setting (the same checks as PATCH /api/v1/settings), and
refused rows come back with the message naming the rule.
"""
from __future__ import annotations

from flask import request, url_for

from webapp.core import windows as schedule
from webapp.core.windows import DAY_NAMES, DAYS
from webapp.models.base import utcnow
from webapp.services.admin import runtime_settings, window_settings
from webapp.services.queue import windows
from webapp.settings import bp
from webapp.settings.routes import _answer, _settings_context, admin_required

_MAX_ROWS = schedule.MAX_RULES + 1


def preview(current: windows.Windows) -> str:
    """What the windows say now, in words: "Open now; closes at 07:00", "Closed now; opens Tue 01:00 (in 3 h)"."""
    if not current.enabled:
        return "No download windows: downloads start any time."
    now = utcnow()
    found = current.verdict(now)
    if found.open:
        if found.next_close is None:
            return "Open now, and always open."
        return f"Open now; closes at {schedule.describe_moment(found.next_close, now, current.zone)}."
    return (f"Closed now; opens {schedule.describe_moment(found.next_open, now, current.zone)} "
            f"(in {schedule.describe_wait((found.next_open - now).total_seconds())}).")


def _rows(rules: list[dict]) -> list[dict]:
    """The form's rows: the rules, then one empty row to add another."""
    rows = [{"days": list(rule.get("days") or []), "start": rule.get("start") or "", "end": rule.get("end") or ""}
            for rule in rules]
    if len(rows) < schedule.MAX_RULES:
        rows.append({"days": [], "start": "", "end": ""})
    return rows


@bp.app_template_global("windows_section")
def windows_section(rules: list[dict] | None = None, timezone: str | None = None, error: str | None = None) -> dict:
    """The section's context: the stored values unless the form's are given (a refused save)."""
    current = windows.current()
    return {
        "rows": _rows(rules if rules is not None else schedule.to_json(current.rules)),
        "timezone": timezone if timezone is not None else current.zone_name,
        "server_zone": window_settings.server_zone(),
        "preview": preview(current),
        "description": current.describe() if current.enabled else None,
        "error": error,
        "days": list(zip(DAYS, DAY_NAMES)),
    }


def _posted_rules() -> tuple[list[dict], int | None]:
    """The rules the form sent (empty rows dropped) and the row its Remove button named."""
    remove = request.form.get("remove", type=int)
    rules = []
    for index in range(min(request.form.get("rows", 0, type=int), _MAX_ROWS)):
        rule = {"days": request.form.getlist(f"rule-{index}-days"),
                "start": (request.form.get(f"rule-{index}-start") or "").strip(),
                "end": (request.form.get(f"rule-{index}-end") or "").strip()}
        if index == remove or not (rule["days"] or rule["start"] or rule["end"]):
            continue
        rules.append(rule)
    return rules, remove


@bp.post("/settings/windows")
@admin_required
def save_windows():
    rules, _removed = _posted_rules()
    zone_name = (request.form.get("timezone") or "").strip()
    try:
        changed = runtime_settings.save({window_settings.WINDOWS: rules, window_settings.TIMEZONE: zone_name})
    except runtime_settings.SettingsInvalid as exc:
        message = "; ".join(exc.errors.values())
        section = windows_section(rules, zone_name, error=message)
        return _answer("settings/index.html", "settings/_windows.html", {**_settings_context(), "windows": section},
                       status=422, message="Not saved: " + message, level="error")
    message = "Saved; jobs start by the new windows." if changed else "Saved (nothing changed)."
    return _answer("settings/index.html", "settings/_windows.html",
                   {**_settings_context(), "windows": windows_section()}, message=message,
                   redirect_to=url_for("settings.index") + "#windows")
