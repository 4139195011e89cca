"""Users, passwords, personal API tokens and who is asking."""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select

from webapp.errors import Conflict, Invalid, NotFound
from webapp.extensions import db
from webapp.models import ApiToken, User
from webapp.models.base import utcnow
from webapp.models.user import ROLES

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
MIN_PASSWORD_LENGTH = 8
TOKEN_PREFIX = "haul_"


@dataclass(frozen=True)
class Principal:
    """Who is making a request: a user (maybe through a token) or the static admin token."""

    user: User | None
    token: ApiToken | None = None
    via_static_token: bool = False

    @property
    def is_admin(self) -> bool:
        return self.via_static_token or (self.user is not None and self.user.is_admin)

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


def create_token(user: User, name: str, scopes: str = "submit read") -> tuple[ApiToken, str]:
    """Create a personal token; returns the row and the token, which is never stored."""
    name = (name or "").strip() or "token"
    if len(name) > 100:
        raise Invalid("Token names are at most 100 characters", error_code="invalid_name")
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


def resolve_bearer(token: str | None, static_token: str | None) -> Principal | None:
    """The principal a bearer token stands for, or None when it is unknown or revoked."""
    if not token:
        return None
    if static_token and hmac.compare_digest(token.encode(), static_token.encode()):
        return Principal(user=None, via_static_token=True)
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None:
        return None
    now = utcnow()
    # Write last-used at most once a minute: a busy script must not turn reads into writes.
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        row.last_used_at = now
        db.session.commit()
    return Principal(user=row.user, token=row)
