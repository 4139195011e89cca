"""The seed-compatible API: POST /downloads, GET /downloads/<id>, WebSocket /ws/notifications.

Exactly the contract of the original gallery-dl server, so its clients work unchanged.
"""
from flask import Blueprint

from webapp.extensions import csrf

bp = Blueprint("downloads", __name__)
csrf.exempt(bp)  # bearer tokens only, no cookies: nothing for a forged form to ride on

from webapp.downloads import routes  # noqa: E402,F401
