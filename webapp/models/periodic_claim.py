"""The last period each periodic task was claimed for (webapp/services/admin/periodic.py)."""
from datetime import datetime

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.models.base import UTCDateTime


class PeriodicClaim(db.Model):
    __tablename__ = "periodic_claims"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    # The period's number (e.g. seconds since the epoch // the period's length): only ever moved
    # forward, so a host whose clock lags cannot claim a period that another already ran.
    period: Mapped[int] = mapped_column(BigInteger)
    holder: Mapped[str | None] = mapped_column(String(200))  # which worker ran it (for people)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
