"""What a notification says: a title and a body per event, from the payload the event wrote,
and the job's thumbnail where there is one (Apprise attaches the local file)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from webapp.core.readable import human_bytes
from webapp.core.vocabulary import (
    DISK_GUARD_EVENT,
    INVITE_USED_EVENT,
    JOB_COMPLETED_EVENT,
    JOB_FAILED_EVENT,
    NEW_ITEMS_EVENT,
    SUBSCRIPTION_FAILED_EVENT,
    WORKER_DOWN_EVENT,
)
from webapp.extensions import db
from webapp.models import JobFile
from webapp.services.library import files as library_files

TEST_EVENT = "test"  # the "Send test" button's message; not an event anyone subscribes to
MAX_TITLE = 250
MAX_BODY = 2000


@dataclass(frozen=True)
class Message:
    event: str
    title: str
    body: str
    url: str | None
    thumbnail: Path | None  # a local file to attach, where the target can take one
    payload: dict


def compose(event: str, payload: dict, thumbnail_dir: Path | None = None) -> Message:
    """The message for `event`: its words, the link, and the job's thumbnail when one was made."""
    title, lines = _words(event, payload)
    url = payload.get("url") if isinstance(payload.get("url"), str) else None
    if url:
        lines.append(url)
    body = "\n".join(line for line in lines if line)[:MAX_BODY]
    thumbnail = _thumbnail(payload.get("job_id"), thumbnail_dir) if thumbnail_dir is not None else None
    return Message(event=event, title=title[:MAX_TITLE], body=body or title, url=url, thumbnail=thumbnail,
                   payload=payload)


def _words(event: str, p: dict) -> tuple[str, list[str]]:
    name = str(p.get("title") or p.get("name") or "").strip() or "(untitled)"
    message = str(p.get("message") or "").strip()
    if event == JOB_COMPLETED_EVENT:
        files = p.get("files") or 0
        size = f", {human_bytes(p['bytes'])}" if p.get("bytes") else ""
        count = f"{files} file{'s' if files != 1 else ''}{size}" if files else ""
        return f"Downloaded: {name}", [name, count]
    if event == JOB_FAILED_EVENT:
        return f"Download failed: {name}", [name, str(p.get("error") or "")[:500]]
    if event == NEW_ITEMS_EVENT:
        count = p.get("count") or 0
        return f"{count} new item{'s' if count != 1 else ''}: {name}", [message or f"{name}: {count} queued"]
    if event == SUBSCRIPTION_FAILED_EVENT:
        return f"Subscription failed: {name}", [str(p.get("error") or "")[:500]]
    if event == INVITE_USED_EVENT:
        return f"Invite used: {name}", [message or f"A guest used the invite “{name}”."]
    if event == WORKER_DOWN_EVENT:
        return str(p.get("title") or "Haul's worker stopped"), [message]
    if event == DISK_GUARD_EVENT:
        return str(p.get("title") or "Haul: disk space"), [message]
    if event == TEST_EVENT:
        return "Haul: test notification", [message or "If you can read this, Haul can reach this target."]
    return name, [message]


def _thumbnail(job_id, thumbnail_dir: Path) -> Path | None:
    """The first thumbnail made of the job's files (made after it completed; maybe none yet)."""
    if not isinstance(job_id, int):
        return None
    for sha256 in db.session.scalars(select(JobFile.sha256).where(JobFile.job_id == job_id).order_by(JobFile.id)
                                     .limit(20)):
        path = library_files.thumbnail_path(thumbnail_dir, sha256 or "")
        if path is not None and path.is_file():
            return path
    return None


def webhook_body(message: Message, delivery_id: int | None, sent_at: str) -> dict:
    """The JSON a webhook receives: the words, the link, the event's own fields under `data`."""
    data = {key: value for key, value in message.payload.items() if key != "event"}
    return {
        "event": message.event,
        "title": message.title,
        "message": message.body,
        "url": message.url,
        "job_id": message.payload.get("job_id"),
        "thumbnail_url": message.payload.get("thumbnail_url"),
        "delivery_id": delivery_id,
        "sent_at": sent_at,
        "data": data,
    }
