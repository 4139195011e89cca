"""The guest page behind an invite link (/i/<token>): no account, phone first."""
from flask import Blueprint

bp = Blueprint("guest", __name__)

from webapp.guest import routes  # noqa: E402,F401
