from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from webapp.auth import bp
from webapp.auth.forms import LoginForm, SetupForm
from webapp.errors import HaulError
from webapp.extensions import limiter
from webapp.services import accounts, setup


def _safe_next(target: str | None) -> str:
    """Only same-site paths: a login link must not bounce people to another site."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("queue.index")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("10 per minute", methods=["POST"])
def login():
    if setup.needs_setup():
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
    error = None
    if form.validate_on_submit():
        try:
            user = setup.complete_setup(current_app.config["HAUL"], form.code.data, form.username.data, form.password.data)
        except HaulError as exc:
            error = exc.detail
        else:
            login_user(user)
            flash(f"Welcome, {user.username}. Haul is ready.")
            return redirect(url_for("queue.index"))
    return render_template("auth/setup.html", form=form, error=error), (400 if error else 200)
