from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Kind = Literal["sandbox", "rfc2136", "lexicon"]


class ConnectDnsProvider(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "cloudflare-main",
                    "kind": "lexicon",
                    "config": {"provider_name": "cloudflare"},
                    "credentials": {"auth_token": "<API token with Zone.DNS edit>"},
                    "zone": "acmecorp.com",
                },
                {
                    "name": "office-bind",
                    "kind": "rfc2136",
                    "config": {"server": "ns1.acmecorp.net", "port": 53, "key_name": "tenantcore"},
                    "credentials": {"key_secret": "<base64 TSIG secret>"},
                    "zone": "acmecorp.com",
                },
            ]
        },
    )

    name: str = Field(min_length=1, max_length=128, description="Your name for this connection.")
    kind: Kind = Field(description="sandbox (test keys only), rfc2136 (TSIG dynamic updates) or lexicon.")
    config: dict[str, Any] = Field(default_factory=dict, description="The non-secret settings of the kind.")
    credentials: dict[str, str] = Field(
        default_factory=dict, description="Write-only: encrypted at rest, never returned or logged."
    )
    zone: str | None = Field(
        None, max_length=253, description="A zone the provider holds: read once to prove the credentials work."
    )


class DnsProviderOut(BaseModel):
    id: str
    name: str
    kind: str
    config: dict[str, Any]
    credential_fields: list[str] = Field(description="Which credentials are stored (never their values).")
    domains: int = Field(description="Domains linked to this provider.")
    created_at: datetime


class DnsProviderList(BaseModel):
    providers: list[DnsProviderOut]
    count: int


class ProviderTest(BaseModel):
    status: Literal["ok"]
    zone: str
    records: int = Field(description="Record sets read at the zone's apex.")
