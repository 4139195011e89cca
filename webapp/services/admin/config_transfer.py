"""Haul's configuration as one JSON document: export it, and import one (checked first, then all at once).

The document: {version, exported_at, settings, presets, subscriptions, notification_targets,
invites, users}. What it never holds: API tokens, sign-in sessions, invite links (they derive
from the secret key and a per-invite nonce: an imported invite gets a new link), the history,
the library. Users' password hashes and invites' password hashes only with
`include_password_hashes`; without them an imported new user gets an unusable password (an admin
sets one), an existing user keeps theirs. Notification targets carry their URL and secret: the
document is as private as the admin's own account.

Import checks every item with the rules the normal create/update paths use (presets'
PresetSpec, the subscriptions' clean(), the settings' validate, the invites' and the
notification targets' field rules, usernames and roles), in this order — users, presets,
settings, subscriptions, invites, notification targets — so an item may name a preset or an
owner the same document brings. Each item is matched to what exists (presets and users by
name, subscriptions by URL and owner, invites by name, targets by owner and name) and reported
as created, updated or unchanged, or with its error. Everything happens in one transaction: a
dry run, or any error, rolls it all back; otherwise it is committed once. Nothing is deleted:
what the document does not name stays.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select, update

from webapp.core.presets import PresetError
from webapp.errors import HaulError, Invalid
from webapp.extensions import db
from webapp.models import Invite, Preset, Setting, Subscription, User
from webapp.models.base import isoformat, utcnow
from webapp.models.invite import DEFAULT_KINDS, new_key
from webapp.models.notification import NotificationTarget
from webapp.models.setting import store_setting
from webapp.models.user import ROLES
from webapp.services.accounts.identity import USERNAME_RE, Principal
from webapp.services.admin import housekeeping_settings, runtime_settings
from webapp.services.guests import invites as invite_rules
from webapp.services.library import presets
from webapp.services.notifications import targets as target_rules
from webapp.services.subscriptions import manage as subscription_rules

VERSION = 1
SECTIONS = ("users", "presets", "settings", "subscriptions", "invites", "notification_targets")
MAX_ITEMS = 10_000  # per section: a document is a configuration, not a dump
INVITE_FIELDS = ("post_title", "expires_at", "max_uses", "allow_uploads", "allow_urls", "allow_private_urls",
                 "max_file_bytes", "max_total_bytes", "allowed_kinds", "preset", "enabled")
TARGET_FIELDS = ("kind", "url", "secret", "events", "all_users", "enabled")
# Werkzeug's hash formats ("scrypt:…$salt$hash", "pbkdf2:…$salt$hash"): anything else is refused.
HASH_METHODS = ("scrypt:", "pbkdf2:")


# -- export ------------------------------------------------------------------------------------------

def _username(user_id: int | None, names: dict[int, str]) -> str | None:
    return names.get(user_id) if user_id is not None else None


def _preset_json(row: Preset) -> dict:
    try:
        fields = row.spec.to_dict()
    except PresetError:
        fields = {**(row.options or {}), "name": row.name, "label": row.label}
    return presets._json_safe(fields)


def _subscription_json(row: Subscription, names: dict[int, str]) -> dict:
    out = {"owner": _username(row.user_id, names), "name": row.name, "url": row.url,
           "schedule": subscription_rules.schedule_text(row)[0]}
    for key in subscription_rules.FIELDS:
        if key in ("name", "url", "schedule"):
            continue
        value = getattr(row, key)
        out[key] = value.isoformat() if isinstance(value, date) else value
    return out


def _invite_json(row: Invite, names: dict[int, str], with_hashes: bool) -> dict:
    out = {"name": row.name, "created_by": _username(row.created_by, names)}
    for key in INVITE_FIELDS:
        value = getattr(row, key)
        out[key] = isoformat(value) if key == "expires_at" and value is not None else value
    if with_hashes:
        out["password_hash"] = row.password_hash
    return out


def _target_json(row: NotificationTarget, names: dict[int, str]) -> dict:
    return {"owner": _username(row.owner_id, names), "name": row.name,
            **{key: getattr(row, key) for key in TARGET_FIELDS}}


def _settings_json(settings) -> dict:
    effective = runtime_settings.current(settings)
    values = {key: effective.get(key) for key in runtime_settings.KEYS if key in effective.changed}
    values.update(housekeeping_settings.stored())
    return values


def export(settings, include_password_hashes: bool = False) -> dict:
    """The configuration document (see the module's docstring)."""
    users = list(db.session.scalars(select(User).order_by(User.id)))
    names = {user.id: user.username for user in users}
    return {
        "version": VERSION,
        "exported_at": isoformat(utcnow()),
        "settings": _settings_json(settings),
        "presets": [_preset_json(row) for row in presets.all_presets()],
        "subscriptions": [_subscription_json(row, names)
                          for row in db.session.scalars(select(Subscription).order_by(Subscription.id))],
        "notification_targets": [_target_json(row, names) for row in
                                 db.session.scalars(select(NotificationTarget).order_by(NotificationTarget.id))],
        "invites": [_invite_json(row, names, include_password_hashes)
                    for row in db.session.scalars(select(Invite).order_by(Invite.id))],
        "users": [{"username": user.username, "role": user.role,
                   **({"password_hash": user.password_hash} if include_password_hashes else {})}
                  for user in users],
    }


# -- import ------------------------------------------------------------------------------------------

class ItemRefused(Exception):
    """One item of the document is refused; str(exc) says why (never echoing a secret)."""


@dataclass
class SectionReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: int = 0
    items: list = field(default_factory=list)

    def note(self, key: str, action: str, error: str | None = None) -> None:
        setattr(self, action if action != "error" else "errors",
                getattr(self, action if action != "error" else "errors") + 1)
        self.items.append({"key": key[:200], "action": action, **({"error": error} if error else {})})

    def as_dict(self) -> dict:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "errors": self.errors, "items": self.items}


def _message(exc: Exception) -> str:
    if isinstance(exc, HaulError):
        return exc.detail
    return str(exc)


class _Import:
    def __init__(self, settings, acting: Principal):
        self.settings = settings
        self.acting = acting
        self.reports = {section: SectionReport() for section in SECTIONS}

    # users ------------------------------------------------------------------------------------
    def _user_named(self, name) -> User | None:
        if not isinstance(name, str):
            return None
        return db.session.scalar(select(User).where(func.lower(User.username) == name.strip().lower()))

    def _owner(self, name, what: str) -> User | None:
        if name is None:
            return None
        user = self._user_named(name)
        if user is None:
            raise ItemRefused(f"{what}: no user named {str(name)[:64]!r} (here or in the document)")
        return user

    def user(self, item: dict) -> str:
        username = item.get("username")
        if not isinstance(username, str) or not USERNAME_RE.match(username.strip()):
            raise ItemRefused("Usernames are 1–64 letters, digits or . _ @ -")
        role = item.get("role", "user")
        if role not in ROLES:
            raise ItemRefused(f"role must be one of {', '.join(ROLES)}")
        password_hash = item.get("password_hash")
        if password_hash is not None and (not isinstance(password_hash, str) or len(password_hash) > 255
                                          or not password_hash.startswith(HASH_METHODS)
                                          or password_hash.count("$") != 2):
            raise ItemRefused("password_hash is not a password hash Haul can check")
        unknown = set(item) - {"username", "role", "password_hash"}
        if unknown:
            raise ItemRefused(f"Unknown field(s): {', '.join(sorted(map(str, unknown)))[:200]}")
        user = self._user_named(username)
        if user is None:
            user = User(username=username.strip(), role=role, created_at=utcnow())
            # No hash in the document: a password nobody knows, until an admin sets one.
            user.password_hash = password_hash or f"pbkdf2:sha256:1${secrets.token_hex(8)}${secrets.token_hex(32)}"
            db.session.add(user)
            db.session.flush()
            return "created"
        changed = False
        if user.role != role:
            if user.id == self.acting.user_id:
                raise ItemRefused("An import does not change the role of the admin running it")
            user.role = role
            user.session_version = (user.session_version or 0) + 1  # a role change ends their sign-ins
            changed = True
        if password_hash and password_hash != user.password_hash:
            user.password_hash = password_hash
            user.session_version = (user.session_version or 0) + 1
            changed = True
        db.session.flush()
        return "updated" if changed else "unchanged"

    # presets ----------------------------------------------------------------------------------
    def preset(self, item: dict) -> str:
        spec = presets.check_spec(item)
        row = presets.get(spec.name)
        if row is None:
            last = db.session.scalar(select(func.max(Preset.position))) or 0
            row = Preset(built_in=False, position=last + 1)
            row.apply(spec)
            db.session.add(row)
            db.session.flush()
            return "created"
        before = _preset_json(row)
        row.apply(spec)
        db.session.flush()
        return "unchanged" if _preset_json(row) == before else "updated"

    # settings ---------------------------------------------------------------------------------
    def setting(self, key: str, raw) -> str:
        if key in runtime_settings.KEYS:
            try:
                value = runtime_settings.validate(key, raw, self.settings)
            except ValueError as exc:
                raise ItemRefused(str(exc)) from None
            default = runtime_settings.defaults(self.settings)[key]
            current = runtime_settings.current(self.settings).get(key)
        elif key in housekeeping_settings.KEYS:
            try:
                value = housekeeping_settings.validate(key, raw)
            except ValueError as exc:
                raise ItemRefused(str(exc)) from None
            default = housekeeping_settings.DEFAULTS[key]
            current = housekeeping_settings.current()[key]
        else:
            raise ItemRefused("Not a setting of this Haul")
        if value == current:
            return "unchanged"
        store_setting(key, value, default)
        db.session.flush()
        return "updated"

    # subscriptions ----------------------------------------------------------------------------
    def subscription(self, item: dict) -> str:
        owner = self._owner(item.get("owner"), "owner")
        fields = {key: value for key, value in item.items() if key != "owner"}
        principal = Principal(owner) if owner is not None else self.acting
        values = subscription_rules.clean(fields, principal, partial=False)
        owner_id = owner.id if owner is not None else None
        row = db.session.scalar(select(Subscription).where(Subscription.url == values["url"],
                                                           Subscription.user_id.is_(owner_id) if owner_id is None
                                                           else Subscription.user_id == owner_id).limit(1))
        if row is None:
            now = utcnow()
            row = Subscription(user_id=owner_id, created_at=now, updated_at=now)
            subscription_rules._apply(row, values)
            subscription_rules._check_filters(row)
            row.next_run_at = now if row.enabled else None
            db.session.add(row)
            db.session.flush()
            return "created"
        before = _subscription_json(row, {})
        subscription_rules._apply(row, values)
        subscription_rules._check_filters(row)
        if row.enabled and row.next_run_at is None:
            row.next_run_at = utcnow()
        elif not row.enabled:
            row.next_run_at = None
        db.session.flush()
        return "unchanged" if _subscription_json(row, {}) == before else "updated"

    # invites ----------------------------------------------------------------------------------
    def invite(self, item: dict) -> str:
        creator = self._owner(item.get("created_by"), "created_by")
        password_hash = item.get("password_hash")
        if password_hash is not None and (not isinstance(password_hash, str) or len(password_hash) > 255
                                          or not password_hash.startswith(HASH_METHODS)):
            raise ItemRefused("password_hash is not a password hash Haul can check")
        unknown = set(item) - {"name", "created_by", "password_hash", *INVITE_FIELDS}
        if unknown:
            raise ItemRefused(f"Unknown field(s): {', '.join(sorted(map(str, unknown)))[:200]}")
        fields = {key: item[key] for key in ("name", *INVITE_FIELDS) if key in item}
        name = " ".join(str(item.get("name") or "").split())
        row = db.session.scalar(select(Invite).where(Invite.name == name).order_by(Invite.id).limit(1))
        if row is None:
            row = Invite(nonce=new_key(), uses=0, allow_uploads=True, allow_urls=True,
                         allow_private_urls=False, allowed_kinds=DEFAULT_KINDS, enabled=True,
                         is_public_page=False, created_by=creator.id if creator else None, created_at=utcnow())
            # An expiry already past is the document's, not a typo: kept (the link is simply closed).
            fields = self._expiry_kept(row, fields)
            invite_rules._apply(row, fields)
            row.password_hash = password_hash
            row.token_hash = invite_rules.hash_token(invite_rules.token_for(row))
            row.slug = "pending"
            db.session.add(row)
            db.session.flush()
            row.slug = invite_rules.slug_for(row.name, row.id)
            db.session.flush()
            return "created"
        before = _invite_json(row, {}, True)
        fields = self._expiry_kept(row, fields)
        invite_rules._apply(row, fields)
        if password_hash is not None:
            row.password_hash = password_hash
        db.session.flush()
        return "unchanged" if _invite_json(row, {}, True) == before else "updated"

    @staticmethod
    def _expiry_kept(row: Invite, fields: dict) -> dict:
        if fields.get("expires_at") not in (None, ""):
            parsed = invite_rules._parse_time(fields["expires_at"])
            if parsed is not None and parsed <= utcnow():
                row.expires_at = parsed
                return {key: value for key, value in fields.items() if key != "expires_at"}
        return fields

    # notification targets ---------------------------------------------------------------------
    def target(self, item: dict) -> str:
        """Checked by the notifications' own rules (webapp/services/notifications/targets.py), as
        the target's owner would add it: a user's target may not reach private addresses."""
        owner = self._owner(item.get("owner"), "owner")
        if owner is None:
            raise ItemRefused("A notification target needs an owner")
        fields = {key: value for key, value in item.items() if key != "owner"}
        if fields.get("secret") is None:
            fields.pop("secret", None)
        name = fields.get("name")
        row = None
        if isinstance(name, str):
            row = db.session.scalar(select(NotificationTarget).where(NotificationTarget.owner_id == owner.id,
                                                                     NotificationTarget.name == name.strip()))
        target_rules._refuse_unknown(fields)
        if row is None:
            now = utcnow()
            row = NotificationTarget(owner_id=owner.id, events=[], all_users=False, enabled=True, created_at=now,
                                     updated_at=now)
            target_rules._apply(row, fields, Principal(owner), admin_owner=owner.role == "admin")
            db.session.add(row)
            db.session.flush()
            return "created"
        before = _target_json(row, {})
        target_rules._apply(row, fields, Principal(owner), admin_owner=owner.role == "admin")
        db.session.flush()
        return "unchanged" if _target_json(row, {}) == before else "updated"


def _key_of(section: str, item) -> str:
    if not isinstance(item, dict):
        return "?"
    if section == "users":
        return str(item.get("username", "?"))
    if section == "subscriptions":
        return f"{item.get('owner') or '-'}: {item.get('url', '?')}"
    if section == "notification_targets":
        return f"{item.get('owner') or '-'}: {item.get('name', '?')}"
    return str(item.get("name", "?"))


class DocumentInvalid(Invalid):
    error_code = "invalid_document"


def _check_document(document) -> None:
    if not isinstance(document, dict):
        raise DocumentInvalid("The configuration document is a JSON object")
    if document.get("version") != VERSION:
        raise DocumentInvalid(f"This Haul reads configuration documents of version {VERSION}")
    for section in SECTIONS:
        value = document.get(section)
        if value is None:
            continue
        if section == "settings":
            if not isinstance(value, dict):
                raise DocumentInvalid("settings is an object of {key: value}")
        elif not isinstance(value, list) or len(value) > MAX_ITEMS:
            raise DocumentInvalid(f"{section} is a list of at most {MAX_ITEMS} items")


def import_document(settings, document, acting: Principal, *, dry_run: bool = True) -> dict:
    """Check every item of `document` and report what it would change; unless `dry_run` (and only
    when nothing is refused) apply it all in one transaction. Returns the report:
    {valid, applied, dry_run, sections: {name: {created, updated, unchanged, errors, items}}}."""
    _check_document(document)
    run = _Import(settings, acting)
    admins_before = _admin_count()
    handlers = {"users": run.user, "presets": run.preset, "subscriptions": run.subscription,
                "invites": run.invite, "notification_targets": run.target}
    db.session.rollback()  # start from a clean transaction: everything below is one
    # Open it with a statement that writes nothing: Python's sqlite3 begins a transaction only
    # at the first write, so each item's SAVEPOINT would otherwise open (and its RELEASE commit) one.
    db.session.execute(update(Setting).where(Setting.key.is_(None)).values(key=Setting.key))
    try:
        for section in SECTIONS:
            report = run.reports[section]
            if section == "settings":
                for key, raw in (document.get("settings") or {}).items():
                    _one(report, str(key)[:64], lambda key=key, raw=raw: run.setting(key, raw))
                continue
            for item in document.get(section) or []:
                if not isinstance(item, dict):
                    report.note("?", "error", "Each item is a JSON object")
                    continue
                _one(report, _key_of(section, item), lambda item=item, section=section: handlers[section](item))
            if section == "users" and admins_before and not _admin_count():
                report.note("(all users)", "error", "The import would leave no admin")
        valid = not any(report.errors for report in run.reports.values())
        if valid and not dry_run:
            db.session.commit()
            applied = True
        else:
            db.session.rollback()
            applied = False
    except BaseException:
        db.session.rollback()
        raise
    return {"valid": valid, "applied": applied, "dry_run": dry_run,
            "sections": {section: report.as_dict() for section, report in run.reports.items()}}


def _admin_count() -> int:
    return db.session.scalar(select(func.count(User.id)).where(User.role == "admin")) or 0


def _one(report: SectionReport, key: str, work) -> None:
    """Run one item's check-and-stage in a savepoint: a refused item leaves nothing half-written."""
    savepoint = db.session.begin_nested()
    try:
        action = work()
    except (ItemRefused, HaulError, ValueError, TypeError) as exc:
        savepoint.rollback()
        report.note(key, "error", _message(exc)[:500])
        return
    savepoint.commit()
    report.note(key, action)
