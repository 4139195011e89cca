from flask import render_template
from flask_login import login_required

from webapp.settings import bp


@bp.get("/settings")
@login_required
def index():
    return render_template("settings/index.html")


@bp.get("/account")
@login_required
def account():
    return render_template("settings/index.html")


@bp.get("/account/tokens")
@login_required
def tokens():
    return render_template("settings/index.html")
