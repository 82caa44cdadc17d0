"""All SQL about events. Reads on behalf of a caller start from `readable(caller)`, the one
place that scopes them to the caller's account and mode. Nothing here commits."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenantcore.accounts.service import Caller
from tenantcore.events.models import Event


def readable(caller: Caller) -> Select[tuple[Event]]:
    return select(Event).where(Event.account_id == caller.account_id, Event.mode == caller.mode)


def filtered(
    caller: Caller,
    tenant_id: str | None = None,
    type_: str | None = None,
    domain_name: str | None = None,
    exclude_types: Sequence[str] = (),
) -> Select[tuple[Event]]:
    """The caller's events narrowed by the filters the API and the events page offer."""
    query = readable(caller)
    if tenant_id:
        query = query.where(Event.tenant_id == tenant_id)
    if domain_name:
        query = query.where(Event.domain_name == domain_name)
    if type_:
        query = query.where(Event.type == type_)
    if exclude_types:
        query = query.where(Event.type.not_in(exclude_types))
    return query


async def page(
    session: AsyncSession,
    caller: Caller,
    tenant_id: str | None,
    type_: str | None,
    limit: int,
    offset: int,
    starting_after: int | None = None,
) -> tuple[list[Event], int]:
    """Newest first; `starting_after`: an event id, the page continues with older ones."""
    query = filtered(caller, tenant_id, type_)
    if starting_after is not None:
        query = query.where(Event.id < starting_after)
    total = int(await session.scalar(query.with_only_columns(func.count()).order_by(None)) or 0)
    rows = await session.scalars(query.order_by(Event.id.desc()).limit(limit).offset(offset))
    return list(rows.all()), total


async def window(
    session: AsyncSession,
    query: Select[tuple[Event]],
    limit: int,
    starting_after: int | None = None,
    ending_before: int | None = None,
) -> list[Event]:
    """Up to `limit` events of `query`, newest first, without counting them all: the newest ones,
    those just older than `starting_after`, or those just newer than `ending_before` (an event id)."""
    if ending_before is not None:
        # The `limit` closest above the cursor: read upwards, then turn round to newest first.
        rows = await session.scalars(query.where(Event.id > ending_before).order_by(Event.id.asc()).limit(limit))
        return list(reversed(rows.all()))
    if starting_after is not None:
        query = query.where(Event.id < starting_after)
    return list((await session.scalars(query.order_by(Event.id.desc()).limit(limit))).all())


async def recent(
    session: AsyncSession, caller: Caller, limit: int, tenant_id: str | None = None, domain_name: str | None = None
) -> list[Event]:
    """The newest events, of one domain when named."""
    query = readable(caller)
    if tenant_id is not None:
        query = query.where(Event.tenant_id == tenant_id)
    if domain_name is not None:
        query = query.where(Event.domain_name == domain_name)
    return list((await session.scalars(query.order_by(Event.id.desc()).limit(limit))).all())
