from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from tenantcore.api.deps import CallerDep, RuntimeDep
from tenantcore.api.openapi import DNS_PROVIDER, refusals
from tenantcore.dnsproviders import service
from tenantcore.dnsproviders.schemas import ConnectDnsProvider, DnsProviderList, DnsProviderOut, ProviderTest

router = APIRouter(prefix="/v1/dns-providers", tags=["dns providers"])


@router.post(
    "",
    response_model=DnsProviderOut,
    status_code=201,
    openapi_extra=refusals(
        "zone_required",
        "invalid_zone",
        "sandbox_provider_test_only",
        "dns_provider_exists",
        "sandbox_disabled",
        *DNS_PROVIDER,
    ),
)
async def connect(runtime: RuntimeDep, caller: CallerDep, body: ConnectDnsProvider) -> DnsProviderOut:
    """Connect a DNS provider. The credentials are tested by reading `zone`, then sealed; they
    are never returned. Your domains whose zones it holds are linked to it at once."""
    return await service.connect(runtime, caller, body)


@router.get("", response_model=DnsProviderList)
async def listing(runtime: RuntimeDep, caller: CallerDep) -> DnsProviderList:
    return await service.listing(runtime, caller)


@router.get("/{provider_id}", response_model=DnsProviderOut, openapi_extra=refusals("dns_provider_not_found"))
async def read(runtime: RuntimeDep, caller: CallerDep, provider_id: str) -> DnsProviderOut:
    return await service.read(runtime, caller, provider_id)


@router.post(
    "/{provider_id}/test",
    response_model=ProviderTest,
    openapi_extra=refusals("dns_provider_not_found", "zone_required", "invalid_zone", *DNS_PROVIDER),
)
async def test(
    runtime: RuntimeDep,
    caller: CallerDep,
    provider_id: str,
    zone: Annotated[str | None, Query(max_length=253, description="Default: a linked domain's zone")] = None,
) -> ProviderTest:
    """Read a zone again: the stored credentials still work."""
    return await service.test(runtime, caller, provider_id, zone)


@router.delete("/{provider_id}", status_code=204, openapi_extra=refusals("dns_provider_not_found"))
async def remove(runtime: RuntimeDep, caller: CallerDep, provider_id: str) -> Response:
    """Forget the connection. Its domains keep every record and are no longer published."""
    await service.remove(runtime, caller, provider_id)
    return Response(status_code=204)
