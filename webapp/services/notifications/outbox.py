"""`announce()`: queue a message for every target that wants an event, in the caller's transaction.

Writing the delivery rows beside the change they tell of means a message exists exactly when
the change was committed: nothing is sent for a rolled-back change and nothing is lost when
the process dies after the commit. The worker sends them (jobs/notify.py), never the request.
"""
from __future__ import annotations

from sqlalchemy import or_, select

from webapp.core.vocabulary import NOTIFY_EVENTS, SERVER_EVENTS
from webapp.extensions import db
from webapp.models import NotificationDelivery, NotificationTarget, User


def announce(event: str, payload: dict, user_id: int | None = None) -> int:
    """Add a pending delivery of `payload` to each enabled target that wants `event`.

    `user_id` is whose job or subscription it concerns: their own targets hear of it, and
    admins' targets marked for all users. Server events (SERVER_EVENTS, or `user_id` None)
    reach only admins' all-users targets. Returns how many deliveries were added; the caller
    commits.
    """
    if event not in NOTIFY_EVENTS:
        raise ValueError(f"unknown notification event {event!r}")
    query = select(NotificationTarget).where(NotificationTarget.enabled.is_(True))
    admin_wide = NotificationTarget.all_users.is_(True) & NotificationTarget.owner_id.in_(
        select(User.id).where(User.role == "admin"))
    if event in SERVER_EVENTS or user_id is None:
        query = query.where(admin_wide)
    else:
        query = query.where(or_(NotificationTarget.owner_id == user_id, admin_wide))
    added = 0
    for target in db.session.scalars(query):
        if event in (target.events or ()):
            db.session.add(NotificationDelivery(target_id=target.id, event=event, payload=dict(payload, event=event)))
            added += 1
    return added
