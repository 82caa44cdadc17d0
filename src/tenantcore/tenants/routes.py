from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from tenantcore.api.deps import CallerDep, RuntimeDep, TenantId
from tenantcore.tenants import service
from tenantcore.tenants.schemas import ConnectTenant, ConsentUrl, SyncResult, TenantList, TenantOut

router = APIRouter(prefix="/v1/tenants", tags=["tenants"])


@router.get("", response_model=TenantList)
async def list_tenants(
    runtime: RuntimeDep,
    caller: CallerDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
    starting_after: Annotated[str | None, Query(description="The last tenant_id of the previous page")] = None,
) -> TenantList:
    """Connected tenants, newest consent first, `limit` at a time (cursor: `starting_after`)."""
    return await service.list_tenants(runtime, caller, limit, starting_after)


@router.post("", response_model=TenantOut, status_code=201)
async def connect_tenant(runtime: RuntimeDep, caller: CallerDep, body: ConnectTenant) -> TenantOut:
    """Connect a tenant whose admin already consented (live), or create a sandbox tenant (test keys)."""
    return await service.connect(runtime, caller, body)


@router.get("/connect", response_model=ConsentUrl)
async def consent_url(runtime: RuntimeDep, caller: CallerDep) -> ConsentUrl:
    """The admin-consent URL to send a tenant admin to; Microsoft redirects back to /v1/tenants/callback."""
    return ConsentUrl(consent_url=service.consent_url(runtime, caller), expires_in=service.CONSENT_TTL)


@router.get("/callback", response_model=TenantOut)
async def consent_callback(
    runtime: RuntimeDep,
    state: Annotated[str | None, Query(max_length=2048)] = None,
    tenant: Annotated[str | None, Query(max_length=64)] = None,
    admin_consent: Annotated[str | None, Query(max_length=16)] = None,
    error: Annotated[str | None, Query(max_length=256)] = None,
    error_description: Annotated[str | None, Query(max_length=2048)] = None,
) -> TenantOut:
    """Where Microsoft sends the admin back; the signed `state` says which account asked."""
    return await service.consent_callback(runtime, state, tenant, admin_consent, error, error_description)


@router.get("/{tenant_id}", response_model=TenantOut)
async def get_tenant(runtime: RuntimeDep, caller: CallerDep, tenant_id: TenantId) -> TenantOut:
    return await service.read(runtime, caller, tenant_id)


@router.delete("/{tenant_id}", status_code=204)
async def disconnect_tenant(runtime: RuntimeDep, caller: CallerDep, tenant_id: TenantId) -> Response:
    """Disconnect: TenantCore forgets the tenant; nothing is deleted in Microsoft."""
    await service.disconnect(runtime, caller, tenant_id)
    return Response(status_code=204)


@router.post("/{tenant_id}/sync", response_model=SyncResult)
async def sync_tenant(runtime: RuntimeDep, caller: CallerDep, tenant_id: TenantId) -> SyncResult:
    """Reconcile TenantCore's domains with Microsoft's list for this tenant."""
    return await service.sync(runtime, caller, tenant_id)
