"""All SQL about DNS provider connections. Nothing here commits."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenantcore.accounts.service import Caller
from tenantcore.dnsproviders.models import DnsProviderRow
from tenantcore.domains.models import Domain
from tenantcore.domains.states import LISTED


async def for_caller(session: AsyncSession, caller: Caller) -> list[DnsProviderRow]:
    query = select(DnsProviderRow).where(
        DnsProviderRow.account_id == caller.account_id, DnsProviderRow.mode == caller.mode
    )
    return list((await session.scalars(query.order_by(DnsProviderRow.name))).all())


async def get_for(session: AsyncSession, caller: Caller, provider_id: str) -> DnsProviderRow | None:
    row = await session.get(DnsProviderRow, provider_id)
    if row is None or row.account_id != caller.account_id or row.mode != caller.mode:
        return None
    return row


async def get(session: AsyncSession, provider_id: str) -> DnsProviderRow | None:
    return await session.get(DnsProviderRow, provider_id)


async def linked_counts(session: AsyncSession, provider_ids: list[str]) -> dict[str, int]:
    rows = await session.execute(
        select(Domain.dns_provider_id, func.count())
        .where(Domain.dns_provider_id.in_(provider_ids), Domain.state.in_(LISTED))
        .group_by(Domain.dns_provider_id)
    )
    return {provider_id: count for provider_id, count in rows.all()}


async def unlinked_domains(session: AsyncSession, caller: Caller) -> list[Domain]:
    query = select(Domain).where(
        Domain.account_id == caller.account_id,
        Domain.mode == caller.mode,
        Domain.state.in_(LISTED),
        Domain.dns_provider_id.is_(None),
    )
    return list((await session.scalars(query)).all())


async def link(session: AsyncSession, domain_id: str, provider_id: str | None, zone: str | None) -> None:
    await session.execute(
        update(Domain)
        .where(Domain.id == domain_id)
        .values(dns_provider_id=provider_id, dns_zone=zone, version=Domain.version + 1)
    )


async def remove(session: AsyncSession, row: DnsProviderRow) -> None:
    # Explicitly, not only through the foreign key: SQLite enforces ON DELETE only when asked.
    await session.execute(
        update(Domain)
        .where(Domain.dns_provider_id == row.id)
        .values(dns_provider_id=None, dns_zone=None, version=Domain.version + 1)
    )
    await session.delete(row)


async def some_zone(session: AsyncSession, provider_id: str) -> str | None:
    """A zone known to be at the provider: that of a linked domain."""
    return await session.scalar(
        select(Domain.dns_zone).where(Domain.dns_provider_id == provider_id, Domain.dns_zone.is_not(None)).limit(1)
    )
