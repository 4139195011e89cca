from flask import render_template
from flask_login import login_required

from webapp.history import bp


@bp.get("/history")
@login_required
def index():
    return render_template("history/index.html")
