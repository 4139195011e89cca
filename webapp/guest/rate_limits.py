"""Rate limits of guests, per address: new guest sessions and upload starts.

"Address" is the visitor's: request.remote_addr, which behind a reverse proxy is the client's
only with HAUL_TRUSTED_PROXIES set (werkzeug's ProxyFix, webapp/reverse_proxy.py); without it
every visitor shares the proxy's address, and so one allowance.

* **New guest sessions** (HAUL_GUEST_SESSIONS_PER_HOUR, 30 by default), counted over all
  invite links. A session is made when someone opens a link without one (a fresh browser, a
  script without cookies, a session ended by a password change); coming back with one's own
  session costs nothing. This bounds the guest rows a script can make and how fast one
  person can take the uses of a link by posing as many guests.
* **Upload starts** (HAUL_GUEST_UPLOAD_STARTS_PER_HOUR, 600 by default): every file a guest
  sends starts once, so this is files an hour; a guest choosing a day of photos at once stays
  far below it. What the uploads may hold is the invite's byte limits' business.

Both use Flask-Limiter's storage (memory, or Redis with HAUL_REDIS_URL), as the password gate
and link sending do.
"""
from __future__ import annotations

import time

from flask import current_app
from flask_limiter.util import get_remote_address
from limits import parse

from webapp.errors import TooManyRequests
from webapp.extensions import limiter


def _settings():
    return current_app.config["HAUL"]


def upload_starts_limit() -> str:
    """The upload-start limit as Flask-Limiter reads it (the configuration may differ per app)."""
    return f"{_settings().guest_upload_starts_per_hour} per hour"


def upload_starts_key() -> str:
    return f"guest-upload-starts:{get_remote_address()}"


def admit_new_session() -> None:
    """Count one new guest session for this address; TooManyRequests past the hourly allowance.

    Called only when a session is about to be made (invites.open_session's `admit_new`), so a
    guest who comes back with their session is never counted or refused."""
    if not limiter.enabled:
        return
    item = parse(f"{_settings().guest_sessions_per_hour} per hour")
    address = get_remote_address()
    strategy = limiter.limiter
    if strategy.hit(item, "guest-sessions", address):
        return
    reset_at = strategy.get_window_stats(item, "guest-sessions", address).reset_time
    raise TooManyRequests("Too many new visits from your network in the last hour. Wait a while, then open "
                          "the link again.", retry_after=max(1, int(reset_at - time.time()) + 1),
                          error_code="too_many_sessions")
