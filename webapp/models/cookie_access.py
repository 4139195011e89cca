"""Who may have their jobs use a site's cookie file, besides admins (no row: admins only)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Column, ForeignKey, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.base import UTCDateTime, utcnow
from webapp.models.user import User

# The users an admin chose for a site's cookies. Rows go with the user (a deleted user's id,
# which SQLite may hand to a new user, never inherits a grant) and with the site's policy.
cookie_access_users = Table(
    "cookie_access_users",
    db.metadata,
    Column("site", String(253), ForeignKey("cookie_access.site", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class CookieAccess(db.Model):
    """A site's cookie file shared beyond admins: with every user, or with the chosen ones."""

    __tablename__ = "cookie_access"

    site: Mapped[str] = mapped_column(String(253), primary_key=True)
    all_users: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    users: Mapped[list[User]] = relationship(secondary=cookie_access_users, order_by=User.username)
