from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import WithJsonSchema

from tenantcore.api.deps import CallerDep, RuntimeDep, SessionDep, TenantId
from tenantcore.api.downloads import download
from tenantcore.api.openapi import DNS_PROVIDER, MICROSOFT, refusals
from tenantcore.domains import publishing, repository, service
from tenantcore.domains.listing import to_json
from tenantcore.domains.schemas import (
    AddDomain,
    AddDomainResult,
    ApplyDns,
    BulkAdd,
    BulkResult,
    DkimStatus,
    DnsApplyOut,
    DnsLinkOut,
    DnsPlanOut,
    DomainDns,
    DomainList,
    EnableDkimResult,
    Health,
    LinkDns,
    Published,
    VerifyResult,
)
from tenantcore.errors import tenant_not_found
from tenantcore.history import service as history_service
from tenantcore.history.record import MAX_DAYS
from tenantcore.history.schemas import DomainHistory

router = APIRouter(prefix="/v1/tenants/{tenant_id:tenant_id}/domains", tags=["domains"])
JSON = "application/json"

# Reading or writing at the domain's DNS provider: its refusals are the provider's (502).
PROVIDER_502 = ("no_dns_provider", *DNS_PROVIDER)


@router.get("", response_model=DomainList)
async def list_domains(caller: CallerDep, session: SessionDep, tenant_id: TenantId) -> Response:
    """All custom domains of a tenant with their last DNS health."""
    rows = await repository.listing(session, caller, tenant_id)
    if rows is None:
        raise tenant_not_found(tenant_id)
    # Encoded as `api/fast_reads.py` answers it (which serves this path without a query string).
    return Response(to_json(tenant_id, [r for r in rows if r.id is not None]), media_type=JSON)


@router.post(
    "",
    response_model=AddDomainResult,
    status_code=201,
    openapi_extra=refusals(
        "invalid_domain",
        "domain_limit_reached",
        "domain_already_exists",
        "domain_managed_by_another_account",
        "domain_in_use",
        "domain_busy",
        *MICROSOFT,
    ),
)
async def add_domain(runtime: RuntimeDep, caller: CallerDep, tenant_id: TenantId, body: AddDomain) -> AddDomainResult:
    """Add a domain in Microsoft 365 and return the DNS records to publish."""
    tenant, domain, report = await service.add(runtime, caller, tenant_id, body.domain)
    return service.add_response(tenant, domain, report)


@router.post("/bulk", response_model=BulkResult, openapi_extra=refusals("microsoft_not_configured", "sandbox_disabled"))
async def bulk_add(runtime: RuntimeDep, caller: CallerDep, tenant_id: TenantId, body: BulkAdd) -> BulkResult:
    """Add many domains at once, up to the tenant's free slots: one result per domain, and a
    failure of one never stops the others. With a DNS provider holding their zones, the
    reconciler publishes, verifies and enables DKIM on each with no further call."""
    return await service.bulk_add(runtime, caller, tenant_id, body.domains)


@router.post(
    "/{domain_name}/verify",
    response_model=VerifyResult,
    openapi_extra=refusals("verification_failed", "domain_in_use", "domain_busy", *MICROSOFT),
)
async def verify_domain(runtime: RuntimeDep, caller: CallerDep, tenant_id: TenantId, domain_name: str) -> VerifyResult:
    """Trigger Microsoft's verification once the TXT record is published."""
    domain = await service.verify(runtime, caller, tenant_id, domain_name)
    return VerifyResult(
        status="success",
        domain_name=domain.name,
        is_verified=True,
        message="Domain successfully verified in Microsoft 365",
    )


@router.post(
    "/{domain_name}/enable-dkim",
    response_model=EnableDkimResult,
    openapi_extra=refusals("dkim_not_ready", "domain_busy", *MICROSOFT),
)
async def enable_dkim(
    runtime: RuntimeDep, caller: CallerDep, tenant_id: TenantId, domain_name: str
) -> EnableDkimResult:
    """Enable DKIM signing once both selector CNAMEs are published."""
    domain = await service.enable_dkim(runtime, caller, tenant_id, domain_name)
    return EnableDkimResult(
        status="success", domain_name=domain.name, dkim_status="enabled", message="DKIM successfully enabled"
    )


@router.get("/{domain_name}/dkim-status", response_model=DkimStatus, openapi_extra=refusals("domain_busy", *MICROSOFT))
async def dkim_status(runtime: RuntimeDep, caller: CallerDep, tenant_id: TenantId, domain_name: str) -> DkimStatus:
    """DKIM state for polling until the CNAMEs have propagated (checks DNS live)."""
    return await service.dkim_status(runtime, caller, tenant_id, domain_name)


@router.get("/{domain_name}/dns", response_model=DomainDns)
async def get_dns(runtime: RuntimeDep, caller: CallerDep, tenant_id: TenantId, domain_name: str) -> DomainDns:
    """Stored records and the last recorded DNS health (no live query; see POST …/dns-check)."""
    tenant, domain = await service.load(runtime, caller, tenant_id, domain_name)
    return service.dns_response(tenant, domain)


@router.post("/{domain_name}/dns-check", response_model=DomainDns, openapi_extra=refusals("domain_busy"))
async def dns_check(runtime: RuntimeDep, caller: CallerDep, tenant_id: TenantId, domain_name: str) -> DomainDns:
    """Query DNS now, store and return the result."""
    tenant, domain = await service.dns_check(runtime, caller, tenant_id, domain_name)
    return service.dns_response(tenant, domain)


@router.get("/{domain_name}/health", response_model=Health)
async def health(runtime: RuntimeDep, caller: CallerDep, tenant_id: TenantId, domain_name: str) -> Health:
    """The last check's findings, each with severity and how to fix it."""
    _, domain = await service.load(runtime, caller, tenant_id, domain_name)
    return service.health(domain)


@router.get("/{domain_name}/history", response_model=DomainHistory, openapi_extra=refusals("invalid_days"))
async def history(
    runtime: RuntimeDep,
    caller: CallerDep,
    tenant_id: TenantId,
    domain_name: str,
    # An integer in the document, read as text here so a bad one is its own 400 `invalid_days`
    # (checked by `history_service.window`) rather than a generic `invalid_request`.
    days: Annotated[
        int | str,
        Query(description=f"The window in days, 1 to {MAX_DAYS}"),
        WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_DAYS}),
    ] = 30,
) -> DomainHistory:
    """The domain's grade transitions (which findings broke or fixed it) and one rollup per
    day: its worst grade and the time it spent healthy, with problems and unknown."""
    return await history_service.domain_history(runtime, caller, tenant_id, domain_name, history_service.window(days))


@router.get(
    "/{domain_name}/dns/export",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}, "text/csv": {}}}},
)
async def export(
    runtime: RuntimeDep,
    caller: CallerDep,
    tenant_id: TenantId,
    domain_name: str,
    format: Annotated[Literal["bind", "csv"], Query(description="bind or csv")] = "bind",
) -> Response:
    """The records to publish as a BIND zone snippet or registrar CSV."""
    _, domain = await service.load(runtime, caller, tenant_id, domain_name)
    return download(service.export(domain, format))


@router.get("/{domain_name}/dns/plan", response_model=DnsPlanOut, openapi_extra=refusals(*PROVIDER_502))
async def dns_plan(
    runtime: RuntimeDep,
    caller: CallerDep,
    tenant_id: TenantId,
    domain_name: str,
    replace_mx: Annotated[bool, Query(description="Plan replacing MX hosts that are not Microsoft's")] = False,
) -> DnsPlanOut:
    """For each record Microsoft wants, what the DNS provider holds now and what applying would
    change: create, update, unchanged, or conflict with the reason. Changes nothing."""
    return await publishing.plan(runtime, caller, tenant_id, domain_name, replace_mx)


@router.post(
    "/{domain_name}/dns/apply",
    response_model=DnsApplyOut,
    openapi_extra=refusals("dns_provider_error", "domain_busy", *PROVIDER_502),
)
async def dns_apply(
    runtime: RuntimeDep, caller: CallerDep, tenant_id: TenantId, domain_name: str, body: ApplyDns | None = None
) -> DnsApplyOut:
    """Apply the plan at the domain's DNS provider (test keys with none linked: the sandbox
    DNS). Conflicts are left as they are; a provider error names the record and why."""
    return await publishing.apply(runtime, caller, tenant_id, domain_name, (body or ApplyDns()).replace_mx)


@router.put(
    "/{domain_name}/dns/provider",
    response_model=DnsLinkOut,
    openapi_extra=refusals(
        "no_dns_provider", "dns_provider_not_found", "dns_provider_zone_not_found", "domain_busy", *DNS_PROVIDER
    ),
)
async def dns_provider(
    runtime: RuntimeDep, caller: CallerDep, tenant_id: TenantId, domain_name: str, body: LinkDns
) -> DnsLinkOut:
    """Choose which DNS provider publishes the domain's records, and whether drift is repaired."""
    return await publishing.link(runtime, caller, tenant_id, domain_name, body.provider_id, body.auto_repair)


@router.post(
    "/{domain_name}/dns/publish",
    response_model=Published,
    openapi_extra=refusals("dns_provider_error", "domain_busy", *PROVIDER_502),
)
async def publish(runtime: RuntimeDep, caller: CallerDep, tenant_id: TenantId, domain_name: str) -> Published:
    """Apply the records (an alias of `dns/apply`, kept from the sandbox's first API)."""
    return await publishing.publish(runtime, caller, tenant_id, domain_name)


@router.delete(
    "/{domain_name}", status_code=204, openapi_extra=refusals("domain_has_references", "domain_busy", *MICROSOFT)
)
async def delete_domain(runtime: RuntimeDep, caller: CallerDep, tenant_id: TenantId, domain_name: str) -> Response:
    """Remove the domain from Microsoft 365 and from TenantCore."""
    await service.delete(runtime, caller, tenant_id, domain_name)
    return Response(status_code=204)
