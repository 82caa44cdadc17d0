"""What a caller can do with webhook endpoints: create (the signing secret shown once), list,
change, delete, rotate the secret with an overlap, send a test, read the delivery log and
redeliver. Sending itself is the worker's (`outbox.py`)."""

from __future__ import annotations

from datetime import timedelta

from tenantcore import netguard
from tenantcore.accounts.service import Caller
from tenantcore.db import now
from tenantcore.errors import TenantCoreError
from tenantcore.events.service import TYPES
from tenantcore.runtime import Runtime
from tenantcore.webhooks import credentials, outbox, repository, signing, targets
from tenantcore.webhooks.models import WebhookDelivery, WebhookEndpoint
from tenantcore.webhooks.schemas import (
    AttemptOut,
    CreateWebhook,
    DeliveryList,
    DeliveryOut,
    Queued,
    RotateSecret,
    SecretRotated,
    UpdateWebhook,
    WebhookCreated,
    WebhookList,
    WebhookOut,
)

ENDPOINT_LIMIT = 20  # per account and mode


def _types(types: list[str]) -> list[str]:
    unknown = sorted(set(types) - set(TYPES))
    if unknown:
        raise TenantCoreError(
            400, "invalid_event_type", f"Unknown event type(s) {', '.join(unknown)}; known: {', '.join(TYPES)}."
        )
    return sorted(set(types))


def _rule(runtime: Runtime, caller: Caller) -> netguard.Policy:
    return targets.policy(runtime.settings, caller.mode)


def _out(row: WebhookEndpoint) -> WebhookOut:
    until = credentials.last_until(row.previous_secrets, now())
    return WebhookOut(
        id=row.id,
        url=row.url,
        description=row.description,
        event_types=list(row.event_types or []),
        enabled=row.enabled,
        disabled_reason=row.disabled_reason,
        failing_since=row.failing_since,
        previous_secret_until=until,
        created_at=row.created_at,
    )


async def create(runtime: Runtime, caller: Caller, body: CreateWebhook) -> WebhookCreated:
    await targets.accepted(body.url, _rule(runtime, caller))
    secret = signing.new_secret()
    row = WebhookEndpoint(
        account_id=caller.account_id,
        mode=caller.mode,
        url=body.url,
        description=body.description,
        event_types=_types(body.event_types),
        enabled=body.enabled,
        secret=credentials.seal(runtime.secret, secret),
    )
    async with runtime.transaction() as session:
        if len(await repository.endpoints_of(session, caller)) >= ENDPOINT_LIMIT:
            raise TenantCoreError(400, "webhook_limit_reached", f"An account has at most {ENDPOINT_LIMIT} endpoints.")
        session.add(row)
    return WebhookCreated(**_out(row).model_dump(), secret=secret)


async def _endpoint(runtime: Runtime, caller: Caller, endpoint_id: str) -> WebhookEndpoint:
    async with runtime.sessions() as session:
        row = await repository.endpoint_for(session, caller, endpoint_id)
    if row is None:
        raise TenantCoreError(404, "webhook_not_found", f"No webhook endpoint {endpoint_id}.")
    return row


async def listing(runtime: Runtime, caller: Caller) -> WebhookList:
    async with runtime.sessions() as session:
        rows = await repository.endpoints_of(session, caller)
    return WebhookList(webhooks=[_out(r) for r in rows], count=len(rows))


async def read(runtime: Runtime, caller: Caller, endpoint_id: str) -> WebhookOut:
    return _out(await _endpoint(runtime, caller, endpoint_id))


async def update(runtime: Runtime, caller: Caller, endpoint_id: str, body: UpdateWebhook) -> WebhookOut:
    await _endpoint(runtime, caller, endpoint_id)
    if body.url is not None:
        await targets.accepted(body.url, _rule(runtime, caller))
    types = _types(body.event_types) if body.event_types is not None else None
    async with runtime.transaction() as session:
        row = await repository.endpoint_for(session, caller, endpoint_id)
        if row is None:
            raise TenantCoreError(404, "webhook_not_found", f"No webhook endpoint {endpoint_id}.")
        if body.url is not None:
            row.url = body.url
        if types is not None:
            row.event_types = types
        if body.description is not None:
            row.description = body.description
        if body.enabled is not None:
            row.enabled = body.enabled
            if body.enabled:  # a fresh start: the failure clock and the reason go
                row.disabled_reason, row.failing_since = None, None
    return _out(row)


async def delete(runtime: Runtime, caller: Caller, endpoint_id: str) -> None:
    async with runtime.transaction() as session:
        row = await repository.endpoint_for(session, caller, endpoint_id)
        if row is None:
            raise TenantCoreError(404, "webhook_not_found", f"No webhook endpoint {endpoint_id}.")
        await session.delete(row)


async def rotate(runtime: Runtime, caller: Caller, endpoint_id: str, body: RotateSecret) -> SecretRotated:
    """A new secret signs from now on; the current one keeps signing beside it for
    `overlap_seconds`, so receivers can switch without losing a delivery. Secrets replaced
    earlier whose overlap still runs keep signing until it ends (`credentials`)."""
    secret = signing.new_secret()
    at = now()
    async with runtime.transaction() as session:
        row = await repository.endpoint_for(session, caller, endpoint_id)
        if row is None:
            raise TenantCoreError(404, "webhook_not_found", f"No webhook endpoint {endpoint_id}.")
        kept = credentials.still_signing(row.previous_secrets, at)
        if body.overlap_seconds:
            kept.insert(0, credentials.previous(row.secret, at + timedelta(seconds=body.overlap_seconds)))
        if len(kept) > credentials.MAX_PREVIOUS:
            soonest = min(credentials.until(p) for p in kept)
            raise TenantCoreError(  # 409: the request is fine, the endpoint's state refuses it for now
                409,
                "webhook_secret_limit_reached",
                f"{credentials.MAX_PREVIOUS} replaced secrets still sign beside the current one; the first "
                f"overlap ends at {soonest.isoformat()}. Rotate again then, or with overlap_seconds 0.",
            )
        row.previous_secrets = kept  # a new list: the JSON column is written again
        row.secret = credentials.seal(runtime.secret, secret)
    return SecretRotated(secret=secret, previous_secret_until=credentials.last_until(kept, at))


async def send_test(runtime: Runtime, caller: Caller, endpoint_id: str) -> Queued:
    row = await _endpoint(runtime, caller, endpoint_id)
    at = now()
    payload = {
        "type": "webhook.test",
        "timestamp": at.isoformat().replace("+00:00", "Z"),
        "data": {"endpoint_id": row.id, "message": "A test event from TenantCore: your endpoint receives webhooks."},
    }
    queued = outbox.delivery(row.id, "webhook.test", f"test/{row.id}", payload, None)
    async with runtime.transaction() as session:
        session.add(queued)
    return Queued(status="queued", delivery_id=queued.id)


def _delivery(row: WebhookDelivery, attempts: list[AttemptOut]) -> DeliveryOut:
    return DeliveryOut(
        id=row.id,
        event_type=row.event_type,
        event_id=row.event_id,
        status=row.status,  # type: ignore[arg-type]
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at if row.status == "pending" else None,
        last_status=row.last_status,
        last_error=row.last_error,
        last_latency_ms=row.last_latency_ms,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
        payload=row.payload,
        attempt_log=attempts,
    )


async def deliveries(
    runtime: Runtime, caller: Caller, endpoint_id: str, status: str | None, limit: int, before: int | None
) -> DeliveryList:
    await _endpoint(runtime, caller, endpoint_id)
    async with runtime.sessions() as session:
        rows = await repository.deliveries_of(session, endpoint_id, status, limit, before)
        log = await repository.attempts_of(session, [r.seq for r in rows])
    items = [
        _delivery(r, [AttemptOut.model_validate(a, from_attributes=True) for a in log.get(r.seq, [])]) for r in rows
    ]
    more = rows[-1].seq if len(rows) == limit else None
    return DeliveryList(deliveries=items, count=len(items), next_before=more)


async def redeliver(runtime: Runtime, caller: Caller, endpoint_id: str, delivery_id: str) -> Queued:
    """Send a delivery again (same webhook-id: a receiver that has it already can skip it)."""
    await _endpoint(runtime, caller, endpoint_id)
    async with runtime.transaction() as session:
        row = await repository.delivery_for(session, endpoint_id, delivery_id)
        if row is None:
            raise TenantCoreError(404, "delivery_not_found", f"No delivery {delivery_id} for this endpoint.")
        if row.lease_until is not None and row.lease_until >= now():
            raise TenantCoreError(
                409, "delivery_in_flight", "This delivery is being sent right now; look again shortly."
            )
        # A new round: sent at once, retried from the first backoff, with a retry window from
        # now. The log keeps its history: created_at and the attempt count stay.
        at = now()
        row.status, row.next_attempt_at, row.retry_since, row.retry_attempts = "pending", at, at, 0
    return Queued(status="queued", delivery_id=delivery_id)
