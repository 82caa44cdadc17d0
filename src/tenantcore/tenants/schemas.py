"""Tenant wire shapes (TenantCore's documented tenant fields)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tenantcore.api.text import is_one_line


class TenantOut(BaseModel):
    id: str = Field(description="TenantCore's id for this connection")
    tenant_id: str = Field(description="The Microsoft tenant GUID")
    tenant_name: str
    tenant_domain: str = Field(description="The tenant's initial .onmicrosoft.com domain")
    default_domain: str | None
    domain_count: int
    mailbox_count: int = 0
    status: str | None = None
    discovery_completed: bool
    exchange_bootstrap_status: str = Field(description="ready, pending or failed")
    consented_at: datetime
    last_sync_at: datetime | None


class TenantList(BaseModel):
    tenants: list[TenantOut]
    count: int
    has_more: bool = Field(False, description="More follow: pass the last tenant_id as starting_after.")


class ConnectTenant(BaseModel):
    """Live keys: the GUID of a tenant whose admin already consented to the app.
    Test keys: a name for a new sandbox tenant (or the GUID of an existing sandbox tenant)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"tenant_name": "Acme Corp"}]})

    tenant_id: UUID | None = None
    tenant_name: str | None = Field(None, min_length=1, max_length=64)

    @field_validator("tenant_name")
    @classmethod
    def _printable_name(cls, value: str | None) -> str | None:
        # The name is shown in the app, in events and webhooks, and written into exported zone
        # files as a comment: a line break or another control character has no business there.
        if value is None:
            return None
        if not value.strip():
            raise ValueError("tenant_name must not be blank")
        if not is_one_line(value):
            raise ValueError("tenant_name must be one line: no control characters (line breaks, tabs, ...)")
        return value.strip()


class ConsentUrl(BaseModel):
    consent_url: str
    expires_in: int


class SyncResult(BaseModel):
    tenant_id: str
    added: list[str]
    removed: list[str]
    updated: list[str]
    domain_count: int
