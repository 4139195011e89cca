"""The queue page: add links, watch and steer active jobs, live over SSE."""
from flask import Blueprint

bp = Blueprint("queue", __name__)

from webapp.queue import routes  # noqa: E402,F401
