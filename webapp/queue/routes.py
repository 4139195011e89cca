from __future__ import annotations

from flask import render_template
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.models import Job
from webapp.queue import bp


@bp.get("/")
@login_required
def index():
    """The latest jobs this person may see."""
    query = select(Job).options(selectinload(Job.files)).order_by(Job.id.desc()).limit(100)
    if not current_user.is_admin:
        query = query.where(Job.user_id == current_user.id)
    jobs = db.session.scalars(query).all()
    return render_template("queue/index.html", jobs=jobs)
