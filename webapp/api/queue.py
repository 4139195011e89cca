"""Job control: GET /api/v1/queue/<id>, POST …/cancel, POST …/retry."""
from __future__ import annotations

from flask import jsonify

from webapp.api import bp
from webapp.api.common import MAX_ID, document_errors
from webapp.api.schemas import JobSchema
from webapp.bearer import current_principal, require
from webapp.errors import NotFound
from webapp.services import job_control

from webapp.serializers import job_json

_ERRORS = (401, 403, 404)


def _visible_job(job_id: int):
    """The job if the caller may see it. A token without `read` (submit only) sees just the jobs
    it submitted itself; anything else is 404, as for someone else's job."""
    principal = current_principal()
    if job_id > MAX_ID:
        raise NotFound(f"No job with id {job_id}", error_code="job_not_found")
    job = job_control.get_visible_job(job_id, principal)
    if "read" not in principal.scopes and not principal.is_admin:
        if principal.token_id is None or job.submission.token_id != principal.token_id:
            raise NotFound(f"No job with id {job_id}", error_code="job_not_found")
    return job



@bp.get("/queue/<int:job_id>")
@bp.doc(security=[{"bearer": []}], summary="A job", description="Scope: read (or submit, for jobs this token added).")
@bp.alt_response(200, schema=JobSchema, description="The job", success=True)
@document_errors(*_ERRORS)
@require(scope=("read", "submit"))
def show_job(job_id: int):
    return jsonify(job_json(_visible_job(job_id)))


@bp.post("/queue/<int:job_id>/cancel")
@bp.doc(security=[{"bearer": []}], summary="Cancel a job", description="Scope: submit.")
@bp.alt_response(200, schema=JobSchema, description="Cancelled", success=True)
@bp.alt_response(202, schema=JobSchema, description="The worker was asked to stop it", success=True)
@document_errors(*_ERRORS, 409)
@require(scope="submit")
def cancel_job(job_id: int):
    job = job_control.cancel(_visible_job(job_id))
    return jsonify(job_json(job)), 202 if job.status == "downloading" else 200


@bp.post("/queue/<int:job_id>/retry")
@bp.doc(security=[{"bearer": []}], summary="Retry a job", description="Scope: submit.")
@bp.alt_response(202, schema=JobSchema, description="Queued again", success=True)
@document_errors(*_ERRORS, 409)
@require(scope="submit")
def retry_job(job_id: int):
    job = job_control.retry(_visible_job(job_id))
    return jsonify(job_json(job)), 202
