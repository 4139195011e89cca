"""GET /health (public) and GET /health/detailed (admin bearer token)."""
from __future__ import annotations

from flask import current_app, jsonify

from webapp.bearer import require
from webapp.extensions import db
from webapp.health import bp, checks


@bp.get("/health")
def health():
    """For load balancers and `docker healthcheck`: 200 when the database answers, else 503."""
    if checks.database()["ok"]:
        return jsonify(status="ok")
    return jsonify(status="unavailable"), 503


@bp.get("/health/detailed")
@require(role="admin")
def health_detailed():
    settings = current_app.config["HAUL"]
    body, healthy = checks.detailed(settings.storage_root, settings)
    db.session.remove()
    return jsonify(body), 200 if healthy else 503
