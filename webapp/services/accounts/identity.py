"""Users, passwords, personal API tokens and who is asking."""
from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import joinedload

from webapp.core.numbers import is_whole_number
from webapp.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from webapp.extensions import db
from webapp.models import ApiToken, LoginSession, User
from webapp.models.base import utcnow
from webapp.models.user import ROLES
from webapp.services.queue import events

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
MIN_PASSWORD_LENGTH = 8
TOKEN_PREFIX = "haul_"
ACCESS_PREFIX = "haul_at_"
REFRESH_PREFIX = "haul_rt_"
ACCESS_LIFETIME = timedelta(hours=1)
REFRESH_LIFETIME = timedelta(days=30)
# submit: send links; read: see one's jobs and library; tokens: list, create and revoke one's
# own tokens; admin: everything an admin may do.
SCOPES = ("submit", "read", "tokens", "admin")
USER_SCOPES = frozenset(("submit", "read", "tokens"))


def role_scopes(user: User | None) -> frozenset[str]:
    """Every scope a user's role allows: admins all, users all but admin."""
    if user is None:
        return frozenset()
    return frozenset(SCOPES) if user.is_admin else USER_SCOPES


@dataclass(frozen=True)
class Principal:
    """Who is making a request: a user (maybe through a token) or the static admin token."""

    user: User | None
    token: ApiToken | None = None
    via_static_token: bool = False
    login_session: LoginSession | None = None

    @property
    def scopes(self) -> frozenset[str]:
        """What this principal may do: a personal token its own scopes (within the role), the
        static token and a login (browser or /api/v1/auth) everything the role allows."""
        if self.via_static_token:
            return frozenset(SCOPES)
        allowed = role_scopes(self.user)
        if self.token is not None:
            return allowed & frozenset((self.token.scopes or "").split())
        return allowed

    @property
    def is_admin(self) -> bool:
        return "admin" in self.scopes

    @property
    def via(self) -> str:
        """How this principal authenticated, as recorded on what it submits."""
        if self.via_static_token:
            return "static-token"
        return "token" if self.token is not None else "session"

    @property
    def user_id(self) -> int | None:
        return self.user.id if self.user else None

    @property
    def token_id(self) -> int | None:
        return self.token.id if self.token else None

    def can_see(self, owner_id: int | None) -> bool:
        """Admins see every job; a user sees the jobs they submitted."""
        return self.is_admin or (self.user is not None and owner_id == self.user.id)

    @property
    def own_submissions_only(self) -> bool:
        """A token without `read` (submit only: a bookmarklet, a phone) reaches just what it
        submitted itself, not everything its user owns."""
        return not self.is_admin and "read" not in self.scopes

    def reaches(self, owner_id: int | None, submitted_with_token: int | None) -> bool:
        """May this principal read or act on something `owner_id` submitted with that token?"""
        if not self.can_see(owner_id):
            return False
        if self.own_submissions_only:
            return self.token_id is not None and submitted_with_token == self.token_id
        return True


def user_of_session(session_id: str) -> User | None:
    """The user a browser session or remember-me cookie names ("<id>:<session version>"), or None
    when the user is gone or their sessions were ended since (a password change, reset, role change)."""
    user_id, _, version = str(session_id or "").partition(":")
    if not is_whole_number(user_id) or not is_whole_number(version or "0"):
        return None
    user = db.session.get(User, int(user_id))
    if user is None or (user.session_version or 0) != int(version or 0):
        return None
    return user


def end_sessions(user: User, *, revoke_tokens: bool) -> int:
    """End every way `user` is signed in: browser sessions and remember-me cookies (the session
    version goes up), /api/v1/auth access and refresh pairs, and — when `revoke_tokens` — their
    personal tokens; open live streams end when they see the event. The caller commits.

    Returns how many personal tokens were revoked."""
    now = utcnow()
    user.session_version = (user.session_version or 0) + 1
    db.session.execute(update(LoginSession).where(LoginSession.user_id == user.id, LoginSession.revoked_at.is_(None))
                       .values(revoked_at=now))
    revoked = 0
    if revoke_tokens:
        revoked = db.session.execute(
            update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)).values(revoked_at=now)
        ).rowcount or 0
    events.publish_access_changed(user.id)
    return revoked


def bookmarklet_key(user: User) -> str:
    """The user's bookmarklet key, made on first use (the caller commits when it was new)."""
    if not user.bookmarklet_key:
        user.bookmarklet_key = secrets.token_urlsafe(24)
    return user.bookmarklet_key


def rotate_bookmarklet_key(user: User) -> str:
    """A new bookmarklet key: every copy of the old bookmarklet only shows the link and waits."""
    user.bookmarklet_key = secrets.token_urlsafe(24)
    db.session.commit()
    return user.bookmarklet_key


def bookmarklet_key_matches(user: User, key: str | None) -> bool:
    return bool(key and user.bookmarklet_key) and hmac.compare_digest(key.encode(), user.bookmarklet_key.encode())


def user_count() -> int:
    return db.session.scalar(select(func.count(User.id))) or 0


def create_user(username: str, password: str, role: str = "user") -> User:
    """Create a user; raises Invalid or Conflict with a message for the person."""
    username = (username or "").strip()
    if not USERNAME_RE.match(username):
        raise Invalid("Usernames are 1–64 letters, digits or . _ @ -", error_code="invalid_username")
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise Invalid(f"Passwords need at least {MIN_PASSWORD_LENGTH} characters", error_code="weak_password")
    if role not in ROLES:
        raise Invalid(f"Role must be one of {', '.join(ROLES)}", error_code="invalid_role")
    if db.session.scalar(select(User).where(func.lower(User.username) == username.lower())):
        raise Conflict(f"A user named {username!r} already exists", error_code="user_exists")
    user = User(username=username, role=role)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user


def authenticate(username: str, password: str) -> User | None:
    user = db.session.scalar(select(User).where(func.lower(User.username) == (username or "").strip().lower()))
    if user is None:
        # Hash anyway so a wrong username takes as long as a wrong password.
        User(username="", role="user").set_password(password or "")
        return None
    return user if user.check_password(password or "") else None


def hash_token(token: str) -> str:
    # Tokens are 256 random bits: a plain SHA-256 is enough (no dictionary to guess from).
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(user: User, name: str, scopes: str | None = None) -> tuple[ApiToken, str]:
    """Create a personal token; returns the row and the token, which is never stored.

    Without `scopes` the token gets every scope the user's role allows (as the settings page
    and `flask create-token` make them)."""
    if scopes is None:
        scopes = " ".join(s for s in SCOPES if s in role_scopes(user))
    name = (name or "").strip() or "token"
    if len(name) > 100:
        raise Invalid("Token names are at most 100 characters", error_code="invalid_name")
    unknown = set(scopes.split()) - set(SCOPES)
    if unknown:
        raise Invalid(f"Unknown scopes: {', '.join(sorted(unknown))}", error_code="invalid_scope")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user=user, name=name, token_hash=hash_token(token), prefix=token[:12], scopes=scopes)
    db.session.add(row)
    db.session.commit()
    return row, token


def revoke_token(token_id: int, user: User | None = None) -> ApiToken:
    row = db.session.get(ApiToken, token_id)
    if row is None or (user is not None and row.user_id != user.id and not user.is_admin):
        raise NotFound("No such token", error_code="token_not_found")
    row.revoked_at = row.revoked_at or utcnow()
    db.session.commit()
    return row


@functools.cache
def _token_query():
    """Every API request asks who it is: the token and its user in one query, built once."""
    return select(ApiToken).options(joinedload(ApiToken.user)).where(ApiToken.token_hash == bindparam("token_hash"))


@functools.cache
def _login_query():
    return (select(LoginSession).options(joinedload(LoginSession.user))
            .where(LoginSession.access_hash == bindparam("access_hash")))


def resolve_bearer(token: str | None, static_token: str | None) -> Principal | None:
    """The principal a bearer token stands for, or None when it is unknown or revoked."""
    if not token:
        return None
    if static_token and hmac.compare_digest(token.encode(), static_token.encode()):
        return Principal(user=None, via_static_token=True)
    if not token.startswith(TOKEN_PREFIX):
        return None
    if token.startswith(ACCESS_PREFIX):
        login = db.session.scalar(_login_query(), {"access_hash": hash_token(token)})
        if login is not None:
            if login.revoked_at is not None or login.access_expires_at <= utcnow():
                return None
            return Principal(user=login.user, login_session=login)
    row = db.session.scalar(_token_query(), {"token_hash": hash_token(token)})
    if row is None or row.revoked_at is not None:
        return None
    now = utcnow()
    # Write last-used at most once a minute: a busy script must not turn reads into writes.
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        row.last_used_at = now
        db.session.commit()
    return Principal(user=row.user, token=row)


def open_login_session(user: User) -> tuple[LoginSession, str, str]:
    """A new access/refresh pair for `user`, whose password was checked: (row, access, refresh)."""
    access = ACCESS_PREFIX + secrets.token_urlsafe(32)
    refresh = REFRESH_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    row = LoginSession(user=user, access_hash=hash_token(access), refresh_hash=hash_token(refresh),
                       access_expires_at=now + ACCESS_LIFETIME, refresh_expires_at=now + REFRESH_LIFETIME,
                       created_at=now)
    db.session.add(row)
    db.session.commit()
    return row, access, refresh


def login(username: str, password: str) -> tuple[LoginSession, str, str]:
    """Check the password and open a login session: (row, access token, refresh token)."""
    user = authenticate(username, password)
    if user is None:
        raise Unauthorized("Wrong username or password", error_code="invalid_credentials")
    return open_login_session(user)


def refresh_login(refresh_token: str) -> tuple[LoginSession, str, str]:
    """Swap a refresh token for a new pair; the old pair is revoked (a refresh token works once)."""
    row = None
    if refresh_token and refresh_token.startswith(REFRESH_PREFIX):
        row = db.session.scalar(select(LoginSession).where(LoginSession.refresh_hash == hash_token(refresh_token)))
    if row is None or row.revoked_at is not None or row.refresh_expires_at <= utcnow():
        raise Unauthorized("The refresh token is not valid, expired or was used already",
                           error_code="invalid_refresh_token")
    row.revoked_at = utcnow()
    return open_login_session(row.user)


def logout(principal: Principal) -> None:
    """Revoke the presented login session (access and refresh) or personal token."""
    if principal.login_session is not None:
        principal.login_session.revoked_at = principal.login_session.revoked_at or utcnow()
    elif principal.token is not None:
        principal.token.revoked_at = principal.token.revoked_at or utcnow()
    else:
        raise Forbidden("The static API token cannot be logged out", error_code="cannot_logout")
    db.session.commit()
