"""The queue: GET/POST /api/v1/queue, GET/PATCH/DELETE /api/v1/queue/<id>, POST …/<id>/cancel and
…/<id>/retry, bulk retry/clear/reorder, queue-wide pause/resume and GET /api/v1/queue/stats.

Routes stay thin: the rules (who reaches which job, what may change) are in
webapp/services/queue/job_control.py and queue_listing.py, shared with the queue page, and every
change publishes its event there.
"""
from __future__ import annotations

from flask import jsonify

from webapp.api import bp
from webapp.api.common import MAX_ID, Page, document_errors, page_from_args
from webapp.api.schemas import ChildrenPageSchema, CollectionJobSchema, JobSchema
from webapp.api.schemas.queue import (
    ChildrenArgsSchema,
    ClearResultSchema,
    ClearSchema,
    DuplicateErrorSchema,
    ItemIdsSchema,
    JobArgsSchema,
    QueueListArgsSchema,
    QueuePageSchema,
    QueuePatchSchema,
    QueueStateSchema,
    QueueStatsSchema,
    QueueSubmitResultSchema,
    QueueSubmitSchema,
    ReorderResultSchema,
    ReorderSchema,
    RetryResultSchema,
    SubmitInvalidSchema,
)
from webapp.bearer import current_principal, require
from webapp.core.vocabulary import ACTIVE_STATUSES, API, DOWNLOADING
from webapp.errors import NotFound
from webapp.models.base import isoformat
from webapp.serializers import (
    job_json,
    principal_submitter_json,
    queued_jobs_json,
)
from webapp.services.queue import children as collection_children
from webapp.services.queue import job_control
from webapp.services.queue import listing as queue_listing
from webapp.services.queue.submissions import submit

_ERRORS = (401, 403, 404)
_SECURITY = [{"bearer": []}]
READ = ("Scope: read (or submit: then only the jobs this token added). "
        "A user reaches their own jobs, an admin everyone's; another's job is 404.")
CHANGE = "Scope: submit (a submit-only token: the jobs it added). A user changes their own jobs, an admin everyone's."
ADMIN = "Scope: submit, and an admin (admin scope or HAUL_API_TOKEN), as on the queue page."
_PAGE_HEADERS = {
    "X-Total-Count": {"description": "Jobs matching the filters", "schema": {"type": "integer"}},
    "Link": {"description": "RFC 8288 links to the first, prev, next and last pages", "schema": {"type": "string"}},
}


def _body_doc(schema, **rule) -> dict:
    """Document a request body as `schema` plus a rule marshmallow cannot describe (one of two
    fields required, …), so generated clients and the fuzzer know it too."""
    return {"requestBody": {"content": {"application/json": {"schema": {"allOf": [schema], **rule}}}}}


def _visible_job(job_id: int):
    """The job if the caller may reach it (job_control decides; a too-large id is simply not there)."""
    if job_id > MAX_ID:
        raise NotFound(f"No job with id {job_id}", error_code="job_not_found")
    return job_control.get_visible_job(job_id, current_principal())


# The list and submitting ----------------------------------------------------------------------


@bp.get("/queue")
@require(scope=("read", "submit"))
@bp.arguments(QueueListArgsSchema, location="query")
@bp.doc(security=_SECURITY, summary="Jobs on the queue",
        description=READ + " Default: the active jobs (queued, paused, downloading) in the order workers "
                    "take them (downloading first, then priority, then age or place); finished ones follow, "
                    "newest first. Cleared jobs are not on the queue (see downloads/history).")
@bp.alt_response(200, schema=QueuePageSchema, headers=_PAGE_HEADERS, description="A page of jobs", success=True)
@document_errors(401, 403)
def list_queue(args):
    page = page_from_args(args)
    principal = current_principal()
    filters = {"domain": args.get("domain"), "source": args.get("source")}
    jobs, total = queue_listing.queue_page(principal, statuses=args.get("status") or ACTIVE_STATUSES,
                                           offset=page.offset, limit=page.per_page, **filters)
    body = page.body([job_json(job) for job in jobs], total)
    body["counts"] = queue_listing.queue_counts(principal, **filters)
    return jsonify(body), 200, page.headers(total)


@bp.post("/queue")
@require(scope="submit")
@bp.arguments(QueueSubmitSchema)
@bp.doc(security=_SECURITY, summary="Queue one or many URLs",
        description="Scope: submit. 201 with the new jobs; URLs already queued, running or downloaded are "
                    "listed in `duplicates` (with the job that has them) and not queued again. When every URL "
                    "is a duplicate nothing is written and the answer is 409 `duplicate` with `duplicate_of`. "
                    "`force: true` queues them anyway.")
@bp.doc(**_body_doc(QueueSubmitSchema, oneOf=[{"required": ["url"]}, {"required": ["urls"]}]))
@bp.alt_response(201, schema=QueueSubmitResultSchema, description="Queued", success=True)
@bp.alt_response(409, schema=DuplicateErrorSchema, description="Every URL is already queued or downloaded")
@bp.alt_response(422, schema=SubmitInvalidSchema, description="Not valid; nothing was queued")
@document_errors(401, 403)
def create_jobs(body):
    urls = body.pop("urls", None) or [body.pop("url")]
    principal = current_principal()
    submitted_by = principal_submitter_json(principal)  # now: the commit below expires the rows
    result = submit(urls, principal=principal, source=API, refuse_if_nothing_new=True, **body)
    return jsonify(queued_jobs_json(result, queue_listing.jobs_from_rows(result.created), submitted_by)), 201


@bp.get("/queue/stats")
@require(scope=("read", "submit"))
@bp.doc(security=_SECURITY, summary="The queue at a glance",
        description=READ + " Counts are of the jobs on the queue you may see; `paused` is the whole queue's state.")
@bp.alt_response(200, schema=QueueStatsSchema, description="Stats", success=True)
@document_errors(401, 403)
def queue_stats():
    stats = queue_listing.queue_stats(current_principal())
    stats["oldest_waiting_at"] = isoformat(stats["oldest_waiting_at"])
    return jsonify(stats)


# One job --------------------------------------------------------------------------------------


@bp.get("/queue/<int:job_id>")
@require(scope=("read", "submit"))
@bp.arguments(JobArgsSchema, location="query")
@bp.doc(security=_SECURITY, summary="A job",
        description=READ + " A collection (`kind` collection: a playlist, channel or feed) also has "
                    "`children_summary` and a page of its `children` (children_page, children_per_page).")
@bp.alt_response(200, schema=CollectionJobSchema, description="The job", success=True)
@document_errors(*_ERRORS, 422)
def show_job(args, job_id: int):
    job = _visible_job(job_id)
    body = job_json(job)
    if collection_children.is_collection(job):
        page, per_page = args["children_page"], args["children_per_page"]
        children, total = collection_children.children_page(job, page=page, per_page=per_page)
        body["children_summary"] = collection_children.summary(job)
        body["children"] = Page(page, per_page).body([job_json(child) for child in children], total)
    return jsonify(body)


@bp.get("/queue/<int:job_id>/children")
@require(scope=("read", "submit"))
@bp.arguments(ChildrenArgsSchema, location="query")
@bp.doc(security=_SECURITY, summary="A collection's children",
        description=READ + " The entries of a playlist, channel or feed in its order (position), a page at a "
                    "time, optionally of one status. Visible exactly as the collection is; a job that is no "
                    "collection has none (an empty page).")
@bp.alt_response(200, schema=ChildrenPageSchema, description="A page of children", success=True)
@document_errors(*_ERRORS, 422)
def list_job_children(args, job_id: int):
    job = _visible_job(job_id)
    children, total = collection_children.children_page(job, page=args["page"], per_page=args["per_page"],
                                                        status=args.get("status"))
    return jsonify(Page(args["page"], args["per_page"]).body([job_json(child) for child in children], total))


@bp.patch("/queue/<int:job_id>")
@require(scope="submit")
@bp.arguments(QueuePatchSchema)
@bp.doc(security=_SECURITY, summary="Change a job's priority; pause or resume it",
        description=CHANGE + ' `{"status": "paused"}` holds a queued job back, `{"status": "queued"}` resumes a '
                    "paused one (asking for the status it has changes nothing); `priority` changes a queued or "
                    "paused job's priority. 409 when the job is in no state for it; nothing is changed then.")
@bp.doc(**_body_doc(QueuePatchSchema, minProperties=1))
@bp.alt_response(200, schema=JobSchema, description="The job as it is now", success=True)
@document_errors(*_ERRORS, 409)
def update_job(body, job_id: int):
    return jsonify(job_json(job_control.update_job(_visible_job(job_id), current_principal(), **body)))


@bp.delete("/queue/<int:job_id>")
@require(scope="submit")
@bp.doc(security=_SECURITY, summary="Remove a job from the queue",
        description=CHANGE + " As the queue page's remove: a queued or paused job is cancelled, a finished one "
                    "leaves the queue; history keeps the record (GET still answers it). A downloading job is "
                    "409 `still_running`: cancel it first.")
@bp.alt_response(204, description="Removed", success=True)
@document_errors(*_ERRORS, 409)
def delete_job(job_id: int):
    job_control.remove(_visible_job(job_id))
    return "", 204


@bp.post("/queue/<int:job_id>/cancel")
@bp.doc(security=_SECURITY, summary="Cancel a job", description=CHANGE)
@bp.alt_response(200, schema=JobSchema, description="Cancelled", success=True)
@bp.alt_response(202, schema=JobSchema, description="The worker was asked to stop it", success=True)
@document_errors(*_ERRORS, 409)
@require(scope="submit")
def cancel_job(job_id: int):
    job = job_control.cancel(_visible_job(job_id))
    return jsonify(job_json(job)), 202 if job.status == DOWNLOADING else 200


@bp.post("/queue/<int:job_id>/retry")
@bp.doc(security=_SECURITY, summary="Retry a job", description=CHANGE)
@bp.alt_response(202, schema=JobSchema, description="Queued again", success=True)
@bp.alt_response(409, schema=DuplicateErrorSchema, description="Not failed or cancelled, or its URL is queued again")
@document_errors(*_ERRORS)
@require(scope="submit")
def retry_job(job_id: int):
    job = job_control.retry(_visible_job(job_id))
    return jsonify(job_json(job)), 202


# Many jobs and the whole queue ----------------------------------------------------------------


@bp.post("/queue/retry")
@require(scope="submit")
@bp.arguments(ItemIdsSchema, required=False)
@bp.doc(security=_SECURITY, summary="Retry many jobs",
        description=CHANGE + " `item_ids` empty or left out: every failed job on your queue (what "
                    "GET /api/v1/queue?status=failed lists). Each job is retried on its own: the answer lists "
                    "those queued again and, in `errors`, each id that was not and why (`job_not_found` for "
                    "one you cannot reach, `not_retryable`, `duplicate`).")
@bp.alt_response(200, schema=RetryResultSchema, description="What was retried", success=True)
@document_errors(401, 403)
def retry_jobs(body):
    retried, problems = job_control.retry_many(body.get("item_ids"), current_principal())
    return jsonify({"retried": [job_json(job) for job in retried], "errors": problems})


@bp.post("/queue/clear")
@require(scope="submit")
@bp.arguments(ClearSchema)
@bp.doc(security=_SECURITY, summary="Clear finished jobs off the queue",
        description=CHANGE + " `status`: any of completed, failed, cancelled. The jobs stay in history.")
@bp.alt_response(200, schema=ClearResultSchema, description="How many were cleared", success=True)
@document_errors(401, 403)
def clear_jobs(body):
    return jsonify({"cleared": job_control.clear_finished(body["status"], current_principal())})


@bp.post("/queue/reorder")
@require(scope="submit")
@bp.arguments(ReorderSchema)
@bp.doc(security=_SECURITY, summary="Move waiting jobs to the front",
        description=CHANGE + " The named queued or paused jobs move to the front of the queue in the given "
                    "order, ahead of every other waiting job (each takes the first job's priority); the rest "
                    "keep their order. A user's jobs move to the front of their own: they trade the places "
                    "their jobs hold, and pass nobody else's. All or nothing: 404 if an id is not yours or "
                    "not there, 409 `not_movable` if a job is not waiting.")
@bp.alt_response(200, schema=ReorderResultSchema, description="The moved jobs, in their new order", success=True)
@document_errors(*_ERRORS, 409)
def reorder_jobs(body):
    jobs = job_control.reorder(body["item_ids"], current_principal())
    return jsonify({"items": [job_json(job) for job in jobs]})


@bp.post("/queue/pause")
@require(scope="submit", role="admin")
@bp.doc(security=_SECURITY, summary="Pause the whole queue",
        description=ADMIN + " Running jobs finish, none start, even after a restart.")
@bp.alt_response(200, schema=QueueStateSchema, description="Paused", success=True)
@document_errors(401, 403)
def pause_queue():
    job_control.pause_all()
    return jsonify({"paused": True, "waiting": queue_listing.queue_counts(current_principal())["queued"]})


@bp.post("/queue/resume")
@require(scope="submit", role="admin")
@bp.doc(security=_SECURITY, summary="Resume the whole queue", description=ADMIN + " Workers are woken at once.")
@bp.alt_response(200, schema=QueueStateSchema, description="Resumed", success=True)
@document_errors(401, 403)
def resume_queue():
    return jsonify({"paused": False, "waiting": job_control.resume_all()})
