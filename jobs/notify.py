"""The notifier: a thread of the worker process that sends the outbox's due messages.

Messages are written by whatever they tell of, in its transaction (outbox.announce), by the web
(an invite used) and the worker (a job's end) alike. This thread looks for due rows about once a
second, claims each with one conditional UPDATE (pending → sending; of two workers only one
gets it) and sends it on a small pool of its own threads: never on a download thread, so a slow
or failing target never slows a job. A row left "sending" by a worker that died goes back to
pending after a few minutes.

A user's targets are sent under the network guard (jobs/net_guard.py): every connection the
send opens must go to a public address, whatever DNS answers; admins' targets may reach private ones.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from datetime import timedelta

from sqlalchemy import delete, select, update

from jobs import net_guard
from webapp.extensions import db
from webapp.models import NotificationDelivery, NotificationTarget
from webapp.models.base import utcnow
from webapp.services.notifications import messages, sending, targets

log = logging.getLogger("haul.notify")

POLL_SECONDS = 1.0
CONCURRENCY = 4
# A claimed row older than this was held by a worker that died while sending (a send takes ≤ ~20 s).
STALE_SENDING = timedelta(minutes=3)
# Sent and given-up messages are kept this long (a target's page shows its last result, which
# lives on the target row, so the rows themselves are only for looking back a little).
KEEP_FINISHED = timedelta(days=7)
PRUNE_EVERY_SECONDS = 600.0


def claim_due(limit: int, now=None) -> list[int]:
    """Claim up to `limit` due deliveries (pending, next attempt passed): their ids. Commits.

    The claim stamps next_attempt_at with the claim's time, which is how a stale claim is told."""
    now = now or utcnow()
    due = db.session.scalars(
        select(NotificationDelivery.id)
        .where(NotificationDelivery.status == sending.PENDING, NotificationDelivery.next_attempt_at <= now)
        .order_by(NotificationDelivery.next_attempt_at, NotificationDelivery.id).limit(limit)).all()
    claimed = []
    for delivery_id in due:
        taken = db.session.execute(
            update(NotificationDelivery)
            .where(NotificationDelivery.id == delivery_id, NotificationDelivery.status == sending.PENDING)
            .values(status=sending.SENDING, next_attempt_at=now)
            .execution_options(synchronize_session=False)).rowcount
        if taken:
            claimed.append(delivery_id)
    db.session.commit()
    return claimed


def release_stale(now=None) -> int:
    """Claims older than STALE_SENDING (their worker died) are pending again. Commits."""
    now = now or utcnow()
    count = db.session.execute(
        update(NotificationDelivery)
        .where(NotificationDelivery.status == sending.SENDING, NotificationDelivery.next_attempt_at < now - STALE_SENDING)
        .values(status=sending.PENDING)
        .execution_options(synchronize_session=False)).rowcount or 0
    db.session.commit()
    return count


def prune_finished(now=None) -> int:
    """Delete sent and failed deliveries older than KEEP_FINISHED, so the outbox stays small. Commits."""
    now = now or utcnow()
    count = db.session.execute(
        delete(NotificationDelivery)
        .where(NotificationDelivery.status.in_((sending.SENT, sending.FAILED)),
               NotificationDelivery.created_at < now - KEEP_FINISHED)
        .execution_options(synchronize_session=False)).rowcount or 0
    db.session.commit()
    return count


def send_claimed(delivery_id: int, thumbnail_dir=None, timeout: float = sending.SEND_TIMEOUT_SECONDS) -> str | None:
    """Send one claimed delivery and record the outcome (commits). Returns the error, or None when sent."""
    delivery = db.session.get(NotificationDelivery, delivery_id)
    if delivery is None or delivery.status != sending.SENDING:
        return None
    target = db.session.get(NotificationTarget, delivery.target_id)
    if target is None or not target.enabled:
        delivery.status, delivery.last_error = sending.FAILED, "The target was disabled"
        db.session.commit()
        return delivery.last_error
    public_only = not targets.owner_is_admin(target)
    message = messages.compose(delivery.event, delivery.payload or {}, thumbnail_dir)
    # No transaction stays open while sending: the target is read, then set apart from the session.
    db.session.expunge(target)
    db.session.commit()
    error = guard = None
    try:
        with net_guard.guarded(public_only) as guard:
            sending.send(target, message, delivery_id=delivery.id, timeout=timeout, public_only=public_only)
    except sending.SendFailed as exc:
        error = str(exc)
        if guard is not None and guard.refusal is not None:
            error = "Refused: the target led to a non-public address (only an admin's target may reach one)"
    except Exception as exc:  # a bug in a plugin must not stop the notifier
        log.exception("sending notification %s failed", delivery_id)
        error = f"Failed: {type(exc).__name__}"
    now = utcnow()
    delivery = db.session.get(NotificationDelivery, delivery_id)
    target = db.session.get(NotificationTarget, delivery.target_id) if delivery is not None else None
    if delivery is None or target is None:  # deleted meanwhile
        db.session.rollback()
        return error
    if error is None:
        sending.record_success(delivery, target, now)
    else:
        sending.record_failure(delivery, target, error, now)
        log.warning("notification %s to target %s failed (try %s): %s", delivery_id, target.id,
                    delivery.attempts, error)
    db.session.commit()
    return error


class Notifier:
    """The polling thread and its senders (daemon threads: a send held by a hanging target never
    delays the worker's exit; its row is released as stale and sent again)."""

    def __init__(self, app, stop: threading.Event, concurrency: int = CONCURRENCY,
                 poll_seconds: float = POLL_SECONDS):
        self.app = app
        self.stop = stop
        self.poll_seconds = poll_seconds
        self.concurrency = concurrency
        self.todo: queue.Queue[int] = queue.Queue()
        self.busy = 0
        self.lock = threading.Lock()

    def start(self) -> threading.Thread:
        for number in range(self.concurrency):
            threading.Thread(target=self._sender, name=f"haul-notify-send-{number}", daemon=True).start()
        thread = threading.Thread(target=self.run, name="haul-notify", daemon=True)
        thread.start()
        return thread

    def run(self) -> None:
        with self.app.app_context():
            try:
                release_stale()
            except Exception:
                log.exception("releasing stale notifications failed")
            finally:
                db.session.remove()
        last_prune = 0.0
        while not self.stop.wait(self.poll_seconds):
            try:
                self.poll_once()
                if time.monotonic() - last_prune > PRUNE_EVERY_SECONDS:
                    with self.app.app_context():
                        try:
                            prune_finished()
                        finally:
                            db.session.remove()
                    last_prune = time.monotonic()
            except Exception:  # a busy or briefly missing database: the next pass tries again
                log.exception("notifier pass failed")

    def poll_once(self) -> int:
        """Claim as many due deliveries as there are idle senders, and hand them over."""
        with self.lock:
            free = self.concurrency - self.busy
        if free <= 0:
            return 0
        with self.app.app_context():
            try:
                claimed = claim_due(free)
            finally:
                db.session.remove()
        for delivery_id in claimed:
            with self.lock:
                self.busy += 1
            self.todo.put(delivery_id)
        return len(claimed)

    def _sender(self) -> None:
        while True:
            delivery_id = self.todo.get()
            try:
                with self.app.app_context():
                    try:
                        send_claimed(delivery_id, self.app.config["HAUL"].thumbnail_dir)
                    finally:
                        db.session.remove()
            except Exception:
                log.exception("notification %s could not be sent", delivery_id)
            finally:
                with self.lock:
                    self.busy -= 1
