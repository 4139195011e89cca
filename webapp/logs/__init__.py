"""The admin's log page (/logs): Haul's application log, filtered, downloaded, cleared and followed
live; and each job's own log, shown in its details on the queue and history pages."""
from flask import Blueprint

bp = Blueprint("logs", __name__)

from webapp.logs import routes  # noqa: E402,F401
