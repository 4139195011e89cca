"""What Haul can fetch and how it is doing: GET /api/v1/platforms and GET /api/v1/stats/overview."""
from __future__ import annotations

from flask import current_app, jsonify

from webapp.api import bp, overview
from webapp.api.common import document_errors
from webapp.api.schemas.system import OverviewSchema, PlatformArgsSchema, PlatformsSchema
from webapp.bearer import current_principal, require
from webapp.services.admin import platforms


@bp.get("/platforms")
@require(scope="read")
@bp.arguments(PlatformArgsSchema, location="query", as_kwargs=True)
@bp.alt_response(200, schema=PlatformsSchema, description="The supported sites", success=True)
@bp.doc(security=[{"bearer": []}], summary="The sites the installed gallery-dl and yt-dlp support",
        description="Scope: read. gallery-dl lists a platform per category (with its subcategories), yt-dlp one "
                    "per extractor (IE_NAME, key, description, working). Filter with `tool` and `search` "
                    "(case-insensitive part of a name, key, subcategory or description). Read once per server "
                    "process; the first call takes about a second.")
@document_errors(401, 403)
def list_platforms(tool: str | None = None, search: str | None = None):
    # jsonify, not the schema's dump: ~2,000 entries through marshmallow would cost more than the lookup
    return jsonify(platforms.search(tool=tool, text=search))


@bp.get("/stats/overview")
@require(scope="read")
@bp.alt_response(200, schema=OverviewSchema, description="The dashboard's numbers", success=True)
@bp.doc(security=[{"bearer": []}], summary="Jobs, downloads, library, storage, worker and queue at a glance",
        description="Scope: read. An admin sees every user's jobs (`scope: all`), anyone else only their own "
                    "(`scope: own`). `completed`/`failed` count jobs that finished since the start of today, "
                    "this week (Monday) and this month in UTC, and ever. `worker.alive` means its heartbeat "
                    "is under 30 s old. `success_rate`: completed / (completed + failed) ever; "
                    "`next_scheduled_run`: the enabled subscription that runs next; `download_window`: "
                    "whether new downloads may start now, and when the next window opens.")
@document_errors(401, 403)
def stats_overview():
    principal = current_principal()
    user_id = None if principal.is_admin else principal.user_id
    return jsonify(overview.overview(current_app.config["HAUL"].storage_root, user_id=user_id))
