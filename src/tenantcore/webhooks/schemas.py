from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, WithJsonSchema

from tenantcore.api.text import is_one_line
from tenantcore.events.service import TYPES


def _one_line(value: str | None) -> str | None:
    # A description is one line, shown in the app and the API, as tenant names are.
    if value is not None and not is_one_line(value):
        raise ValueError("must be one line: no control characters (line breaks, tabs, NUL, ...)")
    return value


Description = Annotated[str, AfterValidator(_one_line)]

# One of TYPES in the document; checked by the service, so an unknown one is a 400
# `invalid_event_type` that names the known types (not a generic validation error).
EventType = Annotated[str, WithJsonSchema({"type": "string", "enum": list(TYPES)})]


class CreateWebhook(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"url": "https://ops.example.com/hooks/tenantcore", "event_types": ["domain.degraded"]}]
        },
    )

    url: str = Field(max_length=2048, description="http(s) URL that receives POSTs (redirects are not followed).")
    event_types: list[EventType] = Field(default_factory=list, description="Types to send; empty: every type.")
    description: Description = Field("", max_length=256)
    enabled: StrictBool = True


class UpdateWebhook(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(None, max_length=2048)
    event_types: list[EventType] | None = None
    description: Description | None = Field(None, max_length=256)
    enabled: StrictBool | None = Field(None, description="true re-enables an endpoint that was disabled.")


class RotateSecret(BaseModel):
    model_config = ConfigDict(extra="forbid")

    overlap_seconds: int = Field(
        86400,
        ge=0,
        le=7 * 86400,
        description="How long the replaced secret keeps signing beside the new one (0: it stops at once).",
    )


class WebhookOut(BaseModel):
    id: str
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    previous_secret_until: datetime | None = Field(
        description="Until when replaced secrets still sign beside the current one (the last overlap's end)."
    )
    created_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="whsec_…: shown once, now. Receivers verify signatures with it.")


class WebhookList(BaseModel):
    webhooks: list[WebhookOut]
    count: int


class SecretRotated(BaseModel):
    secret: str = Field(description="The new whsec_… secret, shown once.")
    previous_secret_until: datetime | None = Field(
        description="Until when replaced secrets still sign beside the current one (the last overlap's end)."
    )


class AttemptOut(BaseModel):
    attempted_at: datetime
    status_code: int | None
    latency_ms: int
    error: str | None


class DeliveryOut(BaseModel):
    id: str = Field(description="The webhook-id header: receivers deduplicate on it.")
    event_type: str
    event_id: int | None
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    last_latency_ms: int | None
    created_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any]
    attempt_log: list[AttemptOut]


class DeliveryList(BaseModel):
    deliveries: list[DeliveryOut]
    count: int
    next_before: int | None = Field(None, description="Pass as `before` for the next (older) page.")


class Queued(BaseModel):
    status: Literal["queued"]
    delivery_id: str
