"""Exchange Online's admin API: `POST /adminapi/beta/{tenant}/InvokeCommand` with the DKIM
cmdlets and Get-AcceptedDomain, answering in the captured wire shapes."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tenantcore.dnshealth.names import normalize
from tenantcore.emulator.common import bearer, lookup, state_of, with_faults
from tenantcore.emulator.responses import exchange_error, ids
from tenantcore.emulator.state import EXCHANGE_AUDIENCE, DkimConfig, Tenant

VALIDATION = "Microsoft.Exchange.Management.Tasks.ValidationException"
TRUNCATED = (
    "There are more results available than are currently displayed. To view them, increase the value "
    "for the ResultSize parameter."
)
NOT_FOUND = "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"


def dkim_row(config: DkimConfig, status: str | None = None) -> dict[str, Any]:
    created = datetime.fromtimestamp(config.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
    key = f"v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA{config.domain.encode().hex()[:40]};"
    return {
        "Domain": config.domain,
        "AdminDisplayName": "",
        "Selector1KeySize@odata.type": "#Decimal",
        "Selector1KeySize": config.key_size,
        "Selector1CNAME": config.selector1_cname,
        "Selector1PublicKey": key,
        "Selector2KeySize@odata.type": "#Decimal",
        "Selector2KeySize": config.key_size,
        "Selector2CNAME": config.selector2_cname,
        "Selector2PublicKey": key,
        "Enabled": config.enabled,
        "IsDefault": False,
        "HeaderCanonicalization": "Relaxed",
        "BodyCanonicalization": "Relaxed",
        "Algorithm": "RsaSHA256",
        "NumberOfBytesToSign": "All",
        "IncludeSignatureCreationTime": True,
        "IncludeKeyExpiration": False,
        "KeyCreationTime@data.type": "System.DateTime",
        "KeyCreationTime": created,
        "SelectorBeforeRotateOnDate": "selector2",
        "SelectorAfterRotateOnDate": "selector1",
        "Status": status or config.status,
        "Identity": config.domain,
        "Id": config.domain,
        "IsValid": True,
        "ExchangeVersion": "0.20 (15.0.0.0)",
        "Name": config.domain,
    }


def _invalid_domain(request: Request, name: str) -> Response:
    return exchange_error(
        request,
        VALIDATION,
        f'Invalid domain name specified "{name}". Please specify tenant name or valid accepted domain.',
    )


async def _cnames_published(request: Request, config: DkimConfig) -> bool:
    for selector, target in (("selector1", config.selector1_cname), ("selector2", config.selector2_cname)):
        answer = await lookup(request, f"{selector}._domainkey.{config.domain}", "CNAME")
        if normalize(target) not in answer.values:
            return False
    return True


async def _exchange_sees_cnames(request: Request, config: DkimConfig) -> bool:
    """Both CNAMEs in DNS, for as long as Exchange's own DNS view takes to catch up."""
    published = await _cnames_published(request, config)
    return state_of(request).exchange_sees_cnames(config, published)


def _cname_missing(request: Request, config: DkimConfig) -> Response:
    return exchange_error(
        request,
        VALIDATION,
        "CNAME record does not exist for this config. Please publish the following two CNAME records first. "
        f"Domain Name : {config.domain} Host Name : selector1._domainkey Points to address or value: "
        f"{config.selector1_cname} Host Name : selector2._domainkey Points to address or value: "
        f"{config.selector2_cname} . If you have already published the CNAME records, sync will take a few "
        "minutes to as many as 4 days based on your specific DNS. Return and retry this step later.",
    )


async def new_dkim(request: Request, tenant: Tenant, params: dict[str, Any]) -> Response | list[dict[str, Any]]:
    state = state_of(request)
    name = str(params.get("DomainName") or "").lower()
    if not state.accepted(tenant, name):
        return _invalid_domain(request, name)
    if name in tenant.dkim:
        # [INF] The reference does not quote this refusal; clients treat it as "exists".
        return exchange_error(request, VALIDATION, f"A DKIM signing config already exists for domain {name}.")
    config = state.new_dkim(tenant, name)
    config.key_size = int(params.get("KeySize") or 1024)  # the cmdlet's default is still 1024
    # The keys are made in the background: New answers at once, Get finds them later.
    config.ready_at = time.time() + state.profile.dkim_key_delay
    if params.get("Enabled") is True:
        if not await _exchange_sees_cnames(request, config):
            return _cname_missing(request, config)
        config.enabled = True
    with state.lock:
        tenant.dkim[name] = config
    return [dkim_row(config)]


def _no_config(request: Request, tenant: Tenant, identity: str) -> Response:
    return exchange_error(
        request,
        NOT_FOUND,
        f"The operation couldn't be performed because object '{identity}' "
        f"couldn't be found on '{tenant.initial_domain}'.",
    )


async def _row(request: Request, config: DkimConfig) -> dict[str, Any]:
    """A config as Get shows it: with `dkim_status_follows_dns`, an enabled config whose
    CNAMEs are gone from DNS is no longer Valid (Enabled stays true)."""
    follows = config.enabled and state_of(request).profile.dkim_status_follows_dns
    if follows and not await _cnames_published(request, config):
        return dkim_row(config, "CnameMissing")
    return dkim_row(config)


async def get_dkim(request: Request, tenant: Tenant, params: dict[str, Any]) -> Response | list[dict[str, Any]]:
    state = state_of(request)
    identity = str(params.get("Identity") or "").lower()
    if not identity:
        configs = (state.dkim_config(tenant, name) for name in list(tenant.dkim))
        return [await _row(request, c) for c in configs if c is not None]
    config = state.dkim_config(tenant, identity)
    if config is None:
        return _no_config(request, tenant, identity)
    return [await _row(request, config)]


async def set_dkim(request: Request, tenant: Tenant, params: dict[str, Any]) -> Response | list[dict[str, Any]]:
    state = state_of(request)
    identity = str(params.get("Identity") or "").lower()
    if not state.accepted(tenant, identity):
        return _invalid_domain(request, identity)
    config = state.dkim_config(tenant, identity)
    if config is None:
        return _no_config(request, tenant, identity)
    if "Enabled" in params:
        if params["Enabled"] is True and not config.enabled and not await _exchange_sees_cnames(request, config):
            return _cname_missing(request, config)
        config.enabled = bool(params["Enabled"])
    return []


async def accepted_domains(request: Request, tenant: Tenant, params: dict[str, Any]) -> list[dict[str, Any]]:
    state = state_of(request)
    return [
        {
            "DomainName": d.name,
            "Name": d.name,
            "Identity": d.name,
            "DomainType": "Authoritative",
            "Default": d.is_default,
            "InitialDomain": d.is_initial,
        }
        for d in tenant.domains.values()
        if state.accepted(tenant, d.name)
    ]


Cmdlet = Callable[[Request, Tenant, dict[str, Any]], Awaitable[Response | list[dict[str, Any]]]]
CMDLETS: dict[str, Cmdlet] = {
    "New-DkimSigningConfig": new_dkim,
    "Get-DkimSigningConfig": get_dkim,
    "Set-DkimSigningConfig": set_dkim,
    "Get-AcceptedDomain": accepted_domains,
}


async def invoke(request: Request) -> Response:
    state = state_of(request)
    try:
        body = json.loads(await request.body())
        cmdlet_input = body["CmdletInput"]
        cmdlet = str(cmdlet_input["CmdletName"])
        params = cmdlet_input.get("Parameters")
    except (ValueError, KeyError, TypeError):
        return JSONResponse({"error": {"code": "BadRequest", "message": "The request body is invalid."}}, 400)
    response = await _invoke(request, cmdlet, params)
    auth = bearer(request, EXCHANGE_AUDIENCE)
    state.record(
        "exchange",
        "POST",
        cmdlet,
        auth[0].id if auth else None,
        response.status_code,
        request.headers.get("client-request-id"),
    )
    return response


async def _invoke(request: Request, cmdlet: str, params: Any) -> Response:
    return await with_faults(request, "exchange", cmdlet, lambda: _run(request, cmdlet, params))


def _refused(request: Request, tenant: Tenant, claims: dict[str, Any]) -> Response | None:
    """Exchange's auth progression (graph2otel, live): no Exchange.ManageAsApp in the token is
    401 (with `exchange_auth_401`; the instant profile answers the 403 below); the app role
    without the Entra directory role is 403 with a body of NUL bytes."""
    state = state_of(request)
    manage_as_app = "Exchange.ManageAsApp" in (claims.get("roles") or [])
    if not manage_as_app and state.profile.exchange_auth_401:
        return Response(status_code=401, headers={"WWW-Authenticate": 'Bearer realm=""', **ids(request)})
    consent = tenant.consents.get(str(claims.get("appid")))
    if not manage_as_app or consent is None or not consent.has_exchange_role(time.time()):
        return Response(b"\x00\x00\x00\x00", 403, media_type="application/octet-stream")
    return None


async def _run(request: Request, cmdlet: str, params: Any) -> Response:
    state = state_of(request)
    auth = bearer(request, EXCHANGE_AUDIENCE)
    key = request.path_params["tenant"].lower()
    if auth is None or key not in (auth[0].id, auth[0].initial_domain.lower()):
        return Response(status_code=401, headers={"WWW-Authenticate": 'Bearer realm=""', **ids(request)})
    tenant, claims = auth
    refused = _refused(request, tenant, claims)
    if refused is not None:
        return refused
    if not isinstance(params, dict):
        return exchange_error(
            request, "System.ArgumentNullException", "Value cannot be null. Parameter name: Parameters"
        )
    handler = CMDLETS.get(cmdlet)
    if handler is None:
        return exchange_error(
            request,
            "System.Management.Automation.CommandNotFoundException",
            f"The term '{cmdlet}' is not recognized as a name of a cmdlet.",
        )
    if state.profile.exchange_result_size and "$skiptoken" in request.query_params:
        # graph2otel: a truncated result's nextLink cannot be replayed.
        return JSONResponse(
            {"error": {"code": "BadRequest", "message": "Expired or Invalid pagination request"}},
            400,
            headers=ids(request),
        )
    state.preexisting_dkim(tenant)
    result = await handler(request, tenant, params)
    if isinstance(result, Response):
        return result
    return _success(request, tenant, result)


def _success(request: Request, tenant: Tenant, rows: list[dict[str, Any]]) -> Response:
    base = f"https://outlook.office.com/adminapi/beta/{tenant.id}"
    body: dict[str, Any] = {
        "@odata.context": f"{base}/$metadata#Collection(Exchange.GenericHashTable)",
        "adminapi.warnings@odata.type": "#Collection(String)",
        "@adminapi.warnings": [],
        "value": rows,
    }
    limit = state_of(request).profile.exchange_result_size
    if limit and len(rows) > limit:
        # Truncation, as captured: a warning and a nextLink (that cannot be followed).
        body["@adminapi.warnings"] = [TRUNCATED]
        body["value"] = rows[:limit]
        body["@odata.nextLink"] = f"{base}/InvokeCommand?$skiptoken={limit}"
    return JSONResponse(body, headers={**ids(request), "Content-Type": "application/json;odata.metadata=minimal"})


routes = [Route("/adminapi/beta/{tenant}/InvokeCommand", invoke, methods=["POST"])]
