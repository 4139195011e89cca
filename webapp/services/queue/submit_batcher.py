"""Group commit for the web server: submissions that arrive together are written together.

Each submission is a handful of statements and a commit; under load most of a request's time
went to them (and to SQLAlchemy's work around each). In the gevent web process every request
hands its checked submission (`submissions.Prepared`) to one writer greenlet and waits; the
writer takes everything that has queued up meanwhile and writes it in one transaction
(`submissions.write_batch`: one dedupe query, one INSERT per table, one commit, one wake-up
check). Alone, a request is written at once, so nothing waits for company; under load the
batches grow by themselves with the queue of waiting requests.

Only the web server under gevent batches (`start_web_services` installs it); the worker, the
CLI and the in-process tests write each submission directly, through the same write_batch.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from flask import current_app, has_app_context

from webapp.extensions import db

log = logging.getLogger(__name__)

MAX_BATCH = 64  # submissions per transaction: keeps one transaction short however deep the queue


def current():
    """The running app's batcher, or None where submissions are written directly."""
    return current_app.extensions.get("haul_submit_batcher") if has_app_context() else None


@dataclass(eq=False)
class _Waiting:
    prepared: object
    done: threading.Event = field(default_factory=threading.Event)
    outcome: object = None


class SubmitBatcher:
    """One writer (a greenlet under gevent) for every submission of this process."""

    def __init__(self, app, write_batch):
        """`write_batch` writes a list of prepared submissions in one transaction and returns one
        outcome each (submissions.write_batch, handed in so the two modules need not import each other)."""
        self.app = app
        self._write_batch = write_batch
        self._pending: list[_Waiting] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._writer: threading.Thread | None = None

    def submit(self, prepared):
        """Write `prepared` with whatever else is waiting; its SubmitResult, or its error raised."""
        # The request's own session holds a pooled connection it no longer needs: hand it back
        # before waiting, or fifty waiting requests would hold the whole pool. A commit (not a
        # close) keeps the objects it loaded, such as the signed-in user, in the session: they
        # reload if the request reads them again.
        db.session.commit()
        waiting = _Waiting(prepared)
        with self._lock:
            self._pending.append(waiting)
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(target=self._run, name="haul-submit-writer", daemon=True)
                self._writer.start()
        self._wake.set()
        waiting.done.wait()
        if isinstance(waiting.outcome, BaseException):
            raise waiting.outcome
        return waiting.outcome

    def _take(self) -> list[_Waiting]:
        with self._lock:
            batch = self._pending[:MAX_BATCH]
            del self._pending[:MAX_BATCH]
            if not self._pending:
                self._wake.clear()
        return batch

    def _run(self) -> None:
        while True:
            self._wake.wait()
            batch = self._take()
            if not batch:
                continue
            try:
                with self.app.app_context():
                    try:
                        outcomes = self._write_batch([waiting.prepared for waiting in batch])
                    finally:
                        db.session.remove()
            except Exception as exc:  # the database is unreachable, say: each request fails as it would alone
                log.exception("writing %d submission(s) failed", len(batch))
                outcomes = [exc] * len(batch)
            for waiting, outcome in zip(batch, outcomes):
                waiting.outcome = outcome
                waiting.done.set()
