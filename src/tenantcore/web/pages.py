"""The app's pages: server-rendered over the same services as the API (no second set of rules,
no SQL here). Who is signed in, CSRF, flashes and rendering are in `session.py`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from tenantcore.accounts.service import Caller, caller_of_key
from tenantcore.api.downloads import download
from tenantcore.dnshealth.names import registrable_zone, relative_to
from tenantcore.domains import lifecycle, publishing
from tenantcore.domains import service as domains
from tenantcore.errors import TenantCoreError
from tenantcore.events import service as events
from tenantcore.microsoft.errors import MicrosoftError
from tenantcore.tenants import service as tenants
from tenantcore.tenants.schemas import ConnectTenant
from tenantcore.web.session import (
    CallerDep,
    checked_form,
    error_page,
    flash,
    render,
    runtime_of,
    sign_in,
)

router = APIRouter(prefix="/app", include_in_schema=False)
ACTIONS = {"check": "Re-check DNS", "verify": "Verify", "enable-dkim": "Enable DKIM", "publish": "Publish (sandbox)"}
CALLS = {
    "check": (domains.dns_check, "DNS re-checked."),
    "verify": (domains.verify, "Verified in Microsoft 365."),
    "enable-dkim": (domains.enable_dkim, "DKIM enabled."),
    "publish": (publishing.publish, "Records published at the DNS provider."),
}


# --- sign in and out -----------------------------------------------------------------------


@router.get("/login")
async def login_page(request: Request) -> Response:
    return render(request, "login.html", None)


@router.post("/login")
async def login(request: Request) -> Response:
    runtime = runtime_of(request)
    try:
        form = await checked_form(request)
        caller = await caller_of_key(runtime.sessions, runtime.secret, str(form.get("api_key", "")))
    except TenantCoreError as exc:
        flash(request, "error", exc.message)
        return render(request, "login.html", None, 401 if exc.status == 401 else exc.status)
    sign_in(request, caller)
    return RedirectResponse("/app", 303)


@router.post("/logout")
async def logout(request: Request) -> Response:
    await checked_form(request)
    request.session.clear()
    return RedirectResponse("/app/login", 303)


# --- pages ---------------------------------------------------------------------------------


@router.get("")
async def fleet(request: Request, caller: CallerDep, problems: int = 0) -> Response:
    view = await tenants.fleet(runtime_of(request), caller, problems=bool(problems))
    env = runtime_of(request).env(caller.mode)
    return render(
        request,
        "fleet.html",
        caller,
        rows=view.rows,
        totals=view.totals,
        problems=bool(problems),
        can_create_tenants=env.create_tenant is not None,
    )


@router.get("/connect")
async def connect_page(request: Request, caller: CallerDep) -> Response:
    try:
        return RedirectResponse(tenants.consent_url(runtime_of(request), caller), 303)
    except TenantCoreError as exc:
        return error_page(request, caller, exc)


@router.post("/tenants")
async def connect_tenant(request: Request, caller: CallerDep) -> Response:
    form = await checked_form(request)
    name = str(form.get("tenant_name", "")).strip()[:64] or None
    try:
        tenant = await tenants.connect(runtime_of(request), caller, ConnectTenant(tenant_name=name))
    except (TenantCoreError, MicrosoftError) as exc:
        flash(request, "error", exc.message)
        return RedirectResponse("/app", 303)
    flash(request, "ok", f"Connected {tenant.tenant_name}.")
    return RedirectResponse(f"/app/tenants/{tenant.tenant_id}", 303)


async def _tenant_page(
    request: Request, caller: Caller, ms_tenant_id: str, results: list[Any] | None = None
) -> Response:
    runtime = runtime_of(request)
    try:
        tenant, rows = await tenants.with_domains(runtime, caller, ms_tenant_id)
    except TenantCoreError as exc:
        return error_page(request, caller, exc)
    return render(
        request,
        "tenant.html",
        caller,
        tenant=tenant,
        domains=rows,
        results=results,
        limit=runtime.settings.domain_limit,
    )


@router.get("/tenants/{tenant_id}")
async def tenant_page(request: Request, caller: CallerDep, tenant_id: str) -> Response:
    return await _tenant_page(request, caller, tenant_id)


@router.post("/tenants/{tenant_id}/domains")
async def add_domains(request: Request, caller: CallerDep, tenant_id: str) -> Response:
    form = await checked_form(request)
    names = [line.strip() for line in str(form.get("domains", "")).splitlines() if line.strip()][:100]
    results = []
    for name in names:
        try:
            _, domain, _ = await domains.add(runtime_of(request), caller, tenant_id, name)
            results.append((domain.name, True, "Publish its records, then verify."))
        except (TenantCoreError, MicrosoftError) as exc:
            results.append((name, False, exc.message))
    return await _tenant_page(request, caller, tenant_id, results)


@router.get("/tenants/{tenant_id}/domains/{name}")
async def domain_page(request: Request, caller: CallerDep, tenant_id: str, name: str) -> Response:
    runtime = runtime_of(request)
    try:
        tenant, domain = await domains.load(runtime, caller, tenant_id, name)
    except TenantCoreError as exc:
        return error_page(request, caller, exc)
    zone = registrable_zone(domain.name)
    records = [
        {
            "host": relative_to(r.name, zone),
            "type": r.rtype,
            "value": f"{r.preference or 0} {r.value}" if r.rtype == "MX" else r.value,
            "ttl": r.ttl,
        }
        for r in lifecycle.expected(domain).records
    ]
    can_publish = runtime.env(caller.mode).publisher is not None
    return render(
        request,
        "domain.html",
        caller,
        tenant=tenant,
        domain=domain,
        records=records,
        actions=[(a, label) for a, label in ACTIONS.items() if a != "publish" or can_publish],
        findings=domain.health.findings if domain.health else [],
        events=await events.recent(runtime, caller, 20, tenant.ms_tenant_id, domain.name),
    )


@router.post("/tenants/{tenant_id}/domains/{name}/{action}")
async def domain_action(request: Request, caller: CallerDep, tenant_id: str, name: str, action: str) -> Response:
    await checked_form(request)
    if action not in CALLS:
        return error_page(request, caller, TenantCoreError(404, "not_found", f"No action {action}."))
    call, done = CALLS[action]
    try:
        await call(runtime_of(request), caller, tenant_id, name)
        flash(request, "ok", done)
    except TenantCoreError as exc:
        if exc.status == 404:
            return error_page(request, caller, exc)
        flash(request, "error", exc.message)
    except MicrosoftError as exc:
        flash(request, "error", f"Microsoft: {exc.message}")
    return RedirectResponse(f"/app/tenants/{tenant_id}/domains/{name}", 303)


@router.get("/tenants/{tenant_id}/domains/{name}/export")
async def export(request: Request, caller: CallerDep, tenant_id: str, name: str, format: str = "bind") -> Response:
    try:
        _, domain = await domains.load(runtime_of(request), caller, tenant_id, name)
    except TenantCoreError as exc:
        return error_page(request, caller, exc)
    return download(domains.export(domain, format))


@router.get("/events")
async def events_page(request: Request, caller: CallerDep) -> Response:
    rows = await events.recent(runtime_of(request), caller, 100)
    return render(request, "events.html", caller, events=rows)
