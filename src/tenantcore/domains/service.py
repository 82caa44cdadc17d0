"""What a caller can do to domains: each call checks who is asking, loads the domain, runs the
lifecycle's steps and maps what Microsoft answers to errors the caller can act on. The
transitions themselves live in `lifecycle.py`; this module adds the rules of the API (limits,
ownership, the shape of answers)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from sqlalchemy.exc import IntegrityError

from tenantcore.accounts.service import Caller
from tenantcore.db import now
from tenantcore.dnshealth import HealthReport
from tenantcore.dnshealth.exports import CSV_COLUMNS, api_records, to_bind, to_csv
from tenantcore.dnshealth.names import InvalidDomain, is_microsoft_domain, parse_domain, registrable_zone
from tenantcore.dnshealth.records import DnsRecord
from tenantcore.dnsproviders import repository as providers_repo
from tenantcore.dnsproviders import service as providers
from tenantcore.dnsproviders.base import RecordSet
from tenantcore.domains import dns, lifecycle, onboarding, repository
from tenantcore.domains.health import StoredHealth
from tenantcore.domains.lifecycle import expected
from tenantcore.domains.models import Domain
from tenantcore.domains.schemas import (
    AddDomainResult,
    BulkItem,
    BulkResult,
    DkimStatus,
    DkimVerificationState,
    DnsStatus,
    DomainDns,
    DomainSummary,
    Health,
    LiveDnsStatus,
)
from tenantcore.domains.states import LISTED, DomainState
from tenantcore.errors import TenantCoreError, domain_not_found, from_microsoft, tenant_not_found
from tenantcore.microsoft import errors as ms
from tenantcore.runtime import Runtime
from tenantcore.tenants import repository as tenants_repo
from tenantcore.tenants import service as tenants
from tenantcore.tenants.models import Tenant

log = logging.getLogger(__name__)
T = TypeVar("T")
DomainCall = Callable[[Runtime, Caller, str, str], Awaitable[T]]


def domain_name(raw: str, *, new: bool = True) -> str:
    try:
        name = parse_domain(raw, new=new)
    except InvalidDomain as exc:
        raise TenantCoreError(400, exc.code, exc.message) from exc
    if is_microsoft_domain(name):
        raise TenantCoreError(400, "invalid_domain", ".onmicrosoft.com domains are not allowed: add your own domain.")
    return name


async def load(runtime: Runtime, caller: Caller, ms_tenant_id: str, raw_name: str) -> tuple[Tenant, Domain]:
    """The caller's tenant and one of its domains (reservations in progress are not listed)."""
    async with runtime.sessions() as session:
        tenant = await tenants_repo.get_for(session, caller, ms_tenant_id)
        if tenant is None:
            raise tenant_not_found(ms_tenant_id)
        name = domain_name(raw_name, new=False)  # a lookup: what exists is found (see parse_domain)
        domain = await repository.get_readable(session, caller, tenant.id, name)
    if domain is None:
        raise domain_not_found(name)
    return tenant, domain


def dkim_state(report: HealthReport) -> DkimVerificationState:
    groups: dict[str, list[str]] = {}
    for selector, state in sorted(report.selectors.items()):
        groups.setdefault(state, []).append(selector)
    message = "; ".join(f"{state} ({', '.join(names)})" for state, names in groups.items()) or report.dkim_status
    return DkimVerificationState(status=report.dkim_status, message=message)


async def _check(
    runtime: Runtime, tenant: Tenant, domain: Domain, *then: lifecycle.Change
) -> tuple[HealthReport, lifecycle.Change]:
    """A fresh check as a change (then `then`). When it shows the domain ready for the
    reconciler's next step, the domain is due at once: a check made here must not push that
    step back by a whole check interval (an operator polling dkim-status would starve it)."""
    report, checked = await lifecycle.check(runtime.env(domain.mode), tenant, domain, runtime.settings.check_interval)
    after = [*then, lifecycle.due_now] if onboarding.ready(domain, report, runtime.settings) else list(then)

    def apply(row: Domain) -> list[lifecycle.Raised]:
        return [e for change in (checked, *after) for e in change(row)]

    return report, apply


# --- add -------------------------------------------------------------------------------------


async def _reserve(runtime: Runtime, caller: Caller, tenant: Tenant, name: str, holder: str) -> Domain:
    """A slot for the domain, taken under the tenant's lock and held by this add (`holder`)
    while it runs: the reconciler and other adds keep off a held row. A domain whose add
    stopped after Microsoft created it (its records could not be read), and that nobody holds,
    is handed back to finish the add."""
    limit = runtime.settings.domain_limit
    hold = runtime.settings.reservation_timeout
    try:
        async with runtime.transaction() as session:
            # Lock first: every add on this tenant queues here, so count-then-insert is safe.
            if not await tenants_repo.lock(session, tenant.id):
                raise tenant_not_found(tenant.ms_tenant_id)  # disconnected meanwhile
            existing = await repository.get(session, tenant.id, name)
            if existing is not None:
                unfinished = existing.state in LISTED and existing.records_read_at is None
                takeover = unfinished or existing.state == DomainState.PENDING  # a dead add's reservation
                if takeover and await repository.hold(session, existing.id, holder, hold):
                    return existing
                raise TenantCoreError(409, "domain_already_exists", f"{name} is already on this tenant.")
            if await repository.managed_elsewhere(session, caller, name):
                raise TenantCoreError(
                    409, "domain_managed_by_another_account", f"{name} is managed by another TenantCore account."
                )
            if await repository.count(session, tenant.id) >= limit:
                raise TenantCoreError(400, "domain_limit_reached", f"Tenant already has {limit} domains.")
            domain = Domain(
                tenant_id=tenant.id,
                account_id=caller.account_id,
                mode=caller.mode,
                name=name,
                lease_owner=holder,
                lease_until=now() + timedelta(seconds=hold),
            )
            session.add(domain)
    except IntegrityError as exc:
        raise TenantCoreError(409, "domain_already_exists", f"{name} is already on this tenant.") from exc
    return domain


async def add(
    runtime: Runtime, caller: Caller, ms_tenant_id: str, raw_name: str
) -> tuple[Tenant, Domain, HealthReport]:
    tenant = await tenants.get(runtime, caller, ms_tenant_id)
    name = domain_name(raw_name)
    runtime.env(caller.mode).microsoft  # noqa: B018 (live mode without Microsoft: say so before reserving)
    holder = f"add:{uuid.uuid4().hex}"
    domain = await _reserve(runtime, caller, tenant, name, holder)
    try:
        return tenant, *await _finish_add(runtime, tenant, domain)
    finally:
        async with runtime.transaction() as session:  # let go of the row, whatever happened
            await repository.let_go(session, domain.id, holder)


async def _finish_add(runtime: Runtime, tenant: Tenant, domain: Domain) -> tuple[Domain, HealthReport]:
    env = runtime.env(domain.mode)
    if domain.state == DomainState.PENDING:
        try:
            made = await lifecycle.create(env, tenant, domain.name)
        except ms.MicrosoftError as exc:
            if not exc.maybe_done:  # Microsoft said no: give the slot back
                async with runtime.transaction() as session:
                    await repository.release(session, domain)
            # Otherwise Microsoft may have created it (a timeout is not a no): the reservation
            # stays, and the reconciler settles it against Microsoft once nobody holds it.
            raise
        # Saved before the next Microsoft call: from here the domain exists in Microsoft, and
        # a failure below leaves a domain whose records the reconciler (or a new add) reads.
        domain = await lifecycle.commit(runtime, domain, made)
    try:
        wanted = lifecycle.still_wanted(runtime, domain)
        changes = [await lifecycle.refresh_records(env, tenant, domain, fresh=True, keep_waiting=wanted)]
    except ms.MicrosoftError:
        await _not_found_if_gone(runtime, domain)
        raise
    draft = lifecycle.preview(domain, *changes)
    if draft.is_verified:
        # Optional here: verify, enable-dkim and the worker create the keys later.
        with contextlib.suppress(ms.MicrosoftError):
            keys = await lifecycle.create_dkim_keys(env, tenant, draft)
            if keys is not None:
                changes.append(keys)
                draft = lifecycle.preview(draft, keys)
    link = await _provider_link(runtime, draft)
    if link is not None:
        # A provider will publish the records: the reconciler takes the domain at once.
        changes.append(link)
        draft = lifecycle.preview(draft, link)
        then = lifecycle.due_now
    else:
        then = lifecycle.first_scheduled(runtime.settings.check_interval)
    report, checked = await _check(runtime, tenant, draft, then)
    return await lifecycle.commit(runtime, domain, *changes, checked), report


async def _provider_link(runtime: Runtime, domain: Domain) -> lifecycle.Change | None:
    """The account's DNS provider holding the longest zone that contains the domain, as a
    change linking it (None: no provider holds it, or it is linked already)."""
    if domain.dns_provider_id is not None:
        return None
    caller = Caller(domain.account_id, domain.mode, "")
    async with runtime.sessions() as session:
        rows = await providers_repo.for_caller(session, caller)
    found = await providers.find_for(runtime, rows, domain.name) if rows else None
    return dns.linked(*found) if found is not None else None


async def _not_found_if_gone(runtime: Runtime, domain: Domain) -> None:
    """A Microsoft failure on a domain someone deleted meanwhile is that domain's 404, not a
    Microsoft error."""
    async with runtime.sessions() as session:
        stored = await repository.get_by_id(session, domain.id)
    if stored is None or stored.state == DomainState.REMOVING:
        raise domain_not_found(domain.name)


def _deleted_is_not_found(call: DomainCall[T]) -> DomainCall[T]:
    """The same for a call by name (`load` raises the 404 when the domain is gone)."""

    @functools.wraps(call)
    async def wrapped(runtime: Runtime, caller: Caller, ms_tenant_id: str, raw_name: str) -> T:
        try:
            return await call(runtime, caller, ms_tenant_id, raw_name)
        except ms.MicrosoftError:
            await load(runtime, caller, ms_tenant_id, raw_name)
            raise

    return wrapped


def add_response(tenant: Tenant, domain: Domain, report: HealthReport) -> AddDomainResult:
    records = api_records(expected(domain))
    statuses = report.status_fields()
    return AddDomainResult(
        status="success",
        tenant_id=tenant.ms_tenant_id,
        domain=DomainSummary(domain_name=domain.name, is_default=domain.is_default, is_verified=domain.is_verified),
        verification_dns_records=records["verification_dns_records"],
        service_configuration_records=records["service_configuration_records"],
        live_dns_status=LiveDnsStatus(**{k: v for k, v in statuses.items() if k != "last_checked"}),
        dkim_verification_state=dkim_state(report),
    )


# --- verify and DKIM -------------------------------------------------------------------------


async def _ensure_dkim_keys(runtime: Runtime, tenant: Tenant, domain: Domain) -> lifecycle.Change | None:
    """The DKIM keys as a change to record, or None when they are known already or Exchange
    does not know the domain yet."""
    if domain.dkim_config:
        return None
    return await lifecycle.create_dkim_keys(runtime.env(domain.mode), tenant, domain)


@_deleted_is_not_found
async def verify(runtime: Runtime, caller: Caller, ms_tenant_id: str, raw_name: str) -> Domain:
    tenant, domain = await load(runtime, caller, ms_tenant_id, raw_name)
    env = runtime.env(caller.mode)
    if not domain.is_verified:
        try:
            made = await lifecycle.verify(env, tenant, domain, by="request")
        except ms.DnsVerificationPending as exc:
            raise TenantCoreError(
                400,
                "verification_failed",
                "DNS records not yet propagated or incorrect: Microsoft cannot see the verification "
                f"TXT record {expected(domain).verification_text} at {domain.name} yet.",
            ) from exc
        except ms.DomainInUse as exc:
            raise TenantCoreError(409, "domain_in_use", exc.message) from exc
        except ms.DomainNotFound as exc:
            raise TenantCoreError(
                404, "domain_not_found", f"{domain.name} is no longer in the Microsoft tenant; sync the tenant."
            ) from exc
        # Saved before the next Microsoft call: a failure below never loses the verification.
        domain = await lifecycle.commit(runtime, domain, made)
    changes = [await lifecycle.enable_email(env, tenant, domain, lifecycle.still_wanted(runtime, domain))]
    seen = lifecycle.preview(domain, *changes)  # the keys and the check see the new records
    keys = await _ensure_dkim_keys(runtime, tenant, seen)
    if keys is not None:
        changes.append(keys)
        seen = lifecycle.preview(seen, keys)
    _, checked = await _check(runtime, tenant, seen)
    return await lifecycle.commit(runtime, domain, *changes, checked)


@_deleted_is_not_found
async def enable_dkim(runtime: Runtime, caller: Caller, ms_tenant_id: str, raw_name: str) -> Domain:
    tenant, domain = await load(runtime, caller, ms_tenant_id, raw_name)
    if not domain.is_verified:
        raise TenantCoreError(400, "dkim_not_ready", f"Verify {domain.name} before enabling DKIM.")
    changes: list[lifecycle.Change] = []
    seen = domain
    if not domain.dkim_enabled:
        if not domain.dkim_config:
            keys = await _ensure_dkim_keys(runtime, tenant, domain)
            if keys is None:
                raise TenantCoreError(
                    400,
                    "dkim_not_ready",
                    "Exchange has not picked up the verified domain yet (this takes a few minutes); retry.",
                )
            changes.append(keys)
            seen = lifecycle.preview(seen, keys)
        try:
            changes.append(await lifecycle.enable_dkim(runtime.env(caller.mode), tenant, seen, by="request"))
        except ms.DkimCnameMissing as exc:
            targets = expected(seen).dkim_targets
            raise TenantCoreError(
                400,
                "dkim_not_ready",
                "Required CNAME records not found in DNS: publish selector1._domainkey → "
                f"{targets.get('selector1')} and selector2._domainkey → {targets.get('selector2')}.",
            ) from exc
        seen = lifecycle.preview(seen, changes[-1])
    _, checked = await _check(runtime, tenant, seen)
    return await lifecycle.commit(runtime, domain, *changes, checked)


@_deleted_is_not_found
async def dkim_status(runtime: Runtime, caller: Caller, ms_tenant_id: str, raw_name: str) -> DkimStatus:
    tenant, domain = await load(runtime, caller, ms_tenant_id, raw_name)
    changes: list[lifecycle.Change] = []
    seen = domain
    if domain.is_verified:
        keys = await _ensure_dkim_keys(runtime, tenant, domain)
        if keys is not None:
            changes.append(keys)
            seen = lifecycle.preview(seen, keys)
    report, checked = await _check(runtime, tenant, seen)
    domain = await lifecycle.commit(runtime, domain, *changes, checked)
    ready = report.ready_to_enable and domain.dkim_config is not None
    return DkimStatus(
        domain_name=domain.name,
        dkim_status="enabled" if domain.dkim_enabled else "ready" if ready else "pending",
        selectors=report.selectors,
        ready_to_enable=ready and not domain.dkim_enabled,
        last_checked=domain.last_checked,
    )


# --- DNS reads, checks, exports and publishing -----------------------------------------------


@dataclass(frozen=True)
class Export:
    """The records to publish as a download."""

    body: str | bytes
    media_type: str
    filename: str


def export(domain: Domain, format: str) -> Export:
    """A BIND zone snippet, or registrar CSV."""
    records = expected(domain).records
    if format == "csv":
        return Export(to_csv(records), "text/csv", f"{domain.name}.csv")
    return Export(to_bind(records), "text/plain", f"{domain.name}.zone")


def tenant_export(tenant_name: str, rows: list[Domain], format: str) -> Export:
    """Every record of several domains in one file: BIND with a `$ORIGIN` per zone (the zone
    an operator edits at the registrar; domains sharing one are listed together), or CSV with
    the zone in its first column."""
    by_zone: dict[str, list[DnsRecord]] = {}
    for domain in sorted(rows, key=lambda d: d.name):
        for record in expected(domain).records:
            by_zone.setdefault(registrable_zone(record.name), []).append(record)
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", tenant_name).strip("-") or "tenant"
    # The name goes into a comment line: a newline in it would start zone lines of its own.
    tenant_name = re.sub(r"[\x00-\x1f\x7f]+", " ", tenant_name)
    if format == "csv":
        lines = ["zone," + ",".join(CSV_COLUMNS)]
        for zone, records in sorted(by_zone.items()):
            lines += [f"{zone},{line}" for line in to_csv(records, zone).splitlines()[1:]]
        return Export("\n".join(lines) + "\n", "text/csv", f"{slug}.csv")
    parts = [f"; {tenant_name}: {len(rows)} domain(s), {len(by_zone)} zone(s); import each section in its own zone."]
    for zone, records in sorted(by_zone.items()):
        parts.append(f"\n; zone {zone}\n" + to_bind(records, zone))
    return Export("\n".join(parts), "text/plain", f"{slug}.zone")


def health(domain: Domain) -> Health:
    """The last check's findings, each with severity and how to fix it."""
    stored = domain.health or StoredHealth()
    return Health(
        domain_name=domain.name,
        grade=domain.grade,
        fingerprint=domain.fingerprint,
        last_checked=domain.last_checked,
        **stored.verdict(),
    )


def dns_status(domain: Domain) -> DnsStatus:
    return DnsStatus(spf=domain.spf_status, dkim=domain.dkim_status, dmarc=domain.dmarc_status, mx=domain.mx_status)


def dns_response(tenant: Tenant, domain: Domain) -> DomainDns:
    records = api_records(expected(domain))
    return DomainDns(
        tenant_id=tenant.ms_tenant_id,
        domain_name=domain.name,
        is_default=domain.is_default,
        is_verified=domain.is_verified,
        dns_status=dns_status(domain),
        verification_dns_records=[] if domain.is_verified else records["verification_dns_records"],
        service_configuration_records=records["service_configuration_records"],
        last_checked=domain.last_checked,
    )


@_deleted_is_not_found
async def dns_check(runtime: Runtime, caller: Caller, ms_tenant_id: str, raw_name: str) -> tuple[Tenant, Domain]:
    tenant, domain = await load(runtime, caller, ms_tenant_id, raw_name)
    _, checked = await _check(runtime, tenant, domain)
    return tenant, await lifecycle.commit(runtime, domain, checked)


async def delete(runtime: Runtime, caller: Caller, ms_tenant_id: str, raw_name: str) -> list[RecordSet]:
    """Delete in Microsoft, then take back at the DNS provider what TenantCore wrote and is
    unchanged (the record sets changed there are returned), then forget the domain."""
    tenant, domain = await load(runtime, caller, ms_tenant_id, raw_name)
    # Marked first, so a sync that read Microsoft's list before the delete does not adopt the
    # name back, and no other call works on a domain on its way out.
    domain = await lifecycle.commit(runtime, domain, lifecycle.removing)
    try:
        await lifecycle.remove(runtime.env(caller.mode), tenant, domain)
    except ms.MicrosoftError as exc:
        await lifecycle.commit(runtime, domain, lifecycle.kept)
        if isinstance(exc, ms.DomainHasReferences):
            raise TenantCoreError(409, "domain_has_references", exc.message) from exc
        raise
    taken_back = await dns.take_back(runtime, domain)
    async with runtime.transaction() as session:
        await repository.remove(session, domain.id)
    return taken_back


# --- many at once ----------------------------------------------------------------------------

BULK_CONCURRENCY = 4  # adds in flight: each is a few Microsoft calls, and the tenant lock serialises slots


async def bulk_add(runtime: Runtime, caller: Caller, ms_tenant_id: str, raw_names: list[str]) -> BulkResult:
    """Add each name as `add` would, a few at a time; every name gets its own result. The
    tenant's free slots go to the first valid names in the order given (the rest are told
    `domain_limit_reached` at once), so which names are added never depends on timing."""
    tenant = await tenants.get(runtime, caller, ms_tenant_id)  # an unknown tenant is one 404, not N
    async with runtime.sessions() as session:
        free = runtime.settings.domain_limit - await repository.count(session, tenant.id)
    limit = asyncio.Semaphore(BULK_CONCURRENCY)
    results: list[BulkItem | None] = [None] * len(raw_names)
    queued: list[tuple[int, str, str]] = []
    seen: set[str] = set()
    for at, raw in enumerate(raw_names):  # judged in order, before anything runs
        try:
            name = domain_name(raw)  # the same normalisation as an add: IDN, case, trailing dot
        except TenantCoreError as exc:
            results[at] = BulkItem(domain=raw, status="failed", error=_error(exc.code, exc.message))
            continue
        if name in seen:
            results[at] = BulkItem(
                domain=raw, status="failed", error=_error("duplicate_in_request", f"{raw} is listed twice.")
            )
            continue
        seen.add(name)
        if len(queued) >= free:
            message = f"Tenant already has {runtime.settings.domain_limit} domains (with this request's)."
            results[at] = BulkItem(domain=raw, status="failed", error=_error("domain_limit_reached", message))
            continue
        queued.append((at, raw, name))

    async def one(raw: str, name: str) -> BulkItem:
        async with limit:
            try:
                _, domain, _ = await add(runtime, caller, ms_tenant_id, raw)
            except TenantCoreError as exc:
                return BulkItem(domain=raw, status="failed", error=_error(exc.code, exc.message))
            except ms.MicrosoftError as exc:
                error = from_microsoft(exc)
                return BulkItem(domain=raw, status="failed", error=_error(error.code, error.message))
            except Exception:  # one add's surprise is that add's failure, not the request's 500
                log.exception("bulk add of %s failed", name)
                return BulkItem(domain=raw, status="failed", error=_error("internal_error", "Adding failed; retry."))
        provider = None
        if domain.dns_provider_id is not None:
            async with runtime.sessions() as session:
                row = await providers_repo.get(session, domain.dns_provider_id)
            provider = row.name if row is not None else None
        return BulkItem(domain=domain.name, status="added", dns_provider=provider)

    done = await asyncio.gather(*(one(raw, name) for _, raw, name in queued))
    for (at, _, _), item in zip(queued, done, strict=True):
        results[at] = item
    items = [r for r in results if r is not None]
    added = sum(1 for r in items if r.status == "added")
    return BulkResult(tenant_id=ms_tenant_id, added=added, failed=len(items) - added, results=items)


def _error(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}
