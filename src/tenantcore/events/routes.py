from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from tenantcore.api.deps import CallerDep, SessionDep
from tenantcore.api.openapi import refusals
from tenantcore.errors import TenantCoreError
from tenantcore.events import repository
from tenantcore.events.service import TYPES
from tenantcore.tenants.service import tenant_guid

router = APIRouter(tags=["events"])


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    tenant_id: str
    domain_name: str
    type: str
    message: str
    data: dict[str, Any]
    created_at: datetime


class EventPage(BaseModel):
    events: list[EventOut]
    count: int
    total: int
    limit: int
    offset: int
    has_more: bool
    filters: dict[str, str | None]


@router.get("/v1/events", response_model=EventPage, openapi_extra=refusals("invalid_tenant_id", "invalid_event_type"))
async def list_events(
    caller: CallerDep,
    session: SessionDep,
    # Strings in the document's terms (a GUID, one of TYPES) but checked here, so a bad one gets
    # its own code (invalid_tenant_id, invalid_event_type) rather than invalid_request.
    tenant_id: Annotated[
        str | None, Query(description="Only this Microsoft tenant", json_schema_extra={"format": "uuid"})
    ] = None,
    type: Annotated[str | None, Query(description="An event type", json_schema_extra={"enum": list(TYPES)})] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    starting_after: Annotated[
        int | None, Query(ge=1, description="The last event id of the previous page (a cursor; offset stays 0)")
    ] = None,
) -> EventPage:
    """What happened to the caller's domains, newest first (DNS changes, degradations,
    recoveries, verification, DKIM, failed follow-ups)."""
    if tenant_id is not None:
        tenant_id = tenant_guid(tenant_id, "tenant_id must be a tenant GUID.")
    if type is not None and type not in TYPES:
        raise TenantCoreError(400, "invalid_event_type", f"type must be one of {', '.join(TYPES)}.")
    rows, total = await repository.page(session, caller, tenant_id, type, limit + 1, offset, starting_after)
    events = [EventOut.model_validate(e) for e in rows[:limit]]
    return EventPage(
        events=events,
        count=len(events),
        total=total,
        limit=limit,
        offset=offset,
        has_more=len(rows) > limit,
        filters={"tenant_id": tenant_id, "type": type},
    )
