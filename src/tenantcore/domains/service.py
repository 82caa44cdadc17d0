"""The life of a domain, in one place.

    pending ──add in Microsoft──► added ──verify──► verified ──enable DKIM──► dkim_enabled

`pending` is a reservation: the row exists (holding one of the tenant's slots) before
Microsoft is called, so concurrent adds cannot exceed the limit, and a crash between
Microsoft's answer and our write leaves a row that the next add or a sync repairs.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from starlette.responses import Response

from tenantcore.accounts.service import Caller
from tenantcore.api.errors import ApiError
from tenantcore.db import now
from tenantcore.dnshealth import HealthReport, build_expected_records
from tenantcore.dnshealth.exports import api_records, to_bind, to_csv
from tenantcore.dnshealth.names import InvalidDomain, parse_domain
from tenantcore.dnshealth.records import ExpectedRecords
from tenantcore.domains import repository
from tenantcore.domains.models import Domain
from tenantcore.domains.schemas import DkimVerificationState
from tenantcore.events.models import Event
from tenantcore.events.service import emit, event
from tenantcore.microsoft import errors as ms
from tenantcore.runtime import Runtime
from tenantcore.tenants import repository as tenants_repo
from tenantcore.tenants import service as tenants
from tenantcore.tenants.models import Tenant
from tenantcore.worker import changes

STALE_RESERVATION = timedelta(minutes=2)


def domain_name(raw: str) -> str:
    try:
        name = parse_domain(raw)
    except InvalidDomain as exc:
        raise ApiError(400, exc.code, exc.message) from exc
    if name.endswith(".onmicrosoft.com") or name == "onmicrosoft.com":
        raise ApiError(400, "invalid_domain", ".onmicrosoft.com domains are not allowed: add your own domain.")
    return name


async def load(runtime: Runtime, caller: Caller, ms_tenant_id: str, raw_name: str) -> tuple[Tenant, Domain]:
    tenant = await tenants.get(runtime, caller, ms_tenant_id)
    name = domain_name(raw_name)
    async with runtime.sessions() as session:
        domain = await repository.get(session, tenant.id, name)
    if domain is None or domain.state == "pending":
        raise ApiError(404, "domain_not_found", f"{name} is not registered on this tenant.")
    return tenant, domain


def expected(domain: Domain) -> ExpectedRecords:
    return build_expected_records(
        domain.name,
        verification=domain.verification_records,
        service=domain.service_records,
        dkim_config=domain.dkim_config,
    )


def store_health(domain: Domain, report: HealthReport, interval: float, tenant_id: str) -> list[Event]:
    """Keep the report on the domain, schedule its next check, and return the events the
    change from the previous check raises (`tenant_id`: the Microsoft tenant GUID)."""
    events = [
        event(domain.account_id, domain.mode, tenant_id, domain.name, type_, message, data)
        for type_, message, data in changes.changes(domain.grade, domain.fingerprint, report)
    ]
    domain.spf_status, domain.dkim_status = report.spf_status, report.dkim_status
    domain.dmarc_status, domain.mx_status = report.dmarc_status, report.mx_status
    domain.grade, domain.fingerprint = report.grade.value, report.fingerprint
    domain.last_checked = report.checked_at.replace(microsecond=0)
    domain.health = {
        "findings": [f.to_dict() for f in report.findings],
        "selectors": report.selectors,
        "ready_to_enable": report.ready_to_enable,
        "observed": report.observed,
    }
    domain.check_count = (domain.check_count or 0) + 1
    domain.next_check_at = changes.next_check(interval, report.checked_at)
    return events


async def save(runtime: Runtime, domain: Domain, events: list[Event] | None = None) -> Domain:
    async with runtime.sessions() as session:
        merged = await session.merge(domain)
        emit(session, *(events or []))
        await session.commit()
        return merged


async def check(runtime: Runtime, tenant: Tenant, domain: Domain) -> tuple[HealthReport, list[Event]]:
    """A fresh DNS check of the domain against what Microsoft issued; stored on the domain."""
    report = await runtime.checker(domain.mode).check(domain.name, expected(domain), domain.is_verified)
    return report, store_health(domain, report, runtime.settings.check_interval, tenant.ms_tenant_id)


def dkim_state(report_or_domain: HealthReport | Domain) -> DkimVerificationState:
    if isinstance(report_or_domain, HealthReport):
        status, selectors = report_or_domain.dkim_status, report_or_domain.selectors
    else:
        health = report_or_domain.health or {}
        status, selectors = report_or_domain.dkim_status, health.get("selectors", {})
    groups: dict[str, list[str]] = {}
    for selector, state in sorted(selectors.items()):
        groups.setdefault(state, []).append(selector)
    message = "; ".join(f"{state} ({', '.join(names)})" for state, names in groups.items()) or status
    return DkimVerificationState(status=status, message=message)


# --- add -------------------------------------------------------------------------------------


async def _reserve(runtime: Runtime, caller: Caller, tenant: Tenant, name: str) -> Domain:
    limit = runtime.settings.domain_limit
    async with runtime.sessions() as session:
        # Lock first: every add on this tenant queues here, so count-then-insert is safe.
        await tenants_repo.lock(session, tenant.id)
        existing = await repository.get(session, tenant.id, name)
        if existing is not None:
            stale = existing.state == "pending" and existing.created_at < now() - STALE_RESERVATION
            if not stale:
                raise ApiError(409, "domain_already_exists", f"{name} is already on this tenant.")
            await session.delete(existing)  # a crashed add: take its place
            await session.flush()
        if await repository.managed_elsewhere(session, caller.account_id, caller.mode, name):
            raise ApiError(
                409, "domain_managed_by_another_account", f"{name} is managed by another TenantCore account."
            )
        if await repository.count(session, tenant.id) >= limit:
            raise ApiError(400, "domain_limit_reached", f"Tenant already has {limit} domains.")
        domain = Domain(tenant_id=tenant.id, account_id=caller.account_id, mode=caller.mode, name=name, state="pending")
        session.add(domain)
        try:
            await session.commit()
        except IntegrityError as exc:
            raise ApiError(409, "domain_already_exists", f"{name} is already on this tenant.") from exc
        return domain


async def add(runtime: Runtime, caller: Caller, ms_tenant_id: str, raw_name: str) -> tuple[Domain, HealthReport]:
    tenant = await tenants.get(runtime, caller, ms_tenant_id)
    name = domain_name(raw_name)
    domain = await _reserve(runtime, caller, tenant, name)
    if caller.mode == "test":
        runtime.require_sandbox().register(name)
    graph = runtime.microsoft(caller.mode).graph
    try:
        try:
            created = await graph.create_domain(tenant.ms_tenant_id, name)
        except ms.DomainAlreadyExists:
            created = await graph.get_domain(tenant.ms_tenant_id, name)  # Microsoft has it: adopt it
        verification, service = await asyncio.gather(
            graph.verification_records(tenant.ms_tenant_id, name),
            graph.service_configuration_records(tenant.ms_tenant_id, name),
        )
    except BaseException:
        async with runtime.sessions() as session:  # give the slot back
            await repository.remove(session, domain.id)
            await session.commit()
        raise
    domain.state = "verified" if created.is_verified else "added"
    domain.is_verified, domain.is_default = created.is_verified, created.is_default
    domain.verification_records, domain.service_records = verification, service
    if created.is_verified:
        # Optional here: verify, enable-dkim and the worker create the keys later.
        with contextlib.suppress(ms.MicrosoftError):
            await ensure_dkim_config(runtime, caller.mode, tenant, domain)
    report, events = await check(runtime, tenant, domain)
    domain.next_check_at = changes.first_check(runtime.settings.check_interval)
    return await save(runtime, domain, events), report


def add_response(tenant: Tenant, domain: Domain, report: HealthReport) -> dict[str, object]:
    records = api_records(expected(domain))
    return {
        "status": "success",
        "tenant_id": tenant.ms_tenant_id,
        "domain": {"domain_name": domain.name, "is_default": domain.is_default, "is_verified": domain.is_verified},
        **records,
        "live_dns_status": {k: v for k, v in report.status_fields().items() if k != "last_checked"},
        "dkim_verification_state": dkim_state(report),
    }


# --- verify and DKIM -------------------------------------------------------------------------


def mark_verified(domain: Domain) -> None:
    domain.is_verified = True
    domain.state = "verified"


def mark_dkim_enabled(domain: Domain) -> None:
    domain.dkim_enabled = True
    domain.state = "dkim_enabled"


async def ensure_dkim_config(runtime: Runtime, mode: str, tenant: Tenant, domain: Domain) -> bool:
    """Create (or read) the DKIM keys once Exchange knows the domain. False while it does not."""
    if domain.dkim_config:
        return True
    try:
        domain.dkim_config = await runtime.microsoft(mode).exchange.new_dkim_signing_config(
            tenant.ms_tenant_id, domain.name
        )
    except ms.DomainNotAccepted:
        return False
    domain.dkim_enabled = bool(domain.dkim_config.get("Enabled"))
    return True


async def verify(runtime: Runtime, caller: Caller, ms_tenant_id: str, raw_name: str) -> Domain:
    tenant, domain = await load(runtime, caller, ms_tenant_id, raw_name)
    microsoft = runtime.microsoft(caller.mode)
    if not domain.is_verified:
        try:
            await microsoft.graph.verify_domain(tenant.ms_tenant_id, domain.name)
        except ms.DnsVerificationPending as exc:
            raise ApiError(
                400,
                "verification_failed",
                "DNS records not yet propagated or incorrect: Microsoft cannot see the verification "
                f"TXT record {expected(domain).verification_text} at {domain.name} yet.",
            ) from exc
        except ms.DomainInUse as exc:
            raise ApiError(409, "domain_in_use", exc.message) from exc
        except ms.DomainNotFound as exc:
            raise ApiError(
                404, "domain_not_found", f"{domain.name} is no longer in the Microsoft tenant; sync the tenant."
            ) from exc
        mark_verified(domain)
        verified = [
            event(
                domain.account_id,
                domain.mode,
                tenant.ms_tenant_id,
                domain.name,
                "domain.verified",
                f"{domain.name} is verified in Microsoft 365.",
            )
        ]
    else:
        verified = []
    await microsoft.graph.enable_email(tenant.ms_tenant_id, domain.name)
    await ensure_dkim_config(runtime, caller.mode, tenant, domain)
    _, events = await check(runtime, tenant, domain)
    return await save(runtime, domain, verified + events)


async def enable_dkim(runtime: Runtime, caller: Caller, ms_tenant_id: str, raw_name: str) -> Domain:
    tenant, domain = await load(runtime, caller, ms_tenant_id, raw_name)
    if not domain.is_verified:
        raise ApiError(400, "dkim_not_ready", f"Verify {domain.name} before enabling DKIM.")
    if not domain.dkim_enabled:
        if not await ensure_dkim_config(runtime, caller.mode, tenant, domain):
            raise ApiError(
                400,
                "dkim_not_ready",
                "Exchange has not picked up the verified domain yet (this takes a few minutes); retry.",
            )
        try:
            await runtime.microsoft(caller.mode).exchange.enable_dkim(tenant.ms_tenant_id, domain.name)
        except ms.DkimCnameMissing as exc:
            targets = expected(domain).dkim_targets
            raise ApiError(
                400,
                "dkim_not_ready",
                "Required CNAME records not found in DNS: publish selector1._domainkey → "
                f"{targets.get('selector1')} and selector2._domainkey → {targets.get('selector2')}.",
            ) from exc
        mark_dkim_enabled(domain)
        enabled = [
            event(
                domain.account_id,
                domain.mode,
                tenant.ms_tenant_id,
                domain.name,
                "domain.dkim_enabled",
                f"DKIM signing is on for {domain.name}.",
            )
        ]
    else:
        enabled = []
    _, events = await check(runtime, tenant, domain)
    return await save(runtime, domain, enabled + events)


async def dkim_status(runtime: Runtime, caller: Caller, ms_tenant_id: str, raw_name: str) -> dict[str, object]:
    tenant, domain = await load(runtime, caller, ms_tenant_id, raw_name)
    if domain.is_verified:
        await ensure_dkim_config(runtime, caller.mode, tenant, domain)
    report, events = await check(runtime, tenant, domain)
    domain = await save(runtime, domain, events)
    ready = report.ready_to_enable and domain.dkim_config is not None
    status = "enabled" if domain.dkim_enabled else "ready" if ready else "pending"
    return {
        "domain_name": domain.name,
        "dkim_status": status,
        "selectors": report.selectors,
        "ready_to_enable": ready and not domain.dkim_enabled,
        "last_checked": domain.last_checked,
    }


# --- DNS reads, checks, exports and publishing -----------------------------------------------


def export_response(domain: Domain, format: str) -> Response:
    """The records to publish as a download: a BIND zone snippet, or registrar CSV."""
    records = expected(domain).records
    if format == "csv":
        return Response(
            to_csv(records),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{domain.name}.csv"'},
        )
    return Response(
        to_bind(records),
        media_type="text/plain",
        headers={"Content-Disposition": f'attachment; filename="{domain.name}.zone"'},
    )


def dns_response(tenant: Tenant, domain: Domain) -> dict[str, object]:
    records = api_records(expected(domain))
    return {
        "tenant_id": tenant.ms_tenant_id,
        "domain_name": domain.name,
        "is_default": domain.is_default,
        "is_verified": domain.is_verified,
        "dns_status": {
            "spf": domain.spf_status,
            "dkim": domain.dkim_status,
            "dmarc": domain.dmarc_status,
            "mx": domain.mx_status,
        },
        "verification_dns_records": [] if domain.is_verified else records["verification_dns_records"],
        "service_configuration_records": records["service_configuration_records"],
        "last_checked": domain.last_checked,
    }


async def dns_check(runtime: Runtime, caller: Caller, ms_tenant_id: str, raw_name: str) -> tuple[Tenant, Domain]:
    tenant, domain = await load(runtime, caller, ms_tenant_id, raw_name)
    _, events = await check(runtime, tenant, domain)
    return tenant, await save(runtime, domain, events)


async def publish(runtime: Runtime, caller: Caller, ms_tenant_id: str, raw_name: str) -> dict[str, object]:
    tenant, domain = await load(runtime, caller, ms_tenant_id, raw_name)
    if caller.mode != "test":
        raise ApiError(
            400,
            "no_dns_provider",
            "No DNS provider is connected for live domains yet: publish the records at your registrar "
            "(GET …/dns/export gives BIND or CSV).",
        )
    records = expected(domain)
    runtime.require_sandbox().publish(records.records)
    _, events = await check(runtime, tenant, domain)
    domain = await save(runtime, domain, events)
    shaped = api_records(records)
    return {
        "status": "success",
        "domain_name": domain.name,
        "published": shaped["verification_dns_records"] + shaped["service_configuration_records"],
        "dns_status": dns_response(tenant, domain)["dns_status"],
    }


async def delete(runtime: Runtime, caller: Caller, ms_tenant_id: str, raw_name: str) -> None:
    tenant, domain = await load(runtime, caller, ms_tenant_id, raw_name)
    try:
        await runtime.microsoft(caller.mode).graph.delete_domain(tenant.ms_tenant_id, domain.name)
    except ms.DomainNotFound:
        pass  # already gone in Microsoft: finish the job here
    except ms.DomainHasReferences as exc:
        raise ApiError(409, "domain_has_references", exc.message) from exc
    async with runtime.sessions() as session:
        await repository.remove(session, domain.id)
        await session.commit()
