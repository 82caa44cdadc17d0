"""All SQL about tenants. Reads on behalf of a caller start from `readable(caller)`, the one
place that scopes them to the caller's account and mode. Nothing here commits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, and_, case, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenantcore.accounts.service import Caller
from tenantcore.db import now
from tenantcore.dnshealth import HEALTHY, PROBLEMS
from tenantcore.domains.models import Domain
from tenantcore.domains.progress import OPERATOR_ACTIONS, Action
from tenantcore.domains.states import LISTED as LISTED_STATES
from tenantcore.tenants.models import Tenant

LISTED = Domain.state.in_(LISTED_STATES)


def readable(caller: Caller, *columns: Any) -> Select[Any]:
    """Tenants the caller may see: their account's, in their key's mode."""
    return select(*(columns or (Tenant,))).where(Tenant.account_id == caller.account_id, Tenant.mode == caller.mode)


async def list_for(
    session: AsyncSession, caller: Caller, limit: int | None = None, after: Tenant | None = None
) -> list[tuple[Tenant, int]]:
    """Newest consent first (ties by id); `after`: the page continues past that tenant."""
    counts = select(Domain.tenant_id, func.count().label("n")).where(LISTED).group_by(Domain.tenant_id).subquery()
    query = (
        readable(caller, Tenant, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.tenant_id == Tenant.id)
        .order_by(Tenant.consented_at.desc(), Tenant.id.desc())
    )
    if after is not None:
        query = query.where(
            or_(
                Tenant.consented_at < after.consented_at,
                and_(Tenant.consented_at == after.consented_at, Tenant.id < after.id),
            )
        )
    if limit is not None:
        query = query.limit(limit)
    rows = await session.execute(query)
    return [(tenant, int(n)) for tenant, n in rows.all()]


async def fleet(session: AsyncSession, caller: Caller, young_since: datetime | None = None) -> list[Row[Any]]:
    """Every tenant with its domain counts by health and how many wait on the operator
    (`todo`: a next action that is theirs), in one aggregate query (fast with hundreds of
    tenants), by name. A domain added after `young_since` whose records are not published yet
    is `awaiting` DNS, not a problem."""
    todo = Domain.next_action.in_(OPERATOR_ACTIONS)
    awaiting = (Domain.next_action == Action.PUBLISH_RECORDS.value) & (Domain.created_at > (young_since or now()))
    columns = {
        "domains": func.count(Domain.id).label("domains"),
        "todo": func.count(case((todo, 1))).label("todo"),
        "awaiting": func.count(case((awaiting, 1))).label("awaiting"),
        "problems": func.count(case((Domain.grade.in_(PROBLEMS) & ~awaiting, 1))).label("problems"),
        "unknown": func.count(case(((Domain.grade == "unknown") | (LISTED & Domain.grade.is_(None)), 1))).label(
            "unknown"
        ),
        "oldest": func.min(Domain.last_checked).label("oldest"),
    }
    query = (
        readable(
            caller,
            Tenant.ms_tenant_id.label("tenant_id"),
            Tenant.tenant_name,
            Tenant.tenant_domain,
            Tenant.exchange_bootstrap_status.label("exchange"),
            func.count(case((Domain.grade.in_(HEALTHY), 1))).label("healthy"),
            *columns.values(),
        )
        .outerjoin(Domain, (Domain.tenant_id == Tenant.id) & LISTED)
        .group_by(Tenant.id)
    )
    return list((await session.execute(query.order_by(func.lower(Tenant.tenant_name), Tenant.id))).all())


async def get_for(session: AsyncSession, caller: Caller, ms_tenant_id: str) -> Tenant | None:
    return await session.scalar(readable(caller).where(Tenant.ms_tenant_id == ms_tenant_id.lower()))


async def get_any_account(session: AsyncSession, mode: str, ms_tenant_id: str) -> Tenant | None:
    return await session.scalar(select(Tenant).where(Tenant.mode == mode, Tenant.ms_tenant_id == ms_tenant_id.lower()))


async def count_for(session: AsyncSession, caller: Caller) -> int:
    return int(await session.scalar(readable(caller, func.count())) or 0)


async def domain_count(session: AsyncSession, tenant_id: str) -> int:
    return int(
        await session.scalar(select(func.count()).select_from(Domain).where(Domain.tenant_id == tenant_id, LISTED)) or 0
    )


async def update_after_sync(session: AsyncSession, tenant_id: str, default_domain: str | None) -> None:
    values: dict[str, Any] = {"last_sync_at": now()}
    if default_domain is not None:
        values["default_domain"] = default_domain
    await session.execute(update(Tenant).where(Tenant.id == tenant_id).values(values))


async def remove(session: AsyncSession, tenant_id: str) -> None:
    await session.execute(delete(Tenant).where(Tenant.id == tenant_id))


async def lock(session: AsyncSession, tenant_id: str) -> bool:
    """Take the tenant's row lock for the rest of the transaction (a write: the row's lock on
    PostgreSQL, the database's write lock on SQLite), so adds and syncs of one tenant queue.
    False: the tenant is gone (disconnected meanwhile)."""
    result = await session.execute(
        update(Tenant).where(Tenant.id == tenant_id).values(domain_slots=Tenant.domain_slots + 1)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def needing_exchange_probe(
    session: AsyncSession, modes: tuple[str, ...], checked_before: datetime, limit: int
) -> list[Tenant]:
    """Tenants whose Exchange did not answer as it should, not asked since `checked_before`."""
    query = (
        select(Tenant)
        .where(
            Tenant.mode.in_(modes),
            Tenant.exchange_bootstrap_status != "ready",
            (Tenant.exchange_checked_at.is_(None)) | (Tenant.exchange_checked_at < checked_before),
        )
        .order_by(Tenant.exchange_checked_at.nullsfirst())
        .limit(limit)
    )
    return list((await session.scalars(query)).all())


async def set_exchange_status(session: AsyncSession, tenant: Tenant, status: str) -> bool:
    """Record what Exchange answered; True when this call changed the status (so only one of
    several workers asking at once raises the event)."""
    result = await session.execute(
        update(Tenant)
        .where(Tenant.id == tenant.id, Tenant.exchange_bootstrap_status == tenant.exchange_bootstrap_status)
        .values(exchange_bootstrap_status=status, exchange_checked_at=now())
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount) and status != tenant.exchange_bootstrap_status  # type: ignore[attr-defined]
