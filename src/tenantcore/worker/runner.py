"""The reconciler: re-checks every domain's DNS on schedule and finishes onboarding on its own.

A worker loops: claim a batch of due domains (leased), check their DNS in one run, record what
changed, run the follow-ups they are ready for (verify, create DKIM keys, enable DKIM), write
everything back while the lease still holds, sleep when nothing is due. Many workers share one
PostgreSQL; `tenantcore serve` embeds one on SQLite.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update

from tenantcore.api.errors import ApiError
from tenantcore.db import now
from tenantcore.dnshealth import CheckTarget, HealthReport
from tenantcore.domains import service as domains
from tenantcore.domains.models import Domain
from tenantcore.events.models import Event
from tenantcore.events.service import emit, event
from tenantcore.microsoft import errors as ms
from tenantcore.runtime import Runtime
from tenantcore.tenants.models import Tenant
from tenantcore.worker import claims

log = logging.getLogger("tenantcore.worker")

BACKOFF_CAP = 6 * 3600.0
FOLLOWUP_CONCURRENCY = 8
# What a check writes back (with the lease released); bound per row in one executemany.
WRITTEN = (
    "spf_status",
    "dkim_status",
    "dmarc_status",
    "mx_status",
    "grade",
    "fingerprint",
    "health",
    "last_checked",
    "check_count",
    "next_check_at",
    "is_verified",
    "state",
    "dkim_config",
    "dkim_enabled",
    "followup_failures",
    "followup_after",
)


@dataclass
class WorkerStats:
    batches: int = 0
    checked: int = 0
    events: int = 0
    followups: int = 0
    checked_ids: list[str] = field(default_factory=list)  # kept only when `record_ids` (tests, bench)


class Worker:
    def __init__(self, runtime: Runtime, name: str | None = None, record_ids: bool = False) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.owner = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.stats = WorkerStats()
        self.record_ids = record_ids
        self.paused_until: datetime | None = None
        self._stop = asyncio.Event()

    @property
    def modes(self) -> tuple[str, ...]:
        """Test-mode domains live in the sandbox, which only the serving process holds."""
        return ("live", "test") if self.runtime.sandbox is not None else ("live",)

    # --- one batch ---------------------------------------------------------------------------
    async def run_once(self) -> int:
        """Claim, check, follow up and write back one batch; returns how many were claimed."""
        async with self.runtime.sessions() as session:
            ids = await claims.claim(
                session, self.owner, self.modes, self.settings.worker_batch, self.settings.worker_lease
            )
        if not ids:
            return 0
        async with self.runtime.sessions() as session:
            pairs = await claims.load(session, self.owner, ids)
        events: dict[str, list[Event]] = {}
        for mode in {domain.mode for domain, _ in pairs}:
            events |= await self._check_group(mode, [(d, t) for d, t in pairs if d.mode == mode])
        written = await self._write_back([d for d, _ in pairs], events)
        self.stats.batches += 1
        self.stats.checked += len(written)
        if self.record_ids:
            self.stats.checked_ids.extend(written)
        return len(ids)

    async def _check_group(self, mode: str, group: list[tuple[Domain, Tenant]]) -> dict[str, list[Event]]:
        """Check one mode's domains in one DNS run, then run their follow-ups (bounded)."""
        had_dkim = {d.id: bool(d.dkim_config) for d, _ in group}
        targets = [CheckTarget(d.name, domains.expected(d), d.is_verified) for d, _ in group]
        reports = await self.runtime.checker(mode).check_many(targets)
        events = {
            d.id: domains.store_health(d, r, self.settings.check_interval, t.ms_tenant_id)
            for (d, t), r in zip(group, reports, strict=True)
        }
        limit = asyncio.Semaphore(FOLLOWUP_CONCURRENCY)

        async def follow(domain: Domain, tenant: Tenant, report: HealthReport) -> None:
            async with limit:
                events[domain.id] += await self.followup(domain, tenant, report, had_dkim[domain.id])

        await asyncio.gather(*(follow(d, t, r) for (d, t), r in zip(group, reports, strict=True)))
        return events

    async def _write_back(self, checked: list[Domain], events: dict[str, list[Event]]) -> list[str]:
        async with self.runtime.sessions() as session:
            ours = set(
                (
                    await session.scalars(
                        select(Domain.id)
                        .where(Domain.id.in_([d.id for d in checked]), claims.still_ours(self.owner))
                        .with_for_update()
                    )
                ).all()
            )
            rows = [{"_id": d.id, **{name: getattr(d, name) for name in WRITTEN}} for d in checked if d.id in ours]
            if rows:
                stmt = (
                    update(Domain)
                    .where(Domain.id == bindparam("_id"))
                    .values(
                        {name: bindparam(name) for name in WRITTEN} | claims.release_values() | {"updated_at": now()}
                    )
                )
                await (await session.connection()).execute(stmt, rows)
            kept = [e for domain_id in ours for e in events.get(domain_id, [])]
            emit(session, *kept)
            await session.commit()
        self.stats.events += len(kept)
        lost = len(checked) - len(ours)
        if lost:
            log.warning("%s: %d domain(s) of the batch were taken over after the lease ran out", self.owner, lost)
        return sorted(ours)

    # --- follow-ups ----------------------------------------------------------------------------
    async def followup(self, domain: Domain, tenant: Tenant, report: HealthReport, had_dkim: bool) -> list[Event]:
        """Take the next onboarding step this check shows is ready. Failures back off
        exponentially (cap 6 h); Microsoft throttling pauses the worker instead."""
        s = self.settings
        if domain.dkim_enabled or (domain.followup_after and domain.followup_after > now()):
            return []
        wants_verify = not domain.is_verified and s.followup_verify and _finding(report, "verification_ok")
        wants_keys = domain.is_verified and s.followup_dkim and not domain.dkim_config
        wants_enable = had_dkim and s.followup_dkim and report.ready_to_enable
        if not (wants_verify or wants_keys or wants_enable):
            return []
        try:
            microsoft = self.runtime.microsoft(domain.mode)
        except ApiError:
            return []  # live Microsoft not configured: nothing to follow up with
        made: list[Event] = []
        self.stats.followups += 1
        try:
            if wants_verify:
                await microsoft.graph.verify_domain(tenant.ms_tenant_id, domain.name)
                domains.mark_verified(domain)
                await microsoft.graph.enable_email(tenant.ms_tenant_id, domain.name)
                made.append(
                    self._event(
                        domain,
                        tenant,
                        "domain.verified",
                        f"{domain.name} verified in Microsoft 365 (its TXT record became visible).",
                    )
                )
            wants_keys = domain.is_verified and s.followup_dkim and not domain.dkim_config
            if wants_keys and not await domains.ensure_dkim_config(self.runtime, domain.mode, tenant, domain):
                raise ms.DomainNotAccepted("Exchange does not know the domain yet")
            if wants_enable:
                await microsoft.exchange.enable_dkim(tenant.ms_tenant_id, domain.name)
                domains.mark_dkim_enabled(domain)
                made.append(
                    self._event(
                        domain,
                        tenant,
                        "domain.dkim_enabled",
                        f"DKIM signing is on for {domain.name} (both CNAMEs became visible).",
                    )
                )
            domain.followup_failures, domain.followup_after = 0, None
        except ms.Throttled as exc:
            wait = exc.retry_after or 60.0
            domain.followup_after = now() + timedelta(seconds=wait)
            self.paused_until = max(self.paused_until or now(), now() + timedelta(seconds=wait))
            log.warning("%s: Microsoft throttles tenant %s; pausing %.0f s", self.owner, tenant.ms_tenant_id, wait)
        except (ms.DnsVerificationPending, ms.DkimCnameMissing, ms.DomainNotAccepted) as exc:
            self._back_off(domain)  # Microsoft's view of DNS lags ours: try again later, quietly
            log.info("%s: %s not ready in Microsoft yet: %s", self.owner, domain.name, exc)
        except ms.MicrosoftError as exc:
            self._back_off(domain)
            made.append(
                self._event(
                    domain,
                    tenant,
                    "domain.followup_failed",
                    f"Follow-up for {domain.name} failed: {exc.message}",
                    {
                        "code": exc.code,
                        "attempt": domain.followup_failures,
                        "retry_at": domain.followup_after.isoformat() if domain.followup_after else None,
                    },
                )
            )
        return made

    def _back_off(self, domain: Domain) -> None:
        domain.followup_failures = (domain.followup_failures or 0) + 1
        wait = min(BACKOFF_CAP, self.settings.followup_backoff * 2 ** (domain.followup_failures - 1))
        domain.followup_after = now() + timedelta(seconds=wait)

    @staticmethod
    def _event(domain: Domain, tenant: Tenant, type_: str, message: str, data: dict[str, Any] | None = None) -> Event:
        return event(domain.account_id, domain.mode, tenant.ms_tenant_id, domain.name, type_, message, data)

    # --- the loop --------------------------------------------------------------------------------
    async def run_forever(self) -> None:
        """Several batch loops at once: while one waits on the database, another checks DNS
        (claims stay disjoint: each claim skips rows another holds)."""
        log.info("worker %s started (modes: %s)", self.owner, ", ".join(self.modes))
        await asyncio.gather(*(self._loop() for _ in range(self.settings.worker_pipelines)))

    async def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self.paused_until and self.paused_until > now():
                    await self._sleep((self.paused_until - now()).total_seconds())
                    continue
                if await self.run_once():
                    continue
            except Exception:  # a bad batch must not kill the loop; its leases expire and retry
                log.exception("worker %s: batch failed", self.owner)
            await self._sleep(self.settings.worker_idle)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=max(0.0, seconds))

    def stop(self) -> None:
        self._stop.set()


def _finding(report: HealthReport, code: str) -> bool:
    return any(f.code == code for f in report.findings)
