"""All SQL about tenants, always scoped by account and mode."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenantcore.domains.models import Domain
from tenantcore.tenants.models import Tenant


async def list_for(session: AsyncSession, account_id: str, mode: str) -> list[tuple[Tenant, int]]:
    counts = (
        select(Domain.tenant_id, func.count().label("n"))
        .where(Domain.state != "pending")
        .group_by(Domain.tenant_id)
        .subquery()
    )
    rows = await session.execute(
        select(Tenant, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.tenant_id == Tenant.id)
        .where(Tenant.account_id == account_id, Tenant.mode == mode)
        .order_by(Tenant.consented_at.desc())
    )
    return [(tenant, int(n)) for tenant, n in rows.all()]


async def get_for(session: AsyncSession, account_id: str, mode: str, ms_tenant_id: str) -> Tenant | None:
    return await session.scalar(
        select(Tenant).where(
            Tenant.account_id == account_id, Tenant.mode == mode, Tenant.ms_tenant_id == ms_tenant_id.lower()
        )
    )


async def get_any_account(session: AsyncSession, mode: str, ms_tenant_id: str) -> Tenant | None:
    return await session.scalar(select(Tenant).where(Tenant.mode == mode, Tenant.ms_tenant_id == ms_tenant_id.lower()))


async def count_for(session: AsyncSession, account_id: str, mode: str) -> int:
    return int(
        await session.scalar(
            select(func.count()).select_from(Tenant).where(Tenant.account_id == account_id, Tenant.mode == mode)
        )
        or 0
    )


async def domain_count(session: AsyncSession, tenant_id: str) -> int:
    return int(
        await session.scalar(
            select(func.count()).select_from(Domain).where(Domain.tenant_id == tenant_id, Domain.state != "pending")
        )
        or 0
    )


async def lock(session: AsyncSession, tenant_id: str) -> None:
    """Take the tenant's row lock for the rest of the transaction: FOR UPDATE on PostgreSQL;
    on SQLite the write itself takes the database's write lock, which serialises writers."""
    await session.execute(update(Tenant).where(Tenant.id == tenant_id).values(domain_slots=Tenant.domain_slots + 1))
