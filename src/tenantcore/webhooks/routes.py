from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from tenantcore.api.deps import CallerDep, RuntimeDep
from tenantcore.api.openapi import refusals
from tenantcore.webhooks import service
from tenantcore.webhooks.schemas import (
    CreateWebhook,
    DeliveryList,
    Queued,
    RotateSecret,
    SecretRotated,
    UpdateWebhook,
    WebhookCreated,
    WebhookList,
    WebhookOut,
)

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


@router.post(
    "",
    response_model=WebhookCreated,
    status_code=201,
    openapi_extra=refusals("webhook_url_not_allowed", "invalid_event_type", "webhook_limit_reached"),
)
async def create(runtime: RuntimeDep, caller: CallerDep, body: CreateWebhook) -> WebhookCreated:
    """Add an endpoint. The signing secret (whsec_…) is in this answer only: store it."""
    return await service.create(runtime, caller, body)


@router.get("", response_model=WebhookList)
async def listing(runtime: RuntimeDep, caller: CallerDep) -> WebhookList:
    return await service.listing(runtime, caller)


@router.get("/{endpoint_id}", response_model=WebhookOut, openapi_extra=refusals("webhook_not_found"))
async def read(runtime: RuntimeDep, caller: CallerDep, endpoint_id: str) -> WebhookOut:
    return await service.read(runtime, caller, endpoint_id)


@router.patch(
    "/{endpoint_id}",
    response_model=WebhookOut,
    openapi_extra=refusals("webhook_not_found", "webhook_url_not_allowed", "invalid_event_type"),
)
async def update(runtime: RuntimeDep, caller: CallerDep, endpoint_id: str, body: UpdateWebhook) -> WebhookOut:
    """Change the URL, the event types or the description; enable or disable."""
    return await service.update(runtime, caller, endpoint_id, body)


@router.delete("/{endpoint_id}", status_code=204, openapi_extra=refusals("webhook_not_found"))
async def delete(runtime: RuntimeDep, caller: CallerDep, endpoint_id: str) -> Response:
    await service.delete(runtime, caller, endpoint_id)
    return Response(status_code=204)


@router.post(
    "/{endpoint_id}/rotate-secret",
    response_model=SecretRotated,
    openapi_extra=refusals("webhook_not_found", "webhook_secret_limit_reached"),
)
async def rotate(
    runtime: RuntimeDep, caller: CallerDep, endpoint_id: str, body: RotateSecret | None = None
) -> SecretRotated:
    """A new signing secret; the old one keeps signing beside it for `overlap_seconds` (24 h),
    as do secrets replaced before whose overlap still runs (at most 5 beside the current one)."""
    return await service.rotate(runtime, caller, endpoint_id, body or RotateSecret())


@router.post("/{endpoint_id}/test", response_model=Queued, status_code=202, openapi_extra=refusals("webhook_not_found"))
async def test(runtime: RuntimeDep, caller: CallerDep, endpoint_id: str) -> Queued:
    """Queue a `webhook.test` delivery."""
    return await service.send_test(runtime, caller, endpoint_id)


@router.get("/{endpoint_id}/deliveries", response_model=DeliveryList, openapi_extra=refusals("webhook_not_found"))
async def deliveries(
    runtime: RuntimeDep,
    caller: CallerDep,
    endpoint_id: str,
    status: Annotated[Literal["pending", "delivered", "failed"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="next_before of the previous page")
    ] = None,  # bounded: the delivery number is a 64-bit integer in the database
) -> DeliveryList:
    """The delivery log, newest first: attempts, status codes, latency, the next retry."""
    return await service.deliveries(runtime, caller, endpoint_id, status, limit, before)


@router.post(
    "/{endpoint_id}/deliveries/{delivery_id}/redeliver",
    response_model=Queued,
    status_code=202,
    openapi_extra=refusals("webhook_not_found", "delivery_not_found", "delivery_in_flight"),
)
async def redeliver(runtime: RuntimeDep, caller: CallerDep, endpoint_id: str, delivery_id: str) -> Queued:
    return await service.redeliver(runtime, caller, endpoint_id, delivery_id)
