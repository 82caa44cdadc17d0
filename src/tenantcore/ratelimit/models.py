from __future__ import annotations

from sqlalchemy import Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tenantcore.db import Base


class RateLimitBucket(Base):
    """One shared token bucket (PostgreSQL only; UNLOGGED there: losing it in a crash only
    refills the buckets). `granted` is what the last take got, read back by RETURNING."""

    __tablename__ = "rate_limit_buckets"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)  # "key:<digest>" or "auth:<address>"
    tokens: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float, index=True)  # the database clock, epoch seconds
    granted: Mapped[int] = mapped_column(Integer)
