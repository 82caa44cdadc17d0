from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tenantcore.db import Base, UTCDateTime, new_id, now


class Tenant(Base):
    """A Microsoft 365 tenant connected to an account, in one mode (live or test/sandbox)."""

    __tablename__ = "tenants"
    __table_args__ = (UniqueConstraint("ms_tenant_id", "mode", name="uq_tenants_ms_tenant_mode"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    mode: Mapped[str] = mapped_column(String(8))
    ms_tenant_id: Mapped[str] = mapped_column(String(36))
    tenant_name: Mapped[str] = mapped_column(String(256))
    tenant_domain: Mapped[str] = mapped_column(String(253))  # the initial .onmicrosoft.com domain
    default_domain: Mapped[str | None] = mapped_column(String(253), nullable=True)
    exchange_bootstrap_status: Mapped[str] = mapped_column(String(16), default="pending")  # ready|failed|pending
    # When Exchange was last asked (consent never grants its admin role: it is asked again).
    exchange_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    discovery_completed: Mapped[bool] = mapped_column(default=False)
    domain_slots: Mapped[int] = mapped_column(Integer, default=0)  # bumped to serialise adds (see domains.service)
    consented_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    last_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
