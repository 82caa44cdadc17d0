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
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tenantcore.db import now
from tenantcore.dnshealth import CheckTarget, HealthReport
from tenantcore.domains import dns, lifecycle, onboarding
from tenantcore.domains.models import Domain
from tenantcore.errors import TenantCoreError
from tenantcore.history import service as history
from tenantcore.idempotency import repository as idempotency
from tenantcore.idempotency.middleware import IDEMPOTENCY_TTL
from tenantcore.metrics.registry import RECONCILER_BATCHES, RECONCILER_CHECKED
from tenantcore.runtime import Runtime
from tenantcore.tenants import repository as tenants_repo
from tenantcore.tenants import service as tenants
from tenantcore.tenants.models import Tenant
from tenantcore.webhooks.outbox import Deliverer
from tenantcore.worker import claims

log = logging.getLogger("tenantcore.worker")

FOLLOWUP_CONCURRENCY = 8
REPAIR_BATCH = 32
# The fleet's health snapshot (and history pruning) runs this often: two aggregate reads over
# the domains, never in a batch's write.
HISTORY_EVERY = 600.0


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
        self._next_repair: datetime | None = None
        self.webhooks = Deliverer(runtime, self.owner)
        self._next_history: datetime | None = None

    @property
    def modes(self) -> tuple[str, ...]:
        return self.runtime.modes

    # --- one batch ---------------------------------------------------------------------------
    async def run_once(self) -> int:
        """Claim, check, follow up and write back one batch; returns how many were claimed."""
        async with self.runtime.transaction() as session:
            ids = await claims.claim(
                session, self.owner, self.modes, self.settings.worker_batch, self.settings.worker_lease
            )
        if not ids:
            return 0
        async with self._heartbeat(ids):
            return await self._run_batch(ids)

    async def _run_batch(self, ids: list[str]) -> int:
        async with self.runtime.sessions() as session:
            pairs = await claims.load(session, self.owner, ids)
        raised: dict[str, list[lifecycle.Raised]] = {}
        committed: set[str] = set()
        for mode in {domain.mode for domain, _ in pairs}:
            group = [(d, t) for d, t in pairs if d.mode == mode]
            raised |= await self._check_group(mode, group, committed)
        async with self.runtime.transaction() as session:
            written = await claims.write_back(session, self.owner, [d for d, _ in pairs], committed)
            # Events and grade transitions of the written checks (transitions are rare: a
            # steady domain adds nothing to the batch's write).
            kept = await lifecycle.keep(
                session, [(d, raised[d.id]) for d, _ in pairs if d.id in written - committed and raised.get(d.id)]
            )
        self.stats.events += kept
        lost = len(pairs) - len(written)
        if lost:
            log.warning("%s: %d domain(s) of the batch moved on or were taken over; checked again", self.owner, lost)
        self.stats.batches += 1
        self.stats.checked += len(written)
        RECONCILER_BATCHES.inc()
        RECONCILER_CHECKED.inc(len(written))
        if self.record_ids:
            self.stats.checked_ids.extend(sorted(written))
        return len(ids)

    @contextlib.asynccontextmanager
    async def _heartbeat(self, ids: list[str]) -> AsyncIterator[None]:
        """Renew the batch's leases every third of a lease while it runs."""
        lease = self.settings.worker_lease
        done = asyncio.Event()

        async def beat() -> None:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), lease / 3)
                if done.is_set():
                    return
                try:
                    async with self.runtime.transaction() as session:
                        await claims.renew(session, self.owner, ids, lease)
                except Exception:  # a missed beat costs the lease at worst; never the batch
                    log.exception("%s: could not renew the batch's leases", self.owner)

        task = asyncio.create_task(beat())
        try:
            yield
        finally:
            # Told to stop, not cancelled: a cancel landing inside the renew's query could leave
            # asyncpg waiting on the server for good (seen as a worker test hanging 1 run in 6).
            done.set()
            await task

    async def repair_once(self) -> int:
        """Settle domains only Microsoft's answer can move (see `onboarding.settle`); returns
        how many were claimed."""
        modes = tuple(mode for mode in self.modes if self.runtime.env(mode).has_microsoft)
        if not modes:
            return 0
        await self._probe_exchange(modes)
        async with self.runtime.transaction() as session:  # keys live 24 h
            await idempotency.prune(session, now() - IDEMPOTENCY_TTL)
        stale_before = now() - timedelta(seconds=self.settings.reservation_timeout)
        async with self.runtime.transaction() as session:
            ids = await claims.claim_repairs(
                session, self.owner, modes, REPAIR_BATCH, self.settings.worker_lease, stale_before
            )
        if not ids:
            return 0
        async with self._heartbeat(ids):
            async with self.runtime.sessions() as session:
                pairs = await claims.load(session, self.owner, ids)
            limit = asyncio.Semaphore(FOLLOWUP_CONCURRENCY)

            async def settle(domain: Domain, tenant: Tenant) -> None:
                async with limit:
                    with contextlib.suppress(TenantCoreError):  # deleted or busy: the next round
                        await onboarding.settle(
                            self.runtime, self.runtime.env(domain.mode), tenant, domain, self.settings
                        )

            await asyncio.gather(*(settle(d, t) for d, t in pairs))
            async with self.runtime.transaction() as session:
                await claims.release(session, self.owner, ids)
        return len(ids)

    async def _probe_exchange(self, modes: tuple[str, ...]) -> None:
        """Ask again the tenants whose Exchange refused the app (see `tenants.probe_exchange`)."""
        before = now() - timedelta(seconds=self.settings.exchange_probe_interval)
        async with self.runtime.sessions() as session:
            due = await tenants_repo.needing_exchange_probe(session, modes, before, REPAIR_BATCH)
        for tenant in due:
            await tenants.probe_exchange(self.runtime, tenant)

    async def _check_group(
        self, mode: str, group: list[tuple[Domain, Tenant]], committed: set[str]
    ) -> dict[str, list[lifecycle.Raised]]:
        """Check one mode's domains in one DNS run, then run their follow-ups (bounded)."""
        env = self.runtime.env(mode)
        at, every = now(), self.settings.blocklist_interval
        targets = [
            CheckTarget(
                d.name,
                lifecycle.expected(d),
                d.is_verified,
                d.health.reusable_blocklists(every, at) if d.health is not None else None,
            )
            for d, _ in group
        ]
        reports = await env.checker.check_many(targets)
        limit = asyncio.Semaphore(FOLLOWUP_CONCURRENCY)

        async def follow(domain: Domain, tenant: Tenant, report: HealthReport) -> None:
            try:
                await follow_up(domain, tenant, report)
            except Exception:  # one domain's failure (a provider's, say) never sinks the batch
                log.exception("%s: follow-up of %s failed; checked again next round", self.owner, domain.name)

        async def follow_up(domain: Domain, tenant: Tenant, report: HealthReport) -> None:
            async with limit:
                wanted = lifecycle.still_wanted(self.runtime, domain)

                async def publish(seen: Domain) -> tuple[list[lifecycle.Change], bool]:
                    return await dns.reconcile(self.runtime, tenant.ms_tenant_id, seen)

                step = await onboarding.next_step(env, tenant, domain, report, self.settings, wanted, publish)
            if not step.changes:
                return
            self.stats.followups += 1
            if step.throttled_for is not None:
                self.paused_until = max(self.paused_until or now(), now() + timedelta(seconds=step.throttled_for))
                log.warning(
                    "%s: Microsoft throttles tenant %s; pausing %.0f s",
                    self.owner,
                    tenant.ms_tenant_id,
                    step.throttled_for,
                )
            # The check is recorded with the step (one version-checked write, its events once).
            checked = lifecycle.checked(tenant.ms_tenant_id, report, onboarding.interval(domain, self.settings))
            with contextlib.suppress(TenantCoreError):  # deleted meanwhile: nothing to record
                await lifecycle.commit(self.runtime, domain, checked, *step.changes)
            committed.add(domain.id)

        await asyncio.gather(
            *(
                follow(d, t, r)
                for (d, t), r in zip(group, reports, strict=True)
                if onboarding.ready(d, r, self.settings)
            )
        )
        # Everything else is written in one batch: the check applied here, version-checked there.
        return {
            d.id: lifecycle.checked(t.ms_tenant_id, r, onboarding.interval(d, self.settings))(d)
            for (d, t), r in zip(group, reports, strict=True)
            if d.id not in committed
        }

    # --- the loop --------------------------------------------------------------------------------
    async def run_forever(self) -> None:
        """Several batch loops at once: while one waits on the database, another checks DNS
        (claims stay disjoint: each claim skips rows another holds)."""
        log.info("worker %s started (modes: %s)", self.owner, ", ".join(self.modes))
        try:
            await asyncio.gather(
                *(self._loop() for _ in range(self.settings.worker_pipelines)),
                self._webhook_loop(),
                self._webhook_leases(),
            )
        finally:
            await self.webhooks.aclose()

    async def _webhook_loop(self) -> None:
        """Fan events out to webhook endpoints and deliver them (`webhooks/outbox.py`)."""
        while not self._stop.is_set():
            try:
                if await self.webhooks.run_once():
                    continue
            except Exception:  # the outbox keeps everything: the next round tries again
                log.exception("worker %s: webhook round failed", self.owner)
            await self._sleep(self.settings.webhook_poll)

    async def _webhook_leases(self) -> None:
        while not self._stop.is_set():
            await self._sleep(self.settings.webhook_lease / 3)
            try:
                await self.webhooks.renew()
            except Exception:  # a missed beat costs a lease at worst: the delivery is sent again
                log.exception("worker %s: could not renew webhook leases", self.owner)

    async def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self.paused_until and self.paused_until > now():
                    await self._sleep((self.paused_until - now()).total_seconds())
                    continue
                if self._repair_due():
                    await self.repair_once()
                if self._history_due():
                    await history.upkeep(self.runtime, self.modes)
                if await self.run_once():
                    continue
            except Exception:  # a bad batch must not kill the loop; its leases expire and retry
                log.exception("worker %s: batch failed", self.owner)
            await self._sleep(self.settings.worker_idle)

    def _repair_due(self) -> bool:
        """Repairs are rare: one look per idle period across the process's pipelines."""
        at = now()
        if self._next_repair is not None and at < self._next_repair:
            return False
        self._next_repair = at + timedelta(seconds=max(self.settings.worker_idle, 1.0))
        return True

    def _history_due(self) -> bool:
        """The fleet snapshot: at start, then every `HISTORY_EVERY` (one pipeline takes it)."""
        at = now()
        if self._next_history is not None and at < self._next_history:
            return False
        self._next_history = at + timedelta(seconds=HISTORY_EVERY)
        return True

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=max(0.0, seconds))

    def stop(self) -> None:
        self._stop.set()
