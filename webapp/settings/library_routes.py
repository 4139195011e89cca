"""Settings → Library (admin): where the library is, the rescan button, its live progress and last result.

The rescan itself is the worker's (webapp/services/library/rescan.py, jobs/library_rescan.py);
this page asks for one and shows its state. Live: the page's event stream passes on the
rescan's events (admins' only, like every rescan event) as a bare "rescan" signal, and the
status part asks for itself again — one template for the page, the button's answer and each
update.
"""
from __future__ import annotations

from flask import abort, current_app, request, url_for
from flask_login import current_user

from webapp import stream_loop, streams
from webapp.services.library import rescan
from webapp.services.queue import events
from webapp.services.queue.events import EventRecord
from webapp.settings import bp
from webapp.settings.forms import ConfirmForm
from webapp.settings.routes import _answer, admin_required
from webapp.stream_loop import sse_frame
from webapp.views import render_view

EVENT = "rescan"  # the SSE event name the page listens to
SIGNED_OUT = sse_frame("signed-out", "")


def _context() -> dict:
    return {
        "rescan": rescan.current(),
        "storage_root": str(current_app.config["HAUL"].storage_root),
        "confirm_form": ConfirmForm(formdata=None),
        "last_event_id": events.latest_event_id(),
    }


@bp.get("/settings/library")
@admin_required
def library_page():
    return render_view("settings/library.html", None, **_context())


@bp.get("/settings/library/status")
@admin_required
def library_status():
    """The status part again (a rescan event arrived)."""
    return render_view("settings/library.html", "settings/_library_status.html", **_context())


@bp.post("/settings/library/rescan")
@admin_required
def library_rescan():
    """Ask the worker for a rescan; one already running is refused (409, shown as a message)."""
    if not ConfirmForm().validate_on_submit():
        abort(400, description="The form expired; reload the page and try again.")
    user = current_user._get_current_object()
    state = rescan.request(user.id, user.username, "session")
    return _answer("settings/library.html", "settings/_library_status.html", _context(),
                   message=f"Library rescan #{state['id']} started.", redirect_to=url_for("settings.library_page"))


class _RescanView(stream_loop.LiveView):
    """The rescan's events, as a signal: the page asks for its status part again."""

    access_ended = SIGNED_OUT

    def frames(self, record: EventRecord) -> list[str]:
        if record.type not in events.RESCAN_EVENTS:
            return []
        return [sse_frame(EVENT, str(record.data.get("id") or ""), record.id)]

    def missed(self, after_id: int) -> tuple[list[str], int]:
        # One redraw after a reconnect covers whatever happened meanwhile.
        latest = events.latest_event_id()
        return ([sse_frame(EVENT, "missed", latest)] if latest > after_id else []), latest

    def behind(self, covered: int) -> tuple[list[str], int]:
        latest = events.latest_event_id()
        return [sse_frame(EVENT, "behind", latest)], latest


@bp.get("/settings/library/events")
@admin_required
def library_events():
    """Server-Sent Events: a "rescan" event each time the rescan's state changes (admins only)."""
    raw = request.headers.get("Last-Event-ID") or request.args.get("last_event_id")
    last_id = int(raw) if raw and raw.isdigit() else None
    return stream_loop.sse_response(streams.Holder.of_browser(current_user._get_current_object()), _RescanView(),
                                    last_id=last_id)
