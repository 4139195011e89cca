"""Invite management routes (being built)."""
from flask import abort

from webapp.invites import bp


@bp.get("/invites")
def index():
    abort(404)
