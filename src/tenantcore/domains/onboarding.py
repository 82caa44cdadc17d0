"""The reconciler's half of onboarding: after a check, the next lifecycle step the domain is
ready for (verify once its TXT shows, create the DKIM keys once it is verified, enable DKIM
once both CNAMEs show); settling domains that only Microsoft's answer can move; and how a
failed attempt is spaced out."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from tenantcore.config import Settings
from tenantcore.db import now
from tenantcore.dnshealth import HealthReport
from tenantcore.dnshealth.findings import HEALTHY
from tenantcore.dnsproviders.base import ProviderError
from tenantcore.domains import dns, lifecycle, repository
from tenantcore.domains.lifecycle import Change
from tenantcore.domains.models import Domain
from tenantcore.domains.states import DomainState
from tenantcore.errors import TenantCoreError
from tenantcore.events.models import Event
from tenantcore.events.service import event
from tenantcore.microsoft import errors as ms
from tenantcore.microsoft.graph import StillWanted
from tenantcore.runtime import ModeEnv, Runtime
from tenantcore.tenants.models import Tenant

BACKOFF_CAP = 6 * 3600.0

# The reconciler's DNS step for a domain linked to a provider (`domains.dns.reconcile`, bound
# to the runtime): the changes to record, and whether every write landed.
Publish = Callable[[Domain], Awaitable[tuple[list[Change], bool]]]


@dataclass
class FollowUp:
    changes: list[Change] = field(default_factory=list)
    throttled_for: float | None = None  # Microsoft asked us to slow down for this long


def evidence(domain: Domain, report: HealthReport) -> str:
    """What a follow-up is judged on: the domain's state and what DNS showed. A backoff holds
    only while this stays the same; anything new (a record that appeared, a state that
    changed, new records to publish) is worth a try at once."""
    seen = (
        domain.state,
        domain.is_verified,
        bool(domain.dkim_config),
        domain.dkim_enabled,
        domain.dns_applied or "",
        report.fingerprint or "",
    )
    return hashlib.sha256(repr(seen).encode()).hexdigest()[:16]


def _waiting(domain: Domain, report: HealthReport) -> bool:
    if domain.followup_after is None or domain.followup_after <= now():
        return False
    # No evidence kept: Microsoft asked for the pause (throttling), which holds regardless.
    return domain.followup_evidence is None or domain.followup_evidence == evidence(domain, report)


def publishes(domain: Domain) -> bool:
    return domain.dns_provider_id is not None


def _wants_dns(domain: Domain, report: HealthReport) -> bool:
    """Records to apply (new ones, or drift to look into): only for provider-linked domains.
    Drift is looked for when a check shows a problem that is new (or, with auto-repair, any
    problem); a healthy check costs the provider nothing."""
    if not publishes(domain):
        return False
    if not dns.is_applied(domain):
        return True
    if report.grade in HEALTHY:
        return False
    # Unchanged problems are looked into again only where they would be repaired.
    return domain.auto_repair or report.fingerprint != domain.fingerprint


def _wants(domain: Domain, report: HealthReport, settings: Settings) -> tuple[bool, bool, bool, bool]:
    if _waiting(domain, report):
        return False, False, False, False
    wants_dns = _wants_dns(domain, report)
    if domain.dkim_enabled:
        return wants_dns, False, False, False
    wants_verify = (
        not domain.is_verified
        and settings.followup_verify
        and any(f.code == "verification_ok" for f in report.findings)
    )
    wants_keys = domain.is_verified and settings.followup_dkim and not domain.dkim_config
    wants_enable = bool(domain.dkim_config) and settings.followup_dkim and report.ready_to_enable
    return wants_dns, wants_verify, wants_keys, wants_enable


def succeeded(domain: Domain) -> list[Event]:
    domain.followup_failures, domain.followup_after, domain.followup_evidence = 0, None, None
    return []


def interval(domain: Domain, settings: Settings) -> float:
    """Seconds to the domain's next check: while a provider onboards it, often (the next step
    waits on DNS we just wrote), less so as the domain ages, never beyond the check interval."""
    if not publishes(domain) or domain.dkim_enabled or not domain.created_at:
        return settings.check_interval
    age = (now() - domain.created_at).total_seconds()
    return min(settings.check_interval, max(settings.onboarding_poll, age / 10))


def deferred(seconds: float) -> Change:
    """Microsoft asked for a pause: it holds whatever the evidence."""

    def apply(domain: Domain) -> list[Event]:
        domain.followup_after = now() + timedelta(seconds=seconds)
        domain.followup_evidence = None
        return []

    return apply


def backed_off(
    first_wait: float,
    ms_tenant_id: str,
    failure: ms.MicrosoftError | None = None,
    seen: str | None = None,
) -> Change:
    """Wait longer after each failure on the same evidence `seen` (doubling, capped at 6 h;
    new evidence starts again from the first wait, and ends the wait at once); a real failure
    (not Microsoft merely lagging behind DNS) raises an event saying when the next try is."""

    def apply(domain: Domain) -> list[Event]:
        if seen is not None and seen != domain.followup_evidence:
            domain.followup_failures = 0
        domain.followup_evidence = seen
        domain.followup_failures = (domain.followup_failures or 0) + 1
        wait = min(BACKOFF_CAP, first_wait * 2 ** (domain.followup_failures - 1))
        domain.followup_after = now() + timedelta(seconds=wait)
        if failure is None:
            return []
        data = {
            "code": failure.code,
            "attempt": domain.followup_failures,
            "retry_at": domain.followup_after.isoformat(),
        }
        message = f"Follow-up for {domain.name} failed: {failure.message}"
        return [
            event(domain.account_id, domain.mode, ms_tenant_id, domain.name, "domain.followup_failed", message, data)
        ]

    return apply


def ready(domain: Domain, report: HealthReport, settings: Settings) -> bool:
    """Whether this check shows the domain ready for a step (cheap: asked of every domain)."""
    return any(_wants(domain, report, settings))


async def next_step(
    env: ModeEnv,
    tenant: Tenant,
    domain: Domain,
    report: HealthReport,
    settings: Settings,
    wanted: StillWanted | None = None,
    publish: Publish | None = None,
) -> FollowUp:
    """Take the next onboarding step this check shows is ready; the changes to record.
    `wanted`: whether the domain is still there (a wait for Microsoft's replicas stops when
    it is deleted meanwhile); `publish`: the DNS step for provider-linked domains."""
    wants_dns, wants_verify, wants_keys, wants_enable = _wants(domain, report, settings)
    if not (wants_verify or wants_keys or wants_enable) or not env.has_microsoft:
        wants_verify = wants_keys = wants_enable = False
    if publish is None:
        wants_dns = False
    if not (wants_dns or wants_verify or wants_keys or wants_enable):
        return FollowUp()
    done: list[Change] = []
    seen = domain

    def later(failure: ms.MicrosoftError | None = None) -> Change:
        # Judged on what this follow-up leaves: the next check retries at once only if it shows more.
        return backed_off(settings.followup_backoff, tenant.ms_tenant_id, failure, evidence(seen, report))

    try:
        if wants_dns and publish is not None:
            written, complete = await publish(seen)
            done += written
            seen = lifecycle.preview(seen, *written)
            if not complete:  # the provider refused a record: try again later, the event says why
                return FollowUp([*done, later()])
        if wants_verify:
            done.append(await lifecycle.verify(env, tenant, seen, by="reconciler"))
            seen = lifecycle.preview(seen, done[-1])
        if env.has_microsoft and seen.is_verified and settings.followup_dkim and not seen.dkim_config:
            # Email first (a no-op read when it is on): Exchange knows only domains that serve it.
            done.append(await lifecycle.enable_email(env, tenant, seen, wanted))
            seen = lifecycle.preview(seen, done[-1])
            keys = await lifecycle.create_dkim_keys(env, tenant, seen)
            if keys is None:
                raise ms.DomainNotAccepted("Exchange does not know the domain yet")
            done.append(keys)
            seen = lifecycle.preview(seen, keys)
            if publish is not None and publishes(seen):  # the DKIM CNAMEs, at once
                written, _ = await publish(seen)
                done += written
                seen = lifecycle.preview(seen, *written)
        if wants_enable:
            done.append(await lifecycle.enable_dkim(env, tenant, seen, by="reconciler"))
        return FollowUp([*done, succeeded])
    except ms.Throttled as exc:
        wait = exc.retry_after or 60.0
        return FollowUp([*done, deferred(wait)], throttled_for=wait)
    except (ms.DnsVerificationPending, ms.DkimCnameMissing, ms.DomainNotAccepted):
        # Microsoft's view of DNS lags ours: try again later, quietly.
        return FollowUp([*done, later()])
    except ms.MicrosoftError as exc:
        return FollowUp([*done, later(exc)])
    except (ProviderError, TenantCoreError):
        # The provider could not be read (or its credentials not opened): the same evidence
        # waits, as Microsoft's failures do.
        return FollowUp([*done, later()])


async def settle(runtime: Runtime, env: ModeEnv, tenant: Tenant, domain: Domain, settings: Settings) -> None:
    """A way forward for a domain only Microsoft's answer can move: a reservation whose add
    died (adopted when Microsoft has the domain, released when not), a delete that died (done
    again), or a domain whose records were never read (read now). Failures wait as follow-ups
    do."""
    try:
        if domain.state == DomainState.REMOVING:
            await lifecycle.remove(env, tenant, domain)
            await dns.take_back(runtime, domain)
            async with runtime.transaction() as session:
                await repository.remove_unchanged(session, domain)
            return
        if domain.state == DomainState.PENDING:
            made = await lifecycle.settle_reservation(env, tenant, domain)
            if made is None:
                async with runtime.transaction() as session:
                    await repository.release(session, domain)
                return
            domain = await lifecycle.commit(runtime, domain, made)
        records = await lifecycle.refresh_records(env, tenant, domain)
        await lifecycle.commit(runtime, domain, records, succeeded)
    except ms.MicrosoftError:
        await lifecycle.commit(runtime, domain, backed_off(settings.followup_backoff, tenant.ms_tenant_id))
