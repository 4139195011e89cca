"""History: finished jobs with their files, search, filters, previews and thumbnails."""
from flask import Blueprint

bp = Blueprint("history", __name__)

from webapp.history import routes  # noqa: E402,F401
