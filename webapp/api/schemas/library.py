"""Schemas of /api/v1/library: the library rescan's state (webapp/services/library/rescan.py)."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from webapp.services.library import rescan


def _count(description: str) -> fields.Integer:
    return fields.Integer(required=True, metadata={"description": description})


class RescanCountsSchema(Schema):
    scanned = _count("Files looked at on disk (symbolic links and partial files included)")
    known = _count("Files on disk a record already names")
    imported_jobs = _count("Imported downloads created (one per folder, or per video or song of a folder)")
    imported_files = _count("Files recorded in them")
    duplicate_files = _count("Imported files whose content the library already had under another path "
                             "(recorded all the same: they are files on disk)")
    gone = _count("Recorded files found missing (now marked gone)")
    back = _count("Recorded files marked gone that are there again")
    skipped = _count("Files left for the next rescan: changed in the last seconds, partial or hidden files, "
                     "symbolic links, files of a download running now")
    errors = _count("Files or folders that could not be read (see `problems`)")


class RescanProblemSchema(Schema):
    path = fields.String(required=True, metadata={"description": "Relative to the storage root"})
    detail = fields.String(required=True)


class RescanRequesterSchema(Schema):
    id = fields.Integer(required=True)
    username = fields.String(allow_none=True)


class RescanSchema(Schema):
    id = fields.Integer(allow_none=True, metadata={"description": "The rescan's number; null before the first"})
    status = fields.String(required=True, validate=validate.OneOf(rescan.STATUSES), metadata={
        "description": "never (none yet), queued (waiting for the worker), running, completed, failed, or "
                       "interrupted (the worker stopped, or went silent for minutes)"})
    running = fields.Boolean(required=True, metadata={"description": "queued or running: another is refused (409)"})
    via = fields.String(allow_none=True, metadata={"description": "session, token, static-token or cli"})
    requested_by = fields.Nested(RescanRequesterSchema, allow_none=True, metadata={
        "description": "The admin who asked; null from the command line or the static token"})
    requested_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    started_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    finished_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    heartbeat_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    phase = fields.String(allow_none=True, metadata={"description": "records (checking the recorded files), "
                                                                    "files (walking the disk)"})
    counts = fields.Nested(RescanCountsSchema, required=True)
    elapsed_seconds = fields.Float(metadata={"description": "How long it has run"})
    problems = fields.List(fields.Nested(RescanProblemSchema), metadata={"description": "The first errors"})
    error = fields.String(allow_none=True, metadata={"description": "Why it failed or was interrupted"})
    storage_root = fields.String(metadata={"description": "The folder the rescan walks (HAUL_STORAGE_ROOT)"})
