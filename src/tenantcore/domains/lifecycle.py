"""The life of a domain, in one place: every transition, whoever asks for it (an API call, the
app, the reconciler or a tenant sync).

    pending ──create──► added ──verify──► verified ──enable DKIM──► dkim_enabled
                          ▲ refresh records, create DKIM keys, check DNS: any state

A transition has two halves:
- a *step* calls Microsoft (or DNS) and returns what it learnt as a `Change`;
- a `Change` is a pure function that brings a domain row up to date with that knowledge and
  returns the events it raises. It is judged against the row it is applied to, so applying it
  again to a fresher copy (after a lost race) neither loses the update nor raises an event
  twice.
`commit` writes changes version-checked, in its own short transaction, never across a
Microsoft call: when another writer got there first it re-reads the row and applies the same
changes to the fresh copy; when the row is gone the domain was deleted meanwhile (404).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tenantcore.db import now
from tenantcore.dnshealth import HealthReport
from tenantcore.dnshealth.records import ExpectedRecords
from tenantcore.domains import health, progress, repository
from tenantcore.domains.models import Domain
from tenantcore.domains.states import DomainState
from tenantcore.errors import TenantCoreError, domain_not_found
from tenantcore.events.models import Event
from tenantcore.events.service import event
from tenantcore.history import record as history
from tenantcore.history import repository as history_repo
from tenantcore.microsoft import errors as ms
from tenantcore.microsoft.graph import GraphDomain, StillWanted
from tenantcore.runtime import ModeEnv, Runtime
from tenantcore.tenants.models import Tenant

# What a change raises: events, and grade transitions (kept as health history; see `keep`).
Raised = Event | history.Moved
Change = Callable[[Domain], list[Raised]]

# Writers racing on one domain each retry on the fresher row; more rounds than this means
# something keeps rewriting it, and the caller hears so instead of spinning.
MAX_RACES = 8


def expected(domain: Domain) -> ExpectedRecords:
    """The records Microsoft issued for the domain, as DNS should serve them."""
    return progress.expected_of(domain)


def _event(domain: Domain, ms_tenant_id: str, type_: str, message: str, data: dict[str, Any] | None = None) -> Event:
    return event(domain.account_id, domain.mode, ms_tenant_id, domain.name, type_, message, data)


# --- changes: pure, re-appliable -------------------------------------------------------------


def created(found: GraphDomain) -> Change:
    """Microsoft has the domain (we created it, or it was there): the reservation is a domain."""

    def apply(domain: Domain) -> list[Event]:
        if domain.state == DomainState.PENDING:
            domain.state = DomainState.after_add(found.is_verified)
        domain.is_verified = domain.is_verified or found.is_verified
        domain.is_default = found.is_default
        return []

    return apply


def records_read(verification: list[dict[str, Any]], service: list[dict[str, Any]]) -> Change:
    """The records Microsoft wants published, as it answered just now."""

    def apply(domain: Domain) -> list[Event]:
        domain.verification_records, domain.service_records = verification, service
        domain.records_read_at = now()
        return []

    return apply


def verified(ms_tenant_id: str, by: str) -> Change:
    def apply(domain: Domain) -> list[Event]:
        if domain.is_verified:
            return []
        domain.is_verified = True
        if domain.state in (DomainState.PENDING, DomainState.ADDED):
            domain.state = DomainState.VERIFIED
        return [
            _event(domain, ms_tenant_id, "domain.verified", f"{domain.name} is verified in Microsoft 365.", {"by": by})
        ]

    return apply


def dkim_keys(config: dict[str, Any]) -> Change:
    def apply(domain: Domain) -> list[Event]:
        domain.dkim_config = config
        domain.dkim_enabled = domain.dkim_enabled or bool(config.get("Enabled"))
        return []

    return apply


def dkim_enabled(ms_tenant_id: str, by: str) -> Change:
    def apply(domain: Domain) -> list[Event]:
        if domain.dkim_enabled and domain.state == DomainState.DKIM_ENABLED:
            return []
        domain.dkim_enabled = True
        if domain.state != DomainState.REMOVING:
            domain.state = DomainState.DKIM_ENABLED
        return [
            _event(domain, ms_tenant_id, "domain.dkim_enabled", f"DKIM signing is on for {domain.name}.", {"by": by})
        ]

    return apply


def checked(ms_tenant_id: str, report: HealthReport, interval: float) -> Change:
    """Keep the check on the domain: the events it raises, and its grade transition if any
    (judged against the row, like the events: a re-applied check moves nothing twice)."""

    def apply(domain: Domain) -> list[Raised]:
        findings = domain.health.findings if domain.health is not None else []
        moved = history.transition(domain.grade, findings, report)
        raised: list[Raised] = [_event(domain, ms_tenant_id, *e) for e in health.record(domain, report, interval)]
        progress.refresh(domain)  # the worker writes a check's columns without `repository.save`
        return [*raised, moved] if moved is not None else raised

    return apply


def due_now(domain: Domain) -> list[Event]:
    """New evidence (a check that shows the next step is possible): the reconciler takes the
    domain at once instead of at its next scheduled check."""
    domain.next_check_at = now()
    return []


def first_scheduled(interval: float) -> Change:
    """A new domain was just checked: its first scheduled check falls anywhere in one interval."""

    def apply(domain: Domain) -> list[Event]:
        domain.next_check_at = health.first_check(interval)
        return []

    return apply


def removing(domain: Domain) -> list[Event]:
    """A delete is under way: the domain is no longer listed, and its name stays taken."""
    domain.state = DomainState.REMOVING
    return []


def kept(domain: Domain) -> list[Event]:
    """Microsoft refused the delete: the domain is back where its flags say it was."""
    domain.state = DomainState.of(domain.is_verified, domain.dkim_enabled)
    return []


def listed_in_microsoft(found: GraphDomain) -> Change:
    """What a tenant sync learnt from Microsoft's list: verification and default flags. A
    verification is never taken back from a list (it may have been read before the verify)."""

    def apply(domain: Domain) -> list[Event]:
        domain.is_verified = domain.is_verified or found.is_verified
        domain.is_default = found.is_default
        if found.is_verified and domain.state in (DomainState.PENDING, DomainState.ADDED):
            domain.state = DomainState.VERIFIED
        return []

    return apply


def adopted(tenant: Tenant, found: GraphDomain) -> Domain:
    """A row for a domain Microsoft has that TenantCore did not know (added elsewhere, or
    whose local write was lost)."""
    return Domain(
        tenant_id=tenant.id,
        account_id=tenant.account_id,
        mode=tenant.mode,
        name=found.id,
        state=DomainState.after_add(found.is_verified),
        is_verified=found.is_verified,
        is_default=found.is_default,
    )


def preview(domain: Domain, *changes: Change) -> Domain:
    """A detached copy of `domain` with `changes` applied: what the later steps of one call see
    before anything is written (their events are not kept; `commit` raises them)."""
    copy = Domain(**{column.key: getattr(domain, column.key) for column in Domain.__table__.columns})
    for change in changes:
        change(copy)
    return copy


# --- steps: Microsoft and DNS ------------------------------------------------------------------


async def create(env: ModeEnv, tenant: Tenant, name: str) -> Change:
    """Create the domain in Microsoft (adopt it when the tenant already has it)."""
    graph = env.microsoft.graph
    if env.publisher is not None:
        env.publisher.register(name)
    try:
        found = await graph.create_domain(tenant.ms_tenant_id, name)
    except ms.DomainAlreadyExists:
        found = await graph.get_domain(tenant.ms_tenant_id, name)  # Microsoft has it: adopt it
    return created(found)


async def settle_reservation(env: ModeEnv, tenant: Tenant, domain: Domain) -> Change | None:
    """An add that never finished (its process died): Microsoft's answer decides. The change
    that makes it a domain when Microsoft has it; None when Microsoft never created it."""
    try:
        found = await env.microsoft.graph.get_domain(tenant.ms_tenant_id, domain.name)
    except ms.DomainNotFound:
        return None
    return created(found)


async def refresh_records(
    env: ModeEnv, tenant: Tenant, domain: Domain, *, fresh: bool = False, keep_waiting: StillWanted | None = None
) -> Change:
    """Read the records Microsoft wants published for the domain (`fresh`: right after a
    write, when Graph's replicas may still answer 404, for as long as `keep_waiting` says the
    domain is still wanted)."""
    graph = env.microsoft.graph
    verification, service = await asyncio.gather(
        graph.verification_records(tenant.ms_tenant_id, domain.name, fresh=fresh, keep_waiting=keep_waiting),
        graph.service_configuration_records(tenant.ms_tenant_id, domain.name, fresh=fresh, keep_waiting=keep_waiting),
    )
    return records_read(verification, service)


async def verify(env: ModeEnv, tenant: Tenant, domain: Domain, by: str) -> Change:
    """Ask Microsoft to verify the domain (raises `DnsVerificationPending` while it cannot see
    the TXT record). Record it before anything else is asked of Microsoft."""
    await env.microsoft.graph.verify_domain(tenant.ms_tenant_id, domain.name)
    return verified(tenant.ms_tenant_id, by)


async def enable_email(env: ModeEnv, tenant: Tenant, domain: Domain, keep_waiting: StillWanted | None = None) -> Change:
    """Make sure the verified domain serves Email (keeping every other service it has), then
    read its records again: the service records (MX, SPF, autodiscover) are Microsoft's answer
    for the services the domain has, so what was read before verification may be stale."""
    await env.microsoft.graph.enable_email(tenant.ms_tenant_id, domain.name, fresh=True, keep_waiting=keep_waiting)
    return await refresh_records(env, tenant, domain, fresh=True, keep_waiting=keep_waiting)


async def create_dkim_keys(env: ModeEnv, tenant: Tenant, domain: Domain) -> Change | None:
    """Create (or read) the DKIM keys once Exchange knows the domain; None while it does not."""
    try:
        config = await env.microsoft.exchange.new_dkim_signing_config(tenant.ms_tenant_id, domain.name)
    except ms.DomainNotAccepted:
        return None
    return dkim_keys(config)


async def enable_dkim(env: ModeEnv, tenant: Tenant, domain: Domain, by: str) -> Change:
    """Turn DKIM signing on (raises `DkimCnameMissing` while Exchange cannot see the CNAMEs)."""
    await env.microsoft.exchange.enable_dkim(tenant.ms_tenant_id, domain.name)
    return dkim_enabled(tenant.ms_tenant_id, by)


async def check(env: ModeEnv, tenant: Tenant, domain: Domain, interval: float) -> tuple[HealthReport, Change]:
    """A fresh DNS check against what Microsoft issued."""
    report = await env.checker.check(domain.name, expected(domain), domain.is_verified)
    return report, checked(tenant.ms_tenant_id, report, interval)


async def remove(env: ModeEnv, tenant: Tenant, domain: Domain) -> None:
    """Delete the domain in Microsoft (already gone there is fine); the caller then drops the
    row, which `removing` kept meanwhile."""
    with contextlib.suppress(ms.DomainNotFound):  # already gone in Microsoft: finish the job here
        await env.microsoft.graph.delete_domain(tenant.ms_tenant_id, domain.name)


# --- writing ---------------------------------------------------------------------------------


def still_wanted(runtime: Runtime, domain: Domain) -> StillWanted:
    """Whether the domain is still there to work on (not deleted, no delete under way)."""

    async def ask() -> bool:
        async with runtime.sessions() as session:
            stored = await repository.get_by_id(session, domain.id)
        return stored is not None and stored.state != DomainState.REMOVING

    return ask


async def commit(runtime: Runtime, domain: Domain, *changes: Change) -> Domain:
    """Apply `changes` to `domain` and write it if nobody wrote it since it was read; else
    apply them to the fresh row and try again. Returns the row as written."""
    for _ in range(MAX_RACES):
        raised = [e for change in changes for e in change(domain)]
        async with runtime.transaction() as session:
            if await repository.save(session, domain):
                await keep(session, [(domain, raised)])
                return domain
            fresh = await repository.get_by_id(session, domain.id)
        if fresh is None or (fresh.state == DomainState.REMOVING and domain.state != DomainState.REMOVING):
            raise domain_not_found(domain.name)  # deleted (or being deleted) meanwhile
        domain = fresh
    raise TenantCoreError(409, "domain_busy", f"{domain.name} is being changed by other calls right now; retry.")


async def keep(session: AsyncSession, written: Iterable[tuple[Domain, list[Raised]]]) -> int:
    """What the changes of written domains raised, in the transaction that wrote them (after
    the rows): their events, and their grade transitions as health history. Returns how many
    events."""
    events: list[Event] = []
    moves: list[tuple[Domain, history.Moved]] = []
    for domain, raised in written:
        for item in raised:
            if isinstance(item, history.Moved):
                moves.append((domain, item))
            else:
                events.append(item)
    session.add_all(events)
    if moves:
        await history_repo.record(session, moves)
    return len(events)
