"""Settings → Notifications (every signed-in user): their targets with their state, a target
added or changed, removed, and a test message sent from the list.

The rules are the API's (webapp/services/notifications/targets.py): a refusal comes back as the
form with the message next to its field (422). Admins see everyone's targets and may make one
hear every user's jobs and the server's events. A webhook's secret is shown once, in the answer
that made it.
"""
from __future__ import annotations

from flask import abort, current_app, make_response, request, url_for
from flask_login import login_required

from webapp.core.readable import local_datetime
from webapp.core.vocabulary import APPRISE_TARGET, NOTIFY_EVENTS, WEBHOOK_TARGET
from webapp.errors import HaulError
from webapp.extensions import limiter
from webapp.services.notifications import sending, targets
from webapp.settings import bp
from webapp.settings.forms import ConfirmForm
from webapp.views import is_htmx, redirect_with_notice, render_view, session_principal, with_toast

EXPIRED = "The form expired; reload the page and try again."
FORM_FIELDS = ("name", "kind", "url", "secret")


def _check_csrf() -> None:
    if not ConfirmForm().validate_on_submit():
        abort(400, description=EXPIRED)


def _target_or_404(target_id: int):
    try:
        return targets.get_target(target_id, session_principal())
    except HaulError:
        abort(404)


# -- the list ----------------------------------------------------------------------------------------


def _list_context(results: dict | None = None) -> dict:
    principal = session_principal()
    rows = targets.list_targets(principal, everyone=principal.is_admin)
    names = targets.owner_names(rows) if principal.is_admin else {}
    shown = [{**targets.to_dict(row, owner_name=names.get(row.owner_id)),
              "success_when": local_datetime(row.last_success_at), "error_when": local_datetime(row.last_error_at)}
             for row in rows]
    return {"rows": shown,
            "labels": targets.EVENT_LABELS, "results": results or {}, "is_admin": principal.is_admin,
            "own_id": principal.user_id}


@bp.get("/settings/notifications")
@login_required
def notifications_page():
    return render_view("settings/notifications.html", None, **_list_context())


@bp.post("/settings/notifications/<int:target_id>/delete")
@login_required
def delete_notification(target_id: int):
    _check_csrf()
    target = _target_or_404(target_id)
    name = target.name
    targets.delete_target(target_id, session_principal())
    message = f"Removed the notification target “{name}”."
    if not is_htmx():
        return redirect_with_notice(url_for("settings.notifications_page"), message)
    return with_toast(render_view("settings/_notifications_list.html", None, **_list_context()), message, "success")


@bp.post("/settings/notifications/<int:target_id>/test")
@limiter.limit(sending.TEST_LIMIT)
@login_required
def test_notification(target_id: int):
    """Send a test message now; the list comes back with the result beside the target."""
    _check_csrf()
    target = _target_or_404(target_id)
    error = sending.run_test(target, current_app.config["HAUL"].thumbnail_dir)
    text = "Test message sent." if error is None else f"Not delivered: {error}"
    results = {target_id: {"ok": error is None, "text": text}}
    level = "success" if error is None else "error"
    if not is_htmx():
        return redirect_with_notice(url_for("settings.notifications_page"), f"{target.name}: {text}", level)
    response = make_response(render_view("settings/_notifications_list.html", None, **_list_context(results)))
    return with_toast(response, f"{target.name}: {text}", level)


# -- one target: new, edit ------------------------------------------------------------------------


def _form_context(values: dict, *, target_id: int | None = None, errors: dict | None = None) -> dict:
    principal = session_principal()
    return {"values": values, "target_id": target_id, "errors": errors or {},
            "events": targets.event_choices(principal.is_admin), "is_admin": principal.is_admin,
            "kinds": [(kind, targets.KIND_LABELS[kind]) for kind in (APPRISE_TARGET, WEBHOOK_TARGET)]}


def _form_answer(context: dict, status: int = 200, message: str | None = None):
    response = make_response(render_view("settings/notification_edit.html", "settings/_notification_form.html",
                                         **context), status)
    return with_toast(response, message, "error") if message and is_htmx() else response


def _posted(is_admin: bool) -> dict:
    """The target's fields from the form (a checkbox not sent is off; the secret only when typed)."""
    form = request.form
    data = {name: (form.get(name) or "").strip() for name in FORM_FIELDS}
    if not data["secret"]:
        del data["secret"]
    data["events"] = [name for name in form.getlist("events") if name in NOTIFY_EVENTS]
    data["enabled"] = form.get("enabled") == "1"
    if is_admin:
        data["all_users"] = form.get("all_users") == "1"
    return data


def _errors_of(exc: HaulError) -> dict:
    field = exc.extra.get("field")
    return {field if field in (*FORM_FIELDS, "events") else "form": exc.detail}


@bp.get("/settings/notifications/new")
@login_required
def new_notification():
    values = {"name": "", "kind": APPRISE_TARGET, "url": "", "events": ["job_completed", "job_failed"],
              "enabled": True, "all_users": False}
    return _form_answer(_form_context(values))


@bp.post("/settings/notifications/new")
@login_required
def create_notification():
    _check_csrf()
    principal = session_principal()
    data = _posted(principal.is_admin)
    try:
        target, secret = targets.create_target(principal, data)
    except HaulError as exc:
        values = {**data, "secret": ""}
        return _form_answer(_form_context(values, errors=_errors_of(exc)), exc.status if exc.status < 500 else 422,
                            f"Not added: {exc.detail}")
    if target.kind == WEBHOOK_TARGET and secret:
        # The secret is shown this once (never stored in the flash cookie, never shown again).
        return render_view("settings/notification_created.html", "settings/_notification_created.html",
                           target=targets.to_dict(target), secret=secret)
    return redirect_with_notice(url_for("settings.notifications_page"), f"Added the notification target “{target.name}”.")


@bp.get("/settings/notifications/<int:target_id>/edit")
@login_required
def edit_notification(target_id: int):
    target = _target_or_404(target_id)
    values = targets.to_dict(target)  # the URL masked: left as it is, it is not changed
    return _form_answer(_form_context(values, target_id=target_id))


@bp.post("/settings/notifications/<int:target_id>/edit")
@login_required
def update_notification(target_id: int):
    _check_csrf()
    target = _target_or_404(target_id)
    principal = session_principal()
    data = _posted(principal.is_admin)
    if data.get("url") == targets.masked_url(target):
        del data["url"]  # the masked form shown was sent back: the URL stays
    try:
        target, _ = targets.update_target(target_id, principal, data)
    except HaulError as exc:
        values = {**data, "url": data.get("url") or targets.masked_url(target), "secret": ""}
        return _form_answer(_form_context(values, target_id=target_id, errors=_errors_of(exc)),
                            exc.status if exc.status < 500 else 422, f"Not saved: {exc.detail}")
    return redirect_with_notice(url_for("settings.notifications_page"), f"Saved the notification target “{target.name}”.")
