"""The Microsoft 365 emulator as one ASGI app: login, Graph and Exchange, plus `/_emulator`
control endpoints for driving it over HTTP (the sandbox and tests also use `EmulatorState`).

The control endpoints can create tenants, grant consent and inject faults, so they take a
token (`X-Emulator-Token`, generated at start unless given); Microsoft's endpoints are as
Microsoft's, unchanged."""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from tenantcore.dnshealth.lookup import ResolverConfig
from tenantcore.emulator import exchange, graph, login
from tenantcore.emulator.state import EXISTING_SERVICES, Consent, EmulatorState, Fault

CONTROL_HEADER = "X-Emulator-Token"


async def _control(request: Request) -> Response:
    """Drive the emulator over HTTP. Bad bodies get a 400 saying what is wrong."""
    state: EmulatorState = request.app.state.emulator
    what = request.path_params["what"]
    sent = request.headers.get(CONTROL_HEADER, "")
    if not hmac.compare_digest(sent.encode(), request.app.state.control_token.encode()):
        return JSONResponse({"error": f"the control endpoints need the emulator's token in {CONTROL_HEADER}"}, 401)
    try:
        raw = await request.body()
        body: dict[str, Any] = json.loads(raw) if raw and request.method != "GET" else {}
        if not isinstance(body, dict):
            raise TypeError("the body must be a JSON object")
        return _apply(state, what, request.method, body)
    except (ValueError, TypeError, KeyError) as exc:
        return JSONResponse({"error": f"bad {what} request: {exc!r}"}, 400)


def _apply(state: EmulatorState, what: str, method: str, body: dict[str, Any]) -> Response:
    if what == "apps":
        app = state.add_app(body.get("client_id"), secret=body.get("secret"), name=body.get("name", "TenantCore"))
        return JSONResponse({"client_id": app.client_id}, 201)
    if what == "tenants":
        tenant = state.create_tenant(body.get("name", "contoso"), body.get("id"), consent_app=body.get("consent_app"))
        return JSONResponse({"id": tenant.id, "initial_domain": tenant.initial_domain}, 201)
    if what == "consents":
        if method == "DELETE":  # the admin removes the app: {tenant_id, client_id}
            state.revoke_consent(body["tenant_id"], body["client_id"])
            return JSONResponse({}, 200)
        state.consent(body["tenant_id"], body["client_id"], Consent(**body.get("consent", {})))
        return JSONResponse({}, 201)
    if what == "roles":  # the admin assigns (POST) or removes (DELETE) the Exchange role
        state.grant_exchange_role(body["tenant_id"], body["client_id"], granted=method == "POST")
        return JSONResponse({}, 201 if method == "POST" else 200)
    if what == "domains":  # a domain added to the tenant elsewhere: {tenant_id, name, services?, verified?}
        domain = state.add_existing_domain(
            body["tenant_id"],
            body["name"],
            services=body.get("services", EXISTING_SERVICES),
            verified=body.get("verified", True),
        )
        return JSONResponse({"id": domain.name, "supportedServices": domain.supported_services}, 201)
    if what == "profile":
        if method == "POST":  # change knobs: {"replication_lag": 0.5, ...}
            state.profile = state.profile.with_(**body)
        return JSONResponse(state.profile.as_dict())
    if what == "faults":
        if method == "DELETE":
            state.faults.clear()
            return JSONResponse({}, 200)
        state.inject(Fault(**body))
        return JSONResponse({}, 201)
    if what == "stats":
        return JSONResponse(
            {
                t.id: {
                    "token_requests": t.token_requests,
                    "domains": sorted(t.domains),
                    "verified": sorted(name for name, d in t.domains.items() if d.is_verified),
                }
                for t in state.tenants.values()
            }
        )
    return JSONResponse({"error": "unknown control"}, 404)


class _Latency:
    """Delays every login, Graph and Exchange request by the profile's `latency` (read per
    request, so a profile changed over HTTP applies at once); `/_emulator` control is never delayed."""

    def __init__(self, app: ASGIApp, state: EmulatorState) -> None:
        self.app, self.state = app, state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        latency = self.state.profile.latency
        if latency > 0 and scope["type"] == "http" and not scope["path"].startswith("/_emulator/"):
            await asyncio.sleep(latency)
        await self.app(scope, receive, send)


def create_app(
    state: EmulatorState | None = None, resolver: ResolverConfig | None = None, control_token: str | None = None
) -> Starlette:
    """`resolver` is the DNS that verify and DKIM enable consult (the sandbox DNS server);
    `control_token` what `/_emulator` takes (default: a new random one, `app.state.control_token`)."""
    state = state or EmulatorState()
    app = Starlette(
        middleware=[Middleware(_Latency, state=state)],
        routes=[
            *login.routes,
            *graph.routes,
            *exchange.routes,
            Route("/_emulator/{what}", _control, methods=["GET", "POST", "DELETE"]),
        ],
    )
    app.state.emulator = state
    app.state.control_token = control_token or secrets.token_urlsafe(24)
    app.state.resolver = resolver or ResolverConfig(timeout=2.0, tries=2)
    return app
