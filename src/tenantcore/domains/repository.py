"""All SQL about domains. Reads on behalf of a caller start from `readable(caller)`, the one
place that scopes them to the caller's account and mode. Nothing here commits."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Row, Select, bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenantcore.accounts.models import ApiKey
from tenantcore.accounts.service import Caller
from tenantcore.db import now
from tenantcore.domains import progress
from tenantcore.domains.health import CHECK_COLUMNS
from tenantcore.domains.models import Domain
from tenantcore.domains.states import LISTED as LISTED_STATES
from tenantcore.domains.states import DomainState
from tenantcore.tenants.models import Tenant

# What a version-checked save writes: everything a transition or a check may change. The
# identity columns never change, and the lease columns belong to the worker's claims.
WRITABLE = (
    "state",
    "is_default",
    "is_verified",
    "dkim_enabled",
    "verification_records",
    "service_records",
    "dkim_config",
    "records_read_at",
    "followup_failures",
    "followup_after",
    "followup_evidence",
    "dns_provider_id",
    "dns_zone",
    "auto_repair",
    "dns_owned",
    "dns_applied",
    *CHECK_COLUMNS,
)


def readable(caller: Caller) -> Select[tuple[Domain]]:
    """Domains the caller may see: their account's, in their key's mode, past reservation."""
    return select(Domain).where(
        Domain.account_id == caller.account_id, Domain.mode == caller.mode, Domain.state.in_(LISTED_STATES)
    )


async def for_tenant(session: AsyncSession, tenant_id: str, everything: bool = False) -> list[Domain]:
    """The tenant's listed domains (`everything`: reservations and deletes in progress too)."""
    query = select(Domain).where(Domain.tenant_id == tenant_id)
    if not everything:
        query = query.where(Domain.state.in_(LISTED_STATES))
    return list((await session.scalars(query.order_by(Domain.name))).all())


LISTED = (
    Domain.id,
    Domain.name.label("domain_name"),
    Domain.is_default,
    Domain.is_verified,
    Domain.spf_status,
    Domain.dkim_status,
    Domain.dmarc_status,
    Domain.mx_status,
    Domain.last_checked,
    Domain.blocklist_status,  # ours, beside the spec's fields
)


_LISTING = (
    select(*LISTED)
    .select_from(Tenant)
    .outerjoin(Domain, (Domain.tenant_id == Tenant.id) & Domain.state.in_(LISTED_STATES))
    .where(
        Tenant.account_id == bindparam("account_id"),
        Tenant.mode == bindparam("mode"),
        Tenant.ms_tenant_id == bindparam("ms_tenant_id"),
    )
    .order_by(Domain.name)
)


# The same list, authenticated in the same statement (the fast path in `domains/listing.py`):
# no row = no such live key; a row with a NULL tenant = no such tenant for that key.
KEYED_LISTING = (
    select(ApiKey.account_id, Tenant.id.label("tenant_row"), *LISTED)
    .select_from(ApiKey)
    .outerjoin(
        Tenant,
        (Tenant.account_id == ApiKey.account_id)
        & (Tenant.mode == ApiKey.mode)
        & (Tenant.ms_tenant_id == bindparam("ms_tenant_id")),
    )
    .outerjoin(Domain, (Domain.tenant_id == Tenant.id) & Domain.state.in_(LISTED_STATES))
    .where(ApiKey.key_hmac == bindparam("key_hmac"), ApiKey.revoked_at.is_(None))
    .order_by(Domain.name)
)


async def listing(session: AsyncSession, caller: Caller, ms_tenant_id: str) -> list[Row[Any]] | None:
    """The tenant's domains for the list endpoint in one prebuilt query, only the listed columns
    (no ORM objects, no JSON decoding: this is the API's hottest read). None: no such tenant.
    A tenant without domains gives one row of NULLs. (Prebuilt, so scoped here by hand with
    the same three conditions `readable` applies.)"""
    params = {"account_id": caller.account_id, "mode": caller.mode, "ms_tenant_id": ms_tenant_id}
    return list((await session.execute(_LISTING, params)).all()) or None


async def get(session: AsyncSession, tenant_id: str, name: str) -> Domain | None:
    """Any row of that name on the tenant, reservations included (for adds and sync)."""
    return await session.scalar(select(Domain).where(Domain.tenant_id == tenant_id, Domain.name == name))


async def get_readable(session: AsyncSession, caller: Caller, tenant_id: str, name: str) -> Domain | None:
    return await session.scalar(readable(caller).where(Domain.tenant_id == tenant_id, Domain.name == name))


async def get_by_id(session: AsyncSession, domain_id: str) -> Domain | None:
    return await session.scalar(select(Domain).where(Domain.id == domain_id).execution_options(populate_existing=True))


async def count(session: AsyncSession, tenant_id: str) -> int:
    """Every domain of the tenant, reservations in progress included (they hold a slot)."""
    return int(await session.scalar(select(func.count()).select_from(Domain).where(Domain.tenant_id == tenant_id)) or 0)


async def managed_elsewhere(session: AsyncSession, caller: Caller, name: str) -> bool:
    found = await session.scalar(
        select(Domain.id)
        .where(Domain.name == name, Domain.mode == caller.mode, Domain.account_id != caller.account_id)
        .limit(1)
    )
    return found is not None


async def save(session: AsyncSession, domain: Domain) -> bool:
    """Write the domain's changeable columns if its row is still at the version it was read
    at, and bump the version. False: someone else wrote it since, or it was deleted. `domain`
    must be detached (loaded by another session, or expunged): an attached object would be
    autoflushed without the version condition."""
    progress.refresh(domain)
    values = {name: getattr(domain, name) for name in WRITABLE}
    result = await session.execute(
        update(Domain)
        .where(Domain.id == domain.id, Domain.version == domain.version)
        .values(values | {"version": domain.version + 1, "updated_at": now()})
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    domain.version += 1
    return True


async def exists(session: AsyncSession, domain_id: str) -> bool:
    return await session.scalar(select(Domain.id).where(Domain.id == domain_id)) is not None


async def release(session: AsyncSession, domain: Domain) -> bool:
    """Drop a reservation that never became a domain, unless it moved on meanwhile."""
    result = await session.execute(
        delete(Domain).where(
            Domain.id == domain.id, Domain.version == domain.version, Domain.state == DomainState.PENDING
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def remove_unchanged(session: AsyncSession, domain: Domain) -> bool:
    """Delete the domain's row unless it was written since it was read."""
    result = await session.execute(delete(Domain).where(Domain.id == domain.id, Domain.version == domain.version))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def hold(session: AsyncSession, domain_id: str, owner: str, seconds: float) -> bool:
    """Lease the row to an add in progress (the reconciler and other adds keep off it); False
    when someone else holds it."""
    at = now()
    result = await session.execute(
        update(Domain)
        .where(Domain.id == domain_id, or_(Domain.lease_until.is_(None), Domain.lease_until < at))
        .values(lease_owner=owner, lease_until=at + timedelta(seconds=seconds))
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def let_go(session: AsyncSession, domain_id: str, owner: str) -> None:
    await session.execute(
        update(Domain)
        .where(Domain.id == domain_id, Domain.lease_owner == owner)
        .values(lease_owner=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )


async def delete_for_tenant(session: AsyncSession, tenant_id: str) -> None:
    await session.execute(delete(Domain).where(Domain.tenant_id == tenant_id))


async def remove(session: AsyncSession, domain_id: str) -> None:
    await session.execute(delete(Domain).where(Domain.id == domain_id))


async def resume_followups(session: AsyncSession, tenant_id: str) -> None:
    """New evidence for the tenant (Exchange answers now): its waiting follow-ups run at once."""
    await session.execute(
        update(Domain)
        .where(Domain.tenant_id == tenant_id, Domain.dkim_enabled.is_(False), Domain.followup_after.is_not(None))
        .values(followup_after=None, followup_failures=0, next_check_at=now(), version=Domain.version + 1)
        .execution_options(synchronize_session=False)
    )
