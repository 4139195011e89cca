"""The rules for changing jobs from outside the worker: cancel, retry, pause, reorder, clear.

The queue page and /api/v1/queue both call these; who may reach which job is decided here too.

Every change writes an event in the same transaction, so every open page and API stream sees it.

Collections: a parent (kind collection) is acted on through its children — cancelling it cancels
what has not finished, retrying it retries its failed and cancelled children as a group — and a
change of a child brings its parent's status and counts along (collections.refresh_parent) in
the same transaction. A parent still listing its URL (kind item) is any job.
"""
from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from webapp.core.vocabulary import (
    ACTIVE_STATUSES,
    CANCELLED,
    COLLECTION,
    COMPLETED,
    DOWNLOADING,
    FAILED,
    PAUSED,
    QUEUED,
)
from webapp.errors import Conflict, Forbidden, Invalid, NotFound
from webapp.extensions import db
from webapp.models import Job
from webapp.models.base import utcnow
from webapp.services.accounts.identity import Principal
from webapp.services.queue import collections, dispatch, events
from webapp.services.queue import listing as queue_listing
from webapp.services.queue import pause as queue_state


def get_visible_job(job_id: int, principal: Principal) -> Job:
    """The job, if it exists and `principal` may see it (else 404: existence is not leaked).

    A submit-only token sees just the jobs it submitted itself (see queue_listing.visible_to)."""
    job = db.session.get(Job, job_id)
    if job is None or not principal.reaches(job.user_id, job.submission.token_id):
        raise NotFound(f"No job with id {job_id}", error_code="job_not_found")
    return job


def cancel(job: Job) -> Job:
    """Cancel a queued or paused job at once; ask the worker to stop a running one (it confirms).

    A collection: its children that have not finished (the parent follows them)."""
    if job.kind == COLLECTION:
        if job.status not in ACTIVE_STATUSES:
            raise Conflict(f"Collection {job.id} is {job.status}; nothing of it is left to cancel",
                           error_code="not_cancellable")
        collections.cancel_children(job)
        db.session.commit()
        return job
    if job.status in (QUEUED, PAUSED):
        job.cancel()
        events.publish_job(events.CANCELLED, job)
    elif job.status == DOWNLOADING:
        job.request_cancel()
    else:
        raise Conflict(f"Job {job.id} is {job.status}; only queued, paused or downloading jobs can be cancelled",
                       error_code="not_cancellable")
    collections.refresh_parent(job.parent_id)
    db.session.commit()
    return job


def _url_holder(job: Job) -> int | None:
    """Another job holding this job's URL (queued, running or downloaded), if any."""
    return db.session.scalar(select(Job.id).where(Job.dedupe_key == job.url, Job.id != job.id))


def retry(job: Job) -> Job:
    """Queue a failed or cancelled job again from scratch; a collection: its failed and cancelled
    children, as a group (a child whose URL another job holds now stays as it is)."""
    if job.status not in (FAILED, CANCELLED):
        raise Conflict(f"Job {job.id} is {job.status}; only failed or cancelled jobs can be retried",
                       error_code="not_retryable")
    if job.kind == COLLECTION:
        return _retry_collection(job)
    active = _url_holder(job)
    if active is not None:
        raise Conflict(f"This URL is already queued or downloaded as job {active}", error_code="duplicate",
                       extra={"duplicate_of": active})
    job.retry()
    # "requeued": live views move the row from the finished list back to the active one.
    events.publish_job(events.STATUS, job, requeued=True)
    collections.refresh_parent(job.parent_id)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("This URL was queued again meanwhile", error_code="duplicate") from None
    dispatch.wake_workers(1)
    return job


def _retry_collection(parent: Job) -> Job:
    retried = 0
    for child in collections.failed_children(parent):
        if _url_holder(child) is not None:
            continue  # its URL was queued or downloaded again meanwhile: nothing to fetch
        child.retry()
        events.publish_job(events.STATUS, child, requeued=True)
        retried += 1
    if not retried:
        db.session.rollback()
        raise Conflict(f"Collection {parent.id} has no failed or cancelled item left to retry",
                       error_code="not_retryable")
    parent.cleared_at = None  # back on the queue page while its children run
    collections.refresh_parent(parent.id)
    # "requeued": live views move the parent from the finished list back to the active one.
    events.publish_job(events.STATUS, parent, requeued=True)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("An item's URL was queued again meanwhile", error_code="duplicate") from None
    dispatch.top_up(release_session=False)  # the caller answers with the parent
    return parent


def pause(job: Job) -> Job:
    """Hold a queued job back: it keeps its place but no worker starts it."""
    _pause(job)
    db.session.commit()
    return job


def resume(job: Job) -> Job:
    """Let a paused job start again, in its old place in the queue."""
    _resume(job)
    db.session.commit()
    dispatch.wake_workers(1)
    return job


def _pause(job: Job) -> None:
    """Pause and publish, uncommitted; raises before changing anything."""
    if job.status != QUEUED:
        raise Conflict(f"Job {job.id} is {job.status}; only a queued job can be paused", error_code="not_pausable")
    job.pause()
    events.publish_job(events.STATUS, job)


def _resume(job: Job) -> None:
    """Resume and publish, uncommitted; raises before changing anything."""
    if job.status != PAUSED:
        raise Conflict(f"Job {job.id} is {job.status}; only a paused job can be resumed", error_code="not_paused")
    job.resume()
    events.publish_job(events.STATUS, job)


MIN_PRIORITY, MAX_PRIORITY = -1000, 1000  # as submissions.submit accepts
# The highest priority a user (not an admin) may give: the GUI's "high". Above it a job would
# jump everyone else's queue, which only an admin decides.
MAX_USER_PRIORITY = 10
WAITING = (QUEUED, PAUSED)


def check_priority(priority, principal: Principal | None) -> int:
    """`priority` when it is a whole number in range and `principal` may give it (no principal:
    the command line's); Invalid (422) or Forbidden (403 `priority_reserved`) otherwise."""
    if isinstance(priority, bool) or not isinstance(priority, int) or not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        raise Invalid(f"priority must be a whole number from {MIN_PRIORITY} to {MAX_PRIORITY}",
                      error_code="invalid_priority")
    if priority > MAX_USER_PRIORITY and principal is not None and not principal.is_admin:
        raise Forbidden(f"Priorities above {MAX_USER_PRIORITY} (high) are for admins: they put a job ahead of "
                        "everyone else's", error_code="priority_reserved")
    return priority


def update_job(job: Job, principal: Principal, *, priority: int | None = None, status: str | None = None) -> Job:
    """Change a waiting job's priority, and pause it (`status` "paused") or resume it ("queued"),
    in one transaction. Asking for the status a job already has changes nothing; either
    problem raises before anything is written."""
    if status not in (None, *WAITING):
        raise Invalid("status must be paused or queued", error_code="invalid_status")
    if priority is not None:
        check_priority(priority, principal)
        if job.status not in WAITING:
            raise Conflict(f"Job {job.id} is {job.status}; only a queued or paused job's priority can change",
                           error_code="not_waiting")
    resumed = False
    if status == PAUSED and job.status != PAUSED:
        _pause(job)
    elif status == QUEUED and job.status != QUEUED:
        _resume(job)
        resumed = True
    if priority is not None and priority != job.priority:
        job.priority = priority
        # The order changed, as after a move: live views redraw the lists.
        events.publish_queue(events.REORDERED, job_id=job.id)
    db.session.commit()
    if resumed:
        dispatch.wake_workers(1)
    return job


def _waiting_jobs(principal: Principal | None = None) -> list[Job]:
    """Queued and paused jobs in the order workers take them (priority, then rank); only those
    `principal` may see when given."""
    query = select(Job).where(Job.status.in_((QUEUED, PAUSED)))
    if principal is not None:
        query = query.where(queue_listing.visible_to(principal))
    return list(db.session.scalars(query.order_by(Job.priority.desc(), Job.rank, Job.id)))


def _reorder_in_place(jobs: list[Job], order: list[Job]) -> None:
    """Give the jobs of `order` the queue places `jobs` hold now (both the same jobs; `jobs` in
    queue order), one each in turn: they change places among themselves and nobody else moves.
    Equal keys are made distinct first, so the new order cannot fall back on ids."""
    keys = [(job.priority, job.rank) for job in jobs]
    for i in range(1, len(keys)):
        if keys[i] <= keys[i - 1] and keys[i][0] == keys[i - 1][0]:
            keys[i] = (keys[i][0], keys[i - 1][1] + 1e-6)
    for job, (priority, rank) in zip(order, keys):
        job.priority, job.rank = priority, rank


MOVES = ("top", "up", "down", "bottom")


def move(job: Job, where: str, principal: Principal) -> Job:
    """Move a waiting job to the top, one place up or down, or to the bottom of the queue.

    The order is (priority, rank), so a move takes over its neighbour's priority and a rank
    next to it: the order stays "priority, then age" for everyone else. An admin moves a job
    through the whole queue; a user among their own jobs, which trade the places they hold —
    nobody moves ahead of someone else's job.
    """
    if where not in MOVES:
        raise Conflict(f"Unknown move {where!r}; use one of {', '.join(MOVES)}", error_code="invalid_move")
    if job.status not in (QUEUED, PAUSED):
        raise Conflict(f"Job {job.id} is {job.status}; only waiting jobs can be moved", error_code="not_movable")
    if not principal.is_admin:
        own = _waiting_jobs(principal)
        order = [other for other in own if other.id != job.id]
        index = next(i for i, other in enumerate(own) if other.id == job.id)
        target = {"top": 0, "bottom": len(order), "up": max(0, index - 1), "down": min(len(order), index + 1)}[where]
        order.insert(target, job)
        _reorder_in_place(own, order)
        events.publish_queue(events.REORDERED, job_id=job.id)
        db.session.commit()
        return job
    waiting = _waiting_jobs()
    index = next(i for i, other in enumerate(waiting) if other.id == job.id)
    if where == "top" and index > 0:
        first = waiting[0]
        job.priority, job.rank = first.priority, first.rank - 1.0
    elif where == "bottom" and index < len(waiting) - 1:
        last = waiting[-1]
        job.priority, job.rank = last.priority, last.rank + 1.0
    elif where in ("up", "down"):
        other_index = index - 1 if where == "up" else index + 1
        if 0 <= other_index < len(waiting):
            other = waiting[other_index]
            # Swap places: each takes the other's key, nobody else moves.
            job.priority, other.priority = other.priority, job.priority
            job.rank, other.rank = other.rank, job.rank
            if (job.priority, job.rank) == (other.priority, other.rank):  # equal keys: break the tie
                job.rank += -0.001 if where == "up" else 0.001
    events.publish_queue(events.REORDERED, job_id=job.id)
    db.session.commit()
    return job


def remove(job: Job) -> Job:
    """Take a job off the queue page: a waiting one is cancelled; history keeps the record."""
    if job.status == DOWNLOADING:
        raise Conflict(f"Job {job.id} is downloading; cancel it first", error_code="still_running")
    if job.is_finished and job.cleared_at is not None:
        return job  # already off the queue: removing it again changes nothing
    if job.status in (QUEUED, PAUSED):
        job.cancel()
    job.cleared_at = utcnow()
    events.publish_job(events.CLEARED, job)
    collections.refresh_parent(job.parent_id)
    db.session.commit()
    return job


CLEARABLE = (COMPLETED, FAILED, CANCELLED)


def clear_finished(statuses, principal: Principal) -> int:
    """Take finished jobs with these statuses off the queue page (history keeps them)."""
    statuses = [s for s in statuses if s in CLEARABLE]
    if not statuses:
        raise Conflict("Nothing to clear: name completed, failed or cancelled", error_code="invalid_status")
    # Only the caller's own jobs unless an admin (a submit-only token: the ones it added).
    query = update(Job).where(Job.status.in_(statuses), Job.cleared_at.is_(None), queue_listing.visible_to(principal))
    count = db.session.execute(query.values(cleared_at=utcnow())).rowcount or 0
    if count:
        events.publish_queue(events.CLEARED_MANY, statuses=statuses, user_id=None if principal.is_admin else principal.user_id)
    db.session.commit()
    return count


def retry_many(job_ids, principal: Principal) -> tuple[list[Job], list[dict]]:
    """Retry these jobs, or with no ids every failed job on the caller's queue (not cleared).

    Returns the jobs queued again and a problem per id that was not: unknown or not the
    caller's (`job_not_found`, as a 404 would say), not failed or cancelled, or a duplicate.
    Each retry commits on its own, so one problem does not hold back the others."""
    if job_ids:
        found = queue_listing.visible_jobs(job_ids, principal)
        wanted = [(job_id, found.get(job_id)) for job_id in dict.fromkeys(job_ids)]
    else:
        wanted = [(job.id, job) for job in queue_listing.failed_on_queue(principal)]
    retried, problems = [], []
    for job_id, job in wanted:
        if job is None:
            problems.append({"id": job_id, "error_code": "job_not_found", "detail": f"No job with id {job_id}"})
            continue
        try:
            retried.append(retry(job))
        except Conflict as exc:
            problems.append({"id": job_id, "error_code": exc.error_code, "detail": exc.detail})
    return retried, problems


def reorder(job_ids, principal: Principal) -> list[Job]:
    """Move these waiting jobs to the front of the queue in the given order, ahead of every
    other waiting job (the others keep their order behind them); for a user, to the front of
    their own jobs, in the places those hold (nobody else's job is passed).

    All or nothing: an id the caller cannot see is 404, a job that is not queued or paused 409.
    Like a move to the top, each takes the priority of the job now first and a rank before it.
    """
    ids = list(job_ids)
    if not ids:
        raise Invalid("Name at least one job", error_code="no_jobs")
    if len(set(ids)) != len(ids):
        raise Invalid("Each job may appear once", error_code="duplicate_ids")
    found = queue_listing.visible_jobs(ids, principal)
    missing = [job_id for job_id in ids if job_id not in found]
    if missing:
        raise NotFound(f"No job with id {', '.join(map(str, missing))}", error_code="job_not_found")
    jobs = [found[job_id] for job_id in ids]
    for job in jobs:
        if job.status not in WAITING:
            raise Conflict(f"Job {job.id} is {job.status}; only waiting jobs can be moved", error_code="not_movable")
    if not principal.is_admin:
        own = _waiting_jobs(principal)
        named = {job.id for job in jobs}
        _reorder_in_place(own, jobs + [job for job in own if job.id not in named])
        events.publish_queue(events.REORDERED, job_ids=ids)
        db.session.commit()
        return jobs
    # An admin's: the front of the whole queue, as the page's "top".
    front_priority, front_rank = db.session.execute(
        select(Job.priority, Job.rank).where(Job.status.in_(WAITING))
        .order_by(Job.priority.desc(), Job.rank, Job.id).limit(1)
    ).one()
    for place, job in enumerate(jobs):
        job.priority, job.rank = front_priority, front_rank - len(jobs) + place
    events.publish_queue(events.REORDERED, job_ids=ids)
    db.session.commit()
    return jobs


def pause_all() -> None:
    """Pause the whole queue: running jobs finish, none start, even after a restart."""
    queue_state.set_paused(True)
    events.publish_queue(events.QUEUE_PAUSED)
    db.session.commit()


def resume_all() -> int:
    """Resume the queue and wake the workers; returns how many jobs are waiting to start."""
    queue_state.set_paused(False)
    events.publish_queue(events.QUEUE_RESUMED)
    db.session.commit()
    waiting = db.session.scalar(select(func.count(Job.id)).where(Job.status == QUEUED)) or 0
    # The session stays: the queue page's answer still reads the signed-in user (a removed
    # session left it detached, and "Resume all" answered 500).
    dispatch.top_up(release_session=False)
    return waiting


def status_counts(user_id: int | None = None) -> dict[str, int]:
    """How many jobs are in each status (only `user_id`'s when given), cleared ones included."""
    query = select(Job.status, func.count(Job.id)).group_by(Job.status)
    if user_id is not None:
        query = query.where(Job.user_id == user_id)
    counts = {status: 0 for status in (*ACTIVE_STATUSES, COMPLETED, FAILED, CANCELLED)}
    counts.update(dict(db.session.execute(query).all()))
    return counts
