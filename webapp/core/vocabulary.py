"""Haul's words, each defined once: job statuses, where a link came from, engines, presets, trust.

The values are plain strings, stored as they are in the database columns (`Job.status`,
`Job.source`, `Job.engine`, `Job.preset`, `Submission.trust`), sent in the API and shown on
the pages; the names here are what the code uses instead of the strings, and the tuples are the
lists every check, form, filter and OpenAPI enum is built from — so a new source or engine is
added in this one file. Presets are rows admins edit (webapp/models/preset.py); only the names
of the ones every install starts with are here. Plain constants rather than enums, like the statuses always
were: they go into SQL, JSON, YAML and templates with no conversion.

The module imports nothing, so the web app, the services and the download engines (which know
nothing of Flask or the database) all take their words from it.
"""

# -- job statuses -----------------------------------------------------------------------------
QUEUED, DOWNLOADING, COMPLETED, FAILED, CANCELLED = "queued", "downloading", "completed", "failed", "cancelled"
PAUSED = "paused"  # held back by a person: never claimed until resumed
STATUSES = (QUEUED, PAUSED, DOWNLOADING, COMPLETED, FAILED, CANCELLED)
ACTIVE_STATUSES = (QUEUED, PAUSED, DOWNLOADING)
# A URL with a job in one of these states is not downloaded again unless forced.
DEDUPE_STATUSES = (QUEUED, PAUSED, DOWNLOADING, COMPLETED)
FINISHED_STATUSES = (COMPLETED, FAILED, CANCELLED)

# -- kinds of job (Job.kind) --------------------------------------------------------------------
ITEM = "item"  # downloads its URL
COLLECTION = "collection"  # listed its URL (a playlist, channel, feed, gallery) and queued a child per entry
KINDS = (ITEM, COLLECTION)

# -- sources: the entry point a link came in through (Job.source, Submission.source) -----------
GUI = "gui"  # the queue page's form, and "download again" from the history
API = "api"  # /api/v1/queue, the seed API (/api/downloads) and the iOS Shortcuts endpoints
BOOKMARKLET = "bookmarklet"
SHARE = "share"  # the installed web app's share target (a phone's share sheet)
INVITE = "invite"  # a guest's link or upload through an invite
SUBSCRIPTION = "subscription"  # a subscription's scheduled or manual run
CLI = "cli"  # a command line client (no entry point yet)
IMPORT = "import"  # found on disk by a library rescan (files from an older install, or copied in)
# In the order the history page's filter offers them.
SOURCES = (GUI, API, BOOKMARKLET, SHARE, INVITE, SUBSCRIPTION, CLI, IMPORT)

# -- engines: what downloads a job (Job.engine, Job.requested_engine) --------------------------
GALLERY_DL, YTDLP, DIRECT = "gallery-dl", "yt-dlp", "direct"
# The engines a worker runs, each registered under its name in jobs/engines/registry.py; a
# submission may ask for any of them.
ENGINES = (GALLERY_DL, YTDLP, DIRECT)
# The download tools Haul embeds: each has its own list of sites and its own extra switches,
# and they are what a person picks by name (the queue page, the default engine): a direct link
# is recognised by its URL alone.
TOOLS = (GALLERY_DL, YTDLP)
AUTO = "auto"  # asked for instead of an engine: pick one per link (jobs/engines/picker.py)
# The engine recorded on the completed job a finished upload becomes (never run by a worker).
UPLOAD_ENGINE = "upload"
# The engine recorded on a job a library rescan made of files found on disk.
IMPORT_ENGINE = "import"

# -- kinds of file a job writes (JobFile.kind) -------------------------------------------------
MEDIA_FILE = "media"  # a video or an image: what the job is for
AUDIO_FILE = "audio"
SUBTITLE_FILE = "subtitle"
POSTER_FILE = "poster"  # a thumbnail kept beside a video, as media servers read it
INFO_JSON_FILE = "info-json"  # what the extractor knew, as the tool wrote it
NFO_FILE = "nfo"  # Kodi/Jellyfin metadata
OTHER_FILE = "other"
FILE_KINDS = (MEDIA_FILE, AUDIO_FILE, SUBTITLE_FILE, POSTER_FILE, INFO_JSON_FILE, NFO_FILE, OTHER_FILE)

# -- presets: the built-in presets' names (Job.preset; None means the configured default) ----------
# Presets are rows admins edit (webapp/models/preset.py, seeded from webapp/core/presets.py;
# webapp/services/library/presets.py checks a name against them); these names are those of
# the rows every install starts with.
BEST, P1080, P720, AUDIO = "best", "1080p", "720p", "audio"

# -- trust: who submitted, as the network policy sees them (Submission.trust) ------------------
ADMIN_TRUST, USER_TRUST, GUEST_TRUST = "admin", "user", "guest"
TRUSTS = (ADMIN_TRUST, USER_TRUST, GUEST_TRUST)

# -- what a notification target can hear of (NotificationTarget.events) --------------------------
JOB_COMPLETED_EVENT = "job_completed"
JOB_FAILED_EVENT = "job_failed"  # after its last attempt: a retry to come tells nobody
NEW_ITEMS_EVENT = "new_items"  # a subscription's or collection's run found items it had not seen
SUBSCRIPTION_FAILED_EVENT = "subscription_failed"
DISK_GUARD_EVENT = "disk_guard"  # free space fell below the threshold (and came back)
WORKER_DOWN_EVENT = "worker_down"
INVITE_USED_EVENT = "invite_used"
NOTIFY_EVENTS = (JOB_COMPLETED_EVENT, JOB_FAILED_EVENT, NEW_ITEMS_EVENT, SUBSCRIPTION_FAILED_EVENT,
                 DISK_GUARD_EVENT, WORKER_DOWN_EVENT, INVITE_USED_EVENT)
# Events about the server rather than someone's job: only admins' targets may hear them.
SERVER_EVENTS = (DISK_GUARD_EVENT, WORKER_DOWN_EVENT)
APPRISE_TARGET, WEBHOOK_TARGET = "apprise", "webhook"
TARGET_KINDS = (APPRISE_TARGET, WEBHOOK_TARGET)
