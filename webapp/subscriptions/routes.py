"""The subscriptions pages: the list, the form (new and edit, with a live preview), one
subscription with its run history, and the actions (on/off, check now, forget, delete).

Routes parse, call webapp.services.subscriptions (manage.py keeps subscriptions, runs.py runs
them) with the signed-in person's Principal, and render; the services decide who may see what.
Someone else's subscription is a 404 from `manage.get_visible`, never a 403, so ids tell
nothing. Every POST carries the CSRF token (Flask-WTF checks each one: the layout's htmx header,
or the form's hidden field). Guests of an invite link are not signed in, so they never get here.
"""
from __future__ import annotations

import math
from datetime import UTC, datetime

from flask import flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from webapp.core.vocabulary import FINISHED_STATUSES
from webapp.errors import HaulError, Invalid
from webapp.extensions import db
from webapp.models import Job, User
from webapp.services.queue import dispatch
from webapp.services.queue import events as queue_events
from webapp.services.subscriptions import manage, runs
from webapp.subscriptions import bp, display
from webapp.subscriptions import form as sub_form
from webapp.subscriptions.stream import subscription_event_stream
from webapp.views import is_htmx, redirect_with_notice, render_view, session_principal, with_toast

PER_PAGE = 50
RUNS_PER_PAGE = 20


def _page_arg() -> int:
    page = request.args.get("page", "1")
    return int(page) if page.isdigit() and 0 < int(page) <= 10**6 else 1


def _visible(subscription_id: int):
    return manage.get_visible(subscription_id, session_principal())  # NotFound for anyone else's


def _now() -> datetime:
    return datetime.now(UTC)


# -- the list --------------------------------------------------------------------------------------

def _card(subscription, owners: dict[int, str], now: datetime) -> dict:
    """What one subscription's card shows."""
    summary = manage.summary(subscription)
    result, tone = display.last_result(summary.get("last_run"))
    return {
        "sub": subscription, "summary": summary, "result": result, "tone": tone,
        "spark": display.sparkline(summary.get("recent") or []),
        # The model's datetime: the summary's next_run is its ISO text, for the API.
        "next_run": subscription.next_run_at if subscription.enabled else None,
        "next_relative": display.relative(subscription.next_run_at, now) if subscription.enabled else "",
        "owner": owners.get(subscription.user_id) if current_user.is_admin else None,
    }


def _owners(subscriptions) -> dict[int, str]:
    ids = {sub.user_id for sub in subscriptions if sub.user_id is not None}
    if not ids or not current_user.is_admin:
        return {}
    return dict(db.session.execute(select(User.id, User.username).where(User.id.in_(ids))).all())


def _card_of(subscription) -> dict:
    return _card(subscription, _owners([subscription]), _now())


@bp.get("/subscriptions")
@login_required
def index():
    """The person's subscriptions (an admin's: everyone's, with the owner's name)."""
    page = _page_arg()
    subscriptions, total = manage.list_for(session_principal(), page=page, per_page=PER_PAGE)
    owners, now = _owners(subscriptions), _now()
    return render_template("subscriptions/index.html", cards=[_card(sub, owners, now) for sub in subscriptions],
                           total=total, page=page, pages=max(1, math.ceil(total / PER_PAGE)))


# -- the form: new, edit, preview ------------------------------------------------------------------

def _form_page(values: dict, *, subscription=None, errors: dict | None = None, preview=None,
               preview_error: str | None = None, status: int = 200):
    context = {"values": values, "subscription": subscription, "errors": errors or {}, "preview": preview,
                   "preview_error": preview_error, "engines": sub_form.ENGINE_CHOICES, "presets": sub_form.preset_choices(),
                   "first_runs": sub_form.FIRST_RUN_LABELS, "examples": sub_form.SCHEDULE_EXAMPLES}
    return make_response(render_view("subscriptions/form.html", "subscriptions/_form.html", **context), status)


def _refused(values: dict, errors: dict, subscription=None):
    response = _form_page(values, subscription=subscription, errors=errors, status=422)
    return with_toast(response, "Not saved: check the form.", "error") if is_htmx() else response


def _service_errors(exc: Invalid) -> dict[str, str]:
    return {sub_form.field_of(exc.error_code, exc.extra.get("field")): exc.detail}


def _saved(subscription, message: str):
    return _to_detail(subscription.id, message)


def _to_detail(subscription_id: int, message: str):
    """To the subscription's page with `message` shown there."""
    return redirect_with_notice(url_for("subscriptions.detail", subscription_id=subscription_id), message)


@bp.get("/subscriptions/new")
@login_required
def new():
    values = sub_form.blank_values()
    if request.args.get("url"):
        values["url"] = request.args["url"].strip()[:2000]
    return _form_page(values)


@bp.post("/subscriptions/new")
@login_required
def create():
    values = sub_form.values_from(request.form)
    data, errors = sub_form.data_from(values)
    if errors:
        return _refused(values, errors)
    try:
        subscription = manage.create(data, session_principal())
    except Invalid as exc:
        return _refused(values, _service_errors(exc))
    return _saved(subscription, f"Subscribed to “{subscription.name}”.")


@bp.get("/subscriptions/<int:subscription_id>/edit")
@login_required
def edit(subscription_id: int):
    subscription = _visible(subscription_id)
    schedule_text = runs.schedule_of(subscription).text
    return _form_page(sub_form.values_of(subscription, schedule_text), subscription=subscription)


@bp.post("/subscriptions/<int:subscription_id>/edit")
@login_required
def save(subscription_id: int):
    subscription = _visible(subscription_id)
    values = sub_form.values_from(request.form)
    data, errors = sub_form.data_from(values)
    if errors:
        return _refused(values, errors, subscription)
    try:
        manage.update(subscription, data, session_principal())
    except Invalid as exc:
        db.session.rollback()
        return _refused(values, _service_errors(exc), _visible(subscription_id))
    return _saved(subscription, f"Saved “{subscription.name}”.")


@bp.post("/subscriptions/preview")
@login_required
def preview():
    """What the form's subscription would fetch now: the worker lists the source (seconds)."""
    values = sub_form.values_from(request.form)
    data, errors = sub_form.data_from(values)
    result, problem = None, None
    subscription_id = request.form.get("subscription_id", "")
    subscription = _visible(int(subscription_id)) if subscription_id.isdigit() else None
    if errors:
        problem = "Fix the form first: " + " ".join(errors.values())
    else:
        try:
            result = manage.preview(data, session_principal(), subscription)
        except Invalid as exc:
            problem = exc.detail
            errors = _service_errors(exc)
        except dispatch.ListingFailed as exc:  # the service says it as listing_failed; in case it does not
            problem = f"The source could not be listed: {exc}"
    if is_htmx():
        return render_template("subscriptions/_preview.html", preview=result, preview_error=problem)
    # Without JavaScript the Preview button posts the whole form: answer it with the preview in it.
    return _form_page(values, subscription=subscription, errors=errors, preview=result, preview_error=problem)


# -- one subscription ------------------------------------------------------------------------------

def _run_links(page_runs) -> dict[int, str]:
    """Each run's collection job: its history entry when finished, else its row in the queue."""
    job_ids = [run.job_id for run in page_runs if run.job_id]
    if not job_ids:
        return {}
    statuses = dict(db.session.execute(select(Job.id, Job.status).where(Job.id.in_(job_ids))).all())
    links = {}
    for job_id, status in statuses.items():
        if status in FINISHED_STATUSES:
            links[job_id] = url_for("history.show_entry", job_id=job_id)
        else:
            links[job_id] = url_for("queue.index") + f"#job-{job_id}"
    return links


def _live_context(subscription, page: int) -> dict:
    """The parts of the detail page a run event redraws: the summary and the run history."""
    page_runs, total = manage.runs_of(subscription, page=page, per_page=RUNS_PER_PAGE)
    return {
        "card": _card_of(subscription), "runs": page_runs, "runs_total": total, "runs_page": page,
        "runs_pages": max(1, math.ceil(total / RUNS_PER_PAGE)), "job_links": _run_links(page_runs),
        "duration_of": display.run_duration,
    }


@bp.get("/subscriptions/<int:subscription_id>")
@login_required
def detail(subscription_id: int):
    subscription = _visible(subscription_id)
    context = _live_context(subscription, _page_arg())
    context["last_event_id"] = queue_events.latest_event_id()
    return render_view("subscriptions/detail.html", "subscriptions/_live.html", sub=subscription, **context)


@bp.get("/subscriptions/<int:subscription_id>/runs")
@login_required
def run_history(subscription_id: int):
    """The summary and the run table again (a run event arrived, or another page of runs)."""
    subscription = _visible(subscription_id)
    return render_template("subscriptions/_live.html", sub=subscription,
                           **_live_context(subscription, _page_arg()))


@bp.get("/subscriptions/<int:subscription_id>/events")
@login_required
def events(subscription_id: int):
    """Server-Sent Events: a "run" event each time a run of this subscription changes."""
    subscription = _visible(subscription_id)
    last_id = request.headers.get("Last-Event-ID") or request.args.get("last_event_id")
    last_id = int(last_id) if last_id and last_id.isdigit() else None
    return subscription_event_stream(current_user._get_current_object(), subscription.id, last_id)


# -- actions ---------------------------------------------------------------------------------------

@bp.post("/subscriptions/<int:subscription_id>/enabled")
@login_required
def toggle(subscription_id: int):
    """Switch the schedule on or off (enabled=1 / 0); answers the card, or back to the list."""
    subscription = _visible(subscription_id)
    enabled = request.form.get("enabled") == "1"
    manage.set_enabled(subscription, enabled)
    message = f"“{subscription.name}” is {'on' if enabled else 'off'}"
    if not is_htmx():
        flash(message, "success")
        return redirect(request.referrer if _same_site(request.referrer) else url_for("subscriptions.index"))
    return with_toast(render_template("subscriptions/_card.html", card=_card_of(subscription)), message, "success")


def _same_site(referrer: str | None) -> bool:
    return bool(referrer) and referrer.startswith(request.host_url)


def _check_message(run) -> tuple[str, str]:
    if run.status == "skipped":
        going = runs.active_run(run.subscription_id)
        if going is not None:
            return f"Skipped: run #{going.id} is still going", "warning"
        return "Skipped: the previous run is still going", "warning"
    return f"Checking… run #{run.id} started", "success"


@bp.post("/subscriptions/<int:subscription_id>/check")
@login_required
def check_now(subscription_id: int):
    """Start a run now; while one is going, the new one is recorded as skipped and said so."""
    subscription = _visible(subscription_id)
    try:
        run = runs.run_now(subscription)
    except HaulError as exc:
        db.session.rollback()
        if is_htmx():
            return with_toast(render_template("subscriptions/_check.html", message=exc.detail, level="error"),
                              exc.detail, "error")
        flash(exc.detail, "error")
        return redirect(url_for("subscriptions.detail", subscription_id=subscription_id))
    message, level = _check_message(run)
    if is_htmx():
        return render_template("subscriptions/_check.html", message=message, level=level, run=run)
    flash(message, level)
    return redirect(url_for("subscriptions.detail", subscription_id=subscription_id))


@bp.post("/subscriptions/<int:subscription_id>/forget")
@login_required
def forget(subscription_id: int):
    """Forget the items this subscription has seen: its next run may fetch them again."""
    subscription = _visible(subscription_id)
    count = manage.forget(subscription, everything=True)
    return _to_detail(subscription_id,
                      f"Forgot {count} seen item{'s' if count != 1 else ''}: the next check may fetch them again.")


@bp.post("/subscriptions/<int:subscription_id>/delete")
@login_required
def delete(subscription_id: int):
    """Delete the subscription; its downloaded files stay unless files=delete."""
    subscription = _visible(subscription_id)
    name = subscription.name
    delete_files = request.form.get("files") == "delete"
    manage.delete(subscription, delete_files=delete_files)
    message = f"Deleted the subscription “{name}”" + (" and its files." if delete_files else "; its files are kept.")
    return redirect_with_notice(url_for("subscriptions.index"), message)
