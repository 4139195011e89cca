"""The admin's invite links page (/invites)."""
from flask import Blueprint

bp = Blueprint("invites", __name__)

from webapp.invites import routes  # noqa: E402,F401
