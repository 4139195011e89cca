"""The JSON API under /api/v1 for machine clients (bearer tokens)."""
from flask import Blueprint

from webapp.extensions import csrf

bp = Blueprint("api", __name__)
csrf.exempt(bp)  # bearer tokens only, no cookies: nothing for a forged form to ride on

from webapp.api import queue  # noqa: E402,F401
