"""Turning event records into the seed contract's /ws/notifications messages."""
from __future__ import annotations

from webapp.services.accounts.identity import Principal
from webapp.services.queue import events
from webapp.services.queue.events import EventRecord

# Every job change is one of the seed contract's four job message types.
_SEED_JOB_TYPES = {
    events.PROGRESS: "progress",
    events.STATUS: "progress",
    events.COMPLETED: "completed",
    events.FAILED: "failed",
    events.CANCELLED: "cancelled",
}


def seed_message(record: EventRecord, principal: Principal) -> dict | None:
    """The /ws/notifications message for an event, or None when `principal` may not see it (a
    submit-only token sees just the jobs it submitted itself)."""
    if record.type in events.INTERNAL_EVENTS or not principal.reaches(record.user_id, record.token_id):
        return None
    data = record.data
    if record.type == events.QUEUED:
        return {
            "type": "queued",
            "download_id": data.get("download_id"),
            "post_title": data.get("post_title"),
            "urls": data.get("urls", []),
            "label": data.get("label"),
            "queued_at": data.get("queued_at"),
        }
    if record.type in events.RUN_EVENTS:
        # Haul's own addition to the seed's messages: a subscription's run, by its event type
        # (run_started, run_found, run_finished, run_failed, run_skipped) with the run's figures.
        return {"type": record.type, "event_id": record.id, **data}
    kind = _SEED_JOB_TYPES.get(record.type)
    if kind is None:
        return None
    message = {"type": kind, "event_id": record.id, **data}
    message.setdefault("download_id", record.submission_id)
    message.setdefault("job_id", record.job_id)
    return message
