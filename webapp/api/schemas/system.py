"""Schemas of /api/v1/settings, /users, /platforms and /stats/overview.

The validators are built from the services' own constants (roles, username pattern, password
length, engine and preset choices), so the document states the rules the services enforce;
the services still check every value (one set of rules for the GUI and the API).
"""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate

from webapp.core.vocabulary import TOOLS
from webapp.models.user import ROLES
from webapp.services.accounts.identity import MIN_PASSWORD_LENGTH, USERNAME_RE
from webapp.services.admin import cookie_access, limits_settings, runtime_settings, window_settings

MAX_PASSWORD_LENGTH = 256  # webapp/services/users.check_password
PLATFORM_TOOLS = TOOLS

# Settings ---------------------------------------------------------------------------------------

_NULL_RESTORES = "null restores the default (the environment's value)."
_ALLOWLIST = ("Only switches on Haul's allowlist are accepted (rate limits, retries and pauses, format selection "
              "and sorting, playlist items and ranges, size and date limits, subtitles, user agent and referer, "
              "proxy, geo bypass, timeouts; the Settings page lists every one); any other switch, a URL or a "
              "value a switch cannot take is refused (422 `invalid_settings` naming the switch).")


class ByteSize(fields.Field):
    """Bytes as a whole number, or a size as people type it ("500K", "5M", "2G": powers of 1024);
    the settings' own rules check the value (422 `invalid_settings` naming the key)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValidationError("Enter a number of bytes or a size such as 500K, 5M or 2G")
        return value


_SIZE_TYPE = {"oneOf": [{"type": "integer", "minimum": 0}, {"type": "string", "maxLength": 40}]}


class SettingsPatchSchema(Schema):
    """The settings to change; a key left out is left as it is, null restores its default."""

    download_concurrency = fields.Integer(
        strict=True, allow_none=True, validate=validate.Range(min=1),
        metadata={"description": "Downloads at once, 1 to `limits.download_concurrency.max` "
                                 f"(16 for thread workers; HAUL_WORKERS for process workers). {_NULL_RESTORES}"})
    job_timeout_seconds = fields.Integer(
        strict=True, allow_none=True, validate=validate.Range(min=0, max=runtime_settings.MAX_TIMEOUT_SECONDS),
        metadata={"description": f"Seconds a job may run, 0 for no limit. {_NULL_RESTORES}"})
    default_engine = fields.String(
        allow_none=True, validate=validate.OneOf(runtime_settings.ENGINE_CHOICES),
        metadata={"description": f"The engine for links that ask for none. {_NULL_RESTORES}"})
    default_preset = fields.String(
        allow_none=True, validate=validate.Length(max=16),
        metadata={"description": "A preset's name, see /api/v1/presets: what links that ask for none download "
                                 f"with (422 `invalid_settings` for one that is not there). {_NULL_RESTORES}"})
    gallery_dl_extra_args = fields.String(
        allow_none=True, validate=validate.Length(max=runtime_settings.MAX_ARGS_LENGTH),
        metadata={"description": f"Extra gallery-dl switches. {_ALLOWLIST} \"\" for none. {_NULL_RESTORES}"})
    ytdlp_extra_args = fields.String(
        allow_none=True, validate=validate.Length(max=runtime_settings.MAX_ARGS_LENGTH),
        metadata={"description": f"Extra yt-dlp switches. {_ALLOWLIST} \"\" for none. {_NULL_RESTORES}"})
    users_private_addresses = fields.Boolean(
        allow_none=True,
        metadata={"description": "Whether users' links (not only admins') may reach private addresses: the "
                                 "local network, this server, 169.254.169.254. Off by default. "
                                 f"{_NULL_RESTORES}"})
    max_streams = fields.Integer(
        strict=True, allow_none=True, validate=validate.Range(min=1, max=runtime_settings.MAX_MAX_STREAMS),
        metadata={"description": "Live connections (SSE, WebSocket) one user, token or guest may hold at once; "
                                 f"the next is answered 429. Default 20. {_NULL_RESTORES}"})
    subscription_min_interval_minutes = fields.Integer(
        strict=True, allow_none=True,
        validate=validate.Range(min=1, max=runtime_settings.MAX_SUBSCRIPTION_MIN_INTERVAL),
        metadata={"description": "The shortest schedule a subscription may have, in minutes (1 to 1440): a "
                                 "schedule running more often is refused (422 `schedule_too_frequent`). "
                                 f"Default 15. {_NULL_RESTORES}"})
    disk_guard_min_free_bytes = ByteSize(
        allow_none=True,
        metadata={**_SIZE_TYPE, "description": "The disk guard: no new job starts while the storage disk has less "
                  "free space than the SMALLER of this and `disk_guard_min_free_percent` of the disk. Bytes or a size "
                  f"(\"2G\"); 0 switches this rule off. Default 2 GiB. {_NULL_RESTORES}"})
    disk_guard_min_free_percent = fields.Integer(
        strict=True, allow_none=True, validate=validate.Range(min=0, max=limits_settings.MAX_MIN_FREE_PERCENT),
        metadata={"description": "The disk guard's other rule: percent of the disk kept free (0 to 50; 0 switches "
                                 f"it off; both 0 switch the guard off). Default 5. {_NULL_RESTORES}"})
    bandwidth_limit = ByteSize(
        allow_none=True,
        metadata={**_SIZE_TYPE, "description": "Bytes per second for all running downloads together, split among "
                  "them; bytes or a size (\"5M\", \"500K\"); 0 for no limit, else at least 16K. Applies to running "
                  f"downloads within a few seconds. Default 0. {_NULL_RESTORES}"})
    per_job_bandwidth_limit = ByteSize(
        allow_none=True,
        metadata={**_SIZE_TYPE, "description": "Bytes per second for each download on its own (within "
                  f"`bandwidth_limit`); 0 for no limit, else at least 16K. Default 0. {_NULL_RESTORES}"})
    # Checked by the service (webapp/core/windows.py), whose 422 names the rule that is wrong.
    download_windows = fields.List(
        fields.Dict(keys=fields.String()), allow_none=True, validate=validate.Length(max=window_settings.MAX_RULES),
        metadata={"description": "When new downloads may start: rules like "
                                 '{"days": ["mon", "tue"], "start": "01:00", "end": "07:00"} (days mon … sun; times '
                                 "HH:MM in `download_windows_timezone`; an end not after the start is on the next "
                                 "day; end 24:00 is midnight). Outside them a queued job waits (shown as scheduled, "
                                 "`scheduled_for`) unless it is `run_now`. [] for none: always open. "
                                 f"{_NULL_RESTORES}"})
    download_windows_timezone = fields.String(
        allow_none=True, validate=validate.Length(max=64),
        metadata={"description": "The IANA time zone the windows' times are in (Europe/Berlin, UTC …); default the "
                                 f"server's own. {_NULL_RESTORES}"})


class SettingValueSchema(Schema):
    value = fields.Raw(required=True, metadata={"description": "The value in force now"})
    default = fields.Raw(required=True, metadata={"description": "The environment's value"})
    stored = fields.Boolean(required=True, metadata={"description": "Whether an admin's value overrides the default"})
    env = fields.String(allow_none=True, required=True,
                        metadata={"description": "The HAUL_* variable the default comes from, if any"})
    refused = fields.String(allow_none=True, required=True,
                            metadata={"description": "Extra switches only: why the stored value is refused now "
                                                     "(it was saved before the allowlist refused it). Jobs then "
                                                     "use `default` until the value is changed."})


class SettingsValuesSchema(Schema):
    download_concurrency = fields.Nested(SettingValueSchema, required=True)
    job_timeout_seconds = fields.Nested(SettingValueSchema, required=True)
    default_engine = fields.Nested(SettingValueSchema, required=True)
    default_preset = fields.Nested(SettingValueSchema, required=True)
    gallery_dl_extra_args = fields.Nested(SettingValueSchema, required=True)
    ytdlp_extra_args = fields.Nested(SettingValueSchema, required=True)
    users_private_addresses = fields.Nested(SettingValueSchema, required=True)
    max_streams = fields.Nested(SettingValueSchema, required=True)
    subscription_min_interval_minutes = fields.Nested(SettingValueSchema, required=True)
    disk_guard_min_free_bytes = fields.Nested(SettingValueSchema, required=True)
    disk_guard_min_free_percent = fields.Nested(SettingValueSchema, required=True)
    bandwidth_limit = fields.Nested(SettingValueSchema, required=True)
    per_job_bandwidth_limit = fields.Nested(SettingValueSchema, required=True)
    download_windows = fields.Nested(SettingValueSchema, required=True)
    download_windows_timezone = fields.Nested(SettingValueSchema, required=True)


class StorageSchema(Schema):
    root = fields.String(required=True, metadata={"description": "The library's folder on the server"})
    files = fields.Integer(required=True, metadata={"description": "Files recorded in the library"})
    library_bytes = fields.Integer(required=True, metadata={"description": "Their total size"})
    total_bytes = fields.Integer(allow_none=True, required=True)
    used_bytes = fields.Integer(allow_none=True, required=True)
    free_bytes = fields.Integer(allow_none=True, required=True)


class SettingsSchema(Schema):
    settings = fields.Nested(SettingsValuesSchema, required=True)
    limits = fields.Dict(required=True, metadata={"description": "Bounds and choices of each setting"})
    worker_type = fields.String(required=True, metadata={"description": "HAUL_WORKER_TYPE: thread or process"})
    storage = fields.Nested(StorageSchema, required=True, metadata={"description": "Read-only"})
    disk_guard = fields.Dict(required=True, metadata={
        "description": "Read-only: the disk guard now — tripped (no new job starts), reason (low_space or "
                       "disk_full), since, free_bytes, total_bytes, threshold_bytes (null: the guard is off), "
                       "min_free_bytes, min_free_percent, checked_at, message (the queue page's banner)"})
    changed = fields.List(fields.String(), metadata={"description": "PATCH only: the keys whose value changed"})


class SettingsValidationSchema(Schema):
    valid = fields.Boolean(required=True)
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), required=True,
                         metadata={"description": "Messages per refused key (the tool's own for switches)"})


class CookieUserSchema(Schema):
    id = fields.Integer(required=True)
    username = fields.String(required=True)


class CookieAccessSchema(Schema):
    who = fields.String(required=True, validate=validate.OneOf(cookie_access.CHOICES),
                        metadata={"description": "`admins`: only admins' jobs use the file (the default); `users`: "
                                                 "every user's jobs too; `chosen`: the jobs of the users listed. "
                                                 "A guest's job never uses any cookie file."})
    users = fields.List(fields.Nested(CookieUserSchema), required=True,
                        metadata={"description": "The chosen users (`chosen` only)"})


class CookieFileSchema(Schema):
    site = fields.String(required=True)
    size = fields.Integer(required=True)
    modified = fields.String(required=True)
    cookies = fields.Integer(required=True, metadata={"description": "Cookies in the file"})
    expired = fields.Integer(required=True, metadata={"description": "Of them, already expired"})
    access = fields.Nested(CookieAccessSchema, required=True, metadata={"description": "Whose jobs may use it"})


class CookieAccessPatchSchema(Schema):
    who = fields.String(required=True, validate=validate.OneOf(cookie_access.CHOICES),
                        metadata={"description": "`admins`, `users` (every user) or `chosen` (those in `users`)"})
    users = fields.List(fields.Integer(strict=True), load_default=list, validate=validate.Length(max=1000),
                        metadata={"description": "User ids, for `chosen` (ignored otherwise); not admins, who "
                                                 "may always use the cookies"})


class CookieUploadSchema(Schema):
    site = fields.String(validate=validate.Length(max=253), allow_none=True,
                         metadata={"description": "e.g. example.com; guessed from the cookies when left out"})
    cookies = fields.String(required=True, validate=validate.Length(min=1, max=512 * 1024),
                            metadata={"description": "A Netscape cookies.txt, as text"})


# Users -----------------------------------------------------------------------------------------


class AccountSchema(Schema):
    id = fields.Integer(required=True)
    username = fields.String(required=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    created_at = fields.String(allow_none=True, required=True)
    active_tokens = fields.Integer(required=True, metadata={"description": "Personal tokens not revoked"})


class AccountListSchema(Schema):
    items = fields.List(fields.Nested(AccountSchema), required=True)
    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    pages = fields.Integer(required=True)


class PageArgsSchema(Schema):
    page = fields.Integer(validate=validate.Range(min=1, max=10**9), metadata={"description": "From 1"})
    per_page = fields.Integer(validate=validate.Range(min=1, max=200), metadata={"description": "1–200, default 50"})


def _password(**kwargs):
    return fields.String(validate=validate.Length(min=MIN_PASSWORD_LENGTH, max=MAX_PASSWORD_LENGTH),
                         load_only=True, **kwargs)


class AccountCreateSchema(Schema):
    username = fields.String(required=True, validate=validate.Regexp(USERNAME_RE),
                             metadata={"description": "1–64 letters, digits or . _ @ -; unique, ignoring case"})
    password = _password(required=True)
    role = fields.String(load_default="user", validate=validate.OneOf(ROLES))


class AccountPatchSchema(Schema):
    role = fields.String(validate=validate.OneOf(ROLES),
                         metadata={"description": "Haul keeps at least one admin; nobody changes their own role"})
    password = _password(metadata={"description": "A new password (an admin's reset): the user is signed out "
                                                  "everywhere (browsers, access/refresh pairs, live streams)"})
    revoke_tokens = fields.Boolean(load_default=True, metadata={
        "description": "With `password`: also revoke the user's personal API tokens (the default)"})


# Platforms and the overview -----------------------------------------------------------------------


class PlatformArgsSchema(Schema):
    tool = fields.String(validate=validate.OneOf(PLATFORM_TOOLS), metadata={"description": "Only this tool's"})
    search = fields.String(validate=validate.Length(max=200),
                           metadata={"description": "Case-insensitive part of the name, a subcategory or the description"})


class ToolSchema(Schema):
    version = fields.String(allow_none=True, required=True)
    count = fields.Integer(required=True, metadata={"description": "Platforms listed for it (after the filters)"})
    error = fields.String(metadata={"description": "Why the list could not be read, when it could not"})


class PlatformSchema(Schema):
    name = fields.String(required=True, metadata={"description": "gallery-dl's category or yt-dlp's IE_NAME"})
    tool = fields.String(required=True, validate=validate.OneOf(PLATFORM_TOOLS))
    description = fields.String(allow_none=True, metadata={"description": "yt-dlp's IE_DESC"})
    key = fields.String(metadata={"description": "yt-dlp's extractor key (for `--use-extractors`)"})
    working = fields.Boolean(metadata={"description": "yt-dlp: whether the extractor is marked working"})
    subcategories = fields.List(fields.String(), metadata={"description": "gallery-dl's subcategories"})
    base = fields.String(metadata={"description": "gallery-dl: the shared extractor of this site "
                                                 "(e.g. mastodon), which `base:URL` extends to other sites"})


class PlatformsSchema(Schema):
    tools = fields.Dict(keys=fields.String(), values=fields.Nested(ToolSchema), required=True)
    platforms = fields.List(fields.Nested(PlatformSchema), required=True)


class FinishedCountsSchema(Schema):
    today = fields.Integer(required=True)
    week = fields.Integer(required=True)
    month = fields.Integer(required=True)
    total = fields.Integer(required=True)


class NextRunSchema(Schema):
    subscription_id = fields.Integer(required=True)
    name = fields.String(required=True)
    scheduled_time = fields.String(required=True, metadata={"description": "When it runs (UTC, ISO 8601)"})
    in_seconds = fields.Integer(required=True, metadata={"description": "Seconds from now (0: due)"})


class DownloadWindowSchema(Schema):
    enabled = fields.Boolean(required=True, metadata={"description": "Whether download windows are set"})
    open = fields.Boolean(required=True, metadata={"description": "Whether new downloads may start now"})
    next_open = fields.String(allow_none=True, required=True,
                              metadata={"description": "When the next window opens (UTC), while closed"})


class OverviewSchema(Schema):
    scope = fields.String(required=True, validate=validate.OneOf(("all", "own")),
                          metadata={"description": "all: every user's jobs (admin); own: the caller's"})
    jobs = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True,
                       metadata={"description": "Jobs per status"})
    completed = fields.Nested(FinishedCountsSchema, required=True,
                              metadata={"description": "Jobs completed since the start of today, this week "
                                                       "(Monday) and this month, UTC; and ever"})
    failed = fields.Nested(FinishedCountsSchema, required=True)
    library = fields.Dict(required=True, metadata={"description": "files and bytes recorded"})
    storage = fields.Dict(required=True, metadata={"description": "total_bytes, used_bytes, free_bytes of the disk"})
    worker = fields.Dict(required=True, metadata={"description": "alive, heartbeat_at, seconds_since_heartbeat"})
    queue = fields.Dict(required=True, metadata={"description": "paused"})
    success_rate = fields.Float(allow_none=True, required=True, metadata={
        "description": "Jobs completed / (completed + failed), ever, in percent with one decimal; null when none"})
    next_scheduled_run = fields.Nested(NextRunSchema, allow_none=True, required=True, metadata={
        "description": "The enabled subscription (the caller's own, for a user) that runs next; null when none"})
    download_window = fields.Nested(DownloadWindowSchema, required=True, metadata={
        "description": "The admin's download windows: open now, or when the next opens"})
