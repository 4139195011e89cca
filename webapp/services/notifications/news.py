"""The events Haul notifies of, each turned into its payload and announced (outbox.announce).

Called by whatever records the change, inside its transaction (the caller commits): the runner
when a job ends for good, a collection's expansion, a subscription's run that fails, a guest's
first use of an invite, the launcher when the worker dies. Payload keys by convention: "title",
"message", "url" (the link), "job_id", plus each event's own fields.
"""
from __future__ import annotations

from webapp.core.vocabulary import (
    COMPLETED,
    FAILED,
    INVITE_USED_EVENT,
    JOB_COMPLETED_EVENT,
    JOB_FAILED_EVENT,
    NEW_ITEMS_EVENT,
    SUBSCRIPTION_FAILED_EVENT,
    WORKER_DOWN_EVENT,
)
from webapp.extensions import db
from webapp.models import Subscription, SubscriptionRun
from webapp.services.notifications.outbox import announce


def job_finished(job) -> int:
    """A job that ended for good: completed (not a duplicate), or failed after its last try.

    A collection's children say nothing each (their collection's new items and its own end do),
    a cancelled job says nothing, and a try with another to come is not the end."""
    if job.parent_id is not None or job.duplicate_of_id is not None or job.subscription_run_id is not None:
        return 0  # a subscription's run tells of its new items and its failure instead
    payload = {"title": job.title or job.url, "url": job.url, "job_id": job.id, "domain": job.domain,
               "kind": job.kind}
    if job.status == COMPLETED:
        files = list(job.files)
        payload.update(files=len(files) or job.items_done or 0,
                       bytes=sum(f.size or 0 for f in files) or job.bytes_done or 0)
        return announce(JOB_COMPLETED_EVENT, payload, user_id=job.user_id)
    if job.status == FAILED:
        payload["error"] = (job.error or "")[:500]
        return announce(JOB_FAILED_EVENT, payload, user_id=job.user_id)
    return 0


def new_items(parent, queued: int) -> int:
    """A collection's or subscription's run queued `queued` new children."""
    if queued <= 0:
        return 0
    run = db.session.get(SubscriptionRun, parent.subscription_run_id) if parent.subscription_run_id else None
    subscription = db.session.get(Subscription, run.subscription_id) if run is not None else None
    name = subscription.name if subscription is not None else (parent.title or parent.url)
    payload = {"title": name, "url": parent.url, "job_id": parent.id, "count": queued, "domain": parent.domain,
               "message": f"{name}: {queued} new item{'s' if queued != 1 else ''} queued"}
    if subscription is not None:
        payload["subscription_id"] = subscription.id
    return announce(NEW_ITEMS_EVENT, payload, user_id=parent.user_id)


def subscription_failed(subscription, run) -> int:
    payload = {"title": subscription.name, "url": subscription.url, "subscription_id": subscription.id,
               "run_id": run.id, "error": (run.error or "")[:500]}
    return announce(SUBSCRIPTION_FAILED_EVENT, payload, user_id=subscription.user_id)


def invite_used(invite) -> int:
    """A guest's first link or upload through `invite`: its creator hears of it."""
    if invite.created_by is None:
        return 0
    limit = f" of {invite.max_uses}" if invite.max_uses else ""
    payload = {"title": invite.name, "invite_id": invite.id, "uses": invite.uses,
               "message": f"A guest used the invite “{invite.name}” (use {invite.uses}{limit})."}
    return announce(INVITE_USED_EVENT, payload, user_id=invite.created_by)


def worker_down(how: str, gave_up: bool) -> int:
    """The launcher saw the worker exit unexpectedly (`how`: "killed by SIGKILL", "exit 1")."""
    if gave_up:
        message = f"The worker exited ({how}) again and again; the launcher gave up and stopped Haul."
    else:
        message = f"The worker exited ({how}); the launcher is starting it again."
    return announce(WORKER_DOWN_EVENT, {"title": "Haul's worker stopped", "message": message,
                                        "gave_up": gave_up, "how": how})
