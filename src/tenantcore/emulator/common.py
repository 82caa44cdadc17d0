"""What every emulated API does first: injected faults, the bearer token, and DNS lookups."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tenantcore.dnshealth.lookup import Answer, DnsSession, ResolverConfig
from tenantcore.emulator import tokens
from tenantcore.emulator.responses import ids, odata_error
from tenantcore.emulator.state import EmulatorState, Fault, Service, Tenant


def state_of(request: Request) -> EmulatorState:
    return request.app.state.emulator


def fault_response(request: Request, service: Service, fault: Fault) -> Response:
    """A throttle (429) or unavailable (503) fault in the API's shape."""
    headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
    if fault.kind == "throttle":
        if service == "graph":
            return odata_error(request, 429, "TooManyRequests", "Too many requests.", headers=headers)
        return JSONResponse(
            {"error": {"code": "TooManyRequests", "message": "Too many requests"}},
            429,
            headers={**ids(request), **headers},
        )
    return JSONResponse(
        {"error": {"code": "ServiceUnavailable", "message": "Service unavailable"}},
        503,
        headers={**ids(request), **headers},
    )


async def injected_fault(request: Request, service: Service, target: str) -> Response | None:
    """Apply the first matching fault: sleep for latency, or answer 429/503 in the API's shape."""
    fault = state_of(request).take_fault(service, target)
    if fault is None:
        return None
    if fault.kind == "latency":
        await asyncio.sleep(fault.latency)
        return None
    return fault_response(request, service, fault)


async def with_faults(
    request: Request, service: Service, target: str, work: Callable[[], Awaitable[Response]]
) -> Response:
    """Run `work` under the first matching fault. A latency fault delays the work (instant
    profile); with `complete_abandoned` it delays only the answer: the work is done first and
    shielded, so a client that times out or hangs up does not undo a write Microsoft made."""
    state = state_of(request)
    fault = state.take_fault(service, target)
    if fault is not None and fault.kind != "latency":
        return fault_response(request, service, fault)
    latency = fault.latency if fault is not None else 0.0
    if not state.profile.complete_abandoned:
        if latency:
            await asyncio.sleep(latency)
        return await work()
    response = await asyncio.shield(asyncio.ensure_future(work()))
    if latency:
        await asyncio.sleep(latency)
    return response


def bearer(request: Request, audience: str) -> tuple[Tenant, dict[str, Any]] | None:
    """The tenant and claims of a valid token for `audience`, or None."""
    state = state_of(request)
    claims = tokens.check(state, request.headers.get("authorization"), audience)
    if claims is None:
        return None
    tenant = state.tenants.get(str(claims.get("tid")))
    return (tenant, claims) if tenant is not None else None


async def lookup(request: Request, name: str, rtype: str) -> Answer:
    """Ask the DNS the emulator was given (the sandbox DNS server, in sandbox mode)."""
    config: ResolverConfig = request.app.state.resolver
    session = DnsSession(config)
    try:
        return await session.query(name, rtype)
    finally:
        await session.close()
