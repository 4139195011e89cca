"""JSON shapes of jobs and submissions, shared by the seed API, /api/v1 and the WebSocket."""
from __future__ import annotations

from webapp import window_view
from webapp.models import Job, Submission
from webapp.models.base import isoformat
from webapp.services.queue.events import progress_of


def file_json(f) -> dict:
    # kind: media, subtitle, poster, info-json, nfo … (vocabulary.FILE_KINDS); gone: a rescan found it missing.
    return {"path": f.path, "size": f.size, "sha256": f.sha256, "mime": f.mime, "kind": f.kind,
            "gone": f.gone_at is not None}


def submitter_json(job: Job) -> dict:
    """Who submitted a job: the user, the token's name and how they authenticated."""
    submission = job.submission
    user = submission.user if submission.user_id else None
    token = submission.token if submission.token_id else None
    return {
        "user": user.username if user else None,
        "token": token.name if token else None,
        "via": submission.submitted_via,
    }


def principal_submitter_json(principal) -> dict:
    """submitter_json for what `principal` is submitting now (read before the submission commits,
    while the user and token rows are still loaded)."""
    return {
        "user": principal.user.username if principal.user else None,
        "token": principal.token.name if principal.token else None,
        "via": principal.via,
    }


def job_json(job: Job, submitted_by: dict | None = None) -> dict:
    """A job as /api/v1/queue/<id> answers it (`submitted_by` when the caller knows it already)."""
    return {
        "id": job.id,
        "download_id": job.submission_id,
        "url": job.url,
        "domain": job.domain,
        "status": job.status,
        "engine": job.engine,
        "requested_engine": job.requested_engine,
        "preset": job.preset,  # None: the default preset when it starts (the worker decides then)
        "priority": job.priority,
        "source": job.source,
        "submitted_by": submitted_by or submitter_json(job),
        "title": job.title,
        "resource_id": job.resource_id,
        "progress": progress_of(job),
        "error": job.error,
        "attempts": job.attempts,
        "files": [file_json(f) for f in job.files],
        "created_at": isoformat(job.created_at),
        "started_at": isoformat(job.started_at),
        "finished_at": isoformat(job.finished_at),
        # Collections: a parent is "collection", each entry a child "item" with its place.
        "kind": job.kind,
        "parent_id": job.parent_id,
        "position": job.position,
        "item_key": job.item_key,
        "duplicate_of": job.duplicate_of_id,
        # Download windows: may start outside them; when it will start while they are closed
        # (shown as "scheduled"; the status stays queued). webapp/window_view.py.
        "run_now": bool(job.run_now),
        "scheduled_for": window_view.scheduled_for_json(job),
    }


def _seed_job_entry(item: dict, job: Job | None, with_state: bool, readable: bool) -> dict:
    duplicate_of = item.get("duplicate_of")
    entry = {
        "id": item["job_id"],
        "url": item["url"],
        "status": "duplicate" if duplicate_of else (job.status if job else "deleted"),
        "duplicate_of": duplicate_of,
    }
    if with_state:
        # Someone else's job (the link was theirs first): its id, URL and status only — never its
        # files, paths, error or the file it is writing.
        shown = job if readable else None
        entry["progress"] = progress_of(shown) if shown else None
        entry["error"] = shown.error if shown else None
        entry["files"] = [file_json(f) for f in shown.files] if shown else []
    return entry


def submit_result_json(result) -> dict:
    """POST /downloads's answer: the seed contract's download object, each job queued or a duplicate."""
    return {
        "download_id": result.submission_id,
        "post_title": result.post_title,
        "label": result.label,
        "urls": [entry.url for entry in result.entries],
        "queued_at": isoformat(result.queued_at),
        "jobs": [
            {
                "id": entry.job_id,
                "url": entry.url,
                "status": "duplicate" if entry.duplicate else "queued",
                "duplicate_of": entry.job_id if entry.duplicate else None,
            }
            for entry in result.entries
        ],
    }


def submission_json(submission: Submission, jobs_by_id: dict[int, Job], with_state: bool = False,
                    may_read=lambda job: True) -> dict:
    """GET /downloads/<id>: the seed contract's download object with each job's current state
    (only the id, URL and status of a job `may_read(job)` refuses)."""
    jobs = []
    for item in submission.items:
        job = jobs_by_id.get(item["job_id"])
        jobs.append(_seed_job_entry(item, job, with_state, readable=job is not None and may_read(job)))
    return {
        "download_id": submission.id,
        "post_title": submission.post_title,
        "label": submission.label,
        "urls": [item["url"] for item in submission.items],
        "queued_at": isoformat(submission.created_at),
        "jobs": jobs,
    }


def queued_jobs_json(result, jobs: list[Job], submitted_by: dict) -> dict:
    """POST /api/v1/queue's answer: the submission, its new jobs in full, and the URLs it did
    not queue again because a job already has them (`duplicates`)."""
    return {
        "download_id": result.submission_id,
        "post_title": result.post_title,
        "label": result.label,
        "queued_at": isoformat(result.queued_at),
        "jobs": [job_json(job, submitted_by) for job in jobs],
        "duplicates": [{"url": entry.url, "duplicate_of": entry.job_id} for entry in result.entries if entry.duplicate],
    }
