"""Recording what happened to domains, for the events API and (later) webhooks."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tenantcore.events.models import Event

TYPES = (
    "domain.dns_changed",
    "domain.degraded",
    "domain.recovered",
    "domain.verified",
    "domain.dkim_enabled",
    "domain.followup_failed",
)


def event(
    account_id: str,
    mode: str,
    tenant_id: str,
    domain_name: str,
    type_: str,
    message: str,
    data: dict[str, Any] | None = None,
) -> Event:
    assert type_ in TYPES, type_
    return Event(
        account_id=account_id,
        mode=mode,
        tenant_id=tenant_id,
        domain_name=domain_name,
        type=type_,
        message=message[:1024],
        data=data or {},
    )


def emit(session: AsyncSession, *events: Event) -> None:
    session.add_all(events)
