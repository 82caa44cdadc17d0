"""All SQL about domains."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, bindparam, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenantcore.domains.models import Domain
from tenantcore.tenants.models import Tenant


async def for_tenant(session: AsyncSession, tenant_id: str, include_pending: bool = False) -> list[Domain]:
    query = select(Domain).where(Domain.tenant_id == tenant_id)
    if not include_pending:
        query = query.where(Domain.state != "pending")
    return list((await session.scalars(query.order_by(Domain.name))).all())


LISTED = (
    Domain.id,
    Domain.name,
    Domain.is_default,
    Domain.is_verified,
    Domain.spf_status,
    Domain.dkim_status,
    Domain.dmarc_status,
    Domain.mx_status,
    Domain.last_checked,
)


_LISTING = (
    select(*LISTED)
    .select_from(Tenant)
    .outerjoin(Domain, (Domain.tenant_id == Tenant.id) & (Domain.state != "pending"))
    .where(
        Tenant.account_id == bindparam("account_id"),
        Tenant.mode == bindparam("mode"),
        Tenant.ms_tenant_id == bindparam("ms_tenant_id"),
    )
    .order_by(Domain.name)
)


async def listing(session: AsyncSession, account_id: str, mode: str, ms_tenant_id: str) -> list[Row[Any]] | None:
    """The tenant's domains for the list endpoint in one prebuilt query, only the listed columns
    (no ORM objects, no JSON decoding: this is the API's hottest read). None: no such tenant.
    A tenant without domains gives one row of NULLs."""
    params = {"account_id": account_id, "mode": mode, "ms_tenant_id": ms_tenant_id}
    return list((await session.execute(_LISTING, params)).all()) or None


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
