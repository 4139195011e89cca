"""Queue start and stop (the Aniworld seed's POST /queue/start and /queue/stop).

Stop is pause plus interruption: no job starts (the pause), and every running download is
stopped and put back in the queue — its status `queued` again, the attempt not counted, its
partial files removed, its place kept — exactly as when the worker shuts down
(jobs/runner.py: each job's monitor watches the stop row and ends its run with the SHUTDOWN
outcome). Nothing is cancelled or lost: start runs them again from the beginning. Cancelling
them instead would throw away what people asked for with one click meant to "stop for now"; a
job anyone wants gone is cancelled on its own.

Start is resume: the pause and the stop end together (pause.set_paused(False) clears both),
and the workers are woken. "Resume all" on a stopped queue starts it too.
"""
from __future__ import annotations

from sqlalchemy import func, select

from webapp.core.vocabulary import DOWNLOADING, ITEM
from webapp.extensions import db
from webapp.models import Job
from webapp.services.queue import events, job_control
from webapp.services.queue import pause as queue_state


def stop() -> int:
    """Pause the queue and interrupt what runs; returns how many downloads are being put back.

    The interruptions happen in the worker within about a second (each monitor polls every
    0.4 s); the answer does not wait for them."""
    queue_state.set_paused(True)
    queue_state.set_stopped(True)
    # The pause's own event, marked: live pages redraw the toolbar (its banner says "stopped").
    events.publish_queue(events.QUEUE_PAUSED, stopped=True)
    db.session.commit()
    return db.session.scalar(select(func.count(Job.id)).where(Job.status == DOWNLOADING, Job.kind == ITEM)) or 0


def start() -> int:
    """End a stop or a pause and wake the workers; returns how many jobs wait to start."""
    return job_control.resume_all()


def is_stopped() -> bool:
    return queue_state.is_stopped()
