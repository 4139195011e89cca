"""Job control: GET /api/v1/queue/<id>, POST …/cancel, POST …/retry."""
from __future__ import annotations

from flask import jsonify

from webapp.api import bp
from webapp.bearer import current_principal, token_required
from webapp.serializers import job_json
from webapp.services import job_control


@bp.get("/queue/<int:job_id>")
@token_required
def show_job(job_id: int):
    return jsonify(job_json(job_control.get_visible_job(job_id, current_principal())))


@bp.post("/queue/<int:job_id>/cancel")
@token_required
def cancel_job(job_id: int):
    job = job_control.cancel(job_control.get_visible_job(job_id, current_principal()))
    return jsonify(job_json(job)), 202 if job.status == "downloading" else 200


@bp.post("/queue/<int:job_id>/retry")
@token_required
def retry_job(job_id: int):
    job = job_control.retry(job_control.get_visible_job(job_id, current_principal()))
    return jsonify(job_json(job)), 202
