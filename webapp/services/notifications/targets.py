"""Notification targets: who may add, see, change and remove which, and what a target may be.

Rules (the API and Settings → Notifications share them):

- Every signed-in user manages their own targets; another user's target is 404 to them. Admins
  see and manage everyone's.
- Only an admin's target may be for all users (`all_users`: it hears of everyone's jobs) and
  only an admin may pick the server's events (SERVER_EVENTS: disk guard, worker down).
- An Apprise target is any URL the Apprise library understands; a webhook is an http(s) URL
  with an HMAC secret (made here when none is given, shown once).
- Only admins reach private addresses: a user's target must lead to public addresses. Checked
  here when it is saved (the host's addresses now) and again on every send (sending.py, and
  the worker's network guard on every connection).
- The URL and the secret are credentials: errors never quote them, and the API shows the URL
  masked (Apprise's own privacy form) except to its owner in the answer that created it.
"""
from __future__ import annotations

import re
import secrets
from urllib.parse import urlsplit

from sqlalchemy import func, select

from webapp.core import url_policy
from webapp.core.vocabulary import (
    APPRISE_TARGET,
    DISK_GUARD_EVENT,
    INVITE_USED_EVENT,
    JOB_COMPLETED_EVENT,
    JOB_FAILED_EVENT,
    NEW_ITEMS_EVENT,
    NOTIFY_EVENTS,
    SERVER_EVENTS,
    SUBSCRIPTION_FAILED_EVENT,
    TARGET_KINDS,
    WEBHOOK_TARGET,
    WORKER_DOWN_EVENT,
)
from webapp.errors import Forbidden, HaulError, Invalid, NotFound
from webapp.extensions import db
from webapp.models import NotificationTarget, User
from webapp.models.base import isoformat

# What people read for each event (forms, the events list of the API).
EVENT_LABELS = {
    JOB_COMPLETED_EVENT: "Job completed",
    JOB_FAILED_EVENT: "Job failed (after its last retry)",
    NEW_ITEMS_EVENT: "A collection or subscription found new items",
    SUBSCRIPTION_FAILED_EVENT: "Subscription failed",
    DISK_GUARD_EVENT: "Disk guard (free space low, and back)",
    WORKER_DOWN_EVENT: "Worker down",
    INVITE_USED_EVENT: "Invite used",
}
KIND_LABELS = {APPRISE_TARGET: "Apprise URL (ntfy, Gotify, Telegram, Discord, email …)",
               WEBHOOK_TARGET: "JSON webhook (signed with HMAC-SHA256)"}
MAX_NAME = 80
MAX_URL = 2000
MIN_SECRET, MAX_SECRET = 16, 200
MAX_TARGETS_PER_USER = 50
WRITABLE = ("name", "kind", "url", "secret", "events", "all_users", "enabled")
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]{0,19})://", re.IGNORECASE)


# -- who reaches which target --------------------------------------------------------------------


def list_targets(principal, everyone: bool = False) -> list[NotificationTarget]:
    """The caller's own targets; an admin's `everyone` lists every user's."""
    query = select(NotificationTarget).order_by(NotificationTarget.id)
    if not (everyone and principal.is_admin):
        query = query.where(NotificationTarget.owner_id == principal.user_id)
    return list(db.session.scalars(query))


def get_target(target_id: int, principal) -> NotificationTarget:
    """The target if the caller may reach it (their own, or any for an admin); else 404."""
    target = db.session.get(NotificationTarget, target_id) if 0 < target_id < 2**63 else None
    if target is None or not principal.can_see(target.owner_id):
        raise NotFound(f"No notification target with id {target_id}", error_code="target_not_found")
    return target


def owner_is_admin(target: NotificationTarget) -> bool:
    """Whether the target's owner is an admin now (private addresses, all users, server events)."""
    owner = db.session.get(User, target.owner_id)
    return bool(owner is not None and owner.is_admin)


# -- changes -------------------------------------------------------------------------------------


def create_target(principal, fields: dict) -> tuple[NotificationTarget, str | None]:
    """Add a target owned by the caller. Returns it and the webhook secret to show once (None
    for Apprise). Commits."""
    if principal.user_id is None:
        raise Forbidden("Notification targets belong to a user: sign in as one", error_code="user_required")
    count = db.session.scalar(select(func.count(NotificationTarget.id))
                              .where(NotificationTarget.owner_id == principal.user_id)) or 0
    if count >= MAX_TARGETS_PER_USER:
        raise Invalid(f"At most {MAX_TARGETS_PER_USER} notification targets per user", error_code="too_many_targets")
    _refuse_unknown(fields)
    target = NotificationTarget(owner_id=principal.user_id, events=[], all_users=False, enabled=True,
                                consecutive_failures=0)
    for required in ("name", "kind", "url"):
        if fields.get(required) in (None, ""):
            raise Invalid(f"{required} is required", error_code="invalid_target", extra={"field": required})
    shown_secret = _apply(target, fields, principal, admin_owner=principal.is_admin)
    db.session.add(target)
    db.session.commit()
    return target, shown_secret


def update_target(target_id: int, principal, fields: dict) -> tuple[NotificationTarget, str | None]:
    """Change the fields sent; returns the target and a new secret to show once (when one was
    made because the target became a webhook). Commits."""
    target = get_target(target_id, principal)
    try:
        _refuse_unknown(fields)
        shown_secret = _apply(target, fields, principal, admin_owner=owner_is_admin(target))
    except HaulError:
        db.session.rollback()  # the fields set before the refusal are not kept
        raise
    db.session.commit()
    return target, shown_secret


def delete_target(target_id: int, principal) -> None:
    """Remove a target and its undelivered messages. Commits."""
    target = get_target(target_id, principal)
    db.session.delete(target)
    db.session.commit()


def _refuse_unknown(fields: dict) -> None:
    unknown = sorted(set(fields) - set(WRITABLE))
    if unknown:
        raise Invalid(f"Unknown field {unknown[0]!r}", error_code="invalid_target", extra={"field": unknown[0]})


def _apply(target: NotificationTarget, fields: dict, principal, *, admin_owner: bool) -> str | None:
    """Check and set the fields sent; the checks that depend on several fields run on the result."""
    if "name" in fields:
        target.name = _name(fields["name"])
    if "kind" in fields:
        kind = fields["kind"]
        if kind not in TARGET_KINDS:
            raise Invalid(f"kind must be one of {', '.join(TARGET_KINDS)}", error_code="invalid_target",
                          extra={"field": "kind"})
        target.kind = kind
    if "url" in fields:
        url = fields["url"]
        if not isinstance(url, str) or not url.strip() or len(url) > MAX_URL:
            raise Invalid(f"url must be 1–{MAX_URL} characters", error_code="invalid_target", extra={"field": "url"})
        target.url = url.strip()
    if "events" in fields:
        target.events = _events(fields["events"], principal.is_admin)
    if "all_users" in fields:
        wanted = fields["all_users"]
        if not isinstance(wanted, bool):
            raise Invalid("all_users must be true or false", error_code="invalid_target", extra={"field": "all_users"})
        if wanted and not (principal.is_admin and admin_owner):
            raise Forbidden("Only an admin's target may hear of every user's jobs", error_code="admin_required")
        target.all_users = wanted
    if "enabled" in fields:
        if not isinstance(fields["enabled"], bool):
            raise Invalid("enabled must be true or false", error_code="invalid_target", extra={"field": "enabled"})
        target.enabled = fields["enabled"]
    shown_secret = None
    if target.kind == WEBHOOK_TARGET:
        if fields.get("secret") not in (None, ""):
            target.secret = _secret(fields["secret"])
        elif not target.secret:
            target.secret = shown_secret = secrets.token_urlsafe(32)
    elif "secret" in fields and fields["secret"] not in (None, ""):
        raise Invalid("Only a webhook has a secret", error_code="invalid_target", extra={"field": "secret"})
    else:
        target.secret = None
    check_url(target.kind, target.url, private_allowed=admin_owner)
    return shown_secret


def _name(value) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > MAX_NAME:
        raise Invalid(f"name must be 1–{MAX_NAME} characters", error_code="invalid_target", extra={"field": "name"})
    return value.strip()


def _secret(value) -> str:
    if not isinstance(value, str) or not MIN_SECRET <= len(value) <= MAX_SECRET or not value.isprintable():
        raise Invalid(f"secret must be {MIN_SECRET}–{MAX_SECRET} printable characters", error_code="invalid_target",
                      extra={"field": "secret"})
    return value


def _events(value, is_admin: bool) -> list[str]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
        raise Invalid("events must be a list of event names", error_code="invalid_target", extra={"field": "events"})
    unknown = [item for item in value if item not in NOTIFY_EVENTS]
    if unknown:
        raise Invalid(f"Unknown event {unknown[0][:40]!r}; the events are {', '.join(NOTIFY_EVENTS)}",
                      error_code="invalid_target", extra={"field": "events"})
    if not is_admin:
        server = [item for item in value if item in SERVER_EVENTS]
        if server:
            raise Forbidden(f"Only an admin may hear of the server's events ({', '.join(SERVER_EVENTS)})",
                            error_code="admin_required")
    return [name for name in NOTIFY_EVENTS if name in value]  # the vocabulary's order, once each


# -- what a URL may be ---------------------------------------------------------------------------


def check_url(kind: str, url: str, *, private_allowed: bool) -> None:
    """Raise Invalid unless `url` is a valid target of `kind` (and, unless `private_allowed`,
    leads to public addresses). The message never quotes the URL."""
    if kind == WEBHOOK_TARGET:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise Invalid("A webhook needs an http:// or https:// URL with a host", error_code="invalid_url",
                          extra={"field": "url"})
        try:
            parts.port  # noqa: B018  (raises on a bad port)
        except ValueError:
            raise Invalid("The webhook URL's port is not valid", error_code="invalid_url",
                          extra={"field": "url"}) from None
        if not private_allowed:
            check_public_host(parts.hostname, parts.port, must_resolve=True)
        return
    plugin = apprise_plugin(url)
    if plugin is None:
        scheme = _SCHEME.match(url)
        shown = f" ({scheme.group(1)}://)" if scheme else ""
        raise Invalid(f"Apprise does not recognise this URL{shown}; see the Apprise wiki for the services' URLs",
                      error_code="invalid_url", extra={"field": "url"})
    if not private_allowed:
        host = network_host(plugin)
        if host:
            # A plugin whose "host" is a token (Telegram's bot, Discord's webhook id) talks to its
            # service's fixed public host: a name that does not resolve is left to the send-time
            # guard, which checks every connection.
            check_public_host(host, getattr(plugin, "port", None), must_resolve=False)


def check_public_host(host: str, port: int | None, *, must_resolve: bool) -> None:
    """Raise Invalid (error_code private_address / unresolvable_host) unless every address of
    `host` is public."""
    reason = url_policy.known_private_reason(f"http://{_bracketed(host)}/")
    if reason:
        raise Invalid(f"Only an admin's target may lead to a private address: this one leads to {reason}",
                      error_code="private_address", extra={"field": "url"})
    try:
        addresses = url_policy.resolve(host, port)
    except (OSError, UnicodeError, ValueError):
        if must_resolve:
            raise Invalid("The URL's host name could not be resolved", error_code="unresolvable_host",
                          extra={"field": "url"}) from None
        return
    for address in addresses:
        reason = url_policy.non_public_reason(address)
        if reason:
            raise Invalid(f"Only an admin's target may lead to a private address: this host is {reason}",
                          error_code="private_address", extra={"field": "url"})


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def apprise_plugin(url: str):
    """Apprise's plugin object for `url`, or None when Apprise does not understand it."""
    import apprise  # noqa: PLC0415  (heavy: its plugins load on first use, only where a target is checked or sent)

    try:
        return apprise.Apprise.instantiate(url, asset=apprise.AppriseAsset(), suppress_exceptions=True) or None
    except Exception:  # a plugin's parser raising on odd input is a refusal, not a 500
        return None


def network_host(plugin) -> str | None:
    """The host an Apprise plugin connects to, when its URL names one (json://host, ntfy://host)."""
    host = getattr(plugin, "host", None)
    if not isinstance(host, str) or not host:
        return None
    if "." in host or ":" in host or host.lower() == "localhost" or url_policy.known_private_reason(
            f"http://{_bracketed(host)}/"):
        return host
    return None


# -- how the API and the page show a target -----------------------------------------------------


def masked_url(target: NotificationTarget) -> str:
    """The URL with its credentials hidden: the scheme, the host when it is one (json://host,
    ntfy://ntfy.sh; not Telegram's bot token) and the port; never a user, password, path or
    query, which carry the tokens. Made without Apprise, which costs the web process ~35 MB to load."""
    parts = urlsplit(target.url)
    host = parts.hostname or ""
    looks_like_host = "." in host or ":" in host or host == "localhost"
    try:
        port = f":{parts.port}" if parts.port and looks_like_host else ""
    except ValueError:
        port = ""
    shown_host = _bracketed(host) if looks_like_host else "…"
    rest = "…" if (parts.path not in ("", "/") or parts.query) else ""
    return f"{parts.scheme}://{shown_host}{port}/{rest}"


def to_dict(target: NotificationTarget, *, reveal: bool = False, secret: str | None = None,
            owner_name: str | None = None) -> dict:
    """The target as the API answers it; `reveal` (the owner's create answer) shows the URL in full."""
    data = {
        "id": target.id,
        "owner_id": target.owner_id,
        "name": target.name,
        "kind": target.kind,
        "url": target.url if reveal else masked_url(target),
        "events": list(target.events or ()),
        "all_users": bool(target.all_users),
        "enabled": bool(target.enabled),
        "has_secret": bool(target.secret),
        "last_success_at": isoformat(target.last_success_at),
        "last_error": target.last_error,
        "last_error_at": isoformat(target.last_error_at),
        "consecutive_failures": target.consecutive_failures or 0,
        "created_at": isoformat(target.created_at),
    }
    if owner_name is not None:
        data["owner"] = owner_name
    if secret:
        data["secret"] = secret
    return data


def owner_names(targets: list[NotificationTarget]) -> dict[int, str]:
    ids = {target.owner_id for target in targets}
    if not ids:
        return {}
    return dict(db.session.execute(select(User.id, User.username).where(User.id.in_(ids))).all())


def event_choices(is_admin: bool) -> list[dict]:
    """The events a user may pick (admins: all), with their labels."""
    return [{"name": name, "label": EVENT_LABELS[name], "server": name in SERVER_EVENTS}
            for name in NOTIFY_EVENTS if is_admin or name not in SERVER_EVENTS]


def health_summary() -> dict:
    """The targets' state for /health/detailed (admins): counts and the failing ones."""
    targets = list(db.session.scalars(select(NotificationTarget).order_by(NotificationTarget.id)))
    failing = [{"id": t.id, "name": t.name, "last_error": t.last_error, "last_error_at": isoformat(t.last_error_at)}
               for t in targets if t.enabled and (t.consecutive_failures or 0) > 0]
    return {"targets": len(targets), "enabled": sum(1 for t in targets if t.enabled), "failing": failing}

