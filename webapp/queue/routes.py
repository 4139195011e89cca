"""The queue page: add links, watch active jobs live, and steer them (cancel, pause, reorder, …).

Every action answers with the partial it changed plus a toast; the same change also reaches
every other open page through the event stream (webapp/queue/stream.py).
"""
from __future__ import annotations

from flask import abort, make_response, render_template, request
from flask_login import current_user, login_required

from webapp.core.link_text import parse_links
from webapp.core.listings import NEWEST_FIRST, OLDEST_FIRST, Options, OptionsProblem
from webapp.core.numbers import is_whole_number
from webapp.core.vocabulary import AUTO, DOWNLOADING, GUI, TOOLS
from webapp.errors import HaulError
from webapp.guest.routes import public_page_or_login
from webapp.queue import bp
from webapp.queue.stream import queue_event_stream
from webapp.services.library import presets
from webapp.services.queue import children as collection_children
from webapp.services.queue import disk_guard, events, job_control, start_now, start_stop
from webapp.services.queue import listing as queue_listing
from webapp.services.queue import pause as queue_state
from webapp.services.queue.submissions import submit
from webapp.views import is_htmx, render_view, session_principal, with_toast

PRIORITIES = {"high": 10, "normal": 0, "low": -10}
JOB_ACTIONS = {
    "cancel": (job_control.cancel, "Cancelled"),
    "pause": (job_control.pause, "Paused"),
    "resume": (job_control.resume, "Resumed"),
    "retry": (job_control.retry, "Queued again"),
    "remove": (job_control.remove, "Removed from the queue"),
    # Past the download windows (an admin's: start_now.check_run_now answers a user 403).
    "now": (lambda job: start_now.start_now(job, session_principal()), "Starts now"),
}


def _owner_filter() -> int | None:
    """Whose jobs to list: a user always sees their own; an admin everyone's or one submitter's."""
    if not current_user.is_admin:
        return current_user.id
    return request.args.get("user", type=int)


def queue_context(owner: int | None) -> dict:
    counts_for = owner if owner is not None else None
    return {
        "active": queue_listing.active_jobs(owner),
        "finished": queue_listing.finished_jobs(owner),
        "counts": job_control.status_counts(counts_for),
        "queue_paused": queue_state.is_paused(),
        "disk_guard": disk_guard.state(),  # its banner while the storage disk is nearly full
        "owner": owner,
        "finished_shown": queue_listing.FINISHED_SHOWN,
    }


def form_context(**values) -> dict:
    return {
        "engines": (AUTO, *TOOLS),
        "presets": presets.menu(),  # (name, label), "Default (<label>)" first
        "priorities": PRIORITIES,
        "values": {"urls": "", "post_title": "", "engine": AUTO, "preset": "", "priority": "normal",
                   "coll_limit": "", "coll_items": "", "coll_order": NEWEST_FIRST, "coll_numbered": False,
                   "coll_folder": True, "run_now": False, **values},
        "problems": [],
        "collection_problem": None,
        "result": None,
    }


@bp.get("/")
def index():
    if not current_user.is_authenticated:
        # The public upload page when HAUL_PUBLIC_UPLOADS is on; else to the sign-in page.
        return public_page_or_login()
    return render_template("queue/index.html", **page_context(), **form_context())


def page_context() -> dict:
    """What the whole queue page shows besides its add form."""
    context = queue_context(_owner_filter())
    context["submitters"] = queue_listing.submitters() if current_user.is_admin else []
    # The stream starts after the newest event this page already shows: nothing is missed
    # between rendering and connecting.
    context["last_event_id"] = events.latest_event_id()
    return context


@bp.get("/queue/list")
@login_required
def job_list():
    """The lists and counts, for a page that has to redraw everything (e.g. after a long gap)."""
    return render_template("queue/_lists.html", **queue_context(_owner_filter()))


@bp.post("/queue/add")
@login_required
def add_links():
    form = request.form
    values = {key: (form.get(key) or "").strip() for key in ("urls", "post_title", "engine", "preset", "priority")}
    values["run_now"] = form.get("run_now") == "1"  # the admins' "Start now (ignore download windows)"
    values.update(_collection_values(form))
    context = form_context(**values)
    try:
        collection = _collection_options(values)
    except OptionsProblem as exc:
        context["collection_problem"] = str(exc).removeprefix("collection: ").removeprefix("collection.")
        return _form_answer(context), 422
    parsed = parse_links(values["urls"])
    context["problems"] = parsed.problems
    if not parsed.urls and not parsed.problems:
        context["problems"] = [{"line": None, "text": "", "reason": "Paste at least one link"}]
        return _form_answer(context), 422
    if not parsed.urls:
        return _form_answer(context), 422
    try:
        result = submit(
            parsed.urls,
            principal=session_principal(),
            source=GUI,
            post_title=values["post_title"] or None,
            engine=values["engine"] or None,
            preset=values["preset"] or None,
            priority=PRIORITIES.get(values["priority"], 0),
            collection=collection,
            run_now=values["run_now"],
        )
    except HaulError as exc:
        context["problems"] = [{"line": None, "text": "", "reason": exc.detail}]
        return _form_answer(context), 422
    new = [e for e in result.entries if not e.duplicate]
    duplicates = [e for e in result.entries if e.duplicate]
    context["result"] = {"new": new, "duplicates": duplicates, "post_title": result.post_title}
    # Keep only the lines that need attention in the box; queued ones are done.
    context["values"]["urls"] = "\n".join(p["text"] for p in parsed.problems if p["line"])
    message = f"Queued {len(new)} link{'s' if len(new) != 1 else ''}"
    if duplicates:
        message += f"; {len(duplicates)} already known"
    if parsed.problems:
        message += f"; {len(parsed.problems)} not valid"
    level = "success" if new and not parsed.problems else "warning"
    response = _form_answer(context)
    return with_toast(response, message, level)


def _collection_values(form) -> dict:
    """The form's playlist / channel options as typed. Its hidden `coll` marks a form that has
    them, so an unticked "own folder" is told from a post without the options at all."""
    has_options = form.get("coll") == "1"
    return {
        "coll_limit": (form.get("coll_limit") or "").strip()[:20],
        "coll_items": (form.get("coll_items") or "").strip()[:200],
        "coll_order": OLDEST_FIRST if form.get("coll_order") == OLDEST_FIRST else NEWEST_FIRST,
        "coll_numbered": form.get("coll_numbered") == "1",
        "coll_folder": form.get("coll_folder") == "1" if has_options else True,
    }


def _collection_options(values: dict) -> dict | None:
    """The options to store, None when all are the defaults (nothing to keep); OptionsProblem."""
    limit = values["coll_limit"]
    if limit and not is_whole_number(limit, 9):
        raise OptionsProblem("First N items must be a whole number")
    chosen = {"items": values["coll_items"] or None, "limit": int(limit) if limit else None,
              "order": values["coll_order"], "numbered": values["coll_numbered"], "folder": values["coll_folder"]}
    options = Options.from_json(chosen)
    return None if options == Options() else options.to_json()


def _form_answer(context: dict) -> str:
    """The add form for htmx; posted without JavaScript, the whole page around it (as it is now)."""
    if not is_htmx():
        context = {**page_context(), **context}
    return render_view("queue/index.html", "queue/_add_form.html", **context)


@bp.post("/queue/again")
@login_required
def download_again():
    """Queue a URL again although it is already queued or downloaded."""
    url = (request.form.get("url") or "").strip()
    try:
        result = submit([url], principal=session_principal(), source=GUI, force=True)
    except HaulError as exc:
        return with_toast(make_response("", 422), exc.detail, "error")
    job_id = result.entries[0].job_id
    return with_toast(render_template("queue/_again_done.html", job_id=job_id, url=url), f"Queued again as job {job_id}", "success")


def _visible_job(job_id: int):
    return job_control.get_visible_job(job_id, session_principal())


@bp.get("/queue/jobs/<int:job_id>/children")
@login_required
def job_children(job_id: int):
    """The rows of a collection's children, 50 at a time (its owner's and admins' only: 404 else)."""
    parent = _visible_job(job_id)
    shown = collection_children.shown_page(parent, request.args.get("page", 1, type=int))
    return render_template("queue/_children.html", children_endpoint="queue.job_children", **shown)


@bp.post("/queue/jobs/<int:job_id>/<action>")
@login_required
def job_action(job_id: int, action: str):
    if action not in JOB_ACTIONS:
        abort(404)
    change, done = JOB_ACTIONS[action]
    job = _visible_job(job_id)
    try:
        job = change(job)
    except HaulError as exc:
        return with_toast(make_response(render_template("queue/_job_row.html", job=_visible_job(job_id)), exc.status),
                          exc.detail, "error")
    if action == "remove":
        return with_toast(make_response(""), done)
    if action == "cancel" and job.status == DOWNLOADING:
        done = "Stopping…"
    return with_toast(render_template("queue/_job_row.html", job=job), f"{done}: {job.title or job.url}")


@bp.post("/queue/jobs/<int:job_id>/move/<where>")
@login_required
def move_job(job_id: int, where: str):
    if where not in job_control.MOVES:
        abort(404)
    try:
        job_control.move(_visible_job(job_id), where, session_principal())
    except HaulError as exc:
        return with_toast(make_response("", exc.status), exc.detail, "error")
    return render_template("queue/_lists.html", **queue_context(_owner_filter()))


def _admin_only():
    if not current_user.is_admin:
        abort(403, description="Only an admin can pause, resume, stop or start the whole queue.")


@bp.post("/queue/pause")
@login_required
def pause_queue():
    _admin_only()
    job_control.pause_all()
    response = render_template("queue/_toolbar.html", **queue_context(_owner_filter()))
    return with_toast(response, "Queue paused: running jobs finish, no new ones start", "warning")


@bp.post("/queue/resume")
@login_required
def resume_queue():
    _admin_only()
    waiting = job_control.resume_all()
    response = render_template("queue/_toolbar.html", **queue_context(_owner_filter()))
    return with_toast(response, f"Queue resumed ({waiting} waiting)" if waiting else "Queue resumed", "success")


@bp.post("/queue/stop")
@login_required
def stop_queue():
    """Pause the queue and put what runs back in it (services/queue/start_stop.py)."""
    _admin_only()
    interrupted = start_stop.stop()
    response = render_template("queue/_toolbar.html", **queue_context(_owner_filter()))
    message = "Queue stopped" + (f": {interrupted} download{'s' if interrupted != 1 else ''} back in the queue"
                                 if interrupted else "")
    return with_toast(response, message, "warning")


@bp.post("/queue/start")
@login_required
def start_queue():
    _admin_only()
    waiting = start_stop.start()
    response = render_template("queue/_toolbar.html", **queue_context(_owner_filter()))
    return with_toast(response, f"Queue started ({waiting} waiting)" if waiting else "Queue started", "success")


@bp.post("/queue/clear/<status>")
@login_required
def clear_jobs(status: str):
    if status not in job_control.CLEARABLE:
        abort(404)
    count = job_control.clear_finished([status], session_principal())
    response = render_template("queue/_lists.html", **queue_context(_owner_filter()))
    return with_toast(response, f"Cleared {count} {status} job{'s' if count != 1 else ''} (still in History)")


@bp.get("/queue/events")
@login_required
def stream():
    """Server-Sent Events for this page: each event renders the partial it changes."""
    last_id = request.headers.get("Last-Event-ID") or request.args.get("last_event_id")
    try:
        last_id = int(last_id) if last_id else None
    except ValueError:
        last_id = None
    return queue_event_stream(current_user._get_current_object(), _owner_filter(), last_id)
