"""Microsoft Graph v1.0 `/domains` as Microsoft serves it, per tenant."""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tenantcore.emulator.common import bearer, lookup, state_of, with_faults
from tenantcore.emulator.responses import ids, odata_error
from tenantcore.emulator.state import GRAPH_AUDIENCE, Domain, EmulatorState, Tenant

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
        "isRoot": domain.is_verified and not domain.is_initial and domain.parent is None,
        "isVerified": domain.is_verified,
        "passwordNotificationWindowInDays": 14,
        "passwordValidityPeriodInDays": 90,
        "supportedServices": list(domain.supported_services),
        "state": None,
    }


def _record(
    domain: Domain, kind: str, label: str, record_type: str, supported: str = "Email", **fields: Any
) -> dict[str, Any]:
    # Stable GUID ids per domain and record, as Graph returns the same ids on every read.
    record_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{domain.record_seed}/{kind}/{label}/{record_type}"))
    return {
        "@odata.type": f"#microsoft.graph.{kind}",
        "id": record_id,
        "isOptional": False,
        "label": label,
        "recordType": record_type,
        "supportedService": supported,
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


def _email_records(domain: Domain) -> list[dict[str, Any]]:
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


def _teams_records(domain: Domain) -> list[dict[str, Any]]:
    """OfficeCommunicationsOnline: the sip/lyncdiscover CNAMEs and the two SRV records."""
    service = "OfficeCommunicationsOnline"
    d = domain.name
    return [
        _record(domain, "domainDnsCnameRecord", f"sip.{d}", "CName", service, canonicalName="sipdir.online.lync.com"),
        _record(
            domain,
            "domainDnsCnameRecord",
            f"lyncdiscover.{d}",
            "CName",
            service,
            canonicalName="webdir.online.lync.com",
        ),
        *(
            _record(
                domain,
                "domainDnsSrvRecord",
                f"{srv}.{protocol}.{d}",
                "Srv",
                service,
                nameTarget=target,
                port=port,
                priority=100,
                protocol=protocol,
                service=srv,
                weight=1,
            )
            for srv, protocol, target, port in (
                ("_sip", "_tls", "sipdir.online.lync.com", 443),
                ("_sipfederationtls", "_tcp", "sipfed.online.lync.com", 5061),
            )
        ),
    ]


def _intune_records(domain: Domain) -> list[dict[str, Any]]:
    return [
        _record(domain, "domainDnsCnameRecord", f"{host}.{domain.name}", "CName", "Intune", canonicalName=target)
        for host, target in (
            ("enterpriseregistration", "enterpriseregistration.windows.net"),
            ("enterpriseenrollment", "enterpriseenrollment.manage.microsoft.com"),
        )
    ]


SERVICE_RECORDS: dict[str, Callable[[Domain], list[dict[str, Any]]]] = {
    "Email": _email_records,
    "OfficeCommunicationsOnline": _teams_records,
    "Intune": _intune_records,
}


def service_records(domain: Domain, follow_services: bool = False) -> list[dict[str, Any]]:
    """The Email set always (instant), or what the domain's supportedServices need. [INF] Graph
    documents these records as the step after verification: none for an unverified domain."""
    if not follow_services:
        return _email_records(domain)
    if not domain.is_verified:
        return []
    return [
        r for service, build in SERVICE_RECORDS.items() if service in domain.supported_services for r in build(domain)
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
        response = await with_faults(request, "graph", request.url.path, lambda: _authorized(request, auth))
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


async def _authorized(request: Request, auth: tuple[Tenant, dict[str, Any]] | None) -> Response:
    if auth is None:
        return odata_error(
            request, 401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience."
        )
    tenant, claims = auth
    state = state_of(request)
    app = str(claims.get("appid"))
    throttled = _throttled(request, state, app, tenant)
    if throttled is not None:
        return throttled
    response = await _serve(request, tenant, claims)
    if state.profile.throttle_ru_per_10s:
        # Directory responses tell the cost, and the usage once above 80% (G13).
        response.headers["x-ms-resource-unit"] = "1"
        usage = state.usage(app, tenant.id)
        if usage > 0.8:
            response.headers["x-ms-throttle-limit-percentage"] = f"{usage:.1f}"
    return response


def _throttled(request: Request, state: EmulatorState, app: str, tenant: Tenant) -> Response | None:
    """The identity service's resource-unit bucket per app+tenant. Every domain call costs 1 RU
    (G13: an endpoint the cost table does not list costs 1). Throttled answers are 429 with
    Retry-After, sometimes without it, and sometimes 503 (T; a 3P page on missing Retry-After)."""
    wait = state.spend(app, tenant.id)
    if wait is None:
        return None
    headers = {
        "x-ms-throttle-scope": f"Tenant_Application/ReadWrite/{app}/{tenant.id}",
        "x-ms-throttle-information": "ResourceUnitLimitExceeded",
    }
    if not state.chance(state.profile.throttle_no_retry_after):
        headers["Retry-After"] = str(max(1, math.ceil(wait)))
    if state.chance(state.profile.throttle_503):
        return odata_error(
            request, 503, "Request_ThrottledTemporarily", "The request has been throttled temporarily.", headers=headers
        )
    return odata_error(request, 429, "TooManyRequests", "Too many requests.", headers=headers)


async def _serve(request: Request, tenant: Tenant, claims: dict[str, Any]) -> Response:
    state = state_of(request)
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
    view = state.graph_view(tenant, name)  # what a replica answers: stale, or None while new
    if domain is None or view is None:
        return _not_found(request, name)
    if action == "verificationDnsRecords":
        return _ok(request, {"value": verification_records(view)})
    if action == "serviceConfigurationRecords":
        return _ok(request, {"value": service_records(view, state.profile.records_follow_services)})
    if action == "verify":
        return await _verify(request, tenant, domain, view)
    if request.method == "GET":
        return _ok(request, {"@odata.context": f"{GRAPH}/$metadata#domains/$entity", **domain_json(view)})
    if request.method == "DELETE":
        return _delete(request, tenant, domain)
    return await _patch(request, tenant, domain, view)


async def _list(request: Request, tenant: Tenant) -> Response:
    state = state_of(request)
    domains = sorted(state.graph_domains(tenant), key=lambda d: (not d.is_initial, d.name))
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


def _conflict(request: Request) -> Response:
    message = "Another object with the same value for property id already exists."
    return odata_error(
        request,
        400,
        "Request_BadRequest",
        message,
        details=[{"code": "ObjectConflict", "message": message, "target": "id"}],
    )


def _over_quota(request: Request, quota: int) -> Response:
    # [INF] Entra documents the limit (5,000 managed domains per tenant), not the refusal's text.
    message = f"The maximum number of domains allowed for this tenant ({quota}) has been reached."
    return odata_error(
        request,
        400,
        "Request_BadRequest",
        message,
        details=[{"code": "QuotaExceeded", "message": message, "target": "id"}],
    )


async def _create(request: Request, tenant: Tenant) -> Response:
    state = state_of(request)
    body = await _json_body(request)
    name = str((body or {}).get("id") or "").strip().lower()
    if not name or set(body or {}) - {"id"}:
        return odata_error(
            request, 400, "Request_BadRequest", "Invalid value specified for property 'id' of resource 'Domain'."
        )
    quota = state.profile.domain_quota
    with state.lock:
        if name in tenant.domains:
            return _conflict(request)
        if quota and len(tenant.domains) >= quota:
            return _over_quota(request, quota)
        # A domain verified in another tenant can still be added here, unverified (verify then fails).
        domain = state.new_domain(name)
        if state.profile.subdomains_auto_verify:
            # A subdomain of a verified domain needs no proof of its own (G verificationDnsRecords).
            domain.parent = state.verified_parent(tenant, name)
            domain.is_verified = domain.parent is not None
        state.before_write(tenant, name)
        tenant.domains[name] = domain
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
        tenant.stale.pop(domain.name, None)
    return _ok(request, None, 204)


async def _patch(request: Request, tenant: Tenant, domain: Domain, view: Domain) -> Response:
    state = state_of(request)
    body = await _json_body(request)
    services = (body or {}).get("supportedServices")
    if not isinstance(services, list):
        return odata_error(request, 400, "Request_BadRequest", "Invalid request body.")
    if not view.is_verified:  # a stale replica still sees a just-verified domain unverified
        return odata_error(request, 400, "Request_BadRequest", "Only verified domains can be updated.")
    wanted = [str(s) for s in services]
    kept = [s for s in domain.locked_services if s not in wanted]
    if kept:
        # [INF] Graph documents that only Email, OfficeCommunicationsOnline and Yammer can be
        # added or removed, not the refusal's text.
        return odata_error(
            request,
            400,
            "Request_BadRequest",
            f"{', '.join(kept)} cannot be removed from the supported services of domain '{domain.name}'. "
            "Only Email, OfficeCommunicationsOnline and Yammer can be added or removed.",
        )
    with state.lock:
        state.before_write(tenant, domain.name)
        domain.supported_services = wanted
        if "Email" in domain.supported_services and domain.email_enabled_at is None:
            domain.email_enabled_at = time.time()
    return _ok(request, None, 204)


def _in_use(request: Request) -> Response:
    message = "Domain verification failed with the following error: 'Domain is being used by an active tenant'."
    return odata_error(
        request,
        400,
        "Request_BadRequest",
        message,
        details=[{"code": "DomainInUse", "message": message, "target": "Name.Conflict"}],
    )


async def _verify(request: Request, tenant: Tenant, domain: Domain, view: Domain) -> Response:
    state = state_of(request)
    if view.is_verified:
        # [INF] "Only applies to an unverified domain": answer as for a fresh verify.
        return _ok(request, domain_json(view, "AvailableImmediately"))
    if state.verified_elsewhere(domain.name, tenant.id) is not None:
        return _in_use(request)
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
    profile = state.profile
    takeover = domain.name in profile.takeover_domains or state.chance(profile.takeover_rate)
    with state.lock:
        state.before_write(tenant, domain.name)
        domain.is_verified = True
        domain.takeover = domain.takeover or takeover
        if profile.subdomains_auto_verify:
            domain.parent = state.verified_parent(tenant, domain.name)
    status = "EmailVerifiedDomainTakeoverScheduled" if domain.takeover else "AvailableImmediately"
    return _ok(request, domain_json(domain, status))


routes = [
    Route("/v1.0/domains", handle, methods=["GET", "POST"]),
    Route("/v1.0/domains/{domain}", handle, methods=["GET", "PATCH", "DELETE"]),
    Route("/v1.0/domains/{domain}/{action:str}", handle, methods=["GET", "POST"]),
]
