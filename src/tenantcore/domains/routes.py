from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from tenantcore.api.deps import CallerDep, RuntimeDep, SessionDep, TenantId
from tenantcore.api.downloads import download
from tenantcore.domains import repository, service
from tenantcore.domains.schemas import (
    AddDomain,
    AddDomainResult,
    DkimStatus,
    DomainDns,
    DomainItem,
    DomainList,
    EnableDkimResult,
    Health,
    Published,
    VerifyResult,
)
from tenantcore.errors import tenant_not_found

router = APIRouter(prefix="/v1/tenants/{tenant_id}/domains", tags=["domains"])


@router.get("", response_model=DomainList)
async def list_domains(caller: CallerDep, session: SessionDep, tenant_id: TenantId) -> DomainList:
    """All custom domains of a tenant with their last DNS health."""
    rows = await repository.listing(session, caller, tenant_id)
    if rows is None:
        raise tenant_not_found(tenant_id)
    items = [DomainItem.model_validate(r) for r in rows if r.id is not None]
    return DomainList(tenant_id=tenant_id, domains=items, count=len(items))


@router.post("", response_model=AddDomainResult, status_code=201)
async def add_domain(runtime: RuntimeDep, caller: CallerDep, tenant_id: TenantId, body: AddDomain) -> AddDomainResult:
    """Add a domain in Microsoft 365 and return the DNS records to publish."""
    tenant, domain, report = await service.add(runtime, caller, tenant_id, body.domain)
    return service.add_response(tenant, domain, report)


@router.post("/{domain_name}/verify", response_model=VerifyResult)
async def verify_domain(runtime: RuntimeDep, caller: CallerDep, tenant_id: TenantId, domain_name: str) -> VerifyResult:
    """Trigger Microsoft's verification once the TXT record is published."""
    domain = await service.verify(runtime, caller, tenant_id, domain_name)
    return VerifyResult(
        status="success",
        domain_name=domain.name,
        is_verified=True,
        message="Domain successfully verified in Microsoft 365",
    )


@router.post("/{domain_name}/enable-dkim", response_model=EnableDkimResult)
async def enable_dkim(
    runtime: RuntimeDep, caller: CallerDep, tenant_id: TenantId, domain_name: str
) -> EnableDkimResult:
    """Enable DKIM signing once both selector CNAMEs are published."""
    domain = await service.enable_dkim(runtime, caller, tenant_id, domain_name)
    return EnableDkimResult(
        status="success", domain_name=domain.name, dkim_status="enabled", message="DKIM successfully enabled"
    )


@router.get("/{domain_name}/dkim-status", response_model=DkimStatus)
async def dkim_status(runtime: RuntimeDep, caller: CallerDep, tenant_id: TenantId, domain_name: str) -> DkimStatus:
    """DKIM state for polling until the CNAMEs have propagated (checks DNS live)."""
    return await service.dkim_status(runtime, caller, tenant_id, domain_name)


@router.get("/{domain_name}/dns", response_model=DomainDns)
async def get_dns(runtime: RuntimeDep, caller: CallerDep, tenant_id: TenantId, domain_name: str) -> DomainDns:
    """Stored records and the last recorded DNS health (no live query; see POST …/dns-check)."""
    tenant, domain = await service.load(runtime, caller, tenant_id, domain_name)
    return service.dns_response(tenant, domain)


@router.post("/{domain_name}/dns-check", response_model=DomainDns)
async def dns_check(runtime: RuntimeDep, caller: CallerDep, tenant_id: TenantId, domain_name: str) -> DomainDns:
    """Query DNS now, store and return the result."""
    tenant, domain = await service.dns_check(runtime, caller, tenant_id, domain_name)
    return service.dns_response(tenant, domain)


@router.get("/{domain_name}/health", response_model=Health)
async def health(runtime: RuntimeDep, caller: CallerDep, tenant_id: TenantId, domain_name: str) -> Health:
    """The last check's findings, each with severity and how to fix it."""
    _, domain = await service.load(runtime, caller, tenant_id, domain_name)
    return service.health(domain)


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


@router.post("/{domain_name}/dns/publish", response_model=Published)
async def publish(runtime: RuntimeDep, caller: CallerDep, tenant_id: TenantId, domain_name: str) -> Published:
    """Test mode: write the records into the sandbox DNS (live: no DNS provider yet)."""
    return await service.publish(runtime, caller, tenant_id, domain_name)


@router.delete("/{domain_name}", status_code=204)
async def delete_domain(runtime: RuntimeDep, caller: CallerDep, tenant_id: TenantId, domain_name: str) -> Response:
    """Remove the domain from Microsoft 365 and from TenantCore."""
    await service.delete(runtime, caller, tenant_id, domain_name)
    return Response(status_code=204)
