from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from tenantcore.api.deps import CallerDep, RuntimeDep, TenantId
from tenantcore.api.openapi import MICROSOFT, refusals
from tenantcore.errors import TenantCoreError, from_microsoft
from tenantcore.microsoft.errors import MicrosoftError
from tenantcore.tenants import service
from tenantcore.tenants.schemas import ConnectTenant, ConsentUrl, SyncResult, TenantList, TenantOut
from tenantcore.web.consent_page import consent_page, wants_html

router = APIRouter(prefix="/v1/tenants", tags=["tenants"])

# Connecting reads the tenant's domains in Microsoft: a tenant whose admin has not consented,
# or that Microsoft does not know, is the caller's mistake (400); the rest is Microsoft's.
CONNECT = (
    "tenant_id_required",
    "tenant_limit_reached",
    "tenant_already_connected",
    "tenant_connected_to_another_account",
    "domain_busy",
    *(c for c in MICROSOFT if c not in ("consent_required", "microsoft_tenant_not_found")),
)


@router.get("", response_model=TenantList, openapi_extra=refusals("invalid_tenant_id", "invalid_cursor"))
async def list_tenants(
    runtime: RuntimeDep,
    caller: CallerDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
    starting_after: Annotated[
        str | None, Query(description="The last tenant_id of the previous page", json_schema_extra={"format": "uuid"})
    ] = None,
) -> TenantList:
    """Connected tenants, newest consent first, `limit` at a time (cursor: `starting_after`)."""
    return await service.list_tenants(runtime, caller, limit, starting_after)


@router.post(
    "",
    response_model=TenantOut,
    status_code=201,
    openapi_extra=refusals(*CONNECT, consent_required=400, microsoft_tenant_not_found=400),
)
async def connect_tenant(runtime: RuntimeDep, caller: CallerDep, body: ConnectTenant) -> TenantOut:
    """Connect a tenant whose admin already consented (live), or create a sandbox tenant (test keys)."""
    return await service.connect(runtime, caller, body)


@router.get("/connect", response_model=ConsentUrl, openapi_extra=refusals("microsoft_not_configured"))
async def consent_url(runtime: RuntimeDep, caller: CallerDep) -> ConsentUrl:
    """The admin-consent URL to send a tenant admin to; Microsoft redirects back to /v1/tenants/callback."""
    return ConsentUrl(consent_url=service.consent_url(runtime, caller), expires_in=service.CONSENT_TTL)


@router.get(
    "/callback",
    response_model=TenantOut,
    openapi_extra=refusals(
        "consent_declined",
        "invalid_consent_state",
        "invalid_tenant_id",
        *CONNECT,
        consent_required=400,
        microsoft_tenant_not_found=400,
    ),
)
async def consent_callback(
    runtime: RuntimeDep,
    request: Request,
    state: Annotated[str | None, Query(max_length=2048)] = None,
    tenant: Annotated[str | None, Query(max_length=64)] = None,
    admin_consent: Annotated[str | None, Query(max_length=16)] = None,
    error: Annotated[str | None, Query(max_length=256)] = None,
    error_description: Annotated[str | None, Query(max_length=2048)] = None,
) -> TenantOut | Response:
    """Where Microsoft sends the admin back; the signed `state` says which account asked.

    A browser (`Accept: text/html`) gets the outcome as a page with a link into the app; API
    clients get JSON."""
    try:
        connected = await service.consent_callback(runtime, state, tenant, admin_consent, error, error_description)
    except (TenantCoreError, MicrosoftError) as exc:
        if not wants_html(request):
            raise  # the API's error handlers answer
        if isinstance(exc, MicrosoftError):
            return consent_page(request, None, from_microsoft(exc))
        if exc.code == "tenant_already_connected" and tenant:
            # A reload, or the back button, after connecting: connected is the news, not a 409.
            return consent_page(request, None, already=tenant.strip().lower())
        return consent_page(request, None, exc)
    return consent_page(request, connected) if wants_html(request) else connected


@router.get("/{tenant_id:tenant_id}", response_model=TenantOut)
async def get_tenant(runtime: RuntimeDep, caller: CallerDep, tenant_id: TenantId) -> TenantOut:
    return await service.read(runtime, caller, tenant_id)


@router.delete("/{tenant_id:tenant_id}", status_code=204)
async def disconnect_tenant(runtime: RuntimeDep, caller: CallerDep, tenant_id: TenantId) -> Response:
    """Disconnect: TenantCore forgets the tenant; nothing is deleted in Microsoft."""
    await service.disconnect(runtime, caller, tenant_id)
    return Response(status_code=204)


@router.post(
    "/{tenant_id:tenant_id}/sync", response_model=SyncResult, openapi_extra=refusals("domain_busy", *MICROSOFT)
)
async def sync_tenant(runtime: RuntimeDep, caller: CallerDep, tenant_id: TenantId) -> SyncResult:
    """Reconcile TenantCore's domains with Microsoft's list for this tenant."""
    return await service.sync(runtime, caller, tenant_id)
