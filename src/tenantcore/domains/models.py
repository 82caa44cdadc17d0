from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tenantcore.db import Base, UTCDateTime, new_id, now
from tenantcore.domains.health import StoredHealth, StoredHealthType
from tenantcore.domains.states import DomainState


class Domain(Base):
    """A custom domain of a tenant: what Microsoft issued for it and what DNS last showed."""

    __tablename__ = "domains"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_domains_tenant_name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[str] = mapped_column(String(36), index=True)
    mode: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(253), index=True)
    state: Mapped[DomainState] = mapped_column(String(16), default=DomainState.PENDING)
    # Bumped by every write: a write names the version it read, so none overwrites a newer one.
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    is_default: Mapped[bool] = mapped_column(default=False)
    is_verified: Mapped[bool] = mapped_column(default=False)
    dkim_enabled: Mapped[bool] = mapped_column(default=False)
    verification_records: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    service_records: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    dkim_config: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # When Microsoft's records were last read; None: never (an adoption, or a read that failed),
    # so the reconciler reads them until it has them.
    records_read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The last DNS check (spec fields, then ours).
    spf_status: Mapped[str] = mapped_column(String(2048), default="missing")
    dkim_status: Mapped[str] = mapped_column(String(256), default="missing")
    dmarc_status: Mapped[str] = mapped_column(String(2048), default="missing")
    mx_status: Mapped[str] = mapped_column(String(256), default="missing")
    grade: Mapped[str | None] = mapped_column(String(16), nullable=True)
    fingerprint: Mapped[str | None] = mapped_column(String(32), nullable=True)
    health: Mapped[StoredHealth | None] = mapped_column(StoredHealthType, nullable=True)
    # health.blocklist_status, kept beside it: the domain list reads it on every request, and
    # pulling it out of the JSON parsed each row's whole document (2-3x the read on PostgreSQL).
    blocklist_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    last_checked: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The one next step (`progress.Action`) and its count (records to publish, problems to fix),
    # refreshed on every write of the row, so that the app groups and filters thousands in SQL.
    next_action: Mapped[str] = mapped_column(String(24), default="check_pending", server_default="check_pending")
    action_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The reconciler's bookkeeping (tenantcore.worker).
    next_check_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, index=True)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    check_count: Mapped[int] = mapped_column(Integer, default=0)
    followup_failures: Mapped[int] = mapped_column(Integer, default=0)
    followup_after: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # What the reconciler saw when it last backed off: new evidence (a record that appeared, a
    # state that changed) ends the wait at once; the backoff only spaces out the same evidence.
    followup_evidence: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # Publishing through a DNS provider (tenantcore.dnsproviders): which one holds the zone,
    # what TenantCore wrote there (so it deletes only that), and the wanted records' digest
    # when they were last applied in full (new DKIM keys mean a new digest: apply again).
    dns_provider_id: Mapped[str | None] = mapped_column(
        ForeignKey("dns_providers.id", ondelete="SET NULL"), nullable=True, index=True
    )
    dns_zone: Mapped[str | None] = mapped_column(String(253), nullable=True)
    auto_repair: Mapped[bool] = mapped_column(default=False, server_default="0")
    dns_owned: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, default=list, nullable=True)
    dns_applied: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)
