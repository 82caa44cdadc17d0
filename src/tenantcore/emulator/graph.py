"""Microsoft Graph v1.0 `/domains` as Microsoft serves it, per tenant."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tenantcore.emulator.common import bearer, injected_fault, lookup, state_of
from tenantcore.emulator.responses import ids, odata_error
from tenantcore.emulator.state import GRAPH_AUDIENCE, Domain, Tenant

GRAPH = "https://graph.microsoft.com/v1.0"
READ_ROLES = {"Domain.Read.All", "Domain.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
WRITE_ROLES = {"Domain.ReadWrite.All", "Directory.ReadWrite.All"}


def domain_json(domain: Domain, availability: str | None = None) -> dict[str, Any]:
    return {
        "authenticationType": "Managed",
        "availabilityStatus": availability,
        "id": domain.name,
        "isAdminManaged": True,
        "isDefault": domain.is_default,
        "isInitial": domain.is_initial,
        "isRoot": domain.is_verified and not domain.is_initial,
        "isVerified": domain.is_verified,
        "passwordNotificationWindowInDays": 14,
        "passwordValidityPeriodInDays": 90,
        "supportedServices": list(domain.supported_services),
        "state": None,
    }


def _record(domain: Domain, kind: str, label: str, record_type: str, **fields: Any) -> dict[str, Any]:
    # Stable GUID ids per domain and record, as Graph returns the same ids on every read.
    record_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{domain.record_seed}/{kind}/{label}/{record_type}"))
    return {
        "@odata.type": f"#microsoft.graph.{kind}",
        "id": record_id,
        "isOptional": False,
        "label": label,
        "recordType": record_type,
        "supportedService": "Email",
        "ttl": 3600,
        **fields,
    }


def verification_records(domain: Domain) -> list[dict[str, Any]]:
    return [
        _record(domain, "domainDnsTxtRecord", domain.name, "Txt", text=f"MS={domain.verification_code}"),
        _record(
            domain,
            "domainDnsMxRecord",
            domain.name,
            "Mx",
            mailExchange=f"{domain.verification_code}.msv1.invalid",
            preference=32767,
        ),
    ]


def service_records(domain: Domain) -> list[dict[str, Any]]:
    return [
        _record(domain, "domainDnsMxRecord", domain.name, "Mx", mailExchange=domain.mx_target, preference=0),
        _record(
            domain, "domainDnsTxtRecord", domain.name, "Txt", text="v=spf1 include:spf.protection.outlook.com -all"
        ),
        _record(
            domain,
            "domainDnsCnameRecord",
            f"autodiscover.{domain.name}",
            "CName",
            canonicalName="autodiscover.outlook.com",
        ),
    ]


def _ok(request: Request, body: Any, status: int = 200) -> Response:
    if body is None:
        return Response(status_code=status, headers=ids(request))
    return JSONResponse(body, status, headers=ids(request))


def _not_found(request: Request, name: str) -> Response:
    return odata_error(
        request,
        404,
        "Request_ResourceNotFound",
        f"Resource '{name}' does not exist or one of its queried reference-property objects are not present.",
    )


ACTIONS = {"verificationDnsRecords": "GET", "serviceConfigurationRecords": "GET", "verify": "POST"}


async def handle(request: Request) -> Response:
    state = state_of(request)
    tenant_id = None
    auth = bearer(request, GRAPH_AUDIENCE)
    if auth is not None:
        tenant_id = auth[0].id
        state.enter(tenant_id)
    try:
        response = await injected_fault(request, "graph", request.url.path)
        if response is None and auth is None:
            response = odata_error(
                request, 401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience."
            )
        elif response is None:
            response = await _serve(request, *auth)
    finally:
        if tenant_id is not None:
            state.leave(tenant_id)
    state.record(
        "graph",
        request.method,
        request.url.path,
        tenant_id,
        response.status_code,
        request.headers.get("client-request-id"),
    )
    return response


async def _serve(request: Request, tenant: Tenant, claims: dict[str, Any]) -> Response:
    needed = READ_ROLES if request.method == "GET" else WRITE_ROLES
    if not set(claims.get("roles") or ()) & needed:
        return odata_error(
            request, 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
        )
    name = request.path_params.get("domain", "").lower()
    action = request.path_params.get("action")
    if not name:
        return await (_list(request, tenant) if request.method == "GET" else _create(request, tenant))
    if action is not None and ACTIONS.get(action) != request.method:
        return odata_error(request, 400, "BadRequest", f"Resource not found for the segment '{action}'.")
    domain = tenant.domains.get(name)
    if domain is None:
        return _not_found(request, name)
    if action == "verificationDnsRecords":
        return _ok(request, {"value": verification_records(domain)})
    if action == "serviceConfigurationRecords":
        return _ok(request, {"value": service_records(domain)})
    if action == "verify":
        return await _verify(request, tenant, domain)
    if request.method == "GET":
        return _ok(request, {"@odata.context": f"{GRAPH}/$metadata#domains/$entity", **domain_json(domain)})
    if request.method == "DELETE":
        return _delete(request, tenant, domain)
    return await _patch(request, domain)


async def _list(request: Request, tenant: Tenant) -> Response:
    state = state_of(request)
    domains = sorted(tenant.domains.values(), key=lambda d: (not d.is_initial, d.name))
    start = int(request.query_params.get("$skiptoken", "0") or 0)
    page = domains[start : start + state.page_size]
    body: dict[str, Any] = {"@odata.context": f"{GRAPH}/$metadata#domains", "value": [domain_json(d) for d in page]}
    if start + state.page_size < len(domains):
        body["@odata.nextLink"] = f"{GRAPH}/domains?$skiptoken={start + state.page_size}"
    return _ok(request, body)


async def _json_body(request: Request) -> dict[str, Any] | None:
    try:
        body = json.loads(await request.body())
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


async def _create(request: Request, tenant: Tenant) -> Response:
    state = state_of(request)
    body = await _json_body(request)
    name = str((body or {}).get("id") or "").strip().lower()
    if not name or set(body or {}) - {"id"}:
        return odata_error(
            request, 400, "Request_BadRequest", "Invalid value specified for property 'id' of resource 'Domain'."
        )
    with state.lock:
        if name in tenant.domains:
            message = "Another object with the same value for property id already exists."
            return odata_error(
                request,
                400,
                "Request_BadRequest",
                message,
                details=[{"code": "ObjectConflict", "message": message, "target": "id"}],
            )
        # A domain verified in another tenant can still be added here, unverified (verify then fails).
        domain = tenant.domains[name] = state.new_domain(name)
    return _ok(request, {"@odata.context": f"{GRAPH}/$metadata#domains/$entity", **domain_json(domain)}, 201)


def _delete(request: Request, tenant: Tenant, domain: Domain) -> Response:
    state = state_of(request)
    if domain.is_initial or domain.is_default:
        return odata_error(request, 400, "Request_BadRequest", "The initial or default domain cannot be deleted.")
    if domain.references:
        # [INF] The reference documents the refusal, not its exact text.
        return odata_error(
            request,
            400,
            "Request_BadRequest",
            f"Unable to delete domain '{domain.name}' because it is referenced by "
            f"{domain.references} object(s). Remove the references and try again.",
            details=[{"code": "ObjectInUse", "message": "The domain is referenced.", "target": "id"}],
        )
    with state.lock:
        tenant.domains.pop(domain.name, None)
        tenant.dkim.pop(domain.name, None)
    return _ok(request, None, 204)


async def _patch(request: Request, domain: Domain) -> Response:
    body = await _json_body(request)
    services = (body or {}).get("supportedServices")
    if not isinstance(services, list):
        return odata_error(request, 400, "Request_BadRequest", "Invalid request body.")
    if not domain.is_verified:
        return odata_error(request, 400, "Request_BadRequest", "Only verified domains can be updated.")
    domain.supported_services = [str(s) for s in services]
    if "Email" in domain.supported_services and domain.email_enabled_at is None:
        domain.email_enabled_at = time.time()
    return _ok(request, None, 204)


async def _verify(request: Request, tenant: Tenant, domain: Domain) -> Response:
    state = state_of(request)
    if domain.is_verified:
        # [INF] "Only applies to an unverified domain": answer as for a fresh verify.
        return _ok(request, domain_json(domain, "AvailableImmediately"))
    if state.verified_elsewhere(domain.name, tenant.id) is not None:
        message = "Domain verification failed with the following error: 'Domain is being used by an active tenant'."
        return odata_error(
            request,
            400,
            "Request_BadRequest",
            message,
            details=[{"code": "DomainInUse", "message": message, "target": "Name.Conflict"}],
        )
    txt = await lookup(request, domain.name, "TXT")
    mx = await lookup(request, domain.name, "MX")
    code = domain.verification_code
    if f"MS={code}" not in txt.values and f"{code}.msv1.invalid" not in mx.values:
        return odata_error(
            request,
            400,
            "Request_BadRequest",
            "Domain verification failed with the following error: 'Error in DNS verification. code=InternalError'.",
        )
    with state.lock:
        domain.is_verified = True
    return _ok(request, domain_json(domain, "AvailableImmediately"))


routes = [
    Route("/v1.0/domains", handle, methods=["GET", "POST"]),
    Route("/v1.0/domains/{domain}", handle, methods=["GET", "PATCH", "DELETE"]),
    Route("/v1.0/domains/{domain}/{action:str}", handle, methods=["GET", "POST"]),
]
