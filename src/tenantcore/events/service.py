"""Recording what happened to domains, for the events API and (later) webhooks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tenantcore.accounts.service import Caller
from tenantcore.events import repository
from tenantcore.events.models import Event
from tenantcore.runtime import Runtime

TYPES = (
    "domain.dns_changed",
    "domain.degraded",
    "domain.recovered",
    "domain.blocklisted",  # a domain blocklist lists the domain (data: blocklist, codes, reasons, listed_name)
    "domain.delisted",  # a list that listed it answers clean again (data: blocklist)
    "domain.verified",
    "domain.dkim_enabled",
    "domain.followup_failed",
    "domain.dns_applied",  # records written at the DNS provider (data: written, conflicts)
    "domain.dns_apply_failed",  # the provider refused a record set (data: record, code)
    "domain.dns_drift",  # records changed at the provider since applied (data: changes, repaired)
    "webhook.endpoint_disabled",  # account events have neither tenant nor domain ("")
    "tenant.exchange_ready",  # tenant events have no domain_name ("")
    "tenant.exchange_unavailable",
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
    if type_ not in TYPES:  # a programming error, kept under `python -O` too
        raise ValueError(f"unknown event type {type_!r}")
    return Event(
        account_id=account_id,
        mode=mode,
        tenant_id=tenant_id,
        domain_name=domain_name,
        type=type_,
        message=message[:1024],
        data=data or {},
    )


async def recent(
    runtime: Runtime, caller: Caller, limit: int, tenant_id: str | None = None, domain_name: str | None = None
) -> list[Event]:
    """The newest events of the caller's domains (of one domain when named)."""
    async with runtime.sessions() as session:
        return await repository.recent(session, caller, limit, tenant_id, domain_name)


async def window(
    runtime: Runtime,
    caller: Caller,
    limit: int,
    *,
    tenant_id: str | None = None,
    type_: str | None = None,
    domain_name: str | None = None,
    exclude_types: Sequence[str] = (),
    starting_after: int | None = None,
    ending_before: int | None = None,
) -> list[Event]:
    """Up to `limit` of the caller's events matching the filters, newest first, around a cursor
    (an event id: older than `starting_after` or newer than `ending_before`)."""
    query = repository.filtered(caller, tenant_id, type_, domain_name, exclude_types)
    async with runtime.sessions() as session:
        return await repository.window(session, query, limit, starting_after, ending_before)
