"""Connecting DNS providers: validated by reading a zone before anything is stored, credentials
sealed at once, and the account's domains whose zones the new provider holds linked to it.
Also which provider serves a domain: the one holding the longest zone that contains it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError

from tenantcore import netguard
from tenantcore.accounts.service import Caller
from tenantcore.dnshealth.names import InvalidDomain, parse_domain
from tenantcore.dnsproviders import credentials, repository
from tenantcore.dnsproviders.base import DnsProvider, ProviderError
from tenantcore.dnsproviders.models import DnsProviderRow
from tenantcore.dnsproviders.registry import open_provider
from tenantcore.dnsproviders.sandbox import SandboxProvider
from tenantcore.dnsproviders.schemas import ConnectDnsProvider, DnsProviderList, DnsProviderOut, ProviderTest
from tenantcore.errors import TenantCoreError
from tenantcore.runtime import Runtime

log = logging.getLogger(__name__)

SANDBOX_KEY = "sandbox"  # the cache key of the sandbox's own provider (test mode's default)
LINK_CONCURRENCY = 8  # zone lookups in flight when linking an account's domains


def provider_error(exc: ProviderError, status: int = 400) -> TenantCoreError:
    """A provider's refusal as the API says it: `dns_provider_auth_failed` and so on."""
    code = exc.code if exc.code.startswith("dns_") else f"dns_{exc.code}"
    where = f" ({exc.record})" if exc.record else ""
    return TenantCoreError(status, code, f"{exc.message}{where}")


def sandbox_provider(runtime: Runtime) -> DnsProvider:
    """The sandbox DNS server as a provider: test keys publish there when nothing else is linked."""
    provider = runtime.dns_providers.get(SANDBOX_KEY)
    if provider is None:
        sandbox = runtime.sandbox
        if sandbox is None:
            raise TenantCoreError(503, "sandbox_disabled", "The sandbox is turned off on this server.")
        provider = runtime.dns_providers[SANDBOX_KEY] = SandboxProvider(sandbox.store, on_change=sandbox.save)
    return provider


def address_policy(runtime: Runtime, mode: str) -> netguard.Policy:
    """Where a provider's server may be: public addresses; loopback too for test keys on a
    local sandbox (`Settings.local_sandbox`: on a server others reach, any account's test key
    could otherwise make it talk to its own ports); anywhere when the operator says so."""
    if runtime.settings.dns_provider_allow_private:
        return "any"
    return "loopback" if mode == "test" and runtime.settings.local_sandbox else "public"


def opened(runtime: Runtime, row: DnsProviderRow) -> DnsProvider:
    """The provider behind a stored connection, opened once per process."""
    provider = runtime.dns_providers.get(row.id)
    if provider is None:
        if row.kind == "sandbox":
            return sandbox_provider(runtime)
        secrets = credentials.unseal(runtime.secret, row.credentials)
        provider = runtime.dns_providers[row.id] = open_provider(
            row.kind, row.config, secrets, policy=address_policy(runtime, row.mode)
        )
    return provider


def _zone_name(raw: str) -> str:
    try:
        return parse_domain(raw)
    except InvalidDomain as exc:
        raise TenantCoreError(400, "invalid_zone", f"{raw!r} is not a zone name: {exc.message}") from exc


async def _prove(provider: DnsProvider, zone: str) -> int:
    """Read the zone's apex and prove write access: the provider holds the zone and the
    credentials work (nothing is changed)."""
    found = await provider.find_zone(zone)
    if found != zone:
        raise ProviderError("zone_not_found", f"the provider does not hold the zone {zone}")
    records = len(await provider.read(zone, zone))
    await provider.check_write(zone)
    return records


def _fields(runtime: Runtime, row: DnsProviderRow) -> list[str]:
    try:
        return sorted(credentials.unseal(runtime.secret, row.credentials))
    except TenantCoreError:  # sealed under another server secret: listed, marked, not a 500
        return ["(unreadable: connect again)"]


def _out(runtime: Runtime, row: DnsProviderRow, linked: int) -> DnsProviderOut:
    return DnsProviderOut(
        id=row.id,
        name=row.name,
        kind=row.kind,
        config=dict(row.config or {}),
        credential_fields=_fields(runtime, row),
        domains=linked,
        created_at=row.created_at,
    )


async def connect(runtime: Runtime, caller: Caller, body: ConnectDnsProvider) -> DnsProviderOut:
    if body.kind == "sandbox":
        if caller.mode != "test":
            raise TenantCoreError(400, "sandbox_provider_test_only", "The sandbox provider is for test keys only.")
        if body.config or body.credentials:
            raise TenantCoreError(
                400, "dns_provider_config_invalid", "The sandbox provider takes no config or credentials."
            )
        if body.zone is not None:
            _zone_name(body.zone)  # not read (the sandbox holds every zone), but no nonsense is taken
        provider: DnsProvider = sandbox_provider(runtime)
    else:
        if body.zone is None:
            raise TenantCoreError(
                400, "zone_required", "Name a zone the provider holds (`zone`): it is read to test the credentials."
            )
        try:
            provider = open_provider(
                body.kind, body.config, body.credentials, policy=address_policy(runtime, caller.mode)
            )
        except ProviderError as exc:
            raise provider_error(exc) from exc
        try:
            await _prove(provider, _zone_name(body.zone))
        except ProviderError as exc:
            await provider.aclose()
            raise provider_error(exc) from exc
    row = DnsProviderRow(
        account_id=caller.account_id,
        mode=caller.mode,
        name=body.name,
        kind=body.kind,
        config=dict(body.config),
        credentials=credentials.seal(runtime.secret, body.credentials) if body.credentials else "",
    )
    try:
        async with runtime.transaction() as session:
            session.add(row)
    except IntegrityError as exc:
        await provider.aclose()
        raise TenantCoreError(409, "dns_provider_exists", f"A DNS provider named {body.name!r} exists.") from exc
    if body.kind != "sandbox":
        runtime.dns_providers[row.id] = provider
    log.info("dns provider %s (%s) connected for account %s", row.id, row.kind, caller.account_id)
    linked = await link_unlinked(runtime, caller, row)
    return _out(runtime, row, linked)


async def link_unlinked(runtime: Runtime, caller: Caller, row: DnsProviderRow) -> int:
    """Link the account's domains that no provider serves yet to `row` where it holds their zone."""
    async with runtime.sessions() as session:
        domains = await repository.unlinked_domains(session, caller)
    provider = opened(runtime, row)
    limit = asyncio.Semaphore(LINK_CONCURRENCY)

    async def zone_of(name: str) -> str | None:
        async with limit:
            try:
                return await provider.find_zone(name)
            except ProviderError:
                return None

    zones = await asyncio.gather(*(zone_of(d.name) for d in domains))
    linked = 0
    async with runtime.transaction() as session:
        for domain, zone in zip(domains, zones, strict=True):
            if zone is not None:
                await repository.link(session, domain.id, row.id, zone)
                linked += 1
    return linked


async def find_for(runtime: Runtime, rows: Sequence[DnsProviderRow], name: str) -> tuple[DnsProviderRow, str] | None:
    """The provider holding the longest zone that contains `name` (None: none of them)."""
    best: tuple[DnsProviderRow, str] | None = None
    for row in rows:
        try:
            zone = await opened(runtime, row).find_zone(name)
        except (ProviderError, TenantCoreError):
            continue
        if zone is not None and (best is None or len(zone) > len(best[1])):
            best = (row, zone)
    return best


async def listing(runtime: Runtime, caller: Caller) -> DnsProviderList:
    async with runtime.sessions() as session:
        rows = await repository.for_caller(session, caller)
        counts = await repository.linked_counts(session, [r.id for r in rows])
    items = [_out(runtime, r, counts.get(r.id, 0)) for r in rows]
    return DnsProviderList(providers=items, count=len(items))


async def _row(runtime: Runtime, caller: Caller, provider_id: str) -> DnsProviderRow:
    async with runtime.sessions() as session:
        row = await repository.get_for(session, caller, provider_id)
    if row is None:
        raise TenantCoreError(404, "dns_provider_not_found", f"No DNS provider {provider_id}.")
    return row


async def read(runtime: Runtime, caller: Caller, provider_id: str) -> DnsProviderOut:
    row = await _row(runtime, caller, provider_id)
    async with runtime.sessions() as session:
        counts = await repository.linked_counts(session, [row.id])
    return _out(runtime, row, counts.get(row.id, 0))


async def test(runtime: Runtime, caller: Caller, provider_id: str, zone: str | None) -> ProviderTest:
    """Read a zone again (the app's Test button): the credentials still work."""
    row = await _row(runtime, caller, provider_id)
    if zone is None:
        async with runtime.sessions() as session:
            zone = await repository.some_zone(session, row.id)
        if zone is None:
            raise TenantCoreError(400, "zone_required", "No domain is linked to this provider yet: name a zone.")
    zone = _zone_name(zone)
    try:
        records = await _prove(opened(runtime, row), zone)
    except ProviderError as exc:
        raise provider_error(exc) from exc
    return ProviderTest(status="ok", zone=zone, records=records)


async def remove(runtime: Runtime, caller: Caller, provider_id: str) -> None:
    """Forget the connection (its domains keep their records and are no longer published)."""
    row = await _row(runtime, caller, provider_id)
    async with runtime.transaction() as session:
        fresh = await repository.get(session, row.id)
        if fresh is not None:
            await repository.remove(session, fresh)
    provider = runtime.dns_providers.pop(row.id, None)
    if provider is not None:
        await provider.aclose()
