"""Collections built straight in the database for tests of the web side: a parent as the worker
leaves it after listing (kind collection, following its children) and one child per status given.

The worker's listing (collections.expand) is tested elsewhere; here only the shape matters.
"""
from __future__ import annotations

from sqlalchemy import inspect

from webapp.core.vocabulary import COLLECTION, COMPLETED, DOWNLOADING, ITEM
from webapp.extensions import db
from webapp.models import Job, JobFile
from webapp.models.base import utcnow
from webapp.services.accounts.identity import Principal
from webapp.services.queue import collections
from webapp.services.queue.submissions import submit


def make_collection(owner, statuses, *, url="https://example.com/playlist", title="A playlist",
                    files: dict[int, list[str]] | None = None) -> tuple[Job, list[Job]]:
    """A collection of `owner` (a User) with one child per status in `statuses`, in order; `files`
    maps a child's place (from 0) to the paths it wrote. The parent follows its children."""
    result = submit([url], principal=Principal(owner), force=True)
    parent = db.session.get(Job, result.entries[0].job_id)
    parent.claim("tests")
    parent.kind, parent.title, parent.dedupe_key = COLLECTION, title, None
    now = utcnow()
    children = []
    for position, status in enumerate(statuses, start=1):
        child_url = f"{url.rstrip('/')}/item-{position}"
        child = Job(submission_id=parent.submission_id, url=child_url, domain=parent.domain, user_id=parent.user_id,
                    token_id=parent.token_id, source=parent.source, status=status, kind=ITEM, parent_id=parent.id,
                    position=position, item_key=f"tests:{parent.id}-{position}", title=f"Item {position}",
                    rank=parent.rank + position * collections.RANK_STEP,
                    dedupe_key=child_url if status in (COMPLETED, DOWNLOADING, "queued", "paused") else None,
                    finished_at=now if status in ("completed", "failed", "cancelled") else None,
                    error="It broke" if status == "failed" else None)
        db.session.add(child)
        children.append(child)
    db.session.flush()
    for place, paths in (files or {}).items():
        for path in paths:
            db.session.add(JobFile(job_id=children[place].id, path=path, size=3, sha256=f"{hash(path) & (2**64 - 1):064x}"))
    collections.refresh_parent(parent.id)
    db.session.commit()
    return parent, children


def fresh(job: Job) -> Job | None:
    """The row as stored now (by the object's identity: it works on a detached object too,
    as after a control that hands the session back)."""
    db.session.expire_all()
    return db.session.get(Job, inspect(job).identity[0])


def fresh_id(job: Job) -> int:
    return inspect(job).identity[0]
