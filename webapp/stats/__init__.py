"""The /stats dashboard: figures, charts (server-drawn SVG) and the queue now, polled."""
from flask import Blueprint

bp = Blueprint("stats", __name__)

from webapp.stats import routes  # noqa: E402,F401
