"""The launcher's part (`flask serve`, webapp/supervisor.py): tell admins the worker went down.

The worker sends notifications, so a worker that died cannot tell of it. The launcher writes the
message into the outbox like any event; the restarted worker sends it. When the launcher gives
up (the worker keeps dying), nobody would: it sends the message itself, at once, with a short
timeout, before it stops Haul.
"""
from __future__ import annotations

from sqlalchemy import select, update

from webapp.core.vocabulary import WORKER_DOWN_EVENT
from webapp.extensions import db
from webapp.models import NotificationDelivery, NotificationTarget
from webapp.models.base import utcnow
from webapp.services.notifications import messages, news, sending

DIRECT_TIMEOUT_SECONDS = 5.0


def worker_exited(name: str, how: str, gave_up: bool, thumbnail_dir=None) -> int:
    """Announce an unexpected exit of the worker (commits); returns how many messages were written.
    When `gave_up`, they are sent now, each within DIRECT_TIMEOUT_SECONDS."""
    if name != "worker":
        return 0
    added = news.worker_down(how, gave_up)
    db.session.commit()
    if gave_up and added:
        send_pending_now(WORKER_DOWN_EVENT, thumbnail_dir)
    return added


def send_pending_now(event: str, thumbnail_dir=None, timeout: float = DIRECT_TIMEOUT_SECONDS) -> int:
    """Claim and send every pending delivery of `event` here and now (server events: admins'
    targets, which may reach private addresses). Returns how many were sent."""
    sent = 0
    ids = db.session.scalars(select(NotificationDelivery.id).where(
        NotificationDelivery.event == event, NotificationDelivery.status == sending.PENDING)).all()
    for delivery_id in ids:
        claimed = db.session.execute(
            update(NotificationDelivery)
            .where(NotificationDelivery.id == delivery_id, NotificationDelivery.status == sending.PENDING)
            .values(status=sending.SENDING, next_attempt_at=utcnow())
            .execution_options(synchronize_session=False)).rowcount
        db.session.commit()
        if not claimed:
            continue
        delivery = db.session.get(NotificationDelivery, delivery_id)
        target = db.session.get(NotificationTarget, delivery.target_id)
        message = messages.compose(delivery.event, delivery.payload or {}, thumbnail_dir)
        try:
            sending.send(target, message, delivery_id=delivery_id, timeout=timeout)
        except sending.SendFailed as exc:
            sending.record_failure(delivery, target, str(exc), utcnow())
        else:
            sending.record_success(delivery, target, utcnow())
            sent += 1
        db.session.commit()
    return sent
