from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tenantcore.db import Base, UTCDateTime, new_id, now


class DnsProviderRow(Base):
    """A DNS provider account connected by a TenantCore account, in one mode. `config` holds
    what is not secret (server, port, provider name); `credentials` is the secret part,
    encrypted with a key derived from the server secret (`credentials.py`), never returned."""

    __tablename__ = "dns_providers"
    __table_args__ = (UniqueConstraint("account_id", "mode", "name", name="uq_dns_providers_account_mode_name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    mode: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    credentials: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
