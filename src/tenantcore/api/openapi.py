"""The OpenAPI document as the API really answers: every error status an operation can give,
each with the error body `Error` and the codes it may carry, the bearer security scheme, and
no 422 where validation errors are in fact 400 `invalid_request`.

A route names its own refusals with `openapi_extra=refusals("code", …)`; the answers that
come from the layers every request passes through (authentication, rate limits, request
validation, body limits, `Idempotency-Key`, the tenant and domain in the path) are added here,
once, from what the operation takes. The schemathesis run in tests/fuzz holds the document to
what is sent."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field

# Every code the API answers with, and its status. A route's `refusals(...)` must use these;
# the README's list of codes is this table.
STATUS_OF: dict[str, int] = {
    # request shape
    "invalid_request": 400,
    "invalid_json": 400,
    "payload_too_large": 413,
    "invalid_idempotency_key": 400,
    "idempotency_key_in_use": 409,
    "idempotency_key_reused": 422,
    # authentication and rate limits
    "invalid_auth_header": 401,
    "missing_api_key": 401,
    "invalid_api_key": 401,
    "invalid_metrics_token": 401,  # /metrics (not in the document: a scrape target, not the API)
    "database_unavailable": 503,  # any operation: the database refused a connection
    "rate_limited": 429,
    # tenants
    "invalid_tenant_id": 400,
    "tenant_id_required": 400,
    "invalid_cursor": 400,
    "invalid_consent_state": 400,
    "consent_declined": 400,
    "tenant_limit_reached": 402,
    "tenant_not_found": 404,
    "tenant_already_connected": 409,
    "tenant_connected_to_another_account": 409,
    # domains
    "invalid_domain": 400,
    "domain_limit_reached": 400,
    "verification_failed": 400,
    "dkim_not_ready": 400,
    "invalid_days": 400,
    "domain_not_found": 404,
    "domain_already_exists": 409,
    "domain_managed_by_another_account": 409,
    "domain_in_use": 409,
    "domain_has_references": 409,
    "domain_busy": 409,
    # DNS providers
    "zone_required": 400,
    "invalid_zone": 400,
    "no_dns_provider": 400,
    "sandbox_provider_test_only": 400,
    "dns_provider_auth_failed": 400,
    "dns_provider_unreachable": 400,
    "dns_provider_refused": 400,
    "dns_provider_config_invalid": 400,
    "dns_zone_not_found": 400,
    "dns_provider_zone_not_found": 400,
    "dns_provider_not_found": 404,
    "dns_provider_exists": 409,
    "dns_provider_error": 502,
    # the server's secret changed since the credentials were sealed: the operator must act
    "dns_provider_credentials_unreadable": 500,
    # webhooks and events
    "webhook_url_not_allowed": 400,
    "invalid_event_type": 400,
    "webhook_limit_reached": 400,
    "webhook_secret_limit_reached": 409,
    "webhook_not_found": 404,
    "delivery_not_found": 404,
    "delivery_in_flight": 409,
    # Microsoft and the server's set-up
    "consent_required": 502,
    "insufficient_privileges": 502,
    "exchange_access_denied": 502,
    "microsoft_unauthorized": 502,
    "microsoft_tenant_not_found": 502,
    "microsoft_error": 502,
    "microsoft_unavailable": 503,
    "microsoft_throttled": 503,
    "microsoft_not_configured": 503,
    "sandbox_disabled": 503,
}

# What any call that reaches Microsoft (or the sandbox standing in for it) may answer.
MICROSOFT = (
    "consent_required",
    "insufficient_privileges",
    "exchange_access_denied",
    "microsoft_unauthorized",
    "microsoft_tenant_not_found",
    "microsoft_error",
    "microsoft_unavailable",
    "microsoft_throttled",
    "microsoft_not_configured",
    "sandbox_disabled",
)
# What a DNS provider's refusal is called (a provider's reason is in the message).
DNS_PROVIDER = (
    "dns_provider_auth_failed",
    "dns_provider_unreachable",
    "dns_provider_refused",
    "dns_provider_config_invalid",
    "dns_zone_not_found",
    "dns_provider_credentials_unreadable",
)

AUTH = ("invalid_auth_header", "missing_api_key", "invalid_api_key", "rate_limited")
IDEMPOTENCY = ("invalid_idempotency_key", "idempotency_key_in_use", "idempotency_key_reused")
NOT_IDEMPOTENT = frozenset({"/v1/api-key/rotate"})  # kept in step with idempotency.middleware.NOT_REPLAYED
SCHEME = "ApiKey"
_STATUS_TEXT = {
    400: "Bad request",
    401: "Not authenticated",
    402: "Plan limit reached",
    404: "Not found",
    409: "Conflict",
    413: "Body too large",
    422: "Idempotency-Key reused",
    429: "Rate limited (see Retry-After)",
    500: "The server cannot read what it stored",
    502: "Microsoft or the DNS provider refused",
    503: "Microsoft or the database unavailable, or Microsoft not configured (see Retry-After)",
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 1},
        "required": False,
    }
}


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable, for programs: e.g. `tenant_not_found`.", examples=["tenant_not_found"])
    message: str = Field(description="For people.")


class Error(BaseModel):
    """Every error the API answers, whatever its status."""

    detail: ErrorDetail


def refusals(*codes: str, **elsewhere: int) -> dict[str, Any]:
    """`openapi_extra` for a route: the codes it answers beside the ones every request may get.
    `elsewhere` gives a code answered with another status than its usual one on this route
    (connecting a tenant whose admin has not consented is a 400 `consent_required`)."""
    unknown = [c for c in (*codes, *elsewhere) if c not in STATUS_OF]
    if unknown:
        raise ValueError(f"unknown error codes {unknown}: add them to STATUS_OF")
    return {"x-error-codes": [[c, STATUS_OF[c]] for c in codes] + [[c, s] for c, s in elsewhere.items()]}


def _codes_for(path: str, method: str, operation: dict[str, Any]) -> list[tuple[str, int]]:
    declared = [(c, s) for c, s in operation.pop("x-error-codes", [])]
    codes: list[str] = ["database_unavailable"] if path.startswith("/v1/") else []
    if operation.get("security"):
        codes += AUTH
    names = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "path"}
    if operation.get("parameters") or "requestBody" in operation:
        codes.append("invalid_request")
    if "requestBody" in operation:
        codes += ("invalid_json", "payload_too_large")
    if method == "post" and path.startswith("/v1/") and path not in NOT_IDEMPOTENT:
        codes += IDEMPOTENCY
    if "tenant_id" in names:
        codes += ("invalid_tenant_id", "tenant_not_found")
    if "domain_name" in names:
        codes += ("invalid_domain", "domain_not_found")
    return list(dict.fromkeys([*declared, *((c, STATUS_OF[c]) for c in codes)]))


def _idempotency_header() -> dict[str, Any]:
    return {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "Any 1 to 255 visible ASCII characters. The same key with the same request gives the "
        "first answer again (`Idempotent-Replayed: true`); with another request, 422 `idempotency_key_reused`.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x21-\\x7e]+$"},
    }


def document(app: FastAPI) -> dict[str, Any]:
    """The document FastAPI builds, with the error answers made true (see the module's doc)."""
    spec = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes, tags=app.openapi_tags
    )
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["ErrorDetail"] = ErrorDetail.model_json_schema()
    schemas["Error"] = Error.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas["Error"].pop("$defs", None)
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)  # FastAPI's default: validation errors are 400 here
            codes = _codes_for(path, method, operation)
            if method == "post" and path.startswith("/v1/") and path not in NOT_IDEMPOTENT:
                operation.setdefault("parameters", []).append(_idempotency_header())
            by_status: dict[int, list[str]] = {}
            for code, status in codes:
                by_status.setdefault(status, []).append(code)
            for status, listed in sorted(by_status.items()):
                answer: dict[str, Any] = {
                    "description": f"{_STATUS_TEXT.get(status, 'Error')}: " + ", ".join(f"`{c}`" for c in listed),
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                }
                if status in (429, 503):
                    answer["headers"] = _RETRY_AFTER
                responses[str(status)] = answer
    return spec


_ORDER = ("GET", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The methods the documented resource at `path` takes, for `Allow` (Starlette's own 405
    names only the one route it tried). The first path template matching it is the resource,
    as the router picks it (`/v1/tenants/connect` comes before `/v1/tenants/{tenant_id}`).
    Empty for paths the document does not hold."""
    for pattern, methods in _templates(app):
        if pattern.fullmatch(path):
            return methods
    return []


def _templates(app: FastAPI) -> list[tuple[re.Pattern[str], list[str]]]:
    cached: list[tuple[re.Pattern[str], list[str]]] | None = getattr(app.state, "openapi_templates", None)
    if cached is None:
        cached = []
        for template, item in app.openapi().get("paths", {}).items():
            pattern = re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)))
            cached.append((pattern, [m for m in _ORDER if m.lower() in item]))
        app.state.openapi_templates = cached
    return cached


def install(app: FastAPI) -> None:
    """Serve `document(app)` at /openapi.json (built once, on the first request)."""
    built: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if not built:
            built.update(document(app))
        return built

    app.openapi = openapi  # type: ignore[method-assign]
