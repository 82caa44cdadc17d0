from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tenantcore.db import Base, UTCDateTime, new_id, now


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    tenant_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: the server's default
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class ApiKey(Base):
    """Only an HMAC of the key is stored; `hint` (its last 4 characters) helps people tell keys apart."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    mode: Mapped[str] = mapped_column(String(8))  # live | test
    key_hmac: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
