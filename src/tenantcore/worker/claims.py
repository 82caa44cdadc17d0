"""Claiming due domains with leases, and handing them back. PostgreSQL is the coordination
engine: `FOR UPDATE SKIP LOCKED` lets any number of workers claim disjoint batches without
waiting on each other; a lease that expires (its worker died) makes the rows claimable again.
On SQLite the same statement runs under the database's single write lock, which serialises
claims just as safely for the embedded worker."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenantcore.db import now
from tenantcore.domains.models import Domain
from tenantcore.tenants.models import Tenant


async def claim(session: AsyncSession, owner: str, modes: tuple[str, ...], batch: int, lease: float) -> list[str]:
    """Lease up to `batch` due domains to `owner`; returns their ids. Commits."""
    at = now()
    due = (
        select(Domain.id)
        .where(
            Domain.state != "pending",
            Domain.mode.in_(modes),
            Domain.next_check_at <= at,
            or_(Domain.lease_until.is_(None), Domain.lease_until < at),
        )
        .order_by(Domain.next_check_at)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    result = await session.execute(
        update(Domain)
        .where(Domain.id.in_(due.scalar_subquery()))
        .values(lease_owner=owner, lease_until=at + timedelta(seconds=lease))
        .returning(Domain.id)
        .execution_options(synchronize_session=False)
    )
    ids = [row[0] for row in result.all()]
    await session.commit()
    return ids


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
