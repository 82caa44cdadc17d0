"""A domain's records at its DNS provider: which provider serves it, the plan (what applying
would change, record by record), applying it, noticing drift, and taking back on removal
what TenantCore wrote. The rules themselves are `dnsproviders.plan`; this module reads the
provider, writes it, and records what happened on the domain (as lifecycle changes)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from tenantcore.dnshealth.records import DnsRecord
from tenantcore.dnsproviders import repository as providers_repo
from tenantcore.dnsproviders import service as providers
from tenantcore.dnsproviders.base import DnsProvider, ProviderError, RecordSet
from tenantcore.dnsproviders.models import DnsProviderRow
from tenantcore.dnsproviders.plan import Key, Owned, Plan, digest, make_plan, removal
from tenantcore.domains.lifecycle import Change, expected
from tenantcore.domains.models import Domain
from tenantcore.events.models import Event
from tenantcore.events.service import event
from tenantcore.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    """Where a domain's records are published: a connected provider, or (test mode, nothing
    linked) the sandbox DNS server."""

    provider: DnsProvider
    zone: str
    row: DnsProviderRow | None = None

    @property
    def label(self) -> str:
        return self.row.name if self.row is not None else "sandbox"

    def describe(self) -> dict[str, str | None]:
        if self.row is None:
            return {"id": None, "name": "sandbox", "kind": "sandbox", "zone": self.zone}
        return {"id": self.row.id, "name": self.row.name, "kind": self.row.kind, "zone": self.zone}


@dataclass
class Outcome:
    written: list[RecordSet] = field(default_factory=list)
    failed: list[tuple[RecordSet, ProviderError]] = field(default_factory=list)


def wanted(domain: Domain) -> tuple[DnsRecord, ...]:
    return expected(domain).records


def owned_of(domain: Domain) -> list[Owned]:
    return [Owned.from_json(o) for o in domain.dns_owned or []]


async def target(runtime: Runtime, domain: Domain, fallback: bool = True) -> Target | None:
    """The provider linked to the domain; unlinked test domains (`fallback`) use the sandbox."""
    if domain.dns_provider_id is not None:
        async with runtime.sessions() as session:
            row = await providers_repo.get(session, domain.dns_provider_id)
        if row is not None:
            provider = providers.opened(runtime, row)
            zone = domain.dns_zone or await provider.find_zone(domain.name)
            if zone is None:
                raise ProviderError("zone_not_found", f"{row.name} no longer holds a zone for {domain.name}")
            return Target(provider, zone, row)
    if fallback and domain.mode == "test" and runtime.sandbox is not None:
        provider = providers.sandbox_provider(runtime)
        zone = await provider.find_zone(domain.name)
        return Target(provider, zone) if zone is not None else None
    return None


async def _current(target: Target, names: list[str]) -> dict[Key, RecordSet]:
    read = await asyncio.gather(*(target.provider.read(target.zone, n) for n in names))
    return {(r.name, r.rtype): r for found in read for r in found}


async def plan(runtime: Runtime, domain: Domain, target: Target, replace_mx: bool = False) -> Plan:
    records = wanted(domain)
    current = await _current(target, sorted({r.name for r in records}))
    async with runtime.env(domain.mode).checker.run() as run:

        async def count(text: str) -> int:
            return (await run.walk_spf(text, domain.name)).lookups

        owned = owned_of(domain)
        return await make_plan(domain.name, target.zone, records, current, owned, count, replace_mx=replace_mx)


async def execute(target: Target, plan: Plan) -> Outcome:
    """Write the plan's record sets one by one; a failure does not stop the others (each is a
    whole record set, so none is ever half-written), and every failure is kept."""
    outcome = Outcome()
    for rrset in plan.writes:
        try:
            await target.provider.change(target.zone, rrset, plan.before.get((rrset.name, rrset.rtype), ()))
        except ProviderError as exc:
            log.warning("dns apply %s at %s failed: %s", rrset.label, target.label, exc.code)
            outcome.failed.append((rrset, exc))
        else:
            outcome.written.append(rrset)
    return outcome


def _event(domain: Domain, ms_tenant_id: str, type_: str, message: str, data: dict) -> Event:  # type: ignore[type-arg]
    return event(domain.account_id, domain.mode, ms_tenant_id, domain.name, type_, message, data)


def applied(plan: Plan, outcome: Outcome, target: Target, ms_tenant_id: str, by: str) -> Change:
    """What an apply did, as a change: ownership of every record set written, the wanted
    records' digest once nothing failed, and the events."""
    written = {(r.name, r.rtype) for r in outcome.written}

    def apply(domain: Domain) -> list[Event]:
        owned = [o for o in owned_of(domain) if o.key not in written]
        owned += [o for key in written for o in plan.owned.get(key, [])]
        domain.dns_owned = [o.to_json() for o in owned]
        events = []
        now_digest = digest(wanted(domain))
        if outcome.failed:
            rrset, exc = outcome.failed[0]
            events.append(
                _event(
                    domain,
                    ms_tenant_id,
                    "domain.dns_apply_failed",
                    f"{target.label} refused {rrset.label} for {domain.name}: {exc.message}",
                    {"record": rrset.label, "code": exc.code, "failed": len(outcome.failed), "by": by},
                )
            )
        elif domain.dns_applied != now_digest:
            domain.dns_applied = now_digest
            events.append(
                _event(
                    domain,
                    ms_tenant_id,
                    "domain.dns_applied",
                    f"{len(outcome.written)} record set(s) of {domain.name} written at {target.label}"
                    + (f"; {len(plan.conflicts)} conflict(s) left as they are" if plan.conflicts else ""),
                    {
                        "provider": target.describe(),
                        "written": sorted(r.label for r in outcome.written),
                        "conflicts": [{"record": f"{c.name} {c.rtype}", "reason": c.reason} for c in plan.conflicts],
                        "by": by,
                    },
                )
            )
        return events

    return apply


def drifted(plan: Plan, target: Target, ms_tenant_id: str, repaired: bool) -> Change:
    def apply(domain: Domain) -> list[Event]:
        changes = [
            {"record": f"{c.name} {c.rtype}", "action": c.action.value, "reason": c.reason} for c in plan.changes
        ]
        verb = "repaired" if repaired else "not repaired (auto_repair is off)"
        return [
            _event(
                domain,
                ms_tenant_id,
                "domain.dns_drift",
                f"{len(changes)} record(s) of {domain.name} changed at {target.label}; {verb}",
                {"provider": target.describe(), "changes": changes, "repaired": repaired},
            )
        ]

    return apply


def linked(row: DnsProviderRow | None, zone: str | None, auto_repair: bool | None = None) -> Change:
    def apply(domain: Domain) -> list[Event]:
        domain.dns_provider_id, domain.dns_zone = (row.id, zone) if row is not None else (None, None)
        domain.dns_applied = None  # a new provider: apply there before trusting it is done
        if auto_repair is not None:
            domain.auto_repair = auto_repair
        return []

    return apply


def repair_setting(auto_repair: bool) -> Change:
    def apply(domain: Domain) -> list[Event]:
        domain.auto_repair = auto_repair
        return []

    return apply


def is_applied(domain: Domain) -> bool:
    """The wanted records were applied in full as they are now (new DKIM keys: not any more)."""
    return domain.dns_applied == digest(wanted(domain))


async def reconcile(runtime: Runtime, ms_tenant_id: str, domain: Domain) -> tuple[list[Change], bool]:
    """The reconciler's DNS step for a domain linked to a provider: apply records that are new;
    for records applied before, a difference is drift (an event; applied again only with
    `auto_repair`). Returns the changes and whether every write landed. A provider that
    cannot be read raises ProviderError."""
    where = await target(runtime, domain, fallback=False)
    if where is None:
        return [], True
    planned = await plan(runtime, domain, where)
    fresh = not is_applied(domain)
    changes: list[Change] = []
    if not fresh:
        if not planned.changes:
            return [], True
        changes.append(drifted(planned, where, ms_tenant_id, repaired=domain.auto_repair))
        if not domain.auto_repair:
            return changes, True
    outcome = await execute(where, planned)
    changes.append(applied(planned, outcome, where, ms_tenant_id, by="reconciler"))
    return changes, not outcome.failed


async def take_back(runtime: Runtime, domain: Domain) -> list[RecordSet]:
    """On removal: delete what TenantCore wrote and is still as it wrote it (best effort: a
    provider that fails keeps the records, which never breaks mail)."""
    owned = owned_of(domain)
    if not owned:
        return []
    try:
        where = await target(runtime, domain)
        if where is None:
            return []
        current = await _current(where, sorted({o.name for o in owned}))
        writes = removal(current, owned)
        before = {k: tuple(v.values) for k, v in current.items()}
        done = await execute(where, Plan(domain.name, where.zone, [], writes, {}, before))
    except Exception as exc:  # whatever the provider does, the removal goes on: records stay, mail works
        log.warning("taking back %s's records failed (%s); they stay at the provider", domain.name, type(exc).__name__)
        return []
    return done.written


@dataclass(frozen=True)
class TakenBack:
    """One value `take_back` would remove now: deleted, or (a merged SPF record, replaced MX
    hosts) put back to `restored`."""

    name: str
    rtype: str
    value: str
    restored: str | None = None


@dataclass
class RemovalPreview:
    """What deleting the domain would do at its DNS provider, read now: the values TenantCore
    wrote that are still as it wrote them (taken back), and those changed since (left alone)."""

    provider: str | None  # None: no provider serves the domain (nothing changes in DNS)
    zone: str | None
    taken_back: list[TakenBack] = field(default_factory=list)
    left: list[Owned] = field(default_factory=list)
    unreadable: str | None = None  # the provider's refusal: nothing can be taken back now


async def removal_preview(runtime: Runtime, domain: Domain) -> RemovalPreview:
    """The same rule as `take_back` (`plan.removal`: a value is ours only while unchanged),
    without writing anything."""
    owned = owned_of(domain)
    where: Target | None = None
    try:
        where = await target(runtime, domain)
        if where is None:
            return RemovalPreview(None, None, left=owned)
        current = await _current(where, sorted({o.name for o in owned})) if owned else {}
    except Exception as exc:  # as in take_back: a provider that cannot be read keeps its records
        why = exc.message if isinstance(exc, ProviderError) else "it could not be read"
        label = where.label if where is not None else "the DNS provider"
        return RemovalPreview(label, domain.dns_zone, left=owned, unreadable=why)
    preview = RemovalPreview(where.label, where.zone)
    for item in owned:
        if item.value in current.get(item.key, RecordSet(item.name, item.rtype, ())).values:
            preview.taken_back.append(TakenBack(item.name, item.rtype, item.value, item.before))
        else:
            preview.left.append(item)
    return preview
