"""/api/v1's live updates: GET /api/v1/events (Server-Sent Events) and the /api/v1/ws WebSocket."""
from flask import Blueprint

bp = Blueprint("live_api", __name__)

from webapp.live_api import routes  # noqa: E402,F401
