"""Key/value settings kept in the database (setup code, later the GUI's settings)."""
from datetime import datetime

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.models.base import UTCDateTime, utcnow


class Setting(db.Model):
    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[object] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


def store_setting(key: str, value: object, default: object) -> None:
    """Keep `value` under `key` in this session; a value equal to `default` removes the row, so the
    default (which may change with the environment) applies again. The caller commits."""
    row = db.session.get(Setting, key)
    if value == default:
        if row is not None:
            db.session.delete(row)
    elif row is None:
        db.session.add(Setting(key=key, value=value))
    else:
        row.value = value
