"""The worker's batch write keeps health history: a transition only where a grade changed,
and the fleet snapshot (blocklisted domains counted from stored health, when present)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import JSON, bindparam, select, update

from tenantcore.db import now
from tenantcore.domains.models import Domain
from tenantcore.history import service as history
from tenantcore.history.models import DomainHealthDay, FleetHealthDay, HealthTransition
from tenantcore.worker.runner import Worker

from .conftest import seed


async def drain(worker: Worker) -> None:
    while await worker.run_once():
        pass


async def test_a_batch_writes_transitions_only_where_the_grade_changed(fleet, store):
    runtime = await fleet.runtime()
    await seed(runtime, store, 40)
    worker = Worker(runtime, name="w")
    await drain(worker)  # first checks: all ok, nothing to come from
    async with runtime.sessions() as session:
        assert (await session.scalars(select(HealthTransition))).all() == []

    broken = [f"w{i:05d}-example.com" for i in (3, 7, 11)]
    for name in broken:
        store.delete(f"_dmarc.{name}", "TXT")
    async with runtime.transaction() as session:
        await session.execute(update(Domain).values(next_check_at=now() - timedelta(seconds=1)))
    await drain(worker)

    async with runtime.sessions() as session:
        moves = (
            await session.execute(
                select(Domain.name, HealthTransition.from_grade, HealthTransition.to_grade, HealthTransition.broke)
                .join(Domain, Domain.id == HealthTransition.domain_id)
                .order_by(Domain.name)
            )
        ).all()
        days = (await session.scalars(select(DomainHealthDay))).all()
    assert [m.name for m in moves] == broken
    assert all(m.from_grade == "ok" and m.to_grade in ("warning", "error") and m.broke for m in moves)
    assert any("dmarc" in code for code in moves[0].broke)
    assert len(days) == 3 and {d.transitions for d in days} == {1}

    async with runtime.transaction() as session:  # a listed domain, as StoredHealth keeps it
        listed = {
            "findings": [],
            "blocklist_status": "listed",
            "blocklists": [{"blocklist": "dbl.spamhaus.org", "status": "listed", "last_known": "listed"}],
        }
        await session.execute(
            update(Domain).where(Domain.name == "w00001-example.com").values(health=bindparam("raw", type_=JSON)),
            {"raw": listed},
        )
        # Records not published yet: a domain added just now is awaiting DNS (not a problem,
        # as on the fleet page), one added two hours ago is a problem.
        unpublished = {"grade": "error", "next_action": "publish_records"}
        await session.execute(update(Domain).values(created_at=now() - timedelta(hours=2)))  # past the grace
        await session.execute(
            update(Domain).where(Domain.name == "w00002-example.com").values(**unpublished, created_at=now())
        )
        await session.execute(update(Domain).where(Domain.name == "w00004-example.com").values(**unpublished))
    await history.upkeep(runtime, ("live",))
    async with runtime.sessions() as session:
        snap = await session.scalar(select(FleetHealthDay))
    assert (snap.day, snap.domains, snap.healthy, snap.problems, snap.unknown, snap.blocklisted) == (
        now().date(),
        40,
        35,
        4,
        1,
        1,
    )
