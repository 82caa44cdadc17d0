"""The queue depths `/metrics` reads from the database at scrape time: three short reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenantcore.domains.models import Domain
from tenantcore.domains.states import LISTED
from tenantcore.webhooks.models import WebhookDelivery


@dataclass(frozen=True)
class Due:
    count: int
    oldest: datetime  # when the longest-waiting due check was due


@dataclass(frozen=True)
class Queues:
    due: dict[str, Due] = field(default_factory=dict)  # by mode (live, test); absent: none due
    domains: dict[str, int] = field(default_factory=dict)  # by state
    outbox_pending: int = 0


async def queues(session: AsyncSession, at: datetime) -> Queues:
    # The reconciler's own claim condition (less the lease), so "due" means what it will take:
    # a range over the next_check_at index, as long as the backlog and no longer.
    due = await session.execute(
        select(Domain.mode, func.count(), func.min(Domain.next_check_at))
        .where(Domain.state.in_(LISTED), Domain.next_check_at <= at)
        .group_by(Domain.mode)
    )
    # Every domain by state (pending, added and verified are onboarding in progress): one scan of
    # the domains table, no index; milliseconds at 100k domains, and a scrape is every 15 s or so.
    states = await session.execute(select(Domain.state, func.count()).group_by(Domain.state))
    pending = await session.scalar(
        select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.status == "pending")
    )
    return Queues(
        due={mode: Due(count, oldest) for mode, count, oldest in due.all()},
        domains={str(state): count for state, count in states.all()},
        outbox_pending=pending or 0,
    )
