"""Signed-in pages. The full GUI (live queue, history, settings) is a later issue."""
from flask import Blueprint

bp = Blueprint("pages", __name__)

from webapp.pages import routes  # noqa: E402,F401
