"""Downloads over time and per site: GET /api/v1/stats/timeline and GET /api/v1/stats/platforms
(the media-downloader seed's shapes). GET /api/v1/stats/overview is in system.py.

The figures are counted in webapp/services/library/stats.py, which the /stats page uses too:
who sees whose figures (an admin everyone's or one user's, a user their own) is decided there.
"""
from __future__ import annotations

from flask import jsonify

from webapp.api import bp
from webapp.api.common import document_errors
from webapp.api.schemas.stats import PlatformArgsSchema, PlatformStatsSchema, TimelineArgsSchema, TimelineSchema
from webapp.bearer import current_principal, require
from webapp.services.library import stats

_SECURITY = [{"bearer": []}]
_WHO = ("Scope: read. An admin sees everyone's downloads, or one user's with `user_id`; a user their own "
        "(another user's id is 403). A download is a finished item job (each of a collection's items counts), "
        "counted when it was submitted.")


@bp.get("/stats/timeline")
@require(scope="read")
@bp.arguments(TimelineArgsSchema, location="query", as_kwargs=True)
@bp.alt_response(200, schema=TimelineSchema, description="Downloads per bucket", success=True)
@bp.doc(security=_SECURITY, summary="Downloads over time: completed, failed, cancelled and bytes per hour, day, "
                                    "week or month", description=_WHO)
@document_errors(401, 403, 422)
def stats_timeline(period: str, group_by: str, user_id: int | None = None):
    return jsonify(stats.timeline(period, group_by, current_principal(), user_id))


@bp.get("/stats/platforms")
@require(scope="read")
@bp.arguments(PlatformArgsSchema, location="query", as_kwargs=True)
@bp.alt_response(200, schema=PlatformStatsSchema, description="Figures per site", success=True)
@bp.doc(security=_SECURITY, summary="Downloads per site: total, completed, failed, success rate and bytes",
        description=_WHO)
@document_errors(401, 403, 422)
def stats_platforms(period: str, user_id: int | None = None):
    return jsonify(stats.platforms(period, current_principal(), user_id))
