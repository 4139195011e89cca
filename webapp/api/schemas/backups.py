"""Schemas of /api/v1/config (backups, housekeeping, export/import) and POST /api/v1/history/cleanup."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from webapp.services.admin import housekeeping_settings as housekeeping

NAME_PATTERN = r"^haul-[0-9A-Za-z-]{1,80}\.db$"


class BackupSchema(Schema):
    name = fields.String(required=True, metadata={"description": "The file's name in the backup folder"})
    size = fields.Integer(required=True, metadata={"description": "Bytes"})
    created = fields.String(required=True, metadata={"description": "When it was made (ISO 8601, UTC)"})
    has_secret_key = fields.Boolean(required=True, metadata={"description": "The generated secret key was copied "
                                                                            "beside it"})
    revision = fields.String(allow_none=True, metadata={"description": "The database schema revision inside"})
    before_restore = fields.Boolean(required=True, metadata={"description": "The database as it was before a "
                                                                            "restore, kept by that restore"})


class BackupListSchema(Schema):
    items = fields.List(fields.Nested(BackupSchema), required=True)
    total = fields.Integer(required=True)
    available = fields.Boolean(required=True, metadata={"description": "false on PostgreSQL (use pg_dump) or an "
                                                                       "in-memory database"})
    detail = fields.String(allow_none=True, metadata={"description": "Why backups are not available"})


class BackupCreatedSchema(Schema):
    backup = fields.Nested(BackupSchema, required=True)
    message = fields.String(required=True)


class MessageSchema(Schema):
    message = fields.String(required=True)


class RestoreResultSchema(Schema):
    restored = fields.String(required=True)
    revision_restored = fields.String(required=True)
    revision_now = fields.String(required=True)
    kept_as = fields.String(required=True, metadata={"description": "The previous database, now a backup of that name"})
    requeued = fields.Integer(required=True, metadata={"description": "Jobs queued again (they were running)"})
    message = fields.String(required=True)


class HousekeepingSchema(Schema):
    backup_schedule_enabled = fields.Boolean(required=True)
    backup_schedule_hour = fields.Integer(required=True, metadata={"description": "Hour of the day (UTC)"})
    backup_keep = fields.Integer(required=True)
    retention_days = fields.Integer(required=True, metadata={"description": "0: the history is kept forever"})
    retention_delete_files = fields.Boolean(required=True)


class HousekeepingPatchSchema(Schema):
    backup_schedule_enabled = fields.Boolean(allow_none=True)
    backup_schedule_hour = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=0, max=23))
    backup_keep = fields.Integer(strict=True, allow_none=True,
                                 validate=validate.Range(min=1, max=housekeeping.MAX_KEEP))
    retention_days = fields.Integer(strict=True, allow_none=True,
                                    validate=validate.Range(min=0, max=housekeeping.MAX_RETENTION_DAYS))
    retention_delete_files = fields.Boolean(allow_none=True)


class ExportArgsSchema(Schema):
    include_password_hashes = fields.Boolean(load_default=False, metadata={
        "description": "Also the users' and invites' password hashes (keep such a file as safe as a password)"})


class ImportArgsSchema(Schema):
    dry_run = fields.Boolean(load_default=True, metadata={
        "description": "true (the default): only report what would change. false: apply, all or nothing"})


class ConfigDocumentSchema(Schema):
    """The document GET /config/export answers and POST /config/import takes."""

    class Meta:
        unknown = "include"

    version = fields.Integer(required=True, strict=True, validate=validate.Equal(1))
    exported_at = fields.String()
    settings = fields.Dict(keys=fields.String(), metadata={"description": "{key: value}: only values that differ "
                                                                          "from the defaults"})
    presets = fields.List(fields.Dict())
    subscriptions = fields.List(fields.Dict(), metadata={"description": "Each with `owner` (a username or null)"})
    notification_targets = fields.List(fields.Dict(), metadata={"description": "Each with `owner` and `name`; "
                                                                                "its url and secret included"})
    invites = fields.List(fields.Dict(), metadata={"description": "Without links (an imported invite gets a new one)"})
    users = fields.List(fields.Dict(), metadata={"description": "username, role (password_hash only when asked)"})


class ImportItemSchema(Schema):
    key = fields.String(required=True)
    action = fields.String(required=True, validate=validate.OneOf(("created", "updated", "unchanged", "error")))
    error = fields.String()


class ImportSectionSchema(Schema):
    created = fields.Integer(required=True)
    updated = fields.Integer(required=True)
    unchanged = fields.Integer(required=True)
    errors = fields.Integer(required=True)
    items = fields.List(fields.Nested(ImportItemSchema), required=True)


class ImportReportSchema(Schema):
    valid = fields.Boolean(required=True, metadata={"description": "No item was refused"})
    applied = fields.Boolean(required=True, metadata={"description": "The changes were committed"})
    dry_run = fields.Boolean(required=True)
    sections = fields.Dict(keys=fields.String(), values=fields.Nested(ImportSectionSchema), required=True)


class CleanupSchema(Schema):
    dry_run = fields.Boolean(load_default=False, metadata={"description": "Only report what would be removed"})
    days_old = fields.Integer(strict=True, allow_none=True, validate=validate.Range(
        min=1, max=housekeeping.MAX_RETENTION_DAYS), metadata={
        "description": "Remove finished jobs older than this many days (default: the retention_days setting; "
                       "with neither, no job is removed)"})
    delete_files = fields.Boolean(allow_none=True, metadata={
        "description": "Delete the removed jobs' files too (default: the retention_delete_files setting)"})
    partial_files = fields.Boolean(load_default=True, metadata={
        "description": "Also remove orphaned partial files (older than an hour, in no running job's folder)"})


class CleanupResultSchema(Schema):
    dry_run = fields.Boolean(required=True)
    retention_days = fields.Integer(required=True)
    delete_files = fields.Boolean(required=True)
    jobs = fields.Integer(required=True, metadata={"description": "History entries removed (or that would be)"})
    job_ids = fields.List(fields.Integer(), required=True, metadata={"description": "The first 200 of them"})
    files_removed = fields.Integer(required=True)
    partial_files = fields.Integer(required=True)
    partial_bytes = fields.Integer(required=True)
    partial_paths = fields.List(fields.String(), required=True, metadata={
        "description": "The first 200, relative to the storage root"})
    problems = fields.List(fields.String(), required=True)
