"""The library on disk (admin): POST/GET /api/v1/library/rescan.

A rescan holds the storage root against the file records (webapp/services/library/rescan.py):
missing files are marked gone, unknown ones imported as downloads. The worker runs it; this
only asks for one and reports on it. Its progress also reaches admins' event streams
(`rescan_progress`, `rescan_finished` on GET /api/v1/events).
"""
from __future__ import annotations

from flask import current_app, jsonify

from webapp.api import bp
from webapp.api.common import document_errors
from webapp.api.schemas.library import RescanSchema
from webapp.bearer import current_principal, require
from webapp.services.library import rescan

_ACCESS = "Scope: admin (an admin's token)."


def rescan_json(state: dict) -> dict:
    return {**state, "storage_root": str(current_app.config["HAUL"].storage_root)}


@bp.post("/library/rescan")
@require(scope="admin", role="admin")
@bp.alt_response(202, schema=RescanSchema, description="Queued for the worker", success=True)
@bp.doc(security=[{"bearer": []}], summary="Rescan the library: mark missing files gone, import unknown ones",
        description=f"{_ACCESS} The worker walks the storage root: a recorded file missing from disk is marked "
                    "gone (`gone_at`; back again, it is cleared), a file no record names becomes an imported "
                    "download (`source` and `engine` `import`) owned by you. Answers at once with the rescan's "
                    "id and status `queued`; follow it with GET or the `rescan_progress`/`rescan_finished` events. "
                    "409 `rescan_running` (with the running one under `rescan`) while one is queued or running.")
@document_errors(401, 403, 409, 503)
def request_rescan():
    principal = current_principal()
    user = principal.user
    state = rescan.request(user.id if user else None, user.username if user else None, principal.via)
    return jsonify(rescan_json(state)), 202


@bp.get("/library/rescan")
@require(scope="admin", role="admin")
@bp.alt_response(200, schema=RescanSchema, description="The current or last rescan", success=True)
@bp.doc(security=[{"bearer": []}], summary="The current or last library rescan: status and counts",
        description=f"{_ACCESS} `status` `never` before the first one.")
@document_errors(401, 403)
def show_rescan():
    return jsonify(rescan_json(rescan.current()))
