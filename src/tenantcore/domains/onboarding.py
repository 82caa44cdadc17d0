"""The reconciler's half of onboarding: after a check, the next lifecycle step the domain is
ready for (verify once its TXT shows, create the DKIM keys once it is verified, enable DKIM
once both CNAMEs show); settling domains that only Microsoft's answer can move; and how a
failed attempt is spaced out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from tenantcore.config import Settings
from tenantcore.db import now
from tenantcore.dnshealth import HealthReport
from tenantcore.domains import lifecycle, repository
from tenantcore.domains.lifecycle import Change
from tenantcore.domains.models import Domain
from tenantcore.domains.states import DomainState
from tenantcore.events.models import Event
from tenantcore.events.service import event
from tenantcore.microsoft import errors as ms
from tenantcore.microsoft.graph import StillWanted
from tenantcore.runtime import ModeEnv, Runtime
from tenantcore.tenants.models import Tenant

BACKOFF_CAP = 6 * 3600.0


@dataclass
class FollowUp:
    changes: list[Change] = field(default_factory=list)
    throttled_for: float | None = None  # Microsoft asked us to slow down for this long


def _wants(domain: Domain, report: HealthReport, settings: Settings) -> tuple[bool, bool, bool]:
    if domain.dkim_enabled or (domain.followup_after and domain.followup_after > now()):
        return False, False, False
    wants_verify = (
        not domain.is_verified
        and settings.followup_verify
        and any(f.code == "verification_ok" for f in report.findings)
    )
    wants_keys = domain.is_verified and settings.followup_dkim and not domain.dkim_config
    wants_enable = bool(domain.dkim_config) and settings.followup_dkim and report.ready_to_enable
    return wants_verify, wants_keys, wants_enable


def succeeded(domain: Domain) -> list[Event]:
    domain.followup_failures, domain.followup_after = 0, None
    return []


def deferred(seconds: float) -> Change:
    def apply(domain: Domain) -> list[Event]:
        domain.followup_after = now() + timedelta(seconds=seconds)
        return []

    return apply


def backed_off(first_wait: float, ms_tenant_id: str, failure: ms.MicrosoftError | None = None) -> Change:
    """Wait longer after each failure (doubling, capped at 6 h); a real failure (not Microsoft
    merely lagging behind DNS) raises an event saying when the next try is."""

    def apply(domain: Domain) -> list[Event]:
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
) -> FollowUp:
    """Take the next onboarding step this check shows is ready; the changes to record.
    `wanted`: whether the domain is still there (a wait for Microsoft's replicas stops when
    it is deleted meanwhile)."""
    wants_verify, wants_keys, wants_enable = _wants(domain, report, settings)
    if not (wants_verify or wants_keys or wants_enable) or not env.has_microsoft:
        return FollowUp()
    done: list[Change] = []
    seen = domain
    try:
        if wants_verify:
            done.append(await lifecycle.verify(env, tenant, seen, by="reconciler"))
            seen = lifecycle.preview(seen, done[-1])
        if seen.is_verified and settings.followup_dkim and not seen.dkim_config:
            # Email first (a no-op read when it is on): Exchange knows only domains that serve it.
            done.append(await lifecycle.enable_email(env, tenant, seen, wanted))
            seen = lifecycle.preview(seen, done[-1])
            keys = await lifecycle.create_dkim_keys(env, tenant, seen)
            if keys is None:
                raise ms.DomainNotAccepted("Exchange does not know the domain yet")
            done.append(keys)
            seen = lifecycle.preview(seen, keys)
        if wants_enable:
            done.append(await lifecycle.enable_dkim(env, tenant, seen, by="reconciler"))
        return FollowUp([*done, succeeded])
    except ms.Throttled as exc:
        wait = exc.retry_after or 60.0
        return FollowUp([*done, deferred(wait)], throttled_for=wait)
    except (ms.DnsVerificationPending, ms.DkimCnameMissing, ms.DomainNotAccepted):
        # Microsoft's view of DNS lags ours: try again later, quietly.
        return FollowUp([*done, backed_off(settings.followup_backoff, tenant.ms_tenant_id)])
    except ms.MicrosoftError as exc:
        return FollowUp([*done, backed_off(settings.followup_backoff, tenant.ms_tenant_id, exc)])


async def settle(runtime: Runtime, env: ModeEnv, tenant: Tenant, domain: Domain, settings: Settings) -> None:
    """A way forward for a domain only Microsoft's answer can move: a reservation whose add
    died (adopted when Microsoft has the domain, released when not), a delete that died (done
    again), or a domain whose records were never read (read now). Failures wait as follow-ups
    do."""
    try:
        if domain.state == DomainState.REMOVING:
            await lifecycle.remove(env, tenant, domain)
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
