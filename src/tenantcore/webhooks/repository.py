"""All SQL about webhooks: endpoints scoped by caller, the fan-out of events into the outbox,
and claiming due deliveries with leases (the reconciler's pattern: `FOR UPDATE SKIP LOCKED` on
PostgreSQL, one write statement under SQLite's lock). Nothing here commits."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from tenantcore.accounts.service import Caller
from tenantcore.db import now
from tenantcore.events.models import Event
from tenantcore.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


async def endpoints_of(session: AsyncSession, caller: Caller) -> list[WebhookEndpoint]:
    query = select(WebhookEndpoint).where(
        WebhookEndpoint.account_id == caller.account_id, WebhookEndpoint.mode == caller.mode
    )
    return list((await session.scalars(query.order_by(WebhookEndpoint.created_at))).all())


# The shapes of the ids this service hands out (`db.new_id`, `outbox.message_id`): anything else
# is no id of ours and never reaches the database (PostgreSQL refuses NUL in text: a 500).
_ENDPOINT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_DELIVERY_ID = re.compile(r"msg_[0-9a-f]{32}")


async def endpoint_for(session: AsyncSession, caller: Caller, endpoint_id: str) -> WebhookEndpoint | None:
    if not _ENDPOINT_ID.fullmatch(endpoint_id):
        return None
    row = await session.get(WebhookEndpoint, endpoint_id)
    if row is None or row.account_id != caller.account_id or row.mode != caller.mode:
        return None
    return row


async def deliveries_of(
    session: AsyncSession, endpoint_id: str, status: str | None, limit: int, before: int | None
) -> list[WebhookDelivery]:
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    if before is not None:
        query = query.where(WebhookDelivery.seq < before)
    return list((await session.scalars(query.order_by(WebhookDelivery.seq.desc()).limit(limit))).all())


async def attempts_of(session: AsyncSession, seqs: Sequence[int]) -> dict[int, list[WebhookAttempt]]:
    rows = await session.scalars(
        select(WebhookAttempt).where(WebhookAttempt.delivery_seq.in_(seqs)).order_by(WebhookAttempt.id)
    )
    found: dict[int, list[WebhookAttempt]] = {}
    for attempt in rows.all():
        found.setdefault(attempt.delivery_seq, []).append(attempt)
    return found


async def delivery_for(session: AsyncSession, endpoint_id: str, delivery_id: str) -> WebhookDelivery | None:
    if not _DELIVERY_ID.fullmatch(delivery_id):
        return None
    return await session.scalar(
        select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.id == delivery_id)
    )


# --- the outbox --------------------------------------------------------------------------------


async def undispatched(session: AsyncSession, batch: int) -> list[Event]:
    """Events not fanned out yet, oldest first, locked against other dispatchers."""
    query = (
        select(Event)
        .where(Event.dispatched.is_(False))
        .order_by(Event.id)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    return list((await session.scalars(query)).all())


async def enabled_endpoints(session: AsyncSession, scopes: set[tuple[str, str]]) -> list[WebhookEndpoint]:
    if not scopes:
        return []
    accounts = {account for account, _ in scopes}
    rows = await session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(True), WebhookEndpoint.account_id.in_(accounts))
    )
    return [e for e in rows.all() if (e.account_id, e.mode) in scopes]


async def mark_dispatched(session: AsyncSession, ids: Sequence[int]) -> None:
    await session.execute(
        update(Event).where(Event.id.in_(ids)).values(dispatched=True).execution_options(synchronize_session=False)
    )


async def claim(
    session: AsyncSession, owner: str, batch: int, lease: float, skip_endpoints: Sequence[str] = ()
) -> list[int]:
    """Lease up to `batch` due deliveries to `owner`: pending, due, not leased, to an enabled
    endpoint (not one of `skip_endpoints`), and the first still pending of their endpoint and
    domain (order per domain: the next waits until the one before is delivered or failed)."""
    at = now()
    earlier = aliased(WebhookDelivery)
    blocked = exists().where(
        earlier.endpoint_id == WebhookDelivery.endpoint_id,
        earlier.order_key == WebhookDelivery.order_key,
        earlier.seq < WebhookDelivery.seq,
        earlier.status == "pending",
    )
    due = (
        select(WebhookDelivery.seq)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(
            WebhookDelivery.status == "pending",
            WebhookDelivery.next_attempt_at <= at,
            or_(WebhookDelivery.lease_until.is_(None), WebhookDelivery.lease_until < at),
            WebhookEndpoint.enabled.is_(True),
            WebhookDelivery.endpoint_id.not_in(skip_endpoints) if skip_endpoints else true(),
            ~blocked,
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.seq)
        .limit(batch)
        .with_for_update(of=WebhookDelivery, skip_locked=True)
    )
    result = await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.seq.in_(due.scalar_subquery()))
        .values(lease_owner=owner, lease_until=at + timedelta(seconds=lease))
        .returning(WebhookDelivery.seq)
        .execution_options(synchronize_session=False)
    )
    return [row[0] for row in result.all()]


async def claimed(
    session: AsyncSession, owner: str, seqs: Sequence[int]
) -> list[tuple[WebhookDelivery, WebhookEndpoint]]:
    rows = await session.execute(
        select(WebhookDelivery, WebhookEndpoint)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.seq.in_(seqs), WebhookDelivery.lease_owner == owner)
        .order_by(WebhookDelivery.seq)
    )
    return [(d, e) for d, e in rows.all()]


def still_ours(owner: str) -> object:
    return and_(WebhookDelivery.lease_owner == owner, WebhookDelivery.lease_until >= now())


async def finish(
    session: AsyncSession, owner: str, seq: int, values: dict[str, object], attempt: WebhookAttempt
) -> bool:
    """Record an attempt's outcome if the lease is still ours (a worker that stalled past its
    lease does not overwrite the one that took over); releases the lease."""
    result = await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.seq == seq, still_ours(owner))
        .values(**values, lease_owner=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )
    session.add(attempt)
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def renew(session: AsyncSession, owner: str, seqs: Sequence[int], lease: float) -> None:
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.seq.in_(seqs), WebhookDelivery.lease_owner == owner)
        .values(lease_until=now() + timedelta(seconds=lease))
        .execution_options(synchronize_session=False)
    )


async def endpoint_failed(session: AsyncSession, endpoint_id: str, at: datetime) -> WebhookEndpoint | None:
    """Note a failure; returns the endpoint (fresh) so the caller can judge how long it fails."""
    await session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.failing_since.is_(None))
        .values(failing_since=at)
        .execution_options(synchronize_session=False)
    )
    return await session.get(WebhookEndpoint, endpoint_id, populate_existing=True)


async def endpoint_succeeded(session: AsyncSession, endpoint_id: str) -> None:
    await session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.failing_since.is_not(None))
        .values(failing_since=None)
        .execution_options(synchronize_session=False)
    )


async def disable(session: AsyncSession, endpoint_id: str, reason: str) -> bool:
    result = await session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.enabled.is_(True))
        .values(enabled=False, disabled_reason=reason[:512])
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
