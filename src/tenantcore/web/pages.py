"""The app's pages: server-rendered over the same services as the API (no second set of rules,
no SQL here). Who is signed in, CSRF, flashes and rendering are in `session.py`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from tenantcore.accounts.service import Caller, caller_of_key
from tenantcore.api.downloads import download
from tenantcore.dnshealth.names import registrable_zone, relative_to
from tenantcore.dnsproviders import service as dns_providers
from tenantcore.dnsproviders.registry import KINDS
from tenantcore.domains import lifecycle, publishing
from tenantcore.domains import service as domains
from tenantcore.errors import TenantCoreError
from tenantcore.events import service as events
from tenantcore.history import service as history
from tenantcore.microsoft.errors import MicrosoftError
from tenantcore.tenants import service as tenants
from tenantcore.tenants.schemas import ConnectTenant
from tenantcore.web import charts, forms
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
WINDOWS = (30, 90)  # the history windows the pages offer (?days=)
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
    # Guessing keys through this form counts against the address as it does on the API.
    limiter = request.app.state.rate_limiter
    address = request.client.host if request.client else "unknown"
    refused = limiter.refused_address(address)
    if refused is not None:
        limiter.note(f"auth:{address}", "rate limit: refusing sign-in from %s (too many failed attempts)", address)
        flash(request, "error", f"Too many failed sign-ins from your address; try again in {refused.reset} s.")
        page = render(request, "login.html", None, 429)
        page.headers["Retry-After"] = str(refused.reset)
        return page
    try:
        form = await checked_form(request)
        caller = await caller_of_key(runtime.sessions, runtime.secret, str(form.get("api_key", "")))
    except TenantCoreError as exc:
        if exc.status == 401:
            await limiter.failed(address)
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
async def fleet(request: Request, caller: CallerDep, problems: int = 0, days: int = 30) -> Response:
    view = await tenants.fleet(runtime_of(request), caller, problems=bool(problems))
    env = runtime_of(request).env(caller.mode)
    past = await history.fleet_history(runtime_of(request), caller, days if days in WINDOWS else WINDOWS[0])
    return render(
        request,
        "fleet.html",
        caller,
        rows=view.rows,
        totals=view.totals,
        problems=bool(problems),
        can_create_tenants=env.create_tenant is not None,
        history=past,
        chart=charts.fleet_chart(past),
        window_choices=WINDOWS,
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


@router.get("/tenants/{tenant_id}")
async def tenant_page(request: Request, caller: CallerDep, tenant_id: str) -> Response:
    runtime = runtime_of(request)
    try:
        tenant, rows = await tenants.with_domains(runtime, caller, tenant_id)
    except TenantCoreError as exc:
        return error_page(request, caller, exc)
    return render(
        request,
        "tenant.html",
        caller,
        tenant=tenant,
        domains=rows,
        results=forms.expand(request.session.pop("bulk", None)),
        limit=runtime.settings.domain_limit,
        max_names=forms.MAX_NAMES,
    )


@router.post("/tenants/{tenant_id}/domains")
async def add_domains(request: Request, caller: CallerDep, tenant_id: str) -> Response:
    """Bulk add: the textarea's names and the CSV file's first column, one result each, shown
    on the tenant page after the redirect."""
    form = await checked_form(request)
    names = forms.split_names(str(form.get("domains") or ""))
    upload = form.get("csv")
    if upload is not None and not isinstance(upload, str):
        names += forms.csv_names(await upload.read())
    names = forms.unique(names)
    back = RedirectResponse(f"/app/tenants/{tenant_id}", 303)
    if not names:
        flash(request, "error", "Type at least one domain or choose a CSV file.")
        return back
    if len(names) > forms.MAX_NAMES:
        flash(request, "error", f"{len(names)} names: add at most {forms.MAX_NAMES} at a time.")
        return back
    try:
        result = await domains.bulk_add(runtime_of(request), caller, tenant_id, names)
    except TenantCoreError as exc:
        if exc.status == 404:
            return error_page(request, caller, exc)
        flash(request, "error", exc.message)
        return back
    request.session["bulk"] = forms.summary(result)
    flash(request, "ok" if not result.failed else "error", f"{result.added} added, {result.failed} failed.")
    return back


@router.get("/tenants/{tenant_id}/domains/{name}")
async def domain_page(
    request: Request, caller: CallerDep, tenant_id: str, name: str, replace_mx: int = 0, days: int = 30
) -> Response:
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
    plan, plan_error = None, None
    try:
        plan = await publishing.plan(runtime, caller, tenant.ms_tenant_id, domain.name, replace_mx=bool(replace_mx))
    except TenantCoreError as exc:
        plan_error = exc
    providers = (await dns_providers.listing(runtime, caller)).providers
    past = await history.domain_history(
        runtime, caller, tenant.ms_tenant_id, domain.name, days if days in WINDOWS else WINDOWS[0]
    )
    return render(
        request,
        "domain.html",
        caller,
        tenant=tenant,
        domain=domain,
        records=records,
        plan=plan,
        plan_error=plan_error,
        replace_mx=bool(replace_mx),
        providers=providers,
        linked=next((p for p in providers if p.id == domain.dns_provider_id), None),
        actions=[(a, label) for a, label in ACTIONS.items() if a != "publish" or can_publish],
        findings=domain.health.findings if domain.health else [],
        events=await events.recent(runtime, caller, 20, tenant.ms_tenant_id, domain.name),
        history=past,
        timeline=charts.domain_timeline(past),
        window_choices=WINDOWS,
    )


@router.post("/tenants/{tenant_id}/domains/{name}/dns/apply")
async def dns_apply(request: Request, caller: CallerDep, tenant_id: str, name: str) -> Response:
    form = await checked_form(request)
    try:
        out = await publishing.apply(
            runtime_of(request), caller, tenant_id, name, replace_mx=bool(form.get("replace_mx"))
        )
    except TenantCoreError as exc:
        if exc.status == 404:
            return error_page(request, caller, exc)
        flash(request, "error", exc.message)
    except MicrosoftError as exc:
        flash(request, "error", f"Microsoft: {exc.message}")
    else:
        count = len(out.written)
        flash(
            request,
            "ok",
            f"{count} record set{'' if count == 1 else 's'} written at {out.provider.name} ({out.provider.zone}).",
        )
    return RedirectResponse(f"/app/tenants/{tenant_id}/domains/{name}", 303)


@router.post("/tenants/{tenant_id}/domains/{name}/dns/provider")
async def dns_link(request: Request, caller: CallerDep, tenant_id: str, name: str) -> Response:
    """Choose the domain's provider (auto, one of the caller's, none) and auto-repair. The
    choice already in place is passed as 'keep', so only auto-repair changes."""
    form = await checked_form(request)
    choice = str(form.get("provider", "keep"))
    current = str(form.get("current", ""))
    provider_id: str | None = {"none": None}.get(choice, choice)
    if choice == current:
        provider_id = "keep"
    auto_repair = bool(form.get("auto_repair"))
    try:
        out = await publishing.link(runtime_of(request), caller, tenant_id, name, provider_id, auto_repair)
    except TenantCoreError as exc:
        if exc.status == 404 and exc.code != "dns_provider_not_found":
            return error_page(request, caller, exc)
        flash(request, "error", exc.message)
    else:
        where = f"{out.provider.name} (zone {out.provider.zone})" if out.provider else "no DNS provider"
        flash(request, "ok", f"Published through {where}; auto-repair {'on' if out.auto_repair else 'off'}.")
    return RedirectResponse(f"/app/tenants/{tenant_id}/domains/{name}", 303)


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


# --- DNS providers ---------------------------------------------------------------------------


async def _providers_page(
    request: Request, caller: Caller, status: int = 200, values: dict[str, str] | None = None
) -> Response:
    listing = await dns_providers.listing(runtime_of(request), caller)
    kinds = [spec for spec in KINDS.values() if spec.kind != "sandbox" or caller.mode == "test"]
    return render(
        request,
        "dns_providers.html",
        caller,
        status,
        providers=listing.providers,
        kinds=kinds,
        values=values or {},
        field_id=forms.field_id,
    )


@router.get("/dns-providers")
async def providers_page(request: Request, caller: CallerDep) -> Response:
    return await _providers_page(request, caller)


@router.post("/dns-providers")
async def connect_provider(request: Request, caller: CallerDep) -> Response:
    """Connect: the credentials are tested by reading the zone before anything is stored. A
    refusal shows the page again with the provider's message and the form kept (but the secrets)."""
    form = await checked_form(request)
    try:
        out = await dns_providers.connect(runtime_of(request), caller, forms.connect_body(form))
    except TenantCoreError as exc:
        flash(request, "error", exc.message)
        return await _providers_page(
            request, caller, exc.status if 400 <= exc.status < 500 else 400, forms.kept_values(form)
        )
    linked = f"; {out.domains} domain{'' if out.domains == 1 else 's'} linked to it" if out.domains else ""
    flash(request, "ok", f"Connected {out.name} ({out.kind}){linked}.")
    return RedirectResponse("/app/dns-providers", 303)


@router.post("/dns-providers/{provider_id}/test")
async def test_provider(request: Request, caller: CallerDep, provider_id: str) -> Response:
    form = await checked_form(request)
    zone = str(form.get("zone", "")).strip() or None
    try:
        out = await dns_providers.test(runtime_of(request), caller, provider_id, zone)
    except TenantCoreError as exc:
        flash(request, "error", exc.message)
    else:
        flash(request, "ok", f"Test passed: read {out.records} record set(s) at the apex of {out.zone}.")
    return RedirectResponse("/app/dns-providers", 303)


@router.post("/dns-providers/{provider_id}/remove")
async def remove_provider(request: Request, caller: CallerDep, provider_id: str) -> Response:
    await checked_form(request)
    try:
        await dns_providers.remove(runtime_of(request), caller, provider_id)
    except TenantCoreError as exc:
        flash(request, "error", exc.message)
    else:
        flash(request, "ok", "DNS provider removed; its domains keep their records and are no longer published.")
    return RedirectResponse("/app/dns-providers", 303)


@router.get("/events")
async def events_page(request: Request, caller: CallerDep) -> Response:
    rows = await events.recent(runtime_of(request), caller, 100)
    return render(request, "events.html", caller, events=rows)
