"""The subscriptions pages (/subscriptions): follow a channel, playlist or feed on a schedule."""
from flask import Blueprint

bp = Blueprint("subscriptions", __name__)

from webapp.subscriptions import routes  # noqa: F401
