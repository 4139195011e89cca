"""Sharing routes (being built)."""
from flask import jsonify

from webapp.sharing import bp


@bp.get("/manifest.webmanifest")
def manifest():
    return jsonify({})
