"""Settings (admin), the signed-in person's account, users (admin) and API tokens.

Every form works with and without htmx. With htmx the answer is the section's partial (422
with inline errors when refused) and a toast; without it a success redirects back with a
notice and a refusal shows the whole page with the inline errors. Admin pages answer a
friendly 403 to others; /settings sends them to their account instead of a dead end.
"""
from __future__ import annotations

import shutil
from functools import wraps

from flask import abort, current_app, flash, make_response, redirect, request, url_for
from flask_login import current_user, login_required, login_user
from sqlalchemy import func, select

from webapp.core import tool_allowlist
from webapp.core.byte_sizes import short_size
from webapp.core.vocabulary import GALLERY_DL, YTDLP
from webapp.errors import HaulError, Invalid
from webapp.extensions import db
from webapp.models import ApiToken, JobFile, User
from webapp.services.accounts import identity as accounts
from webapp.services.accounts import user_admin as users
from webapp.services.admin import cookie_access, cookies, limits_settings, runtime_settings
from webapp.services.queue import disk_guard
from webapp.settings import bp
from webapp.settings.forms import (
    TOKEN_ACCESS,
    AccessForm,
    ConfirmForm,
    CookiesForm,
    DownloadsForm,
    LimitsForm,
    NewTokenForm,
    NewUserForm,
    PasswordChangeForm,
    ResetPasswordForm,
    RoleForm,
    ToolArgsForm,
)
from webapp.views import is_htmx, render_view, with_toast

DOWNLOAD_KEYS = (runtime_settings.CONCURRENCY, runtime_settings.TIMEOUT, runtime_settings.ENGINE, runtime_settings.PRESET,
                 runtime_settings.SUBSCRIPTION_MIN_INTERVAL)
# The download settings typed as numbers: the form shows them as text.
_NUMBER_KEYS = (runtime_settings.CONCURRENCY, runtime_settings.TIMEOUT, runtime_settings.SUBSCRIPTION_MIN_INTERVAL)
TOOL_KEYS = (runtime_settings.GALLERY_DL_ARGS, runtime_settings.YTDLP_ARGS)
ACCESS_KEYS = (runtime_settings.PRIVATE_FOR_USERS, runtime_settings.MAX_STREAMS)
LIMIT_KEYS = limits_settings.KEYS  # bandwidth limits and the disk guard (Settings → Downloads)
SECTION_KEYS = {"downloads": DOWNLOAD_KEYS, "tools": TOOL_KEYS, "access": ACCESS_KEYS}
SECTION_KEYS["limits"] = LIMIT_KEYS
ALLOWED_SWITCHES = {
    YTDLP: sorted(tool_allowlist.YTDLP_SWITCHES),
    GALLERY_DL: tool_allowlist.gallery_dl_switches(),
    f"{GALLERY_DL} -o": sorted(tool_allowlist.GALLERY_DL_KEYS),
}


def admin_required(view):
    """Signed in and an admin, else a friendly 403 page (or a toast for htmx)."""

    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not current_user.is_admin:
            abort(403, description="Only an admin can open this page. Your own account and API tokens are under "
                                   "the account menu.")
        return view(*args, **kwargs)

    return wrapped


def _answer(page: str, partial: str, context: dict, *, message: str | None = None, level: str = "success",
            status: int = 200, redirect_to: str | None = None):
    """Page or fragment for this request, with the outcome as a toast (htmx) or a notice.

    A plain-form success with `redirect_to` redirects there (so a reload does not resend).
    """
    if not is_htmx() and redirect_to and status < 400:
        if message:
            flash(message, "success" if level == "success" else level)
        return redirect(redirect_to)
    response = make_response(render_view(page, partial, **context), status)
    if message and is_htmx():
        response = with_toast(response, message, level)
    return response


# Settings (admin) ------------------------------------------------------------------------------


def _downloads_form(effective, formdata=None) -> DownloadsForm:
    form = DownloadsForm(formdata=formdata, prefix="dl")
    if formdata is None:
        for key in DOWNLOAD_KEYS:
            getattr(form, key).data = str(effective.get(key)) if key in _NUMBER_KEYS else effective.get(key)
    return form


def _tools_form(effective, formdata=None) -> ToolArgsForm:
    form = ToolArgsForm(formdata=formdata, prefix="tools")
    if formdata is None:
        for key in TOOL_KEYS:
            getattr(form, key).data = effective.get(key)
        # A value saved before the allowlist refused it is shown as it is, marked: jobs don't use it.
        for key, message in runtime_settings.refused_tool_args(effective).items():
            getattr(form, key).errors = [f"Not in use: {message}. Jobs use the default until this is changed."]
    return form


def _limits_form(effective, formdata=None) -> LimitsForm:
    form = LimitsForm(formdata=formdata, prefix="limits")
    if formdata is None:  # sizes as people type them: 2147483648 shows as 2G
        for key in LIMIT_KEYS:
            value = effective.get(key)
            getattr(form, key).data = short_size(value) if key in limits_settings.SIZE_KEYS else str(value)
    return form


def _access_form(effective, formdata=None) -> AccessForm:
    form = AccessForm(formdata=formdata, prefix="access")
    if formdata is None:
        form.users_private_addresses.data = effective.users_private_addresses
        form.max_streams.data = str(effective.max_streams)
    return form


def _storage() -> dict:
    settings = current_app.config["HAUL"]
    root = settings.storage_root
    info = {"root": str(root), "files": 0, "library_bytes": 0, "total": None, "used": None, "free": None}
    count, size = db.session.execute(select(func.count(JobFile.id), func.coalesce(func.sum(JobFile.size), 0))).one()
    info.update(files=count, library_bytes=size)
    try:
        usage = shutil.disk_usage(root)
    except OSError:
        return info
    info.update(total=usage.total, used=usage.used, free=usage.free)
    info["used_percent"] = round(100 * usage.used / usage.total) if usage.total else 0
    return info


def _settings_context(**forms) -> dict:
    settings = current_app.config["HAUL"]
    effective = runtime_settings.current(settings)
    context = {
        "effective": effective,
        "env_defaults": runtime_settings.defaults(settings),
        "env_names": runtime_settings.ENV_NAMES,
        "max_concurrency": runtime_settings.max_concurrency(settings),
        "concurrency_shared": runtime_settings.shared_by_hosts(settings),
        "worker_type": settings.worker_type,
        "downloads_form": forms.get("downloads_form") or _downloads_form(effective),
        "tools_form": forms.get("tools_form") or _tools_form(effective),
        "access_form": forms.get("access_form") or _access_form(effective),
        "limits_form": forms.get("limits_form") or _limits_form(effective),
        "disk_guard": disk_guard.state(),
        "cookies_form": forms.get("cookies_form") or CookiesForm(formdata=None, prefix="cookies"),
        "cookie_files": cookies.list_files(settings.data_dir),
        "cookie_access": cookie_access.all_access(),
        "default_access": cookie_access.Access(),
        "cookie_users": db.session.scalars(select(User).where(User.role == "user").order_by(User.username)).all(),
        "access_error": forms.get("access_error"),
        "allowed_switches": ALLOWED_SWITCHES,
        "confirm_form": ConfirmForm(formdata=None),
        "storage": _storage(),
    }
    return context


@bp.get("/settings")
@login_required
def index():
    if not current_user.is_admin:
        # Nothing here is theirs to change: their own settings are the account pages.
        return redirect(url_for("settings.account"))
    return render_view("settings/index.html", None, **_settings_context())


def _save(form, form_name: str, partial: str, values: dict):
    """Store `values`; the section again with the saved values, or with each refusal inline."""
    try:
        changed = runtime_settings.save(values)
    except runtime_settings.SettingsInvalid as exc:
        for key, message in exc.errors.items():
            getattr(form, key).errors = [*getattr(form, key).errors, message]
        context = _settings_context(**{form_name: form})
        return _answer("settings/index.html", partial, context, status=422,
                       message="Not saved: " + "; ".join(exc.errors.values()), level="error")
    message = "Saved; the next job uses it." if changed else "Saved (nothing changed)."
    return _answer("settings/index.html", partial, _settings_context(), message=message,
                   redirect_to=url_for("settings.index") + f"#{form_name.replace('_form', '')}")


def _save_section(make_form, form_name: str, partial: str, keys, empty=None):
    """Check one section's form and store its values; refused fields come back inline."""
    form = make_form(runtime_settings.current(), request.form)
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400, description="The form expired; reload the page and try again.")
        return _answer("settings/index.html", partial, _settings_context(**{form_name: form}),
                       status=422, message="Not saved: check the highlighted fields.", level="error")
    values = {key: getattr(form, key).data if empty is None else getattr(form, key).data or empty for key in keys}
    return _save(form, form_name, partial, values)


@bp.post("/settings/downloads")
@admin_required
def save_downloads():
    return _save_section(_downloads_form, "downloads_form", "settings/_downloads.html", DOWNLOAD_KEYS)


@bp.post("/settings/tools")
@admin_required
def save_tools():
    return _save_section(_tools_form, "tools_form", "settings/_tools.html", TOOL_KEYS, empty="")


@bp.post("/settings/limits")
@admin_required
def save_limits():
    return _save_section(_limits_form, "limits_form", "settings/_limits.html", LIMIT_KEYS)


@bp.post("/settings/access")
@admin_required
def save_access():
    return _save_section(_access_form, "access_form", "settings/_access.html", ACCESS_KEYS)


@bp.post("/settings/<any(downloads, tools, access, limits):section>/reset")
@admin_required
def reset_section(section):
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400, description="The form expired; reload the page and try again.")
    changed = runtime_settings.reset(SECTION_KEYS[section])
    message = "Back to the defaults from the environment." if changed else "Already the defaults."
    return _answer("settings/index.html", f"settings/_{section}.html", _settings_context(), message=message,
                   redirect_to=url_for("settings.index") + f"#{section}")


@bp.post("/settings/cookies")
@admin_required
def upload_cookies():
    form = CookiesForm(prefix="cookies")
    settings = current_app.config["HAUL"]
    if form.validate_on_submit():
        try:
            stored = cookie_access.store(settings.data_dir, form.file.data.read(cookies.MAX_BYTES + 1), form.site.data)
        except HaulError as exc:
            target = form.site if exc.error_code == "invalid_site" else form.file
            target.errors = [*target.errors, exc.detail]
        else:
            message = (f"Cookies for {stored.site} saved ({stored.cookies} cookies). "
                       f"Used by: {cookie_access.access_of(stored.site).label()}.")
            return _answer("settings/index.html", "settings/_cookies.html", _settings_context(), message=message,
                           redirect_to=url_for("settings.index") + "#cookies")
    elif form.csrf_token.errors:
        abort(400, description="The form expired; reload the page and try again.")
    return _answer("settings/index.html", "settings/_cookies.html", _settings_context(cookies_form=form),
                   status=422, message="Cookies not saved: check the form.", level="error")


@bp.post("/settings/cookies/<site>/delete")
@admin_required
def delete_cookies(site):
    if not ConfirmForm().validate_on_submit():
        abort(400, description="The form expired; reload the page and try again.")
    try:
        cookie_access.remove(current_app.config["HAUL"].data_dir, site)
    except Invalid:  # not even a site name: nothing by that name to delete
        abort(404, description=f"There is no cookie file for {site}")
    return _answer("settings/index.html", "settings/_cookies.html", _settings_context(),
                   message=f"Cookies for {site} deleted.", redirect_to=url_for("settings.index") + "#cookies")


@bp.post("/settings/cookies/<site>/access")
@admin_required
def cookie_access_choice(site):
    """Whose jobs may use a site's cookie file: admins only, every user, or the users ticked."""
    if not ConfirmForm().validate_on_submit():
        abort(400, description="The form expired; reload the page and try again.")
    who, user_ids = request.form.get("who", ""), request.form.getlist("users")
    try:
        access = cookie_access.set_access(current_app.config["HAUL"].data_dir, site, who, user_ids)
    except Invalid as exc:
        if exc.error_code == "invalid_site":
            abort(404, description=f"There is no cookie file for {site}")
        refused = {"site": site, "who": who, "user_ids": {int(i) for i in user_ids if i.isdigit()},
                   "message": exc.detail}
        return _answer("settings/index.html", "settings/_cookies.html", _settings_context(access_error=refused),
                       status=422, message=f"Not saved: {exc.detail}", level="error")
    return _answer("settings/index.html", "settings/_cookies.html", _settings_context(),
                   message=f"Cookies for {site} are now used by: {access.label()}.",
                   redirect_to=url_for("settings.index") + "#cookies")


# Users (admin) ---------------------------------------------------------------------------------


def _users_context(new_user_form=None, row_forms=None, row_errors=None, notice=None) -> dict:
    row_forms = row_forms or {}
    people = users.all_users()
    rows = []
    for person in people:
        role_form = row_forms.get(("role", person.id)) or RoleForm(formdata=None, prefix=f"u{person.id}", role=person.role)
        reset_form = row_forms.get(("reset", person.id)) or ResetPasswordForm(formdata=None, prefix=f"u{person.id}")
        rows.append({"user": person, "role_form": role_form, "reset_form": reset_form})
    return {
        "rows": rows,
        "token_counts": users.active_token_counts(),
        "new_user_form": new_user_form or NewUserForm(formdata=None, prefix="new"),
        "confirm_form": ConfirmForm(formdata=None),
        "row_errors": row_errors or {},
        "notice": notice,
    }


@bp.get("/settings/users")
@admin_required
def users_page():
    return render_view("settings/users.html", None, **_users_context())


def _users_answer(message=None, level="success", status=200, **context):
    return _answer("settings/users.html", "settings/_users.html", _users_context(**context), message=message,
                   level=level, status=status, redirect_to=url_for("settings.users_page"))


@bp.post("/settings/users")
@admin_required
def create_user():
    form = NewUserForm(prefix="new")
    if form.validate_on_submit():
        try:
            user = accounts.create_user(form.username.data, form.password.data, role=form.role.data)
        except HaulError as exc:
            target = form.password if exc.error_code == "weak_password" else form.username
            target.errors = [*target.errors, exc.detail]
        else:
            return _users_answer(f"Created {user.role} {user.username}.")
    elif form.csrf_token.errors:
        abort(400, description="The form expired; reload the page and try again.")
    return _users_answer("User not created: check the form.", "error", 422, new_user_form=form)


def _row_refused(user, key, form, exc: HaulError):
    """A refused change on one user's row: the message inline on that row, and as a toast."""
    return _users_answer(f"{user.username}: {exc.detail}", "error", 422, row_forms={(key, user.id): form},
                         row_errors={user.id: exc.detail})


@bp.post("/settings/users/<int:user_id>/role")
@admin_required
def set_role(user_id):
    user = users.get_user(user_id)
    form = RoleForm(prefix=f"u{user.id}")
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400, description="The form expired; reload the page and try again.")
        return _row_refused(user, "role", form, HaulError("Choose admin or user"))
    before = user.role
    try:
        users.set_role(user, form.role.data, current_user)
    except HaulError as exc:
        form.role.data = before
        return _row_refused(user, "role", form, exc)
    message = f"{user.username} is now {'an admin' if user.is_admin else 'a user'}." if before != user.role \
        else f"{user.username} was already {'an admin' if user.is_admin else 'a user'}."
    return _users_answer(message)


@bp.post("/settings/users/<int:user_id>/password")
@admin_required
def reset_password(user_id):
    user = users.get_user(user_id)
    form = ResetPasswordForm(prefix=f"u{user.id}")
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400, description="The form expired; reload the page and try again.")
        detail = " ".join(form.password.errors) or "Enter a new password"
        form.password.errors = []
        return _row_refused(user, "reset", form, HaulError(detail))
    try:
        revoked = users.reset_password(user, form.password.data, revoke_tokens=not form.keep_tokens.data)
    except HaulError as exc:
        return _row_refused(user, "reset", form, exc)
    tokens = f" and {_tokens_phrase(revoked)} revoked" if revoked else ""
    return _users_answer(f"New password set for {user.username}; they are signed out everywhere{tokens}.")


def _tokens_phrase(count: int) -> str:
    return f"{count} API token{'s' if count != 1 else ''}"


@bp.post("/settings/users/<int:user_id>/delete")
@admin_required
def delete_user(user_id):
    user = users.get_user(user_id)
    if not ConfirmForm().validate_on_submit():
        abort(400, description="The form expired; reload the page and try again.")
    try:
        name = users.delete_user(user, current_user)
    except HaulError as exc:
        return _row_refused(user, "delete", None, exc)
    return _users_answer(f"Deleted {name}. Their jobs and files stay.")


# Account (everyone) ----------------------------------------------------------------------------


def _account_context(form=None) -> dict:
    active = sum(1 for row in users.tokens_of(current_user) if row.revoked_at is None)
    return {"form": form or PasswordChangeForm(formdata=None), "active_tokens": active}


@bp.get("/account")
@login_required
def account():
    user = current_user._get_current_object()
    if not user.bookmarklet_key:  # the bookmarklet on this page carries it
        accounts.bookmarklet_key(user)
        db.session.commit()
    return render_view("settings/account.html", None, **_account_context())


@bp.post("/account/bookmarklet/rotate")
@login_required
def rotate_bookmarklet_key():
    if not ConfirmForm().validate_on_submit():
        abort(400, description="The form expired; reload the page and try again.")
    accounts.rotate_bookmarklet_key(current_user._get_current_object())
    flash("New bookmarklet made: drag it to your bookmarks bar again. The old one now asks before it sends.",
          "success")
    return redirect(url_for("settings.account") + "#send")


@bp.post("/account/password")
@login_required
def change_password():
    form = PasswordChangeForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        remembered = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies
        try:
            revoked = users.change_own_password(user, form.current_password.data, form.new_password.data,
                                                revoke_tokens=not form.keep_tokens.data)
        except HaulError as exc:
            target = form.current_password if exc.error_code == "wrong_password" else form.new_password
            target.errors = [*target.errors, exc.detail]
        else:
            # Every other browser is signed out (the session version went up); this one goes on.
            login_user(user, remember=remembered)
            tokens = f" and {_tokens_phrase(revoked)} revoked" if revoked else ""
            message = f"Your password is changed. Every other browser and app is signed out{tokens}."
            return _answer("settings/account.html", "settings/_password.html", _account_context(), message=message,
                           redirect_to=url_for("settings.account"))
    elif form.csrf_token.errors:
        abort(400, description="The form expired; reload the page and try again.")
    return _answer("settings/account.html", "settings/_password.html", _account_context(form), status=422,
                   message="Password not changed: check the form.", level="error")


# API tokens (everyone, their own) ---------------------------------------------------------------


def _tokens_context(form=None, new_token=None, new_token_row=None) -> dict:
    return {
        "tokens": users.tokens_of(current_user),
        "form": form or NewTokenForm(formdata=None),
        "confirm_form": ConfirmForm(formdata=None),
        "new_token": new_token,
        "new_token_row": new_token_row,
    }


@bp.get("/account/tokens")
@login_required
def tokens():
    return render_view("settings/tokens.html", None, **_tokens_context())


@bp.post("/account/tokens")
@login_required
def create_token():
    form = NewTokenForm()
    if form.validate_on_submit():
        try:
            row, token = accounts.create_token(current_user, form.name.data, TOKEN_ACCESS[form.access.data])
        except HaulError as exc:
            form.name.errors = [*form.name.errors, exc.detail]
        else:
            # Shown this once: no redirect (the token would be lost), and never cached.
            response = _answer("settings/tokens.html", "settings/_tokens.html",
                               _tokens_context(new_token=token, new_token_row=row),
                               message=f"Token “{row.name}” created. Copy it now: it is shown only once.")
            response.headers["Cache-Control"] = "no-store"
            return response
    elif form.csrf_token.errors:
        abort(400, description="The form expired; reload the page and try again.")
    return _answer("settings/tokens.html", "settings/_tokens.html", _tokens_context(form=form), status=422,
                   message="Token not created: check the form.", level="error")


@bp.post("/account/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id):
    if not ConfirmForm().validate_on_submit():
        abort(400, description="The form expired; reload the page and try again.")
    row = db.session.get(ApiToken, token_id)
    if row is None or row.user_id != current_user.id:
        abort(404, description="No such token.")
    accounts.revoke_token(token_id, current_user)
    return _answer("settings/tokens.html", "settings/_tokens.html", _tokens_context(),
                   message=f"Token “{row.name}” revoked: it no longer works.",
                   redirect_to=url_for("settings.tokens"))
