"""The admin's invite links page: list, search and sort; create, edit, switch on and off, delete
(one or several); copy a link, its QR code, its details.

As the settings pages do, every form works with and without htmx. With htmx a change answers
the list's partial (or the form's, 422 with the refusals inline) and a toast; without it a
success redirects back with a notice. Edit, QR code and details open in a <dialog> with htmx
and are pages of their own without it. Everyone but an admin gets the friendly 403.
"""
from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from webapp.core.readable import human_bytes
from webapp.errors import Invalid
from webapp.extensions import db
from webapp.invites import bp
from webapp.invites.forms import (
    FIELD_OF_ERROR,
    KIND_LABELS,
    ActionForm,
    EditInviteForm,
    InviteForm,
    fields_from,
    fill_from,
)
from webapp.models import Invite, User
from webapp.services.guests import invites
from webapp.settings.routes import admin_required
from webapp.views import is_htmx, render_view, with_toast

PER_PAGE = 50
EXPIRED_FORM = "The form expired; reload the page and try again."


# -- the list's view: search, order, page -----------------------------------------------------------


@dataclass
class ListView:
    q: str = ""
    sort: str = "created"
    order: str = "desc"
    page: int = 1

    @classmethod
    def from_values(cls, values) -> "ListView":
        """From the query string or, for a change, the filter fields htmx sends along with it;
        values that make no sense fall back to the defaults (a URL can say anything)."""
        sort = values.get("sort") if values.get("sort") in invites.SORTS else "created"
        order = values.get("order") if values.get("order") in invites.ORDERS else invites.SORTS[sort]
        page = values.get("page", "1")
        page = int(page) if page.isdigit() and 0 < int(page) <= 10**6 else 1
        return cls(" ".join((values.get("q") or "").split())[:invites.MAX_SEARCH], sort, order, page)

    def args(self, **changes) -> dict:
        """The query string of this view (with changes), defaults left out to keep URLs short."""
        view = {"q": self.q, "sort": self.sort, "order": self.order, "page": self.page, **changes}
        if view["order"] == invites.SORTS.get(view["sort"]):
            view.pop("order")
        if view["sort"] == "created":
            view.pop("sort")
        return {key: value for key, value in view.items() if value not in ("", None, 1)}

    def sorted_by(self, sort: str) -> dict:
        """The args for a column heading: its own order, or the other way when already sorted by it."""
        if sort == self.sort:
            return self.args(sort=sort, order="asc" if self.order == "desc" else "desc", page=1)
        return self.args(sort=sort, order=invites.SORTS[sort], page=1)


def _rows(view: ListView) -> tuple[list[dict], int, ListView]:
    rows, total = invites.list_invites(view.q, view.sort, view.order, (view.page - 1) * PER_PAGE, PER_PAGE)
    last = max(1, math.ceil(total / PER_PAGE))
    if view.page > last:  # after a delete emptied the last page: show the one before
        view.page = last
        rows, total = invites.list_invites(view.q, view.sort, view.order, (last - 1) * PER_PAGE, PER_PAGE)
    invites.sync_token_hashes(rows)
    stats = invites.totals([row.id for row in rows])
    return [_row(invite, stats[invite.id]) for invite in rows], total, view


def _row(invite: Invite, stats: invites.InviteTotals) -> dict:
    return {"invite": invite, "state": invites.state_of(invite), "stats": stats, "url": invites.link_for(invite)}


def _list_context(view: ListView | None = None, *, new_id: int | None = None, changed_ids=(),
                  create_form: InviteForm | None = None, create_open: bool | None = None) -> dict:
    view = view or ListView.from_values(request.values)
    rows, total, view = _rows(view)
    return {
        "rows": rows, "total": total, "view": view, "pages": max(1, math.ceil(total / PER_PAGE)),
        "new_id": new_id, "changed_ids": set(changed_ids),
        "create_form": create_form or InviteForm(formdata=None, prefix="new"),
        # Open when there is nothing yet to list, or when the form came back with refusals.
        "create_open": create_open if create_open is not None else (total == 0 and not view.q),
        "action_form": ActionForm(formdata=None),
        "sorts": invites.SORTS, "kind_labels": KIND_LABELS,
    }


def _answer_list(message: str, level: str = "success", status: int = 200, **context):
    """The list's partial and a toast (htmx), or back to the page with a notice."""
    if not is_htmx():
        flash(message, level)
        return redirect(url_for("invites.index"))
    response = make_response(render_template("invites/_list.html", **_list_context(**context)), status)
    return with_toast(response, message, level)


def _invite_or_404(invite_id: int) -> Invite:
    return invites.get_invite(invite_id)  # NotFound: the friendly 404 (a toast for htmx)


def _check_csrf() -> None:
    if not ActionForm().validate_on_submit():
        abort(400, description=EXPIRED_FORM)


# -- the page -----------------------------------------------------------------------------------------


@bp.get("/invites")
@admin_required
def index():
    """The page; the search form, the headings and the page links (htmx) get the list alone."""
    new_id = request.args.get("new", "")
    context = _list_context(ListView.from_values(request.args), new_id=int(new_id) if new_id.isdigit() else None)
    return render_view("invites/index.html", "invites/_list.html", **context)


def _refusal_on_form(form: InviteForm, exc: Invalid) -> None:
    field = getattr(form, FIELD_OF_ERROR.get(exc.error_code, "name"))
    field.errors = [*field.errors, exc.detail]


@bp.post("/invites")
@admin_required
def create():
    form = InviteForm(prefix="new")
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400, description=EXPIRED_FORM)
        fields = None
    else:
        fields = fields_from(form)
    if fields is not None and not form.errors:
        try:
            invite = invites.create_invite(current_user.id, fields)
        except Invalid as exc:
            _refusal_on_form(form, exc)
        else:
            message = f"Created the invite link “{invite.name}”."
            if not is_htmx():
                flash(message, "success")
                return redirect(url_for("invites.index", new=invite.id) + f"#invite-{invite.id}")
            # The default view, so the new link is the first row, highlighted and scrolled to.
            context = _list_context(ListView(), new_id=invite.id)
            response = make_response(render_template("invites/_manage.html", **context))
            response.headers["HX-Replace-Url"] = url_for("invites.index")
            return with_toast(response, message, "success")
    context = _list_context(create_form=form, create_open=True)
    response = make_response(render_view("invites/index.html", "invites/_manage.html", **context), 422)
    return with_toast(response, "Invite not created: check the form.", "error") if is_htmx() else response


# -- one invite: details, QR code, edit -----------------------------------------------------------------


def _details(invite: Invite) -> dict:
    stats = invites.totals([invite.id])[invite.id]
    creator = db.session.get(User, invite.created_by) if invite.created_by else None
    return {"row": _row(invite, stats), "creator": creator, "kind_labels": KIND_LABELS}


@bp.get("/invites/<int:invite_id>")
@admin_required
def details(invite_id: int):
    invite = _invite_or_404(invite_id)
    invites.sync_token_hashes([invite])
    return render_view("invites/detail.html", "invites/_details.html", **_details(invite))


def _qr(invite: Invite) -> "segno.QRCode":  # noqa: F821
    # Imported here: only the QR dialog needs it, so the web process does not load it at start.
    import segno

    # Medium error correction: readable off a slightly smudged print or a dim phone screen.
    return segno.make(invites.link_for(invite), error="m")


@bp.get("/invites/<int:invite_id>/qr")
@admin_required
def qr_code(invite_id: int):
    invite = _invite_or_404(invite_id)
    invites.sync_token_hashes([invite])
    svg = _qr(invite).svg_inline(scale=4, border=4, omitsize=True, svgclass="qr-code", dark="#000", light="#fff",
                                 title=f"QR code of the invite link {invite.name}")
    return render_view("invites/qr.html", "invites/_qr.html", invite=invite, svg=svg, url=invites.link_for(invite))


@bp.get("/invites/<int:invite_id>/qr.svg")
@admin_required
def qr_svg(invite_id: int):
    """The QR code as a file to print or share (no cache: it is as secret as the link)."""
    invite = _invite_or_404(invite_id)
    invites.sync_token_hashes([invite])
    svg = io.BytesIO()  # a file of its own: with the XML declaration and the SVG namespace
    _qr(invite).save(svg, kind="svg", scale=10, border=4, dark="#000", light="#fff",
                     title=f"QR code of the invite link {invite.name}")
    response = make_response(svg.getvalue())
    response.headers["Content-Type"] = "image/svg+xml"
    response.headers["Content-Disposition"] = f'attachment; filename="invite-{invite.id}-qr.svg"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _edit_answer(invite: Invite, form: EditInviteForm, status: int = 200, message: str | None = None):
    page = render_view("invites/edit.html", "invites/_edit.html", invite=invite, form=form,
                       has_password=invite.password_hash is not None)
    response = make_response(page, status)
    return with_toast(response, message, "error") if message and is_htmx() else response


@bp.get("/invites/<int:invite_id>/edit")
@admin_required
def edit(invite_id: int):
    invite = _invite_or_404(invite_id)
    return _edit_answer(invite, fill_from(EditInviteForm(formdata=None, prefix="edit"), invite))


@bp.post("/invites/<int:invite_id>")
@admin_required
def save(invite_id: int):
    invite = _invite_or_404(invite_id)
    form = EditInviteForm(prefix="edit")
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400, description=EXPIRED_FORM)
        return _edit_answer(invite, form, 422, "Not saved: check the form.")
    fields = fields_from(form, invite)
    if not form.errors:
        try:
            invites.update_invite(invite, fields)
        except Invalid as exc:
            _refusal_on_form(form, exc)
    if form.errors:
        return _edit_answer(invite, form, 422, "Not saved: check the form.")
    message = f"Saved “{invite.name}”."
    if not is_htmx():
        flash(message, "success")
        return redirect(url_for("invites.index") + f"#invite-{invite.id}")
    # The form was in the dialog: the answer goes to the list instead, and the dialog closes.
    response = make_response(render_template("invites/_list.html", **_list_context(changed_ids=[invite.id])))
    response.headers["HX-Retarget"] = "#invite-list"
    response.headers["HX-Reswap"] = "outerHTML"
    response.headers["HX-Trigger"] = json.dumps({"invites:saved": {"id": invite.id}})
    return with_toast(response, message, "success")


# -- switching on and off, deleting -----------------------------------------------------------------


@bp.post("/invites/<int:invite_id>/enabled")
@admin_required
def set_enabled(invite_id: int):
    _check_csrf()
    invite = _invite_or_404(invite_id)
    enabled = request.form.get("enabled") == "1"
    invites.set_enabled([invite], enabled)
    verb = "on" if enabled else "off"
    return _answer_list(f"“{invite.name}” is {verb}.", changed_ids=[invite.id])


def _confirm_page(selected: list[Invite]):
    """Without JavaScript there is no confirm(): ask on a page of its own first."""
    return render_template("invites/confirm_delete.html", selected=selected, action_form=ActionForm(formdata=None))


@bp.post("/invites/<int:invite_id>/delete")
@admin_required
def delete(invite_id: int):
    _check_csrf()
    invite = _invite_or_404(invite_id)
    if not is_htmx() and request.form.get("confirmed") != "1":
        return _confirm_page([invite])
    name = invite.name
    invites.delete_invite(invite)
    return _answer_list(f"Deleted “{name}”. What guests sent stays in the library.")


BULK_ACTIONS = ("enable", "disable", "delete")


@bp.post("/invites/bulk")
@admin_required
def bulk():
    """One action for every ticked row: switch on, switch off, or delete."""
    _check_csrf()
    action = request.form.get("action")
    if action not in BULK_ACTIONS:
        return _answer_list("Choose enable, disable or delete.", "error", 422)
    ids = [int(value) for value in request.form.getlist("ids") if value.isdigit()]
    selected = invites.invites_by_ids(ids)
    if not selected:
        return _answer_list("Tick at least one invite link first.", "error", 422)
    count = len(selected)
    noun = "invite link" if count == 1 else "invite links"
    if action == "delete":
        if not is_htmx() and request.form.get("confirmed") != "1":
            return _confirm_page(selected)
        invites.delete_invites(selected)
        return _answer_list(f"Deleted {count} {noun}. What guests sent stays in the library.")
    enabled = action == "enable"
    changed = invites.set_enabled(selected, enabled)
    state = "on" if enabled else "off"
    message = f"Switched {changed} {noun if changed == 1 else 'invite links'} {state}." if changed \
        else f"The {noun} {'was' if count == 1 else 'were'} already {state}."
    return _answer_list(message, changed_ids=[invite.id for invite in selected])


# -- helpers for the templates ----------------------------------------------------------------------------


@bp.app_template_filter("invite_size")
def invite_size(value: int | None) -> str:
    return "No limit" if value is None else human_bytes(value)
