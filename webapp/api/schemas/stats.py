"""Schemas of /api/v1/stats/timeline and /api/v1/stats/platforms (the media-downloader seed's
shapes, with Haul's additions: cancelled, completed, bytes per bucket).

The choices come from webapp/services/library/stats.py, which checks them again (a combination
the schema cannot state, hours over a year, is refused there: 422 `invalid_group_by`).
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from webapp.api.common import MAX_ID
from webapp.services.library.stats import GROUPINGS, TIMELINE_PERIODS

_PERIOD = ("day or today (since 00:00 UTC), week (the last 7 days), month (30), year (365) or all; "
           "by the time a download was submitted")
_USER = ("Only this user's downloads (an admin; a user may give only their own id, another's is 403). "
         "Without it an admin sees everyone's, a user their own.")


class TimelineArgsSchema(Schema):
    period = fields.String(load_default="week", validate=validate.OneOf(TIMELINE_PERIODS),
                           metadata={"description": _PERIOD})
    group_by = fields.String(load_default="day", validate=validate.OneOf(GROUPINGS), metadata={
        "description": "Buckets: UTC hour, day, week (from Monday) or month; hour only with period day, today, "
                       "week or month (else 422 `invalid_group_by`)"})
    user_id = fields.Integer(strict=False, validate=validate.Range(min=1, max=MAX_ID), metadata={"description": _USER})


class PlatformArgsSchema(Schema):
    period = fields.String(load_default="all", validate=validate.OneOf(TIMELINE_PERIODS),
                           metadata={"description": _PERIOD})
    user_id = fields.Integer(strict=False, validate=validate.Range(min=1, max=MAX_ID), metadata={"description": _USER})


class _Outcomes(Schema):
    downloads = fields.Integer(required=True, metadata={"description": "Finished downloads: completed, failed "
                                                                       "(after their last retry) and cancelled"})
    success = fields.Integer(required=True, metadata={"description": "Completed (the seed's name)"})
    completed = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    cancelled = fields.Integer(required=True)
    total_size_bytes = fields.Integer(required=True, metadata={"description": "Bytes of their files"})


class TimelineBucketSchema(_Outcomes):
    timestamp = fields.String(required=True, metadata={"description": "The bucket's start, UTC (ISO 8601, Z)"})


class TimelineSchema(Schema):
    period = fields.String(required=True)
    group_by = fields.String(required=True)
    since = fields.String(allow_none=True, required=True, metadata={"description": "Where the period starts"})
    user_id = fields.Integer(allow_none=True, required=True,
                             metadata={"description": "Whose downloads are counted; null: everyone's"})
    timeline = fields.List(fields.Nested(TimelineBucketSchema), required=True, metadata={
        "description": "Oldest first, every bucket from the period's start (for all: the first download's) to "
                       "now, empty ones included"})


class PlatformFiguresSchema(_Outcomes):
    platform = fields.String(required=True, metadata={"description": "The site: the link's domain"})
    success_rate = fields.Float(allow_none=True, required=True, metadata={
        "description": "completed / (completed + failed) in percent, one decimal; null when neither"})


class PlatformStatsSchema(Schema):
    period = fields.String(required=True)
    since = fields.String(allow_none=True, required=True)
    user_id = fields.Integer(allow_none=True, required=True)
    platforms = fields.List(fields.Nested(PlatformFiguresSchema), required=True,
                            metadata={"description": "The 50 busiest sites, most downloads first, then by name"})
