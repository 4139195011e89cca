"""A job's own log (what its tools said, jobs/job_log.py writes it) for the people who may see the
job: its owner and admins. Another's job is 404, as everywhere (job_control.get_visible_job)."""
from __future__ import annotations

import re
from dataclasses import dataclass

from webapp.extensions import db
from webapp.models.job_log import JobLog
from webapp.services.accounts.identity import Principal
from webapp.services.queue import job_control

# A line of a job's log: "HH:MM:SS LEVEL   source: message" (jobs/job_log.py).
_LINE = re.compile(r"^\d\d:\d\d:\d\d (?P<level>[A-Z]+)\s+(?P<source>[^:]+): (?P<message>.*)$")
PROBLEM_LEVELS = ("ERROR", "WARNING", "CRITICAL")


@dataclass(frozen=True)
class JobLogView:
    job_id: int
    text: str
    truncated: bool
    problems: tuple[str, ...]  # the tool's last error and warning lines: why it failed, in its words

    @property
    def empty(self) -> bool:
        return not self.text


def problems_of(text: str, limit: int = 3) -> tuple[str, ...]:
    """The last `limit` error/warning lines the tools (not Haul's runner) wrote, oldest first."""
    found = []
    for line in reversed(text.splitlines()):
        match = _LINE.match(line)
        if match and match["level"] in PROBLEM_LEVELS and match["source"] != "haul":
            found.append(f"{match['source']}: {match['message']}")
            if len(found) == limit:
                break
    return tuple(reversed(found))


def job_log(job_id: int, principal: Principal) -> JobLogView:
    """The job's log if `principal` may see the job (NotFound otherwise); empty when it has none yet."""
    job = job_control.get_visible_job(job_id, principal)
    row = db.session.get(JobLog, job.id)
    text = row.text if row is not None else ""
    return JobLogView(job.id, text, bool(row is not None and row.truncated), problems_of(text))
