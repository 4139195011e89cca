"""Managing people: roles, passwords, removal — with the rules that keep Haul reachable.

Creating users and tokens lives in `accounts`; this adds what the admin pages and the account
page change. There is always at least one admin, and nobody removes or demotes themselves
here (another admin can), so an admin cannot lock everyone out by a slip.
"""
from __future__ import annotations

from sqlalchemy import func, select

from webapp.errors import Conflict, Invalid, NotFound
from webapp.extensions import db
from webapp.models import ApiToken, User
from webapp.models.user import ROLES
from webapp.services.accounts.identity import MIN_PASSWORD_LENGTH, end_sessions


def all_users() -> list[User]:
    return list(db.session.scalars(select(User).order_by(func.lower(User.username))))


def get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("No such user", error_code="user_not_found")
    return user


def _admin_count() -> int:
    return db.session.scalar(select(func.count(User.id)).where(User.role == "admin")) or 0


def check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise Invalid(f"Passwords need at least {MIN_PASSWORD_LENGTH} characters", error_code="weak_password")
    if len(password) > 256:
        raise Invalid("Passwords are at most 256 characters", error_code="weak_password")


def set_role(user: User, role: str, acting: User | None) -> User:
    """Give `user` the role `role`; the last admin keeps theirs and nobody changes their own.

    `acting` is None for the server's static API token, which is nobody's account.
    """
    if role not in ROLES:
        raise Invalid(f"Role must be one of {', '.join(ROLES)}", error_code="invalid_role")
    if acting is not None and user.id == acting.id and role != user.role:
        raise Conflict("You cannot change your own role; another admin can", error_code="own_role")
    if user.role == "admin" and role != "admin" and _admin_count() <= 1:
        raise Conflict("Haul needs at least one admin", error_code="last_admin")
    if role != user.role:
        user.role = role
        # What the old role allowed must not outlive it in an open browser or stream; personal
        # tokens stay, their scopes are always cut to what the role allows.
        end_sessions(user, revoke_tokens=False)
    db.session.commit()
    return user


def reset_password(user: User, password: str, *, revoke_tokens: bool = True) -> int:
    """Set a new password for `user` (an admin's reset) and end every sign-in made with the old
    one; their personal tokens too unless `revoke_tokens` is False. Returns tokens revoked."""
    check_password(password)
    user.set_password(password)
    revoked = end_sessions(user, revoke_tokens=revoke_tokens)
    db.session.commit()
    return revoked


def change_own_password(user: User, current: str, new: str, *, revoke_tokens: bool = True) -> int:
    """Change your own password (the current one must be right) and end every sign-in made with
    the old one — the caller signs the present one in again; personal tokens too unless
    `revoke_tokens` is False. Returns tokens revoked."""
    if not user.check_password(current or ""):
        raise Invalid("The current password is not right", error_code="wrong_password")
    check_password(new)
    if current == new:
        raise Invalid("The new password is the same as the current one", error_code="same_password")
    user.set_password(new)
    revoked = end_sessions(user, revoke_tokens=revoke_tokens)
    db.session.commit()
    return revoked


def delete_user(user: User, acting: User | None) -> str:
    """Remove `user` and their tokens (their jobs stay, without an owner); returns the name.

    `acting` is None for the server's static API token, which is nobody's account.
    """
    if acting is not None and user.id == acting.id:
        raise Conflict("You cannot delete your own account; another admin can", error_code="own_account")
    if user.role == "admin" and _admin_count() <= 1:
        raise Conflict("Haul needs at least one admin", error_code="last_admin")
    name = user.username
    end_sessions(user, revoke_tokens=True)  # the event tells open streams; the rows go with the user
    db.session.delete(user)
    db.session.commit()
    return name


def tokens_of(user: User) -> list[ApiToken]:
    """The user's tokens, active first, newest first."""
    rows = db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc()))
    return sorted(rows, key=lambda row: row.revoked_at is not None)


def active_token_counts() -> dict[int, int]:
    rows = db.session.execute(
        select(ApiToken.user_id, func.count(ApiToken.id)).where(ApiToken.revoked_at.is_(None)).group_by(ApiToken.user_id)
    ).all()
    return {user_id: count for user_id, count in rows}


def page_of_users(offset: int, limit: int) -> tuple[list[User], int]:
    """One page of users by name (as the users page lists them), and how many there are in all."""
    total = db.session.scalar(select(func.count(User.id))) or 0
    rows = db.session.scalars(select(User).order_by(func.lower(User.username), User.id).offset(offset).limit(limit))
    return list(rows), total
