from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, flash, get_flashed_messages, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from webapp.auth import bp
from webapp.auth.forms import LoginForm, SetupForm
from webapp.errors import HaulError
from webapp.extensions import limiter
from webapp.services.accounts import identity as accounts
from webapp.services.accounts import setup


def _safe_next(target: str | None) -> str:
    """Only same-site paths: a login link must not bounce people to another site."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("queue.index")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("10 per minute", methods=["POST"])
def login():
    if setup.needs_setup():
        get_flashed_messages()  # "Please sign in" makes no sense while nobody can: drop it
        return redirect(url_for("auth.setup_admin"))
    if current_user.is_authenticated:
        return redirect(url_for("queue.index"))
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        user = accounts.authenticate(form.username.data, form.password.data)
        if user is not None:
            login_user(user, remember=form.remember.data)
            return redirect(_safe_next(request.args.get("next")))
        error = "Wrong username or password."
    status = 401 if error else 200
    return render_template("auth/login.html", form=form, error=error), status


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    flash("You are signed out.")
    return redirect(url_for("auth.login"))


@bp.route("/setup", methods=["GET", "POST"])
@limiter.limit("10 per minute", methods=["POST"])
def setup_admin():
    if not setup.needs_setup():
        return redirect(url_for("auth.login"))
    form = SetupForm()
    error = error_field = None
    if form.validate_on_submit():
        try:
            user = setup.complete_setup(current_app.config["HAUL"], form.code.data, form.username.data, form.password.data)
        except HaulError as exc:
            error = exc.detail
            error_field = _SETUP_ERROR_FIELDS.get(exc.error_code)
        else:
            login_user(user)
            flash(f"Welcome, {user.username}. Haul is ready.")
            return redirect(url_for("queue.index"))
    page = render_template("auth/setup.html", form=form, error=error, error_field=error_field)
    return page, (400 if error else 200)


# Which setup field a refusal is about, so the page can mark that field.
_SETUP_ERROR_FIELDS = {
    "bad_setup_code": "code", "invalid_username": "username", "user_exists": "username", "weak_password": "password",
}
