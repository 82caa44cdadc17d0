"""Connecting Microsoft tenants, and keeping the local view of their domains in step."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tenantcore.accounts import repository as accounts
from tenantcore.accounts.service import Caller
from tenantcore.db import now
from tenantcore.dnshealth.names import is_microsoft_domain
from tenantcore.domains import lifecycle
from tenantcore.domains import repository as domains_repo
from tenantcore.domains.models import Domain
from tenantcore.domains.states import LISTED, DomainState
from tenantcore.errors import TenantCoreError, tenant_not_found
from tenantcore.events.service import event
from tenantcore.microsoft import errors as ms
from tenantcore.microsoft.graph import GraphDomain
from tenantcore.runtime import Runtime
from tenantcore.tenants import repository
from tenantcore.tenants.models import Tenant
from tenantcore.tenants.schemas import ConnectTenant, SyncResult, TenantList, TenantOut

CONSENT_TTL = 3600


def to_out(tenant: Tenant, domain_count: int) -> TenantOut:
    # The wire names the Microsoft tenant GUID `tenant_id`; every other field is the column's.
    same = {name: getattr(tenant, name) for name in TenantOut.model_fields if hasattr(tenant, name)}
    return TenantOut(**same, tenant_id=tenant.ms_tenant_id, domain_count=domain_count)


def tenant_guid(raw: str, message: str | None = None) -> str:
    """A tenant id as stored: the GUID in its canonical lower-case form."""
    try:
        return str(UUID(raw))
    except ValueError as exc:
        raise TenantCoreError(400, "invalid_tenant_id", message or f"'{raw[:64]}' is not a tenant GUID.") from exc


async def get(runtime: Runtime, caller: Caller, ms_tenant_id: str) -> Tenant:
    async with runtime.sessions() as session:
        tenant = await repository.get_for(session, caller, ms_tenant_id)
    if tenant is None:
        raise tenant_not_found(ms_tenant_id)
    return tenant


async def list_tenants(
    runtime: Runtime, caller: Caller, limit: int | None = None, starting_after: str | None = None
) -> TenantList:
    """Connected tenants, newest consent first; a page of `limit` continuing after the tenant
    `starting_after` (a tenant GUID from the previous page), and whether more follow."""
    async with runtime.sessions() as session:
        after = None
        if starting_after is not None:
            after = await repository.get_for(
                session, caller, tenant_guid(starting_after, "starting_after must be a tenant GUID.")
            )
            if after is None:
                raise TenantCoreError(
                    400, "invalid_cursor", f"starting_after: no tenant {starting_after} to continue from."
                )
        rows = await repository.list_for(session, caller, None if limit is None else limit + 1, after)
    more = limit is not None and len(rows) > limit
    tenants = [to_out(tenant, count) for tenant, count in rows[:limit]]
    return TenantList(tenants=tenants, count=len(tenants), has_more=more)


async def read(runtime: Runtime, caller: Caller, ms_tenant_id: str) -> TenantOut:
    async with runtime.sessions() as session:
        tenant = await repository.get_for(session, caller, ms_tenant_id)
        if tenant is None:
            raise tenant_not_found(ms_tenant_id)
        count = await repository.domain_count(session, tenant.id)
    return to_out(tenant, count)


@dataclass
class FleetView:
    rows: list[Any]  # per tenant, or the problem domains
    totals: dict[str, int]


FLEET_SORTS = ("name", "domains", "todo", "problems", "unknown", "oldest")


async def fleet(runtime: Runtime, caller: Caller, q: str = "", sort: str = "name", desc: bool = False) -> FleetView:
    """The caller's tenants with domain counts by health (those `q` matches in their name,
    initial domain or tenant GUID, sorted), and the totals over the whole fleet. One query: an account has at
    most a few hundred tenants, searched and sorted here."""
    young_since = now() - timedelta(seconds=runtime.settings.dns_grace)
    async with runtime.sessions() as session:
        every = await repository.fleet(session, caller, young_since)
    needle = q.strip().lower()
    rows = (
        [t for t in every if needle in t.tenant_name.lower() or needle in t.tenant_domain or needle in t.tenant_id]
        if needle
        else every
    )
    if sort in FLEET_SORTS and sort != "name":
        # Sorts are stable, so ties stay by name; tenants never checked (no oldest check) last.
        known = [t for t in rows if getattr(t, sort) is not None]
        rows = sorted(known, key=lambda t: getattr(t, sort), reverse=desc) + [
            t for t in rows if getattr(t, sort) is None
        ]
    elif desc:
        rows = rows[::-1]
    totals = {"tenants": len(every)} | {
        key: sum(getattr(t, key) for t in every)
        for key in ("domains", "healthy", "problems", "unknown", "todo", "awaiting")
    }
    return FleetView(rows, totals)


async def with_domains(runtime: Runtime, caller: Caller, ms_tenant_id: str) -> tuple[Tenant, list[Domain]]:
    async with runtime.sessions() as session:
        tenant = await repository.get_for(session, caller, ms_tenant_id)
        if tenant is None:
            raise tenant_not_found(ms_tenant_id)
        return tenant, await domains_repo.for_tenant(session, tenant.id)


async def connect(runtime: Runtime, caller: Caller, body: ConnectTenant, just_consented: bool = False) -> TenantOut:
    """Record a tenant whose admin has consented: check the app can reach it, discover its
    domains and whether Exchange answers, then store it (within the account's ceiling).
    `just_consented`: Microsoft's consent redirect brought us here, so a "no consent" answer
    (AADSTS7000229) is consent still replicating to the token service: retried for a while."""
    env = runtime.env(caller.mode)
    microsoft = env.microsoft
    if body.tenant_id is not None:
        ms_tenant_id = str(body.tenant_id)
    elif env.create_tenant is not None:  # the sandbox makes tenants on request
        await _check_ceiling(runtime, caller)
        ms_tenant_id = env.create_tenant(body.tenant_name or "Sandbox tenant")
        just_consented = True  # made and consented this instant: consent may still be replicating
    else:
        raise TenantCoreError(
            400, "tenant_id_required", "Give the Microsoft tenant GUID (tenant_id) of a consented tenant."
        )
    async with runtime.sessions() as session:
        if await repository.get_for(session, caller, ms_tenant_id):
            raise TenantCoreError(409, "tenant_already_connected", f"Tenant {ms_tenant_id} is already connected.")
        if await repository.get_any_account(session, caller.mode, ms_tenant_id):
            raise TenantCoreError(
                409,
                "tenant_connected_to_another_account",
                f"Tenant {ms_tenant_id} is connected to another TenantCore account.",
            )
    await _check_ceiling(runtime, caller)
    listed_at = now()
    wait_until = time.monotonic() + (runtime.settings.consent_wait if just_consented else 0)
    delay = 0.5
    while True:
        try:
            listed = await microsoft.graph.list_domains(ms_tenant_id)
            break
        except ms.ConsentRequired as exc:
            if time.monotonic() + delay > wait_until:
                raise TenantCoreError(400, exc.code, exc.message) from exc
        except ms.MicrosoftTenantNotFound as exc:
            raise TenantCoreError(400, exc.code, exc.message) from exc
        await asyncio.sleep(delay)
        delay = min(delay * 2, 8.0)
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
    try:
        async with runtime.transaction() as session:
            # Lock the account first, then count again: concurrent connects queue here, so the
            # ceiling holds (the early check above only spares Microsoft calls for a full account).
            await accounts.lock(session, caller.account_id)
            await _check_ceiling_in(session, runtime, caller)
            session.add(tenant)
    except IntegrityError as exc:  # connected concurrently by someone else
        raise TenantCoreError(409, "tenant_already_connected", f"Tenant {ms_tenant_id} is already connected.") from exc
    result = await sync(runtime, caller, tenant.ms_tenant_id, listed=listed, listed_at=listed_at)
    return to_out(await get(runtime, caller, tenant.ms_tenant_id), result.domain_count)


async def _check_ceiling(runtime: Runtime, caller: Caller) -> None:
    async with runtime.sessions() as session:
        await _check_ceiling_in(session, runtime, caller)


async def _check_ceiling_in(session: AsyncSession, runtime: Runtime, caller: Caller) -> None:
    account = await accounts.get_account(session, caller.account_id)
    limit = account.tenant_limit if account and account.tenant_limit is not None else runtime.settings.tenant_limit
    if await repository.count_for(session, caller) >= limit:
        raise TenantCoreError(402, "tenant_limit_reached", f"This account's plan allows {limit} tenants.")


async def disconnect(runtime: Runtime, caller: Caller, ms_tenant_id: str) -> None:
    """Forget the tenant here; nothing is deleted in Microsoft."""
    tenant = await get(runtime, caller, ms_tenant_id)
    async with runtime.transaction() as session:
        await domains_repo.delete_for_tenant(session, tenant.id)
        await repository.remove(session, tenant.id)


async def sync(
    runtime: Runtime,
    caller: Caller,
    ms_tenant_id: str,
    listed: list[GraphDomain] | None = None,
    listed_at: datetime | None = None,
) -> SyncResult:
    """Make the local domain list match Microsoft's: adopt domains added elsewhere (or whose
    local write was lost), drop those Microsoft no longer has, refresh verification flags,
    settle reservations whose add died, and read the records of domains that lack them."""
    tenant = await get(runtime, caller, ms_tenant_id)
    env = runtime.env(caller.mode)
    if listed is None:
        listed_at = now()
        listed = await env.microsoft.graph.list_domains(tenant.ms_tenant_id)
    if listed_at is None:  # a programming error: a listing handed in must say when it was read
        raise ValueError("sync(listed=…) needs listed_at")
    # Microsoft's own names (`<tenant>.onmicrosoft.com`, `<tenant>.mail.onmicrosoft.com`) are
    # never ours to manage: they take no slot, get no findings, no DKIM follow-ups.
    remote = {d.id: d for d in listed if not d.is_initial and not is_microsoft_domain(d.id)}
    stale_before = now() - timedelta(seconds=runtime.settings.reservation_timeout)
    added, removed, updated = [], [], []
    async with runtime.transaction() as session:
        # Adds and deletes of this tenant wait: no name is inserted twice.
        if not await repository.lock(session, tenant.id):
            raise tenant_not_found(tenant.ms_tenant_id)  # disconnected meanwhile
        rows = await domains_repo.for_tenant(session, tenant.id, everything=True)
        session.expunge_all()  # written below only through version-checked saves
        local = {d.name: d for d in rows}
        for name, domain in local.items():
            found = remote.get(name)
            held = domain.lease_until is not None and domain.lease_until > now()
            young = domain.state == DomainState.PENDING and domain.updated_at >= stale_before
            if domain.updated_at >= listed_at or held or young:
                continue  # changed since the list was read, or an add in progress: the next sync
            if found is None:
                gone = await domains_repo.remove_unchanged(session, domain)  # a delete finished too
                if gone and domain.state in LISTED:
                    removed.append(name)
            elif domain.state == DomainState.PENDING:  # the add died after Microsoft created it
                lifecycle.created(found)(domain)
                if await domains_repo.save(session, domain):
                    added.append(name)
            elif domain.state in LISTED and (domain.is_verified, domain.is_default) != (
                found.is_verified,
                found.is_default,
            ):
                lifecycle.listed_in_microsoft(found)(domain)
                if await domains_repo.save(session, domain):
                    updated.append(name)
        for name, found in remote.items():
            if name not in local:
                session.add(lifecycle.adopted(tenant, found))
                added.append(name)
        default = next((d.id for d in listed if d.is_default), None)
        await repository.update_after_sync(session, tenant.id, default)
    await _read_missing_records(runtime, tenant)
    if tenant.exchange_bootstrap_status != "ready":
        await probe_exchange(runtime, tenant)
    async with runtime.sessions() as session:
        count = await repository.domain_count(session, tenant.id)
    return SyncResult(
        tenant_id=tenant.ms_tenant_id,
        added=sorted(added),
        removed=sorted(removed),
        updated=sorted(updated),
        domain_count=count,
    )


async def probe_exchange(runtime: Runtime, tenant: Tenant) -> str:
    """Ask the tenant's Exchange whether the app may manage it. Consent never grants the
    Exchange Administrator role, so a tenant connected before the admin assigned it is asked
    again (by sync and by the reconciler) until it answers; when it changes an event says so,
    and DKIM follow-ups that were waiting for Exchange run at once."""
    try:
        await runtime.env(tenant.mode).microsoft.exchange.accepted_domains(tenant.ms_tenant_id)
        status = "ready"
    except (ms.ExchangeAccessDenied, ms.InsufficientPrivileges, ms.Unauthorized, ms.TokenError):
        status = "failed"
    except ms.MicrosoftError:
        status = tenant.exchange_bootstrap_status  # Exchange is having a bad moment: no news
    async with runtime.transaction() as session:
        if await repository.set_exchange_status(session, tenant, status):
            if status == "ready":
                await domains_repo.resume_followups(session, tenant.id)
                message = f"Exchange answers for tenant {tenant.tenant_name}: DKIM steps resume."
                type_ = "tenant.exchange_ready"
            else:
                message = (
                    f"Exchange refuses the app in tenant {tenant.tenant_name}: give its service principal the "
                    "Exchange Administrator role (Entra → Roles and administrators)."
                )
                type_ = "tenant.exchange_unavailable"
            session.add(event(tenant.account_id, tenant.mode, tenant.ms_tenant_id, "", type_, message))
    return status


async def _read_missing_records(runtime: Runtime, tenant: Tenant) -> None:
    """Records for the tenant's domains that have none yet (adopted, or a read that failed);
    what fails here the reconciler reads later."""
    async with runtime.sessions() as session:
        lacking = [d for d in await domains_repo.for_tenant(session, tenant.id) if d.records_read_at is None]
    env = runtime.env(tenant.mode)

    async def read(domain: Domain) -> None:
        with contextlib.suppress(ms.MicrosoftError, TenantCoreError):
            await lifecycle.commit(runtime, domain, await lifecycle.refresh_records(env, tenant, domain))

    await asyncio.gather(*(read(d) for d in lacking))


# --- admin consent ---------------------------------------------------------------------------


def _sign(secret: bytes, payload: dict[str, object]) -> str:
    body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")
    mac = hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{body}.{mac}"


def _unsign(secret: bytes, state: str) -> dict[str, object] | None:
    """The signed payload, or None for anything that is not a state we issued and still valid
    (any text may arrive here: it is a query parameter)."""
    body, _, mac = state.partition(".")
    expected = hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()[:32]
    if not hmac.compare_digest(mac.encode(), expected.encode()):
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        return payload if isinstance(payload, dict) and float(payload.get("exp", 0)) > time.time() else None
    except (ValueError, TypeError):
        return None


@dataclass(frozen=True)
class MissingSetting:
    env_var: str
    why: str
    blocking: bool = True  # False: connecting works without it, but likely not as wanted


def consent_prerequisites(runtime: Runtime, caller: Caller) -> list[MissingSetting]:
    """The server settings connecting a tenant in the caller's mode still lacks (none in the
    sandbox): the consent link needs the app's client id, connecting after consent its secret,
    and Microsoft sends the admin back to TENANTCORE_PUBLIC_URL (registered in Entra)."""
    if caller.mode != "live":
        return []
    s = runtime.settings
    missing = []
    if not s.ms_client_id:
        missing.append(MissingSetting("TENANTCORE_MS_CLIENT_ID", "the Entra app's Application (client) ID"))
    if not s.ms_client_secret:
        missing.append(MissingSetting("TENANTCORE_MS_CLIENT_SECRET", "a client secret of that app"))
    if not s.public_url:
        missing.append(
            MissingSetting(
                "TENANTCORE_PUBLIC_URL",
                "the address browsers reach this server at (Microsoft sends the consenting admin back to "
                f"its /v1/tenants/callback; without it: {s.base_url}/v1/tenants/callback)",
                blocking=False,
            )
        )
    return missing


def consent_url(runtime: Runtime, caller: Caller) -> str:
    """Where to send a tenant admin to grant the app access (in test mode the emulator's
    consent page, which signs into a new sandbox tenant)."""
    env = runtime.env(caller.mode)
    if not env.consent_client_id:
        raise TenantCoreError(503, "microsoft_not_configured", "Live mode needs TENANTCORE_MS_CLIENT_ID.")
    state = _sign(runtime.secret, {"a": caller.account_id, "m": caller.mode, "exp": time.time() + CONSENT_TTL})
    redirect = f"{runtime.settings.base_url}/v1/tenants/callback"
    query = urlencode({"client_id": env.consent_client_id, "redirect_uri": redirect, "state": state})
    return f"{env.consent_base}/organizations/adminconsent?{query}"


async def consent_callback(
    runtime: Runtime,
    state: str | None,
    tenant: str | None,
    admin_consent: str | None,
    error: str | None,
    error_description: str | None,
) -> TenantOut:
    # Microsoft's error redirect may carry no state at all: the refusal is the news.
    if error:
        raise TenantCoreError(400, "consent_declined", f"Admin consent was not granted: {error_description or error}")
    if admin_consent is not None and admin_consent != "True":
        raise TenantCoreError(
            400, "consent_declined", f"Admin consent was not granted (admin_consent={admin_consent})."
        )
    payload = _unsign(runtime.secret, state) if state else None
    if payload is None:
        raise TenantCoreError(400, "invalid_consent_state", "The consent link is invalid or expired; start again.")
    if not tenant:
        raise TenantCoreError(
            400, "invalid_consent_state", "Microsoft's answer names no tenant (no tenant= in the link); start again."
        )
    caller = Caller(str(payload["a"]), str(payload["m"]), key_id="")
    tenant_id = tenant_guid(tenant, "Microsoft returned a tenant id that is not a GUID.")
    return await connect(runtime, caller, ConnectTenant(tenant_id=UUID(tenant_id)), just_consented=True)
