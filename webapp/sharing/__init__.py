"""Sending links from anywhere while signed in: the bookmarklet's popup, the installable web
app (manifest, service worker, share target)."""
from flask import Blueprint

bp = Blueprint("sharing", __name__)

from webapp.sharing import routes  # noqa: E402,F401
