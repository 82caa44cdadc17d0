"""All SQL about events, scoped by account and mode."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenantcore.events.models import Event


async def page(
    session: AsyncSession, account_id: str, mode: str, tenant_id: str | None, type_: str | None, limit: int, offset: int
) -> tuple[list[Event], int]:
    where = [Event.account_id == account_id, Event.mode == mode]
    if tenant_id:
        where.append(Event.tenant_id == tenant_id)
    if type_:
        where.append(Event.type == type_)
    total = int(await session.scalar(select(func.count()).select_from(Event).where(*where)) or 0)
    rows = await session.scalars(select(Event).where(*where).order_by(Event.id.desc()).limit(limit).offset(offset))
    return list(rows.all()), total
