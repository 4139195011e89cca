"""Subscriptions: GET/POST /api/v1/subscriptions, GET/PATCH/DELETE /api/v1/subscriptions/<id>,
POST …/<id>/run, GET …/<id>/runs, POST …/<id>/forget, POST /api/v1/subscriptions/run (check all)
and POST /api/v1/subscriptions/preview.

Scopes: reading needs `read`; changing (create, change, delete, run, forget, preview) needs
`submit` and `read` both. `submit` is what queue changes need, and a subscription's runs queue
jobs; `read` as well because a submit-only token (a bookmarklet, a phone's share sheet) is
meant to send single links, not to set up something that keeps downloading on its own nor to
learn what its user follows. A user reaches their own subscriptions, an admin everyone's;
another user's is 404 `subscription_not_found`, never 403.

The rules are in webapp/services/subscriptions/manage.py, shared with the pages.
"""
from __future__ import annotations

from flask import jsonify

from webapp.api import bp
from webapp.api.common import MAX_ID, Page, document_errors
from webapp.api.schemas.subscriptions import (
    DeleteArgsSchema,
    DeletedSchema,
    ForgetSchema,
    ForgottenSchema,
    PreviewBodySchema,
    PreviewSchema,
    RunAllSchema,
    RunPageSchema,
    RunsArgsSchema,
    RunSchema,
    SubscriptionFieldsSchema,
    SubscriptionInvalidSchema,
    SubscriptionListArgsSchema,
    SubscriptionPageSchema,
    SubscriptionSchema,
)
from webapp.bearer import current_principal, require
from webapp.errors import NotFound
from webapp.extensions import db
from webapp.models import Subscription, User
from webapp.models.base import isoformat
from webapp.models.subscription import RUN_SKIPPED
from webapp.services.subscriptions import manage

_SECURITY = [{"bearer": []}]
READ = ("Scope: read. A user reaches their own subscriptions, an admin everyone's; another's is 404 "
        "`subscription_not_found`.")
CHANGE = ("Scopes: submit and read (a submit-only token may not: 403 `insufficient_scope`). A user changes their "
          "own subscriptions, an admin everyone's; another's is 404 `subscription_not_found`.")
_PAGE_HEADERS = {
    "X-Total-Count": {"description": "Rows matching", "schema": {"type": "integer"}},
    "Link": {"description": "RFC 8288 links to the first, prev, next and last pages", "schema": {"type": "string"}},
}


def visible_subscription(subscription_id: int) -> Subscription:
    """The subscription if the caller may reach it (a too-large id is simply not there)."""
    if subscription_id > MAX_ID:
        raise NotFound(f"No subscription with id {subscription_id}", error_code="subscription_not_found")
    return manage.get_visible(subscription_id, current_principal())


def subscription_json(subscription: Subscription) -> dict:
    text, human = manage.schedule_text(subscription)
    owner = db.session.get(User, subscription.user_id) if subscription.user_id is not None else None
    return {
        "id": subscription.id, "user_id": subscription.user_id, "owner": owner.username if owner else None,
        "name": subscription.name, "url": subscription.url, "domain": subscription.domain,
        "schedule": text, "schedule_human": human, "engine": subscription.engine, "preset": subscription.preset,
        "post_title": subscription.post_title, "max_items": subscription.max_items,
        "published_after": subscription.published_after.isoformat() if subscription.published_after else None,
        "within_days": subscription.within_days, "title_include": subscription.title_include,
        "title_exclude": subscription.title_exclude, "min_duration": subscription.min_duration,
        "max_duration": subscription.max_duration, "skip_live": subscription.skip_live,
        "skip_shorts": subscription.skip_shorts, "enabled": subscription.enabled,
        "first_run": subscription.first_run, "first_run_count": subscription.first_run_count,
        "next_run": isoformat(subscription.next_run_at) if subscription.enabled else None,
        "last_run_at": isoformat(subscription.last_run_at), "created_at": isoformat(subscription.created_at),
        "updated_at": isoformat(subscription.updated_at), "summary": manage.summary(subscription),
    }


# The list, creating, checking all, previewing -----------------------------------------------------


@bp.get("/subscriptions")
@require(scope="read")
@bp.arguments(SubscriptionListArgsSchema, location="query")
@bp.doc(security=_SECURITY, summary="Subscriptions",
        description=READ + " By name. Admins may narrow the list to one user with `user_id`.")
@bp.alt_response(200, schema=SubscriptionPageSchema, headers=_PAGE_HEADERS, description="A page", success=True)
@document_errors(401, 403)
def list_subscriptions(args):
    page = Page(args["page"], args["per_page"])
    subscriptions, total = manage.list_for(current_principal(), page=page.page, per_page=page.per_page,
                                           user_id=args.get("user_id"))
    return jsonify(page.body([subscription_json(s) for s in subscriptions], total)), 200, page.headers(total)


@bp.post("/subscriptions")
@require(scope="submit")
@require(scope="read")
@bp.arguments(SubscriptionFieldsSchema)
@bp.doc(security=_SECURITY, summary="Follow a channel, playlist, profile or feed",
        description=CHANGE + " `name`, `url` and `schedule` are required. The subscription is yours; its first "
                    "run starts at once (unless `enabled` is false). 422 with an error_code "
                    "naming what was refused: `invalid_name`, `invalid_url`, `private_address`, "
                    "`invalid_schedule`, `schedule_too_frequent`, `invalid_engine`, `invalid_preset`, "
                    "`invalid_post_title`, `invalid_max_items`, `invalid_filters`, `invalid_first_run`, "
                    "`invalid_first_run_count`, `invalid_enabled`, `unknown_field`.")
@bp.doc(requestBody={"content": {"application/json": {"schema": {
    "allOf": [SubscriptionFieldsSchema], "required": ["name", "url", "schedule"]}}}})
@bp.alt_response(201, schema=SubscriptionSchema, description="Created", success=True)
@document_errors(401, 403)
@bp.alt_response(422, schema=SubscriptionInvalidSchema, description="A value was refused")
def create_subscription(body):
    return jsonify(subscription_json(manage.create(body, current_principal()))), 201


@bp.post("/subscriptions/run")
@require(scope="submit")
@require(scope="read")
@bp.doc(security=_SECURITY, summary="Check all my subscriptions now",
        description=CHANGE + " Starts a run of each enabled subscription the caller owns (an admin's own too, "
                    "not every user's). Those whose previous run is still going are recorded as skipped.")
@bp.alt_response(202, schema=RunAllSchema, description="Runs started and skipped", success=True)
@document_errors(401, 403)
def run_all_subscriptions():
    started = manage.run_all(current_principal())
    return jsonify({"started": [manage.run_json(run) for run in started if run.status != RUN_SKIPPED],
                    "skipped": [manage.run_json(run) for run in started if run.status == RUN_SKIPPED]}), 202


@bp.post("/subscriptions/preview")
@require(scope="submit")
@require(scope="read")
@bp.arguments(PreviewBodySchema)
@bp.doc(security=_SECURITY, summary="What a new subscription would fetch now",
        description=CHANGE + " `url` and any filter fields (the schedule is optional). A listing process reads "
                    "the source (yt-dlp or gallery-dl, up to a minute); nothing is downloaded or recorded. As a first run: `first_run` and "
                    "`max_items` apply. 422 `listing_failed` with the tool's message when the source cannot be "
                    "listed, or an error_code as for POST /api/v1/subscriptions.")
@bp.alt_response(200, schema=PreviewSchema, description="What would be fetched and what skipped", success=True)
@document_errors(401, 403)
@bp.alt_response(422, schema=SubscriptionInvalidSchema, description="A value was refused")
def preview_subscription(body):
    return jsonify(manage.preview(body, current_principal()).as_dict())


# One subscription -------------------------------------------------------------------------------


@bp.get("/subscriptions/<int:subscription_id>")
@require(scope="read")
@bp.doc(security=_SECURITY, summary="A subscription, with its summary", description=READ)
@bp.alt_response(200, schema=SubscriptionSchema, description="The subscription", success=True)
@document_errors(401, 403, 404)
def show_subscription(subscription_id: int):
    return jsonify(subscription_json(visible_subscription(subscription_id)))


@bp.patch("/subscriptions/<int:subscription_id>")
@require(scope="submit")
@require(scope="read")
@bp.arguments(SubscriptionFieldsSchema)
@bp.doc(security=_SECURITY, summary="Change a subscription",
        description=CHANGE + " Only the fields sent change. A new schedule counts the next run from now; "
                    "`enabled: false` pauses it (no next run). Error codes as for POST.")
@bp.alt_response(200, schema=SubscriptionSchema, description="The subscription as it is now", success=True)
@document_errors(401, 403, 404)
@bp.alt_response(422, schema=SubscriptionInvalidSchema, description="A value was refused")
def update_subscription(body, subscription_id: int):
    subscription = visible_subscription(subscription_id)
    return jsonify(subscription_json(manage.update(subscription, body, current_principal())))


@bp.delete("/subscriptions/<int:subscription_id>")
@require(scope="submit")
@require(scope="read")
@bp.arguments(DeleteArgsSchema, location="query")
@bp.doc(security=_SECURITY, summary="Stop following: delete a subscription",
        description=CHANGE + " Its runs and archive go. The jobs its runs made stay in history with their files, "
                    "unless `?delete_files=true`: then what is still waiting is cancelled and every finished job "
                    "is deleted with its files (as history's delete does); jobs still downloading are named in "
                    "`jobs_kept`.")
@bp.alt_response(200, schema=DeletedSchema, description="Deleted", success=True)
@document_errors(401, 403, 404)
def delete_subscription(args, subscription_id: int):
    subscription = visible_subscription(subscription_id)
    return jsonify(manage.delete(subscription, delete_files=args["delete_files"]))


@bp.post("/subscriptions/<int:subscription_id>/run")
@require(scope="submit")
@require(scope="read")
@bp.doc(security=_SECURITY, summary="Check a subscription now",
        description=CHANGE + " 202 with the run: `listing` (its collection job is queued), or `skipped` when the "
                    "previous run is still listing or downloading. Works on a disabled subscription too.")
@bp.alt_response(202, schema=RunSchema, description="The run", success=True)
@document_errors(401, 403, 404)
def run_subscription(subscription_id: int):
    return jsonify(manage.run_json(manage.run(visible_subscription(subscription_id)))), 202


@bp.get("/subscriptions/<int:subscription_id>/runs")
@require(scope="read")
@bp.arguments(RunsArgsSchema, location="query")
@bp.doc(security=_SECURITY, summary="A subscription's runs, newest first", description=READ)
@bp.alt_response(200, schema=RunPageSchema, headers=_PAGE_HEADERS, description="A page of runs", success=True)
@document_errors(401, 403, 404)
def list_runs(args, subscription_id: int):
    subscription = visible_subscription(subscription_id)
    page = Page(args["page"], args["per_page"])
    rows, total = manage.runs_of(subscription, page=page.page, per_page=page.per_page, status=args.get("status"))
    return jsonify(page.body([manage.run_json(run) for run in rows], total)), 200, page.headers(total)


@bp.post("/subscriptions/<int:subscription_id>/forget")
@require(scope="submit")
@require(scope="read")
@bp.arguments(ForgetSchema)
@bp.doc(security=_SECURITY, summary="Forget seen items: the next run may fetch them again",
        description=CHANGE + ' `{"item_keys": [...]}` forgets those items, `{"all": true}` every one. '
                    "422 `invalid_item_keys` for neither.")
@bp.alt_response(200, schema=ForgottenSchema, description="How many were forgotten", success=True)
@document_errors(401, 403, 404)
@bp.alt_response(422, schema=SubscriptionInvalidSchema, description="A value was refused")
def forget_items(body, subscription_id: int):
    subscription = visible_subscription(subscription_id)
    return jsonify({"forgotten": manage.forget(subscription, item_keys=body.get("item_keys"),
                                               everything=body.get("all") is True)})
