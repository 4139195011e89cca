"""Invite links: creating and changing them, finding one by its token, and whether it is open.

The link is /i/<token>. The token is HMAC-SHA256(secret key, the invite's random nonce),
URL-safe: 256 bits no one can guess, which the admin can copy again at any time, while the
database keeps only the nonce and the token's SHA-256 (a leaked copy of the database hands out
no working link). Rotating HAUL_SECRET_KEY therefore changes every invite link: the old ones
stop working at once, the new ones once an admin's list or the API has shown them (sync_token_hashes).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

from flask import current_app, url_for
from sqlalchemy import func, or_, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.core.paths import sanitize_component
from webapp.errors import HaulError, Invalid, NotFound
from webapp.extensions import db
from webapp.models import GuestSession, Invite, Job, JobFile, Submission, Upload
from webapp.models.base import isoformat, utcnow
from webapp.models.invite import DEFAULT_KINDS, DUPLICATE, KINDS, new_key
from webapp.services.library import presets
from webapp.services.notifications import news as notification_news

MAX_NAME = 100
MAX_POST_TITLE = 300
MIN_PASSWORD = 4
MAX_PASSWORD = 256
MAX_SEARCH = 200
# Fields an admin may set (API and page); everything else is the server's.
WRITABLE = ("name", "post_title", "expires_at", "max_uses", "password", "allow_uploads", "allow_urls",
            "allow_private_urls", "max_file_bytes", "max_total_bytes", "allowed_kinds", "preset", "enabled")


class InviteClosed(HaulError):
    """The link cannot be used: unknown (404) or expired, disabled, used up (410)."""

    status, error_code = 410, "invite_closed"


# -- the token -------------------------------------------------------------------------------------


def token_for(invite: Invite) -> str:
    key = current_app.config["SECRET_KEY"]
    key = key.encode() if isinstance(key, str) else key
    digest = hmac.new(key, b"haul-invite:" + invite.nonce.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def link_for(invite: Invite) -> str:
    """The full link to hand out, as this request's host sees it."""
    return url_for("guest.invite_page", token=token_for(invite), _external=True)


def find_by_token(token: str) -> Invite | None:
    if not token or len(token) > 100:
        return None
    invite = db.session.scalar(select(Invite).where(Invite.token_hash == hash_token(token)))
    # The stored hash may still be of the link an earlier secret key made (see
    # sync_token_hashes): only the link this key derives opens the invite.
    if invite is None or not hmac.compare_digest(token, token_for(invite)):
        return None
    return invite


# -- whether it is open ----------------------------------------------------------------------------


def state_of(invite: Invite, now: datetime | None = None) -> str:
    """"active", "disabled", "expired" or "used_up" (every use taken)."""
    now = now or utcnow()
    if not invite.enabled:
        return "disabled"
    if invite.expires_at is not None and invite.expires_at <= now:
        return "expired"
    if invite.max_uses is not None and invite.uses >= invite.max_uses:
        return "used_up"
    return "active"


CLOSED_MESSAGES = {
    "disabled": "This invite link has been switched off by the person who shared it.",
    "expired": "This invite link has expired.",
    "used_up": "This invite link has already been used.",
    "unknown": "There is no invite at this address. Check that the link was copied whole.",
}


def closed_error(state: str) -> InviteClosed:
    status = 404 if state == "unknown" else 410
    return InviteClosed(CLOSED_MESSAGES[state], status=status, error_code=f"invite_{state}")


# -- sessions --------------------------------------------------------------------------------------


SESSION_HOURS = 24


def _current(guest: GuestSession, invite: Invite, now: datetime) -> bool:
    """Not expired, and opened after the invite's password last changed (set, changed or
    removed): whoever held the link before a password change must come in again."""
    changed = invite.password_changed_at
    return guest.expires_at > now and (changed is None or guest.created_at >= changed)


def open_session(invite: Invite, session_id: str | None, admit_new: Callable[[], None] | None = None) -> GuestSession:
    """The guest's session through this invite: theirs if still current, else a new one.

    A session that has submitted something keeps working for its 24 h even when that used
    the invite's last use; a new session needs the invite to be active. `admit_new` is called
    before a new session is made, and may refuse it by raising (the per-address rate limit)."""
    now = utcnow()
    if session_id:
        existing = db.session.get(GuestSession, session_id)
        if existing is not None and existing.invite_id == invite.id and _current(existing, invite, now):
            state = state_of(invite, now)
            if state == "active" or (state == "used_up" and existing.counted_at is not None):
                return existing
            raise closed_error(state)
    state = state_of(invite, now)
    if state != "active":
        raise closed_error(state)
    if admit_new is not None:
        admit_new()
    guest = GuestSession(id=new_key(), invite_id=invite.id, created_at=now,
                         expires_at=now + timedelta(hours=SESSION_HOURS),
                         password_ok=invite.password_hash is None)
    db.session.add(guest)
    db.session.commit()
    return guest


def check_session_open(guest: GuestSession) -> None:
    """Raise InviteClosed when this session may no longer send anything."""
    now = utcnow()
    if guest.expires_at <= now:
        raise InviteClosed("Your session on this invite link has ended; open the link again.",
                           error_code="guest_session_expired")
    if not _current(guest, guest.invite, now):
        raise InviteClosed("This link's password has changed since you opened it; open the link again.",
                           error_code="guest_session_ended")
    state = state_of(guest.invite, now)
    if state == "active" or (state == "used_up" and guest.counted_at is not None):
        return
    raise closed_error(state)


def session_still_open(guest_id: str) -> bool:
    """Whether this session may still see its live updates: not expired, not ended by a
    password change, and its invite still open to it (read fresh from the database)."""
    guest = db.session.get(GuestSession, guest_id, populate_existing=True)
    if guest is None:
        return False
    invite = db.session.get(Invite, guest.invite_id, populate_existing=True)
    if invite is None:
        return False
    try:
        check_session_open(guest)
    except InviteClosed:
        return False
    return True


def count_use(guest: GuestSession) -> None:
    """Count this session as one of the invite's uses, the first time it sends something.

    One conditional UPDATE: two guests racing for the last use cannot both get it."""
    now = utcnow()
    if guest.counted_at is not None:
        db.session.execute(update(Invite).where(Invite.id == guest.invite_id).values(last_used_at=now))
        return
    taken = db.session.execute(
        update(Invite)
        .where(Invite.id == guest.invite_id, Invite.enabled.is_(True),
               or_(Invite.max_uses.is_(None), Invite.uses < Invite.max_uses))
        .values(uses=Invite.uses + 1, last_used_at=now)
    ).rowcount
    if not taken:
        db.session.rollback()
        raise closed_error("used_up")
    guest.counted_at = now
    notification_news.invite_used(db.session.get(Invite, guest.invite_id))  # its creator's targets hear of it


def check_password(invite: Invite, guest: GuestSession, password: str) -> bool:
    """Unlock the session with the invite's password (the caller rate limits attempts)."""
    if invite.password_hash is None:
        return True
    if check_password_hash(invite.password_hash, password or ""):
        guest.password_ok = True
        db.session.commit()
        return True
    return False


# -- creating and changing -------------------------------------------------------------------------


def _parse_time(value) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise Invalid("expires_at must be a date and time (ISO 8601)", error_code="invalid_expires_at") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    try:
        parsed = parsed.astimezone(timezone.utc)
    except (OverflowError, ValueError):  # 0001-01-01T00:00+01:00 is before year 1 in UTC
        raise Invalid("expires_at is out of range", error_code="invalid_expires_at") from None
    return _to_millisecond(parsed)


def _to_millisecond(moment: datetime) -> datetime:
    """Kept to the millisecond: what the API shows (isoformat), so a time read back compares equal."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _expiry(invite: Invite, value) -> datetime | None:
    """The new expiry. One already past is refused (disable a link to close it now), unless it
    is the invite's current one: a form or client that sends every field back must still work
    on a link that has expired."""
    parsed = _parse_time(value)
    current = _to_millisecond(invite.expires_at) if invite.expires_at is not None else None
    if parsed is not None and parsed <= utcnow() and parsed != current:
        raise Invalid("expires_at is in the past; to close the link now, disable it",
                      error_code="expires_in_past")
    return parsed


def _text(value, name: str, limit: int) -> str:
    """A one-line text: runs of whitespace collapsed; control characters and lone surrogates
    refused (PostgreSQL cannot store NUL, and no encoder takes a lone surrogate)."""
    text = " ".join(str(value or "").split())
    if any(unicodedata.category(char) in ("Cc", "Cs") for char in text):
        raise Invalid(f"{name} contains control characters", error_code=f"invalid_{name}")
    if len(text) > limit:
        raise Invalid(f"{name} is longer than {limit} characters", error_code=f"invalid_{name}")
    return text


def _whole(value, name: str, low: int, high: int) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        raise Invalid(f"{name} must be a whole number", error_code=f"invalid_{name}")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise Invalid(f"{name} must be a whole number", error_code=f"invalid_{name}") from None
    if not low <= number <= high:
        raise Invalid(f"{name} must be from {low} to {high}", error_code=f"invalid_{name}")
    return number


def _flag(value, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "on", "1", 1):
        return True
    if value in ("false", "off", "0", 0, "", None):
        return False
    raise Invalid(f"{name} must be true or false", error_code=f"invalid_{name}")


def _kinds(value) -> str:
    if value in (None, ""):
        return DEFAULT_KINDS
    items = value.split() if isinstance(value, str) else list(value)
    unknown = [item for item in items if item not in KINDS]
    if unknown or not items:
        raise Invalid(f"allowed_kinds takes {', '.join(KINDS)}", error_code="invalid_allowed_kinds")
    return " ".join(kind for kind in KINDS if kind in items)


def _set_password(invite: Invite, password) -> None:
    """Set, change or remove the password. A real change (not the same one again) ends every
    guest session opened before it: password_changed_at is what open_session compares with."""
    if password in (None, ""):
        changed = invite.password_hash is not None
        invite.password_hash = None
    elif not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise Invalid(f"An invite password needs at least {MIN_PASSWORD} characters", error_code="weak_password")
    elif len(password) > MAX_PASSWORD or any(unicodedata.category(char) == "Cs" for char in password):
        raise Invalid(f"An invite password has at most {MAX_PASSWORD} characters", error_code="invalid_password")
    else:
        changed = invite.password_hash is None or not check_password_hash(invite.password_hash, password)
        if changed:
            invite.password_hash = generate_password_hash(password)
    if changed:
        invite.password_changed_at = utcnow()


def _apply(invite: Invite, fields: dict) -> None:
    unknown = set(fields) - set(WRITABLE)
    if unknown:
        raise Invalid(f"Unknown field(s): {', '.join(sorted(unknown))}", error_code="invalid_field")
    if "name" in fields:
        name = _text(fields["name"], "name", MAX_NAME)
        if not name:
            raise Invalid(f"Give the invite a name of 1–{MAX_NAME} characters", error_code="invalid_name")
        invite.name = name
    if "post_title" in fields:
        invite.post_title = _text(fields["post_title"], "post_title", MAX_POST_TITLE) or None
    if "expires_at" in fields:
        invite.expires_at = _expiry(invite, fields["expires_at"])
    if "max_uses" in fields:
        invite.max_uses = _whole(fields["max_uses"], "max_uses", 1, 1_000_000)
    if "password" in fields:
        _set_password(invite, fields["password"])
    for flag in ("allow_uploads", "allow_urls", "allow_private_urls", "enabled"):
        if flag in fields:
            setattr(invite, flag, _flag(fields[flag], flag))
    for limit in ("max_file_bytes", "max_total_bytes"):
        if limit in fields:
            setattr(invite, limit, _whole(fields[limit], limit, 1, 2**62))
    if "allowed_kinds" in fields:
        invite.allowed_kinds = _kinds(fields["allowed_kinds"])
    if "preset" in fields:
        # What the guests' links download with (they cannot choose); None: the default preset.
        invite.preset = presets.check_name(fields["preset"])
    if not invite.allow_uploads and not invite.allow_urls:
        raise Invalid("Let guests upload files, send links, or both", error_code="nothing_allowed")


def create_invite(creator_id: int | None, fields: dict) -> Invite:
    fields = {key: value for key, value in fields.items()}
    fields.setdefault("name", "")
    invite = Invite(nonce=new_key(), uses=0, allow_uploads=True, allow_urls=True, allow_private_urls=False,
                    allowed_kinds=DEFAULT_KINDS, enabled=True, is_public_page=False, created_by=creator_id,
                    created_at=utcnow())
    _apply(invite, fields)
    invite.token_hash = hash_token(token_for(invite))
    invite.slug = "pending"
    db.session.add(invite)
    db.session.flush()
    invite.slug = slug_for(invite.name, invite.id)
    db.session.commit()
    return invite


def slug_for(name: str, invite_id: int) -> str:
    """The invite's upload folder name: "party-photos-3" (its id keeps two of a name apart)."""
    words = re.sub(r"[^\w]+", "-", sanitize_component(name, fallback="invite").lower()).strip("-_")
    return f"{words[:100] or 'invite'}-{invite_id}"


def update_invite(invite: Invite, fields: dict) -> Invite:
    try:
        _apply(invite, fields)
    except Invalid:
        db.session.rollback()
        raise
    db.session.commit()
    return invite


def delete_invite(invite: Invite) -> None:
    """Remove the link and its sessions; what guests sent stays in the library."""
    delete_invites([invite])


def get_invite(invite_id: int) -> Invite:
    invite = db.session.get(Invite, invite_id) if 0 < invite_id < 2**63 else None
    if invite is None or invite.is_public_page:
        raise NotFound(f"No invite {invite_id}", error_code="invite_not_found")
    return invite


# -- the admin's list -------------------------------------------------------------------------------

# The orders the page and GET /api/v1/invites offer, and which way each runs unless told.
SORTS = {"name": "asc", "created": "desc", "uses": "desc", "last_used": "desc", "expires": "asc"}
ORDERS = ("asc", "desc")


def _order_by(sort: str, descending: bool) -> list:
    """ORDER BY for one of SORTS. "Never used" counts as the oldest use and "never expires" as
    the latest expiry, so those rows sit where a person expects them; the id breaks ties."""
    column = {"name": func.lower(Invite.name), "created": Invite.created_at, "uses": Invite.uses,
              "last_used": Invite.last_used_at, "expires": Invite.expires_at}[sort]
    terms = []
    if sort in ("last_used", "expires"):
        is_null = column.is_(None)
        nulls_first = (sort == "last_used") != descending
        terms.append(is_null.desc() if nulls_first else is_null.asc())
    terms.append(column.desc() if descending else column.asc())
    terms.append(Invite.id.desc() if descending else Invite.id.asc())
    return terms


def list_invites(q: str = "", sort: str = "created", order: str | None = None, offset: int = 0,
                 limit: int = 50) -> tuple[list[Invite], int]:
    """One page of the admin's invites and how many match: `q` is part of the name or post
    title (ignoring case). The public upload page's invite is not one of them."""
    if sort not in SORTS:
        raise Invalid(f"sort takes {', '.join(SORTS)}", error_code="invalid_sort")
    order = order or SORTS[sort]
    if order not in ORDERS:
        raise Invalid("order takes asc or desc", error_code="invalid_order")
    query = select(Invite).where(Invite.is_public_page.is_(False))
    q = " ".join((q or "").split())[:MAX_SEARCH]
    if q:
        pattern = "%" + re.sub(r"([\\%_])", r"\\\1", q) + "%"
        query = query.where(or_(Invite.name.ilike(pattern, escape="\\"),
                                Invite.post_title.ilike(pattern, escape="\\")))
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = db.session.scalars(query.order_by(*_order_by(sort, order == "desc")).offset(offset).limit(limit)).all()
    return list(rows), total


def invites_by_ids(invite_ids) -> list[Invite]:
    """The admin's invites among these ids (unknown ones and the public page's left out)."""
    wanted = {int(i) for i in invite_ids if 0 < int(i) < 2**63}
    if not wanted:
        return []
    return list(db.session.scalars(select(Invite).where(Invite.id.in_(wanted), Invite.is_public_page.is_(False))
                                   .order_by(Invite.id)))


def set_enabled(invites: list[Invite], enabled: bool) -> int:
    """Switch these links on or off; how many changed."""
    changed = [invite for invite in invites if invite.enabled != enabled]
    for invite in changed:
        invite.enabled = enabled
    db.session.commit()
    return len(changed)


def delete_invites(invites: list[Invite]) -> int:
    """Remove these links and their sessions in one transaction; what guests sent stays in the
    library. How many were removed."""
    ids = [invite.id for invite in invites]
    if not ids:
        return 0
    # SQLite has no foreign key on these two columns (see the migration): clear them here.
    db.session.execute(update(Submission).where(Submission.invite_id.in_(ids))
                       .values(invite_id=None, guest_session_id=None))
    for invite in invites:
        db.session.delete(invite)
    db.session.commit()
    return len(ids)


def sync_token_hashes(invites: list[Invite]) -> None:
    """Store the hash of each invite's link as this server's secret key makes it.

    After HAUL_SECRET_KEY changes, every old link is dead (its hash no longer matches), and the
    new link an admin copies must work: the admin sees a link only through the list or the API,
    which call this first. Nothing is written while the key stays the same."""
    stale = [invite for invite in invites if invite.token_hash != hash_token(token_for(invite))]
    for invite in stale:
        invite.token_hash = hash_token(token_for(invite))
    if stale:
        db.session.commit()


# -- what came in through it -----------------------------------------------------------------------


@dataclass
class InviteTotals:
    items: int = 0  # links sent and files uploaded
    bytes: int = 0  # bytes uploaded and downloaded from guests' links
    sessions: int = 0


def totals(invite_ids: list[int]) -> dict[int, InviteTotals]:
    """Per invite: items, bytes and guest sessions, in three grouped queries."""
    result = {invite_id: InviteTotals() for invite_id in invite_ids}
    if not invite_ids:
        return result
    jobs = db.session.execute(
        select(Submission.invite_id, func.count(Job.id))
        .join(Job, Job.submission_id == Submission.id)
        .where(Submission.invite_id.in_(invite_ids))
        .group_by(Submission.invite_id)
    )
    for invite_id, count in jobs:
        result[invite_id].items += count
    sizes = db.session.execute(
        select(Submission.invite_id, func.coalesce(func.sum(JobFile.size), 0))
        .join(Job, Job.submission_id == Submission.id)
        .join(JobFile, JobFile.job_id == Job.id)
        .where(Submission.invite_id.in_(invite_ids))
        .group_by(Submission.invite_id)
    )
    for invite_id, size in sizes:
        result[invite_id].bytes += int(size or 0)
    # A duplicate upload made no job of its own: count it as an item all the same.
    dupes = db.session.execute(
        select(Upload.invite_id, func.count(Upload.id))
        .where(Upload.invite_id.in_(invite_ids), Upload.status == DUPLICATE)
        .group_by(Upload.invite_id)
    )
    for invite_id, count in dupes:
        result[invite_id].items += count
    sessions = db.session.execute(
        select(GuestSession.invite_id, func.count(GuestSession.id))
        .where(GuestSession.invite_id.in_(invite_ids), GuestSession.counted_at.is_not(None))
        .group_by(GuestSession.invite_id)
    )
    for invite_id, count in sessions:
        result[invite_id].sessions = count
    return result


def to_dict(invite: Invite, stats: InviteTotals | None = None) -> dict:
    """The API's invite object (the password is write-only: only whether one is set)."""
    data = {
        "id": invite.id,
        "name": invite.name,
        "post_title": invite.post_title,
        "expires_at": isoformat(invite.expires_at),
        "max_uses": invite.max_uses,
        "uses": invite.uses,
        "has_password": invite.password_hash is not None,
        "allow_uploads": invite.allow_uploads,
        "allow_urls": invite.allow_urls,
        "allow_private_urls": invite.allow_private_urls,
        "max_file_bytes": invite.max_file_bytes,
        "max_total_bytes": invite.max_total_bytes,
        "allowed_kinds": list(invite.kinds),
        "preset": invite.preset,
        "enabled": invite.enabled,
        "state": state_of(invite),
        "token": token_for(invite),
        "url": link_for(invite),
        "created_at": isoformat(invite.created_at),
        "last_used_at": isoformat(invite.last_used_at),
    }
    if stats is not None:
        data.update(items=stats.items, bytes=stats.bytes, sessions=stats.sessions)
    return data
