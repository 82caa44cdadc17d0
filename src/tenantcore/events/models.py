from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tenantcore.db import Base, UTCDateTime, now


class Event(Base):
    """Something that happened to a domain: a DNS change, a grade change, a follow-up."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_scope", "account_id", "mode", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(String(36))
    mode: Mapped[str] = mapped_column(String(8))
    tenant_id: Mapped[str] = mapped_column(String(36), index=True)  # the Microsoft tenant GUID
    domain_name: Mapped[str] = mapped_column(String(253))
    type: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(String(1024))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    # Fanned out to the account's webhook endpoints yet (the outbox's source; see webhooks/outbox.py).
    dispatched: Mapped[bool] = mapped_column(default=False, server_default="0", index=True)
