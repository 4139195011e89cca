"""Routes of the seed-compatible API."""
from __future__ import annotations

import json

from flask import jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from webapp import stream_loop, streams
from webapp.bearer import accepts_query_token, current_principal, require
from webapp.core.vocabulary import API
from webapp.downloads import bp
from webapp.downloads.notifications import seed_message
from webapp.errors import BadRequest, NotFound
from webapp.extensions import db, sock
from webapp.models import Job, Submission
from webapp.serializers import submission_json, submit_result_json
from webapp.services.queue.submissions import submit

_TRUE = {"1", "true", "yes", "on"}


def _submission_input() -> dict:
    """The JSON body, or the query parameters when there is no body (both forms of the seed API)."""
    if request.get_data(cache=True):
        body = request.get_json(silent=True, force=True)
        if body is None:
            raise BadRequest("The body is not valid JSON", error_code="invalid_json")
        if not isinstance(body, dict):
            raise BadRequest("The body must be a JSON object", error_code="invalid_body")
        urls = body.get("urls", body.get("url"))
        return {
            "urls": urls,
            "post_title": body.get("post_title"),
            "label": body.get("label"),
            "force": body.get("force", False),
            "engine": body.get("engine"),
            "preset": body.get("preset"),
            "collection": body.get("collection"),
        }
    args = request.args
    return {
        "urls": args.getlist("url") + args.getlist("urls"),
        "post_title": args.get("post_title"),
        "label": args.get("label"),
        "force": args.get("force", "").lower() in _TRUE,
        "engine": args.get("engine"),
        "preset": args.get("preset"),
    }


@bp.post("/downloads")
@require(scope="submit")
def create_download():
    data = _submission_input()
    result = submit(data.pop("urls"), principal=current_principal(), source=API, **data)
    return jsonify(submit_result_json(result)), 202


@bp.get("/downloads/<download_id>")
@require(scope=("read", "submit"))
def show_download(download_id: str):
    submission = db.session.get(Submission, download_id)
    principal = current_principal()
    # A token without `read` (submit only) sees just what it submitted itself.
    if submission is None or not principal.reaches(submission.user_id, submission.token_id):
        raise NotFound(f"No download with id {download_id}", error_code="download_not_found")
    job_ids = [item["job_id"] for item in submission.items]
    # Files in one more query, not one per job: clients poll this while a submission runs.
    query = select(Job).where(Job.id.in_(job_ids)).options(selectinload(Job.files))
    jobs = {job.id: job for job in db.session.scalars(query)}

    def readable(job: Job) -> bool:
        return principal.reaches(job.user_id, job.token_id)

    return jsonify(submission_json(submission, jobs, with_state=True, may_read=readable))


class _Notifications(stream_loop.LiveView):
    """A /ws/notifications client: the seed contract's messages of the events its principal may see."""

    def __init__(self, principal):
        self.principal = principal

    def frames(self, record) -> list[str]:
        message = seed_message(record, self.principal)
        return [json.dumps(message)] if message is not None else []

    def wait_seconds(self) -> float:
        return 1.0


@sock.route("/ws/notifications", bp=bp)
@accepts_query_token
def notifications(ws):
    """Pushes "queued" for each submission and progress/completed/failed/cancelled for jobs (a
    submit-only token: the jobs it submitted itself)."""
    principal = current_principal()
    if principal is None:
        ws.close(reason=1008, message="invalid or missing token")
        return
    stream_loop.serve_socket(ws, streams.Holder.of_principal(principal), _Notifications(principal))
