"""Schemas of the queue's start/stop/status and a job's "start now" (webapp/api/queue_run.py)."""
from __future__ import annotations

from marshmallow import Schema, fields

from webapp.core.windows import DAYS


class WindowRuleSchema(Schema):
    days = fields.List(fields.String(metadata={"enum": list(DAYS)}), required=True)
    start = fields.String(required=True, metadata={"description": "HH:MM, wall-clock time in `timezone`"})
    end = fields.String(required=True, metadata={
        "description": "HH:MM or 24:00; not after `start`: the window ends on the next day"})


class WindowStateSchema(Schema):
    enabled = fields.Boolean(required=True, metadata={"description": "Windows are set (none: always open)"})
    open = fields.Boolean(required=True, metadata={"description": "Jobs may start now"})
    next_open = fields.String(allow_none=True, required=True, metadata={
        "description": "Closed: when the next window opens; open: when the one after this opens (UTC)"})
    next_close = fields.String(allow_none=True, required=True, metadata={
        "description": "Open: when this window closes; closed: when the next one closes (UTC)"})
    timezone = fields.String(required=True, metadata={"description": "The zone the rules' times are in"})
    rules = fields.List(fields.Nested(WindowRuleSchema), required=True)
    description = fields.String(required=True, metadata={"description": "The rules in words"})


class RunningJobSchema(Schema):
    id = fields.Integer(required=True)
    title = fields.String(allow_none=True, required=True)
    url = fields.String(required=True)
    progress = fields.Dict(required=True, metadata={"description": "As a job's `progress`"})
    speed = fields.Float(allow_none=True, required=True, metadata={"description": "Bytes per second"})
    started_at = fields.String(allow_none=True, required=True)


class WorkersSchema(Schema):
    alive = fields.Boolean(required=True, metadata={"description": "A worker's heartbeat is under 30 s old"})
    heartbeat_at = fields.String(allow_none=True, required=True)
    concurrency = fields.Integer(required=True, metadata={"description": "Downloads at once (the setting)"})
    threads = fields.Integer(required=True, metadata={"description": "Download threads a worker starts with"})
    worker_type = fields.String(required=True)


class QueueStatusSchema(Schema):
    paused = fields.Boolean(required=True, metadata={"description": "No job starts (pause or stop)"})
    stopped = fields.Boolean(required=True, metadata={
        "description": "Stopped: paused, and the downloads that ran were put back in the queue"})
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True, metadata={
        "description": "Jobs on the queue per status: a user's own, an admin's everyone's"})
    running = fields.List(fields.Nested(RunningJobSchema), required=True)
    workers = fields.Nested(WorkersSchema, required=True)
    window = fields.Nested(WindowStateSchema, required=True)
    disk_guard = fields.Dict(allow_none=True, required=True, metadata={"description": "The disk guard's state"})
    eta_seconds = fields.Float(allow_none=True, required=True, metadata={
        "description": "Estimated seconds until the queue (a user's: their jobs) is done; null when it cannot "
                       "be told (paused, or no completed download to average yet). See docs/operations.md"})
    average_download_seconds = fields.Float(allow_none=True, required=True, metadata={
        "description": "The last 50 completed downloads' average time"})


class QueueStopSchema(Schema):
    paused = fields.Boolean(required=True)
    stopped = fields.Boolean(required=True)
    interrupted = fields.Integer(required=True, metadata={
        "description": "Downloads being stopped and put back in the queue (within about a second)"})


class QueueStartSchema(Schema):
    paused = fields.Boolean(required=True)
    stopped = fields.Boolean(required=True)
    waiting = fields.Integer(required=True, metadata={"description": "Queued jobs"})
