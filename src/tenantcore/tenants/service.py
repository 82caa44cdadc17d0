"""Connecting Microsoft tenants, and keeping the local view of their domains in step."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tenantcore.accounts import repository as accounts
from tenantcore.accounts.service import Caller
from tenantcore.api.errors import ApiError
from tenantcore.db import now
from tenantcore.domains import repository as domains_repo
from tenantcore.domains.models import Domain
from tenantcore.microsoft import errors as ms
from tenantcore.runtime import Runtime
from tenantcore.tenants import repository
from tenantcore.tenants.models import Tenant
from tenantcore.tenants.schemas import ConnectTenant, SyncResult, TenantOut

CONSENT_TTL = 3600


def to_out(tenant: Tenant, domain_count: int) -> TenantOut:
    return TenantOut(
        id=tenant.id,
        tenant_id=tenant.ms_tenant_id,
        tenant_name=tenant.tenant_name,
        tenant_domain=tenant.tenant_domain,
        default_domain=tenant.default_domain,
        domain_count=domain_count,
        discovery_completed=tenant.discovery_completed,
        exchange_bootstrap_status=tenant.exchange_bootstrap_status,
        consented_at=tenant.consented_at,
        last_sync_at=tenant.last_sync_at,
    )


def not_found(ms_tenant_id: str) -> ApiError:
    return ApiError(404, "tenant_not_found", f"Tenant {ms_tenant_id} does not exist or belongs to a different account.")


async def get(runtime: Runtime, caller: Caller, ms_tenant_id: str) -> Tenant:
    async with runtime.sessions() as session:
        tenant = await repository.get_for(session, caller.account_id, caller.mode, ms_tenant_id)
    if tenant is None:
        raise not_found(ms_tenant_id)
    return tenant


async def connect(runtime: Runtime, caller: Caller, body: ConnectTenant) -> TenantOut:
    """Record a tenant whose admin has consented: check the app can reach it, discover its
    domains and whether Exchange answers, then store it (within the account's ceiling)."""
    microsoft = runtime.microsoft(caller.mode)
    if caller.mode == "test" and body.tenant_id is None:
        sandbox = runtime.require_sandbox()
        await _check_ceiling(runtime, caller)
        emulated = sandbox.create_tenant(body.tenant_name or "Sandbox tenant")
        ms_tenant_id = emulated.id
    elif body.tenant_id is None:
        raise ApiError(400, "tenant_id_required", "Give the Microsoft tenant GUID (tenant_id) of a consented tenant.")
    else:
        ms_tenant_id = str(body.tenant_id)
    async with runtime.sessions() as session:
        if await repository.get_for(session, caller.account_id, caller.mode, ms_tenant_id):
            raise ApiError(409, "tenant_already_connected", f"Tenant {ms_tenant_id} is already connected.")
        if await repository.get_any_account(session, caller.mode, ms_tenant_id):
            raise ApiError(
                409,
                "tenant_connected_to_another_account",
                f"Tenant {ms_tenant_id} is connected to another TenantCore account.",
            )
    await _check_ceiling(runtime, caller)
    try:
        listed = await microsoft.graph.list_domains(ms_tenant_id)
    except (ms.MicrosoftTenantNotFound, ms.ConsentRequired) as exc:
        raise ApiError(400, exc.code, exc.message) from exc
    initial = next((d.id for d in listed if d.is_initial), f"{ms_tenant_id}.onmicrosoft.com")
    default = next((d.id for d in listed if d.is_default), None)
    try:
        await microsoft.exchange.accepted_domains(ms_tenant_id)
        exchange = "ready"
    except ms.MicrosoftError:
        exchange = "failed"
    name = body.tenant_name or initial.split(".", 1)[0]
    tenant = Tenant(
        account_id=caller.account_id,
        mode=caller.mode,
        ms_tenant_id=ms_tenant_id.lower(),
        tenant_name=name,
        tenant_domain=initial,
        default_domain=default,
        exchange_bootstrap_status=exchange,
        discovery_completed=True,
    )
    async with runtime.sessions() as session:
        # Lock the account first, then count again: concurrent connects queue here, so the
        # ceiling holds (the early check above only spares Microsoft calls for a full account).
        await accounts.lock(session, caller.account_id)
        await _check_ceiling_in(session, runtime, caller)
        session.add(tenant)
        try:
            await session.commit()
        except IntegrityError as exc:  # connected concurrently by someone else
            raise ApiError(409, "tenant_already_connected", f"Tenant {ms_tenant_id} is already connected.") from exc
    result = await sync(runtime, caller, tenant.ms_tenant_id, listed=listed)
    return to_out(await get(runtime, caller, tenant.ms_tenant_id), result.domain_count)


async def _check_ceiling(runtime: Runtime, caller: Caller) -> None:
    async with runtime.sessions() as session:
        await _check_ceiling_in(session, runtime, caller)


async def _check_ceiling_in(session: AsyncSession, runtime: Runtime, caller: Caller) -> None:
    account = await accounts.get_account(session, caller.account_id)
    limit = account.tenant_limit if account and account.tenant_limit is not None else runtime.settings.tenant_limit
    if await repository.count_for(session, caller.account_id, caller.mode) >= limit:
        raise ApiError(402, "tenant_limit_reached", f"This account's plan allows {limit} tenants.")


async def disconnect(runtime: Runtime, caller: Caller, ms_tenant_id: str) -> None:
    """Forget the tenant here; nothing is deleted in Microsoft."""
    tenant = await get(runtime, caller, ms_tenant_id)
    async with runtime.sessions() as session:
        await domains_repo.delete_for_tenant(session, tenant.id)
        await session.delete(await session.merge(tenant))
        await session.commit()


async def sync(runtime: Runtime, caller: Caller, ms_tenant_id: str, listed: list | None = None) -> SyncResult:
    """Make the local domain list match Microsoft's: adopt domains added elsewhere (or whose
    local write was lost), drop those Microsoft no longer has, refresh verification flags."""
    tenant = await get(runtime, caller, ms_tenant_id)
    if listed is None:
        listed = await runtime.microsoft(caller.mode).graph.list_domains(tenant.ms_tenant_id)
    remote = {d.id: d for d in listed if not d.is_initial}
    added, removed, updated = [], [], []
    async with runtime.sessions() as session:
        local = {d.name: d for d in await domains_repo.for_tenant(session, tenant.id, include_pending=True)}
        for name, domain in local.items():
            found = remote.get(name)
            if found is None:
                if domain.state != "pending":  # a pending row is an add in progress
                    await session.delete(domain)
                    removed.append(name)
            elif (domain.is_verified, domain.is_default) != (found.is_verified, found.is_default):
                domain.is_verified, domain.is_default = found.is_verified, found.is_default
                domain.state = (
                    "verified" if found.is_verified and domain.state in ("added", "pending") else domain.state
                )
                updated.append(name)
        for name, found in remote.items():
            if name not in local:
                session.add(
                    Domain(
                        tenant_id=tenant.id,
                        account_id=tenant.account_id,
                        mode=tenant.mode,
                        name=name,
                        state="verified" if found.is_verified else "added",
                        is_verified=found.is_verified,
                        is_default=found.is_default,
                    )
                )
                added.append(name)
        merged = await session.merge(tenant)
        merged.last_sync_at = now()
        merged.default_domain = next((d.id for d in listed if d.is_default), merged.default_domain)
        await session.commit()
        count = await repository.domain_count(session, tenant.id)
    return SyncResult(
        tenant_id=tenant.ms_tenant_id,
        added=sorted(added),
        removed=sorted(removed),
        updated=sorted(updated),
        domain_count=count,
    )


# --- admin consent ---------------------------------------------------------------------------


def _sign(secret: bytes, payload: dict[str, object]) -> str:
    body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")
    mac = hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{body}.{mac}"


def _unsign(secret: bytes, state: str) -> dict[str, object] | None:
    body, _, mac = state.partition(".")
    expected = hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()[:32]
    if not hmac.compare_digest(mac, expected):
        return None
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return payload if isinstance(payload, dict) and float(payload.get("exp", 0)) > time.time() else None


def consent_url(runtime: Runtime, caller: Caller) -> str:
    """Where to send a tenant admin to grant the app access. In test mode it is the emulator's
    consent page, which signs into a new sandbox tenant."""
    state = _sign(runtime.secret, {"a": caller.account_id, "m": caller.mode, "exp": time.time() + CONSENT_TTL})
    redirect = f"{runtime.settings.base_url}/v1/tenants/callback"
    if caller.mode == "test":
        sandbox = runtime.require_sandbox()
        assert sandbox.emulator is not None
        base, client_id = sandbox.emulator.url, sandbox.client_id
    else:
        if not runtime.settings.ms_client_id:
            raise ApiError(503, "microsoft_not_configured", "Live mode needs TENANTCORE_MS_CLIENT_ID.")
        base, client_id = "https://login.microsoftonline.com", runtime.settings.ms_client_id
    query = urlencode({"client_id": client_id, "redirect_uri": redirect, "state": state})
    return f"{base}/organizations/adminconsent?{query}"


async def consent_callback(
    runtime: Runtime,
    state: str,
    tenant: str | None,
    admin_consent: str | None,
    error: str | None,
    error_description: str | None,
) -> TenantOut:
    payload = _unsign(runtime.secret, state)
    if payload is None:
        raise ApiError(400, "invalid_consent_state", "The consent link is invalid or expired; start again.")
    if error or admin_consent != "True" or not tenant:
        raise ApiError(400, "consent_declined", f"Admin consent was not granted: {error_description or error or 'no'}")
    caller = Caller(str(payload["a"]), str(payload["m"]), key_id="")
    from uuid import UUID

    try:
        tenant_id = UUID(tenant)
    except ValueError as exc:
        raise ApiError(400, "invalid_tenant_id", "Microsoft returned a tenant id that is not a GUID.") from exc
    return await connect(runtime, caller, ConnectTenant(tenant_id=tenant_id))
