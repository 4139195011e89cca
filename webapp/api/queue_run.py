"""When the queue runs: POST /api/v1/queue/stop and /start, GET /api/v1/queue/status (the
Aniworld seed's shapes), and POST /api/v1/queue/{id}/now (start one job outside the download
windows). The rules are in webapp/services/queue/start_stop.py, status.py and start_now.py.
"""
from __future__ import annotations

from flask import jsonify

from webapp.api import bp
from webapp.api.common import document_errors
from webapp.api.queue import _visible_job
from webapp.api.schemas import JobSchema
from webapp.api.schemas.queue_run import QueueStartSchema, QueueStatusSchema, QueueStopSchema
from webapp.bearer import current_principal, require
from webapp.serializers import job_json
from webapp.services.queue import start_now, start_stop
from webapp.services.queue import status as queue_status

_SECURITY = [{"bearer": []}]
_ADMIN = "Scope: admin (an admin's token)."


@bp.get("/queue/status")
@require(scope="read")
@bp.doc(security=_SECURITY, summary="The queue, the workers, the download windows and the time left",
        description="Scope: read. Counts, running downloads and the estimate are of the jobs you may see (a user's "
                    "own, an admin's everyone's); `paused`, `stopped`, `workers`, `window` and `disk_guard` are "
                    "the server's. `eta_seconds`: the longest running download's time left, then the queued "
                    "jobs × the recent average download time ÷ the concurrency, starting at the window's next "
                    "opening while it is closed.")
@bp.alt_response(200, schema=QueueStatusSchema, description="The status", success=True)
@document_errors(401, 403)
def show_queue_status():
    return jsonify(queue_status.queue_status(current_principal()))


@bp.post("/queue/stop")
@require(scope="admin", role="admin")
@bp.doc(security=_SECURITY, summary="Stop the queue: pause it and interrupt what runs",
        description=f"{_ADMIN} Unlike pause, running downloads are stopped within about a second and go back to "
                    "`queued` (the attempt is not counted, partial files are removed, their place is kept): "
                    "nothing is cancelled or lost. No job starts until POST /api/v1/queue/start (or resume).")
@bp.alt_response(200, schema=QueueStopSchema, description="Stopped", success=True)
@document_errors(401, 403)
def stop_queue():
    return jsonify({"paused": True, "stopped": True, "interrupted": start_stop.stop()})


@bp.post("/queue/start")
@require(scope="admin", role="admin")
@bp.doc(security=_SECURITY, summary="Start the queue (after a stop or a pause)",
        description=f"{_ADMIN} Ends the stop and the pause and wakes the workers.")
@bp.alt_response(200, schema=QueueStartSchema, description="Started", success=True)
@document_errors(401, 403)
def start_queue():
    return jsonify({"paused": False, "stopped": False, "waiting": start_stop.start()})


@bp.post("/queue/<int:job_id>/now")
@require(scope="submit")
@bp.doc(security=_SECURITY, summary="Start a job now, outside the download windows",
        description="Scope: submit, and an admin: 403 `run_now_reserved` for a user (the windows are the admin's "
                    "rule; another's job is 404). Marks a queued or paused job (a collection: its waiting "
                    "entries) `run_now` and wakes a worker; a paused job stays paused. 409 `not_waiting` for a "
                    "job that is not waiting.")
@bp.alt_response(200, schema=JobSchema, description="The job, marked", success=True)
@document_errors(401, 403, 404, 409)
def start_job_now(job_id: int):
    return jsonify(job_json(start_now.start_now(_visible_job(job_id), current_principal())))
