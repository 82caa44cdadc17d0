"""Domain wire shapes: exactly the spec's fields (`../shared/spec/domains-api.txt`), plus ours."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

TENANT_EXAMPLE = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
_MX_EXAMPLE = {
    "recordType": "domainDnsMxRecord",
    "label": "@",
    "mailExchange": "mail.acmecorp.com.mail.protection.outlook.com",
    "preference": 0,
    "ttl": 3600,
}


def example(value: dict[str, Any]) -> ConfigDict:
    """A model's example for the OpenAPI docs (the spec's own, where it has one)."""
    return ConfigDict(json_schema_extra={"examples": [value]})


class DomainItem(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # built from the listing's rows

    id: str
    domain_name: str
    is_default: bool
    is_verified: bool
    spf_status: str = Field(description='Raw SPF TXT record, or "missing" ("unknown" when DNS did not answer)')
    dkim_status: str = Field(description='"healthy", "partial", "missing", or selector detail')
    dmarc_status: str = Field(description='Raw DMARC TXT record, or "missing"')
    mx_status: str = Field(description='Raw MX record, or "missing"')
    last_checked: datetime | None = Field(description="When DNS was last queried")
    blocklist_status: str | None = Field(
        None,
        description='Ours: "listed" on a domain blocklist, "clean", or "unknown" (a list did not answer or refused '
        "the query); null when no list was asked",
    )


class DomainList(BaseModel):
    model_config = example(
        {
            "tenant_id": TENANT_EXAMPLE,
            "domains": [
                {
                    "id": "uuid",
                    "domain_name": "mail.acmecorp.com",
                    "is_default": True,
                    "is_verified": True,
                    "spf_status": "v=spf1 include:spf.protection.outlook.com -all",
                    "dkim_status": "healthy",
                    "dmarc_status": "v=DMARC1; p=quarantine; rua=mailto:dmarc@acmecorp.com",
                    "mx_status": "acmecorp-com.mail.protection.outlook.com.",
                    "last_checked": "2025-04-20T08:00:00Z",
                    "blocklist_status": "clean",
                }
            ],
            "count": 1,
        }
    )

    tenant_id: str
    domains: list[DomainItem]
    count: int


class AddDomain(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"domain": "mail.acmecorp.com"}]})

    domain: str = Field(
        description="The custom domain to add. .onmicrosoft.com domains are not allowed.", max_length=300
    )


class DomainSummary(BaseModel):
    domain_name: str
    is_default: bool
    is_verified: bool


class LiveDnsStatus(BaseModel):
    spf_status: str
    dkim_status: str
    dmarc_status: str
    mx_status: str


class DkimVerificationState(BaseModel):
    status: str
    message: str


class AddDomainResult(BaseModel):
    model_config = example(
        {
            "status": "success",
            "tenant_id": TENANT_EXAMPLE,
            "domain": {"domain_name": "mail.acmecorp.com", "is_default": False, "is_verified": False},
            "verification_dns_records": [
                {"recordType": "domainDnsTxtRecord", "label": "@", "text": "MS=ms12345678", "ttl": 3600}
            ],
            "service_configuration_records": [_MX_EXAMPLE],
            "live_dns_status": {
                "spf_status": "missing",
                "dkim_status": "missing",
                "dmarc_status": "missing",
                "mx_status": "missing",
            },
            "dkim_verification_state": {"status": "missing", "message": "missing (selector1, selector2)"},
        }
    )

    status: str
    tenant_id: str
    domain: DomainSummary
    verification_dns_records: list[dict[str, Any]]
    service_configuration_records: list[dict[str, Any]]
    live_dns_status: LiveDnsStatus
    dkim_verification_state: DkimVerificationState


class VerifyResult(BaseModel):
    model_config = example(
        {
            "status": "success",
            "domain_name": "mail.acmecorp.com",
            "is_verified": True,
            "message": "Domain successfully verified in Microsoft 365",
        }
    )

    status: str
    domain_name: str
    is_verified: bool
    message: str


class EnableDkimResult(BaseModel):
    model_config = example(
        {
            "status": "success",
            "domain_name": "mail.acmecorp.com",
            "dkim_status": "enabled",
            "message": "DKIM successfully enabled",
        }
    )

    status: str
    domain_name: str
    dkim_status: str
    message: str


class DkimStatus(BaseModel):
    model_config = example(
        {
            "domain_name": "mail.acmecorp.com",
            "dkim_status": "pending",
            "selectors": {"selector1": "missing", "selector2": "propagated"},
            "ready_to_enable": False,
            "last_checked": "2025-04-20T08:00:00Z",
        }
    )

    domain_name: str
    dkim_status: str = Field(description='"pending", "ready", "enabled"')
    selectors: dict[str, str] = Field(description="Status of selector1 and selector2")
    ready_to_enable: bool
    last_checked: datetime | None


class DnsStatus(BaseModel):
    spf: str
    dkim: str
    dmarc: str
    mx: str


class DomainDns(BaseModel):
    model_config = example(
        {
            "tenant_id": TENANT_EXAMPLE,
            "domain_name": "mail.acmecorp.com",
            "is_default": False,
            "is_verified": True,
            "dns_status": {
                "spf": "v=spf1 include:spf.protection.outlook.com -all",
                "dkim": "healthy",
                "dmarc": "v=DMARC1; p=quarantine",
                "mx": "mail.acmecorp.com.mail.protection.outlook.com.",
            },
            "verification_dns_records": [],
            "service_configuration_records": [
                _MX_EXAMPLE,
                {
                    "recordType": "domainDnsCnameRecord",
                    "label": "selector1._domainkey",
                    "canonicalName": "selector1-mail-acmecorp-com._domainkey.acmecorp.onmicrosoft.com",
                    "ttl": 3600,
                },
            ],
            "last_checked": "2025-04-20T08:00:00Z",
        }
    )

    tenant_id: str
    domain_name: str
    is_default: bool
    is_verified: bool
    dns_status: DnsStatus
    verification_dns_records: list[dict[str, Any]]
    service_configuration_records: list[dict[str, Any]]
    last_checked: datetime | None


class Health(BaseModel):
    domain_name: str
    grade: str | None = Field(description="Worst finding: ok, info, warning, error, or unknown")
    fingerprint: str | None
    selectors: dict[str, str]
    ready_to_enable: bool
    findings: list[dict[str, Any]]
    last_checked: datetime | None
    blocklist_status: str | None = Field(
        None, description='"listed", "clean" or "unknown"; null when no blocklist was asked'
    )
    blocklists: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Each blocklist's verdict: blocklist, status, codes, reasons, problem, listed_name, last_known",
    )


class Published(BaseModel):
    status: str
    domain_name: str
    published: list[dict[str, Any]]
    dns_status: DnsStatus


class PlannedRecordOut(BaseModel):
    purpose: str
    name: str
    type: str
    wanted: str
    action: Literal["create", "update", "unchanged", "conflict"]
    current: list[str] = Field(description="What the provider holds at this name and type now.")
    after: list[str] = Field(description="What it will hold once applied (unchanged for a conflict).")
    reason: str


class DnsProviderRef(BaseModel):
    id: str | None
    name: str
    kind: str
    zone: str


class DnsPlanOut(BaseModel):
    domain_name: str
    provider: DnsProviderRef
    auto_repair: bool
    changes: int
    conflicts: int
    records: list[PlannedRecordOut]


class ApplyDns(BaseModel):
    model_config = ConfigDict(extra="forbid")

    replace_mx: StrictBool = Field(
        False, description="Replace MX hosts that are not Microsoft's (mail moves to Microsoft)."
    )


class DnsApplyOut(BaseModel):
    status: Literal["success"]
    domain_name: str
    provider: DnsProviderRef
    written: list[str] = Field(description="Record sets written, as 'NAME TYPE'.")
    records: list[PlannedRecordOut] = Field(description="The plan that was applied.")


class LinkDns(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider_id: str | None = Field(
        "keep",
        description="A provider's id, 'auto' (the one holding the longest matching zone), null (none) "
        "or 'keep' (as it is: only auto_repair changes).",
    )
    auto_repair: StrictBool | None = Field(None, description="Apply the plan again when records drift at the provider.")


class DnsLinkOut(BaseModel):
    domain_name: str
    provider: DnsProviderRef | None
    auto_repair: bool


class BulkAdd(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"domains": ["acme-mail.com", "acme-send.com"]}]}
    )

    domains: list[str] = Field(min_length=1, max_length=100, description="Up to 100 names; one result each.")


class BulkItem(BaseModel):
    domain: str
    status: Literal["added", "failed"]
    error: dict[str, str] | None = None
    dns_provider: str | None = Field(None, description="The provider that will publish its records, if any.")


class BulkResult(BaseModel):
    tenant_id: str
    added: int
    failed: int
    results: list[BulkItem]
