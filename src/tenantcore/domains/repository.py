"""All SQL about domains."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenantcore.domains.models import Domain


async def for_tenant(session: AsyncSession, tenant_id: str, include_pending: bool = False) -> list[Domain]:
    query = select(Domain).where(Domain.tenant_id == tenant_id)
    if not include_pending:
        query = query.where(Domain.state != "pending")
    return list((await session.scalars(query.order_by(Domain.name))).all())


async def get(session: AsyncSession, tenant_id: str, name: str) -> Domain | None:
    return await session.scalar(select(Domain).where(Domain.tenant_id == tenant_id, Domain.name == name))


async def count(session: AsyncSession, tenant_id: str) -> int:
    """Every domain of the tenant, reservations in progress included (they hold a slot)."""
    return int(await session.scalar(select(func.count()).select_from(Domain).where(Domain.tenant_id == tenant_id)) or 0)


async def managed_elsewhere(session: AsyncSession, account_id: str, mode: str, name: str) -> bool:
    found = await session.scalar(
        select(Domain.id).where(Domain.name == name, Domain.mode == mode, Domain.account_id != account_id).limit(1)
    )
    return found is not None


async def delete_for_tenant(session: AsyncSession, tenant_id: str) -> None:
    await session.execute(delete(Domain).where(Domain.tenant_id == tenant_id))


async def remove(session: AsyncSession, domain_id: str) -> None:
    await session.execute(delete(Domain).where(Domain.id == domain_id))
