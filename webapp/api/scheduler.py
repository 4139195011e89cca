"""The media-downloader seed's scheduler contract, for clients written against it:
GET/POST /api/v1/scheduler/jobs, PATCH/DELETE /api/v1/scheduler/jobs/<id>,
POST /api/v1/scheduler/jobs/<id>/run and GET /api/v1/scheduler/history.

A thin mapping over Haul's subscriptions (webapp/services/subscriptions/manage.py), with the
seed's field names and shapes: a "scheduled job" is a subscription, its `source` the URL
followed (`platform` its site), `config.max_downloads` the most new items a run queues, and a
run's `success`/`failure` Haul's completed/failed (`skipped` and `running` are Haul's own
additions: a run that fell due while the last one was going, and one still going). Ids are
the subscriptions' ids as strings, as the seed's are strings. The rules, scopes and error
codes are the subscriptions' (see webapp/api/subscriptions.py): read to read, submit and
read to change; another user's job is 404 `subscription_not_found`.
"""
from __future__ import annotations

from flask import jsonify

from webapp.api import bp
from webapp.api.common import document_errors
from webapp.api.schemas.subscriptions import (
    SeedCreatedSchema,
    SeedHistoryArgsSchema,
    SeedHistorySchema,
    SeedJobBodySchema,
    SeedJobListSchema,
    SeedPatchedSchema,
    SeedRunSchema,
    SubscriptionInvalidSchema,
)
from webapp.api.subscriptions import CHANGE, READ, visible_subscription
from webapp.bearer import current_principal, require
from webapp.core.numbers import whole_number
from webapp.core.vocabulary import AUTO, ENGINES
from webapp.errors import Invalid
from webapp.models import Subscription, SubscriptionRun
from webapp.models.base import isoformat
from webapp.models.subscription import (
    RUN_ACTIVE,
    RUN_COMPLETED,
    RUN_FAILED,
    RUN_SKIPPED,
)
from webapp.services.subscriptions import manage

_SECURITY = [{"bearer": []}]
# Haul's run statuses in the seed's words, and back.
SEED_STATUS = {RUN_COMPLETED: "success", RUN_FAILED: "failure", RUN_SKIPPED: "skipped",
               **{status: "running" for status in RUN_ACTIVE}}
HAUL_STATUSES = {"success": (RUN_COMPLETED,), "failure": (RUN_FAILED,), "skipped": (RUN_SKIPPED,),
                 "running": RUN_ACTIVE}
CONTENT_TYPE = "collection"  # the seed's posts/stories: Haul follows whatever the URL lists


def _job_id(raw: str) -> int:
    """The subscription id of a seed job id ("12"); anything else names no job (404)."""
    text = str(raw).strip()
    return whole_number(text) or 0


def seed_job_json(subscription: Subscription) -> dict:
    summary = manage.summary(subscription)
    last = summary["last_run"]
    text, human = manage.schedule_text(subscription)
    return {
        "id": str(subscription.id), "name": subscription.name, "platform": subscription.domain,
        "source": subscription.url, "content_type": CONTENT_TYPE, "schedule": text, "schedule_human": human,
        "enabled": subscription.enabled,
        "last_run": last["started_at"] if last else None,
        "last_run_status": SEED_STATUS.get(last["status"]) if last else None,
        "last_run_items": last["downloaded"] if last else None,
        "next_run": summary["next_run"], "total_runs": summary["total_runs"],
        "success_count": summary["success_count"], "failure_count": summary["failure_count"],
        "config": {"max_downloads": subscription.max_items, "downloader": subscription.engine or AUTO},
    }


def _haul_fields(body: dict) -> dict:
    """A seed job body in Haul's field names (platform, content_type and other keys are not used)."""
    if body.get("source") is not None and body.get("url") is not None and body["source"] != body["url"]:
        raise Invalid("Send the URL as source or url, not two different ones", error_code="invalid_url")
    data = {key: body[key] for key in ("name", "schedule", "enabled") if key in body}
    for key in ("source", "url"):
        if key in body:
            data["url"] = body[key]
    config = body.get("config") or {}
    if "max_downloads" in config:
        data["max_items"] = config["max_downloads"]
    if config.get("downloader") in (AUTO, *ENGINES):
        data["engine"] = config["downloader"]
    return data


@bp.get("/scheduler/jobs")
@require(scope="read")
@bp.doc(security=_SECURITY, summary="Scheduled jobs (the seed's shape of subscriptions)", description=READ)
@bp.alt_response(200, schema=SeedJobListSchema, description="The jobs", success=True)
@document_errors(401, 403)
def list_scheduled_jobs():
    subscriptions, _total = manage.list_for(current_principal(), page=1, per_page=10**6)
    return jsonify({"jobs": [seed_job_json(subscription) for subscription in subscriptions]})


@bp.post("/scheduler/jobs")
@require(scope="submit")
@require(scope="read")
@bp.arguments(SeedJobBodySchema)
@bp.doc(security=_SECURITY, summary="Create a scheduled job (a subscription)",
        description=CHANGE + " `name`, `source` (a URL; or `url`) and `schedule` are required; "
                    "`config.max_downloads` caps a run. 422 with the subscriptions' error codes.")
@bp.doc(requestBody={"content": {"application/json": {"schema": {
    "allOf": [SeedJobBodySchema], "required": ["name", "schedule"]}}}})
@bp.alt_response(201, schema=SeedCreatedSchema, description="Created", success=True)
@document_errors(401, 403)
@bp.alt_response(422, schema=SubscriptionInvalidSchema, description="A value was refused")
def create_scheduled_job(body):
    subscription = manage.create(_haul_fields(body), current_principal())
    return jsonify({"id": str(subscription.id), "name": subscription.name,
                    "next_run": isoformat(subscription.next_run_at), "enabled": subscription.enabled}), 201


@bp.patch("/scheduler/jobs/<job_id>")
@require(scope="submit")
@require(scope="read")
@bp.arguments(SeedJobBodySchema)
@bp.doc(security=_SECURITY, summary="Update a scheduled job", description=CHANGE + " Only the fields sent change.")
@bp.alt_response(200, schema=SeedPatchedSchema, description="The job as it is now", success=True)
@document_errors(401, 403, 404)
@bp.alt_response(422, schema=SubscriptionInvalidSchema, description="A value was refused")
def update_scheduled_job(body, job_id: str):
    subscription = manage.update(visible_subscription(_job_id(job_id)), _haul_fields(body), current_principal())
    text, _human = manage.schedule_text(subscription)
    return jsonify({"id": str(subscription.id), "schedule": text, "enabled": subscription.enabled,
                    "next_run": isoformat(subscription.next_run_at) if subscription.enabled else None})


@bp.delete("/scheduler/jobs/<job_id>")
@require(scope="submit")
@require(scope="read")
@bp.doc(security=_SECURITY, summary="Delete a scheduled job",
        description=CHANGE + " The jobs its runs downloaded stay in history with their files.")
@bp.alt_response(204, description="Deleted", success=True)
@document_errors(401, 403, 404)
def delete_scheduled_job(job_id: str):
    manage.delete(visible_subscription(_job_id(job_id)), delete_files=False)
    return "", 204


@bp.post("/scheduler/jobs/<job_id>/run")
@require(scope="submit")
@require(scope="read")
@bp.doc(security=_SECURITY, summary="Run a scheduled job now",
        description=CHANGE + " 202 `{\"task_id\", \"status\": \"queued\", \"message\"}`: `task_id` is the run's "
                    "id (see the history). `status` is `skipped` instead when the previous run is still going.")
@bp.alt_response(202, schema=SeedRunSchema, description="Queued", success=True)
@document_errors(401, 403, 404)
def run_scheduled_job(job_id: str):
    run = manage.run(visible_subscription(_job_id(job_id)))
    if run.status == RUN_SKIPPED:
        return jsonify({"task_id": str(run.id), "status": "skipped", "message": run.error}), 202
    return jsonify({"task_id": str(run.id), "status": "queued", "message": "Job execution queued"}), 202


@bp.get("/scheduler/history")
@require(scope="read")
@bp.arguments(SeedHistoryArgsSchema, location="query")
@bp.doc(security=_SECURITY, summary="Runs of the scheduled jobs, newest first",
        description=READ + " `job_id` one job's, `status` success, failure (Haul adds skipped and running), "
                    "`limit` how many (default 100, at most 1000). `items_downloaded` counts the run's items "
                    "downloaded so far.")
@bp.alt_response(200, schema=SeedHistorySchema, description="The runs", success=True)
@document_errors(401, 403)
def scheduler_history(args):
    subscription_id = _job_id(args["job_id"]) if "job_id" in args else None
    if subscription_id == 0:
        return jsonify({"history": []})
    runs = manage.recent_runs(current_principal(), subscription_id=subscription_id,
                              statuses=HAUL_STATUSES[args["status"]] if "status" in args else None,
                              limit=args["limit"])
    return jsonify({"history": [seed_history_json(run) for run in runs]})


def seed_history_json(run: SubscriptionRun) -> dict:
    duration = None
    if run.finished_at is not None and run.started_at is not None:
        duration = max(0, round((run.finished_at - run.started_at).total_seconds()))
    return {"id": run.id, "job_id": str(run.subscription_id), "started_at": isoformat(run.started_at),
            "completed_at": isoformat(run.finished_at), "duration_seconds": duration,
            "status": SEED_STATUS.get(run.status, run.status), "items_downloaded": run.downloaded,
            "error_message": run.error}
