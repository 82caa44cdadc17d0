"""What a caller can do about a domain's records at its DNS provider: see the plan, apply it,
choose the provider and auto-repair. Test keys with no provider linked publish to the
sandbox DNS server; live domains need a connected provider."""

from __future__ import annotations

from tenantcore.accounts.service import Caller
from tenantcore.dnshealth.exports import api_records
from tenantcore.dnsproviders import repository as providers_repo
from tenantcore.dnsproviders import service as providers
from tenantcore.dnsproviders.base import ProviderError
from tenantcore.dnsproviders.plan import Plan, PlannedRecord
from tenantcore.domains import dns, lifecycle
from tenantcore.domains.models import Domain
from tenantcore.domains.schemas import (
    DnsApplyOut,
    DnsLinkOut,
    DnsPlanOut,
    DnsProviderRef,
    PlannedRecordOut,
    Published,
)
from tenantcore.domains.service import _check, dns_status, load
from tenantcore.errors import TenantCoreError
from tenantcore.runtime import Runtime
from tenantcore.tenants.models import Tenant


def _records(plan: Plan) -> list[PlannedRecordOut]:
    return [_record(r) for r in plan.records]


def _record(r: PlannedRecord) -> PlannedRecordOut:
    return PlannedRecordOut(
        purpose=r.purpose,
        name=r.name,
        type=r.rtype,
        wanted=r.wanted,
        action=r.action.value,  # type: ignore[arg-type]
        current=list(r.current),
        after=list(r.after),
        reason=r.reason,
    )


def _ref(target: dns.Target) -> DnsProviderRef:
    return DnsProviderRef(**target.describe())  # type: ignore[arg-type]


async def _target(runtime: Runtime, domain: Domain) -> dns.Target:
    try:
        target = await dns.target(runtime, domain)
    except ProviderError as exc:
        raise providers.provider_error(exc, 502) from exc
    if target is None:
        raise TenantCoreError(
            400,
            "no_dns_provider",
            f"No DNS provider holds {domain.name}: connect one (POST /v1/dns-providers) or publish the records "
            "at your registrar (GET …/dns/export gives BIND or CSV).",
        )
    return target


async def plan(runtime: Runtime, caller: Caller, ms_tenant_id: str, raw_name: str, replace_mx: bool) -> DnsPlanOut:
    _, domain = await load(runtime, caller, ms_tenant_id, raw_name)
    target = await _target(runtime, domain)
    try:
        planned = await dns.plan(runtime, domain, target, replace_mx)
    except ProviderError as exc:
        raise providers.provider_error(exc, 502) from exc
    return DnsPlanOut(
        domain_name=domain.name,
        provider=_ref(target),
        auto_repair=domain.auto_repair,
        changes=len(planned.changes),
        conflicts=len(planned.conflicts),
        records=_records(planned),
    )


async def _apply(runtime: Runtime, tenant: Tenant, domain: Domain, replace_mx: bool) -> tuple[Domain, DnsApplyOut]:
    target = await _target(runtime, domain)
    try:
        planned = await dns.plan(runtime, domain, target, replace_mx)
    except ProviderError as exc:
        raise providers.provider_error(exc, 502) from exc
    outcome = await dns.execute(target, planned)
    change = dns.applied(planned, outcome, target, tenant.ms_tenant_id, by="request")
    # Whatever landed is recorded before any error is told: the next plan shows what is left.
    _, checked = await _check(runtime, tenant, lifecycle.preview(domain, change))
    domain = await lifecycle.commit(runtime, domain, change, checked)
    if outcome.failed:
        rrset, exc = outcome.failed[0]
        raise TenantCoreError(
            502,
            "dns_provider_error",
            f"{target.label} refused {rrset.label}: {exc.message}. {len(outcome.written)} of "
            f"{len(planned.writes)} record set(s) were written; GET …/dns/plan shows what is left.",
        )
    return domain, DnsApplyOut(
        status="success",
        domain_name=domain.name,
        provider=_ref(target),
        written=sorted(r.label for r in outcome.written),
        records=_records(planned),
    )


async def apply(runtime: Runtime, caller: Caller, ms_tenant_id: str, raw_name: str, replace_mx: bool) -> DnsApplyOut:
    tenant, domain = await load(runtime, caller, ms_tenant_id, raw_name)
    return (await _apply(runtime, tenant, domain, replace_mx))[1]


async def publish(runtime: Runtime, caller: Caller, ms_tenant_id: str, raw_name: str) -> Published:
    """The sandbox's `dns/publish`, kept as an alias of apply."""
    tenant, domain = await load(runtime, caller, ms_tenant_id, raw_name)
    domain, _ = await _apply(runtime, tenant, domain, replace_mx=False)
    shaped = api_records(lifecycle.expected(domain))
    return Published(
        status="success",
        domain_name=domain.name,
        published=shaped["verification_dns_records"] + shaped["service_configuration_records"],
        dns_status=dns_status(domain),
    )


async def link(
    runtime: Runtime,
    caller: Caller,
    ms_tenant_id: str,
    raw_name: str,
    provider_id: str | None,
    auto_repair: bool | None,
) -> DnsLinkOut:
    """Choose the domain's provider by hand ('auto': the longest zone match; None: none;
    'keep': as it is, changing only auto-repair)."""
    _, domain = await load(runtime, caller, ms_tenant_id, raw_name)
    async with runtime.sessions() as session:
        rows = await providers_repo.for_caller(session, caller)
    if provider_id == "keep":
        change = dns.repair_setting(domain.auto_repair if auto_repair is None else auto_repair)
    elif provider_id is None:
        change = dns.linked(None, None, auto_repair)
    elif provider_id == "auto":
        found = await providers.find_for(runtime, rows, domain.name)
        if found is None:
            raise TenantCoreError(400, "no_dns_provider", f"None of your DNS providers holds a zone for {domain.name}.")
        change = dns.linked(found[0], found[1], auto_repair)
    else:
        row = next((r for r in rows if r.id == provider_id), None)
        if row is None:
            raise TenantCoreError(404, "dns_provider_not_found", f"No DNS provider {provider_id}.")
        try:
            zone = await providers.opened(runtime, row).find_zone(domain.name)
        except ProviderError as exc:
            raise providers.provider_error(exc) from exc
        if zone is None:
            raise TenantCoreError(400, "dns_provider_zone_not_found", f"{row.name} holds no zone for {domain.name}.")
        change = dns.linked(row, zone, auto_repair)
    domain = await lifecycle.commit(runtime, domain, change, lifecycle.due_now)
    target = await dns.target(runtime, domain, fallback=False) if domain.dns_provider_id else None
    return DnsLinkOut(
        domain_name=domain.name, provider=_ref(target) if target else None, auto_repair=domain.auto_repair
    )


async def removal(runtime: Runtime, caller: Caller, ms_tenant_id: str, raw_name: str) -> dns.RemovalPreview:
    """What a delete would take back at the domain's DNS provider, read now (nothing written)."""
    _, domain = await load(runtime, caller, ms_tenant_id, raw_name)
    return await dns.removal_preview(runtime, domain)
