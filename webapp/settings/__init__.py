"""Settings (admin), the signed-in person's account, users (admin) and API tokens."""
from flask import Blueprint

bp = Blueprint("settings", __name__)

from webapp.settings import routes  # noqa: E402,F401
from webapp.settings import presets_routes  # noqa: E402,F401
from webapp.settings import library_routes  # noqa: E402,F401
from webapp.settings import windows_routes  # noqa: E402,F401
from webapp.settings import notifications_routes  # noqa: E402,F401
from webapp.settings import backups_routes  # noqa: E402,F401
