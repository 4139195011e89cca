"""GET /stats (the dashboard) and GET /stats/queue (its "queue now" card, which the page polls).

Every signed-in user sees their own figures; an admin everyone's, or one user's with ?user=<id>.
A user asking for someone else's (?user=<another id>) gets 403, as from the API. The figures
come from webapp/services/library/{dashboard,stats}.py; webapp/stats/figures.py draws them.

Why the queue card polls (htmx, every 10 s) instead of listening to the event stream: it shows
a handful of counts that one indexed GROUP BY answers, so ten seconds late costs nothing, while a
stream would hold one of the user's few live connections (max_streams) for a page people leave
open, and would need throttling to survive a burst of progress events.
"""
from __future__ import annotations

from flask import current_app, request
from flask_login import login_required
from markupsafe import Markup

from webapp.core.numbers import whole_number
from webapp.services.library import dashboard, history, stats
from webapp.stats import bp, figures
from webapp.views import render_view, session_principal

QUEUE_POLL_SECONDS = 10


def _user_arg() -> int | None:
    """?user=<id>, when it is a number (anything else: everyone's for an admin, own for a user)."""
    return whole_number(request.args.get("user", ""), 18)


@bp.get("/stats")
@login_required
def index():
    principal = session_principal()
    period, group_by = figures.choose(request.args.get("period"), request.args.get("group_by"))
    user_id = _user_arg()
    board = dashboard.dashboard(principal, current_app.config["HAUL"].storage_root, user_id, period)
    timeline = stats.timeline(period, group_by, principal, board["user_id"])["timeline"]
    context = dict(
        board=board,
        period=period,
        group_by=group_by,
        selected_user=board["user_id"] if principal.is_admin else None,
        is_admin=principal.is_admin,
        users=history.submitters() if principal.is_admin else [],
        period_choices=figures.PERIOD_CHOICES,
        group_choices=[(value, word) for value, word in figures.GROUP_CHOICES
                       if value != "hour" or period in stats.HOURLY_PERIODS],
        timeline=timeline,
        downloads_chart=Markup(figures.outcome_chart(timeline, group_by)),  # escaped in webapp/core/charts.py
        bytes_chart=Markup(figures.bytes_chart(timeline, group_by)),
        sites_chart=Markup(figures.sites_chart(board["top_sites"])),
        poll_seconds=QUEUE_POLL_SECONDS,
    )
    return render_view("stats/index.html", "stats/_view.html", **context)


@bp.get("/stats/queue")
@login_required
def queue_card():
    """The "queue now" card alone: what the page's card fetches every QUEUE_POLL_SECONDS."""
    principal = session_principal()
    owner = stats.scope_user(principal, _user_arg())
    return render_view("stats/_queue.html", "stats/_queue.html", queue=dashboard.queue_now(owner),
                       selected_user=owner if principal.is_admin else None, poll_seconds=QUEUE_POLL_SECONDS)
