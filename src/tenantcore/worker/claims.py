"""Claiming due domains with leases, and handing them back. PostgreSQL is the coordination
engine: `FOR UPDATE SKIP LOCKED` lets any number of workers claim disjoint batches without
waiting on each other; a lease that expires (its worker died) makes the rows claimable again.
On SQLite the same statement runs under the database's single write lock, which serialises
claims just as safely for the embedded worker."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Select, and_, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenantcore.db import now
from tenantcore.domains.health import CHECK_COLUMNS
from tenantcore.domains.models import Domain
from tenantcore.domains.states import LISTED, DomainState
from tenantcore.tenants.models import Tenant


async def claim(session: AsyncSession, owner: str, modes: tuple[str, ...], batch: int, lease: float) -> list[str]:
    """Lease up to `batch` due domains to `owner`; returns their ids (in the caller's
    transaction, which should end at once so the rows are not held)."""
    at = now()
    due = (
        select(Domain.id)
        .where(
            Domain.state.in_(LISTED),
            Domain.mode.in_(modes),
            Domain.next_check_at <= at,
            or_(Domain.lease_until.is_(None), Domain.lease_until < at),
        )
        .order_by(Domain.next_check_at)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    return await _lease(session, due, owner, at, lease)


async def _lease(session: AsyncSession, due: Select[tuple[str]], owner: str, at: datetime, lease: float) -> list[str]:
    result = await session.execute(
        update(Domain)
        .where(Domain.id.in_(due.scalar_subquery()))
        .values(lease_owner=owner, lease_until=at + timedelta(seconds=lease))
        .returning(Domain.id)
        .execution_options(synchronize_session=False)
    )
    return [row[0] for row in result.all()]


async def claim_repairs(
    session: AsyncSession, owner: str, modes: tuple[str, ...], batch: int, lease: float, stale_before: datetime
) -> list[str]:
    """Lease domains with no way forward but Microsoft's answer: reservations whose add never
    finished (older than `stale_before`), and domains whose records were never read."""
    at = now()
    stuck = or_(
        and_(Domain.state.in_((DomainState.PENDING, DomainState.REMOVING)), Domain.updated_at < stale_before),
        and_(Domain.state.in_(LISTED), Domain.records_read_at.is_(None)),
    )
    due = (
        select(Domain.id)
        .where(
            stuck,
            Domain.mode.in_(modes),
            or_(Domain.followup_after.is_(None), Domain.followup_after <= at),
            or_(Domain.lease_until.is_(None), Domain.lease_until < at),
        )
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    return await _lease(session, due, owner, at, lease)


async def renew(session: AsyncSession, owner: str, ids: Sequence[str], lease: float) -> int:
    """The heartbeat: a running batch keeps its leases, so they can be short and a worker
    that dies gives its domains back within one lease."""
    result = await session.execute(
        update(Domain)
        .where(Domain.id.in_(ids), Domain.lease_owner == owner)
        .values(lease_until=now() + timedelta(seconds=lease))
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def release(session: AsyncSession, owner: str, ids: Sequence[str]) -> None:
    await session.execute(
        update(Domain)
        .where(Domain.id.in_(ids), Domain.lease_owner == owner)
        .values(release_values())
        .execution_options(synchronize_session=False)
    )


async def load(session: AsyncSession, owner: str, ids: list[str]) -> list[tuple[Domain, Tenant]]:
    """The claimed domains, still leased to `owner`, with their tenants."""
    rows = await session.execute(
        select(Domain, Tenant)
        .join(Tenant, Tenant.id == Domain.tenant_id)
        .where(Domain.id.in_(ids), Domain.lease_owner == owner)
    )
    return [(domain, tenant) for domain, tenant in rows.all()]


def still_ours(owner: str) -> object:
    """Results are written only while the lease is ours: a worker that stalled past its lease
    must not overwrite the fresher work of the one that took over."""
    return and_(Domain.lease_owner == owner, Domain.lease_until >= now())


def release_values() -> dict[str, object]:
    return {"lease_owner": None, "lease_until": None}


async def write_back(session: AsyncSession, owner: str, checked: Sequence[Domain], only_release: set[str]) -> set[str]:
    """Store the checks of domains still leased to `owner` and release them; returns the ids
    written. A check is written only if nobody changed the domain since it was loaded (its
    version): a domain that moved on meanwhile is not overwritten with what the check saw, it
    is released due at once, to be checked again. `only_release`: ids whose results were
    written already (by a lifecycle commit) and only need their lease back."""
    ids = [d.id for d in checked]
    if session.bind.dialect.name == "sqlite":
        # SQLite ignores FOR UPDATE, and pysqlite begins a transaction only at the first
        # write: take the database's write lock first, so no commit lands between the version
        # read below and the write.
        await session.execute(
            update(Domain).where(Domain.id.in_(ids), Domain.lease_owner == owner).values(lease_owner=owner)
        )
    locked = select(Domain.id, Domain.version).where(Domain.id.in_(ids), still_ours(owner)).order_by(Domain.id)
    versions = dict((await session.execute(locked.with_for_update())).all())  # in id order: no deadlock
    fresh = [d for d in checked if d.id not in only_release and versions.get(d.id) == d.version]
    if fresh:
        stmt = (
            update(Domain)
            .where(Domain.id == bindparam("_id"), Domain.version == bindparam("_version"))
            .values(
                {name: bindparam(name) for name in CHECK_COLUMNS}
                | release_values()
                | {"version": Domain.version + 1, "updated_at": now()}
            )
        )
        rows = [
            {"_id": d.id, "_version": d.version, **{name: getattr(d, name) for name in CHECK_COLUMNS}} for d in fresh
        ]
        await (await session.connection()).execute(stmt, rows)
    written = {d.id for d in fresh}
    released = [i for i in versions if i in only_release]
    again = [i for i in versions if i not in written and i not in only_release]
    if released:
        await release(session, owner, released)
    if again:  # moved on under us: check it again, never overwrite it
        await session.execute(
            update(Domain)
            .where(Domain.id.in_(again))
            .values(release_values() | {"next_check_at": now()})
            .execution_options(synchronize_session=False)
        )
    return written | set(released)
