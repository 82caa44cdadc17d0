"""Workers sharing one database: each due domain is checked exactly once per cycle, and a dead
worker's leases expire and are taken over. Run on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from sqlalchemy import select

from tenantcore.db import now
from tenantcore.domains.models import Domain
from tenantcore.worker import claims
from tenantcore.worker.runner import Worker

from .conftest import seed


async def drain(worker: Worker) -> None:
    while await worker.run_once():
        pass


async def test_three_workers_check_every_domain_exactly_once(fleet, store):
    runtimes = [await fleet.runtime() for _ in range(3)]
    ids = await seed(runtimes[0], store, 3000)
    workers = [Worker(runtime, name=f"w{i}", record_ids=True) for i, runtime in enumerate(runtimes)]
    await asyncio.gather(*(drain(w) for w in workers))

    checked = Counter(i for w in workers for i in w.stats.checked_ids)
    assert sorted(checked) == sorted(ids)
    assert set(checked.values()) == {1}  # nobody checked a domain another worker had
    assert all(w.stats.checked > 0 for w in workers)  # all three shared the cycle
    async with runtimes[0].sessions() as session:
        rows = (
            await session.execute(select(Domain.check_count, Domain.next_check_at, Domain.lease_owner, Domain.grade))
        ).all()
    assert {r.check_count for r in rows} == {1}
    assert all(r.next_check_at > now() and r.lease_owner is None for r in rows)
    assert {r.grade for r in rows} == {"ok"}
    assert await workers[0].run_once() == 0  # nothing is due until the next cycle


async def test_a_dead_workers_batch_is_taken_over_after_its_lease(fleet, store):
    first = await fleet.runtime()
    ids = await seed(first, store, 400)
    # A worker claims 150 domains, then dies. Its lease outlasts the survivors' first pass even
    # on a loaded machine (a 1 s lease ran out mid-pass there and the test failed by timing).
    lease = 4.0
    claimed_at = time.monotonic()
    async with first.transaction() as session:
        dead = await claims.claim(session, "dead-worker", ("live",), 150, lease=lease)
    assert len(dead) == 150

    survivors = [Worker(first, name="a", record_ids=True), Worker(await fleet.runtime(), name="b", record_ids=True)]
    await asyncio.gather(*(drain(w) for w in survivors))
    assert time.monotonic() - claimed_at < lease, "the first pass outlasted the lease: the test proves nothing"
    done = {i for w in survivors for i in w.stats.checked_ids}
    assert done == set(ids) - set(dead)  # the leased ones wait for the lease

    await asyncio.sleep(claimed_at + lease + 0.1 - time.monotonic())
    await asyncio.gather(*(drain(w) for w in survivors))
    checked = Counter(i for w in survivors for i in w.stats.checked_ids)
    assert sorted(checked) == sorted(ids) and set(checked.values()) == {1}
    async with first.sessions() as session:
        owners = set((await session.scalars(select(Domain.lease_owner))).all())
    assert owners == {None}


async def test_a_worker_that_lost_its_lease_does_not_write(fleet, store):
    runtime = await fleet.runtime(worker_lease=0.0)  # every lease is already over when the batch ends
    await seed(runtime, store, 20)
    slow = Worker(runtime, name="slow", record_ids=True)
    assert await slow.run_once() == 20
    assert slow.stats.checked == 0
    async with runtime.sessions() as session:
        assert set((await session.scalars(select(Domain.check_count))).all()) == {0}
