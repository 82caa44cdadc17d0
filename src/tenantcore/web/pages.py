"""The app's pages: server-rendered over the same services as the API (no second set of rules,
no SQL here). Who is signed in, CSRF, flashes and rendering are in `session.py`."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from tenantcore.accounts.service import caller_of_key
from tenantcore.api.downloads import download
from tenantcore.db import now
from tenantcore.dnshealth.names import registrable_zone
from tenantcore.dnsproviders import service as dns_providers
from tenantcore.dnsproviders.registry import KINDS
from tenantcore.domains import progress, publishing
from tenantcore.domains import service as domains
from tenantcore.domains.models import Domain
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
    local_path,
    login_url,
    render,
    runtime_of,
    sign_in,
)

router = APIRouter(prefix="/app", include_in_schema=False)
FLEET_PAGE = 100  # tenants per fleet page


def _window(days: str) -> int:
    """The history window asked for (?days=), or the first one for anything else."""
    return number if (number := forms.small_number(days)) in WINDOWS else WINDOWS[0]


WINDOWS = (30, 90)  # the history windows the pages offer (?days=)
ACTIONS = {"check": "Re-check DNS", "verify": "Verify now", "enable-dkim": "Enable DKIM", "publish": "Publish records"}
CALLS = {
    "check": (domains.dns_check, "DNS re-checked."),
    "verify": (domains.verify, "Verified in Microsoft 365."),
    "enable-dkim": (domains.enable_dkim, "DKIM enabled."),
    "publish": (publishing.publish, "Records published at the DNS provider."),
}


# --- sign in and out -----------------------------------------------------------------------


@router.get("/login")
async def login_page(request: Request) -> Response:
    return render(request, "login.html", None, next=local_path(request.query_params.get("next")))


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
        # The page the operator was headed for stays (only ever one of this app's: local_path).
        return RedirectResponse(login_url(local_path(str((await request.form()).get("next", "")))), 303)
    form = await checked_form(request)  # a forged form is refused (403) like every other
    wanted = local_path(str(form.get("next", "")))
    try:
        caller = await caller_of_key(runtime.sessions, runtime.secret, str(form.get("api_key", "")))
    except TenantCoreError as exc:
        if exc.status == 401:
            await limiter.failed(address)
        flash(request, "error", exc.message)
        # Post/redirect/get: the sign-in page again (the key is never kept), reloadable.
        return RedirectResponse(login_url(wanted), 303)
    sign_in(request, caller)
    return RedirectResponse(wanted or "/app", 303)


@router.post("/logout")
async def logout(request: Request) -> Response:
    await checked_form(request)
    request.session.clear()
    return RedirectResponse("/app/login", 303)


# --- pages ---------------------------------------------------------------------------------


@router.get("")
async def fleet(
    request: Request,
    caller: CallerDep,
    problems: str = "",
    days: str = "30",
    q: str = "",
    sort: str = "name",
    desc: str = "",
    page: str = "1",
) -> Response:
    if problems not in ("", "0"):  # the problems page's old address
        return RedirectResponse("/app/problems", 303)
    runtime = runtime_of(request)
    sort = sort if sort in tenants.FLEET_SORTS else "name"
    q = q.strip()[:100]
    view = await tenants.fleet(runtime, caller, q, sort, desc == "1")
    env = runtime.env(caller.mode)
    past = await history.fleet_history(runtime, caller, _window(days))
    pages = max(1, -(-len(view.rows) // FLEET_PAGE))
    page = min(max(1, forms.small_number(page) or 1), pages)  # a bad page is page 1

    def link(**changes: object) -> str:
        params = {"q": q, "sort": sort if sort != "name" else "", "desc": desc, "page": ""} | changes
        return "/app?" + urlencode({k: v for k, v in params.items() if v})

    return render(
        request,
        "fleet.html",
        caller,
        rows=view.rows[(page - 1) * FLEET_PAGE : page * FLEET_PAGE],
        matched=len(view.rows),
        totals=view.totals,
        q=q,
        sort=sort,
        desc=desc == "1",
        page=page,
        pages=pages,
        link=link,
        limits={"tenants": runtime.settings.tenant_limit, "domains": runtime.settings.domain_limit},
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
        wanted = ConnectTenant(tenant_name=name)
    except ValidationError:
        flash(request, "error", "A tenant name is one line of printable characters (no tabs or line breaks).")
        return RedirectResponse("/app", 303)
    try:
        tenant = await tenants.connect(runtime_of(request), caller, wanted)
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
    at = now()
    results = forms.expand(request.session.pop("bulk", None))
    return render(
        request,
        "tenant.html",
        caller,
        tenant=tenant,
        domains=rows,
        next_of=lambda d: progress.shown(d.next_action, d.action_count, d.created_at, at, runtime.settings.dns_grace),
        results=results,
        kept=request.session.pop("kept_domains", None) or "\n".join(forms.refused_names(results)),
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
    back = RedirectResponse(f"/app/tenants/{tenant_id}", 303)
    if upload is not None and not isinstance(upload, str):
        try:
            names += forms.csv_names(await upload.read())
        except forms.UnreadableCsv as exc:
            flash(request, "error", str(exc))
            _keep_names(request, names)
            return back
    names, cleaned = forms.clean_names(names)
    names = forms.unique(names)
    if not names:
        flash(request, "error", "Type at least one domain or choose a CSV file.")
        return back
    if cleaned:
        flash(request, "ok", forms.cleaned_message(cleaned))
    if len(names) > forms.MAX_NAMES:
        flash(request, "error", f"{len(names)} names: add at most {forms.MAX_NAMES} at a time.")
        _keep_names(request, names)
        return back
    try:
        result = await domains.bulk_add(runtime_of(request), caller, tenant_id, names)
    except TenantCoreError as exc:
        if exc.status != 404:  # an unknown tenant: its page says so
            flash(request, "error", exc.message)
            _keep_names(request, names)
        return back
    request.session["bulk"] = forms.summary(result)  # its refused names go back into the textarea
    flash(request, "ok" if not result.failed else "error", f"{result.added} added, {result.failed} failed.")
    return back


def _keep_names(request: Request, names: list[str]) -> None:
    """Names the tenant page's textarea shows again after the redirect (within the cookie's budget)."""
    text, dropped = forms.kept_text(names)
    request.session["kept_domains"] = text
    if dropped:
        flash(request, "error", f"{dropped} more name(s) did not fit in the form again: paste them back.")


@router.get("/tenants/{tenant_id}/domains/{name}")
async def domain_page(
    request: Request, caller: CallerDep, tenant_id: str, name: str, replace_mx: str = "", days: str = "30"
) -> Response:
    runtime = runtime_of(request)
    try:
        tenant, domain = await domains.load(runtime, caller, tenant_id, name)
    except TenantCoreError as exc:
        return error_page(request, caller, exc)
    settings = runtime.settings
    stored, statuses = progress.of_domain(domain)
    step = progress.shown(stored.action, stored.count, domain.created_at, now(), settings.dns_grace)
    can_publish = runtime.env(caller.mode).publisher is not None or domain.dns_provider_id is not None
    plan, plan_error = None, None
    try:
        plan = await publishing.plan(
            runtime, caller, tenant.ms_tenant_id, domain.name, replace_mx=replace_mx not in ("", "0")
        )
    except TenantCoreError as exc:
        plan_error = exc
    providers = (await dns_providers.listing(runtime, caller)).providers
    past = await history.domain_history(runtime, caller, tenant.ms_tenant_id, domain.name, _window(days))
    return render(
        request,
        "domain.html",
        caller,
        tenant=tenant,
        domain=domain,
        records=statuses,
        marks=progress.RECORD_MARKS,
        step=step,
        step_detail=step.detail(settings.check_interval, settings.dns_grace),
        steps=progress.steps(domain, statuses, step),
        dkim_words=progress.dkim_words(domain, statuses),
        new_dkim=[s for s in statuses if s.record.purpose == "dkim" and s.to_publish] if domain.is_verified else [],
        zone=registrable_zone(domain.name),
        plan=plan,
        plan_error=plan_error,
        replace_mx=replace_mx not in ("", "0"),
        providers=providers,
        linked=next((p for p in providers if p.id == domain.dns_provider_id), None),
        actions=_domain_actions(domain, statuses, step, can_publish),
        findings=domain.health.findings if domain.health else [],
        events=await events.recent(runtime, caller, 20, tenant.ms_tenant_id, domain.name),
        history=past,
        timeline=charts.domain_timeline(past),
        window_choices=WINDOWS,
    )


def _domain_actions(
    domain: Domain, statuses: list[progress.RecordStatus], step: progress.NextAction, can_publish: bool
) -> list[tuple[str, str, bool]]:
    """(action, label, primary): only the actions that make sense in the domain's state, the
    next action's first."""
    offered = ["check"]
    if can_publish and any(s.to_publish for s in statuses):
        offered.append("publish")
    if not domain.is_verified:
        offered.append("verify")
    elif not domain.dkim_enabled:
        offered.append("enable-dkim")
    primary = step.info.button if step.info.button in offered else None
    ordered = sorted(offered, key=lambda a: a != primary)
    return [(a, ACTIONS[a], a == primary) for a in ordered]


@router.post("/tenants/{tenant_id}/domains/{name}/dns/apply")
async def dns_apply(request: Request, caller: CallerDep, tenant_id: str, name: str) -> Response:
    form = await checked_form(request)
    try:
        out = await publishing.apply(
            runtime_of(request), caller, tenant_id, name, replace_mx=bool(form.get("replace_mx"))
        )
    except TenantCoreError as exc:
        if exc.status != 404:  # an unknown tenant or domain: its page says so
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
        if exc.status != 404 or exc.code == "dns_provider_not_found":  # else the page says what is unknown
            flash(request, "error", exc.message)
    else:
        where = f"{out.provider.name} (zone {out.provider.zone})" if out.provider else "no DNS provider"
        flash(request, "ok", f"Published through {where}; auto-repair {'on' if out.auto_repair else 'off'}.")
    return RedirectResponse(f"/app/tenants/{tenant_id}/domains/{name}", 303)


@router.post("/tenants/{tenant_id}/domains/{name}/{action}")
async def domain_action(request: Request, caller: CallerDep, tenant_id: str, name: str, action: str) -> Response:
    await checked_form(request)
    back = RedirectResponse(f"/app/tenants/{tenant_id}/domains/{name}", 303)
    if action not in CALLS:
        flash(request, "error", f"No action {action[:40]}.")
        return back
    call, done = CALLS[action]
    try:
        await call(runtime_of(request), caller, tenant_id, name)
        flash(request, "ok", done)
    except TenantCoreError as exc:
        if exc.status != 404:  # an unknown tenant or domain: its page says so
            flash(request, "error", exc.message)
    except MicrosoftError as exc:
        flash(request, "error", f"Microsoft: {exc.message}")
    return back


@router.get("/tenants/{tenant_id}/domains/{name}/export")
async def export(request: Request, caller: CallerDep, tenant_id: str, name: str, format: str = "bind") -> Response:
    try:
        _, domain = await domains.load(runtime_of(request), caller, tenant_id, name)
    except TenantCoreError as exc:
        return error_page(request, caller, exc)
    return download(domains.export(domain, format))


# --- DNS providers ---------------------------------------------------------------------------


@router.get("/dns-providers")
async def providers_page(request: Request, caller: CallerDep) -> Response:
    listing = await dns_providers.listing(runtime_of(request), caller)
    kinds = [spec for spec in KINDS.values() if spec.kind != "sandbox" or caller.mode == "test"]
    return render(
        request,
        "dns_providers.html",
        caller,
        providers=listing.providers,
        kinds=kinds,
        values=request.session.pop("provider_form", None) or {},  # a refused connect's form, but the secrets
        field_id=forms.field_id,
    )


@router.post("/dns-providers")
async def connect_provider(request: Request, caller: CallerDep) -> Response:
    """Connect: the credentials are tested by reading the zone before anything is stored. A
    refusal shows the page again with the provider's message and the form kept (but the secrets)."""
    form = await checked_form(request)
    try:
        out = await dns_providers.connect(runtime_of(request), caller, forms.connect_body(form))
    except TenantCoreError as exc:
        flash(request, "error", exc.message)
        # Post/redirect/get: the form comes back filled in from the session, never its secrets.
        request.session["provider_form"] = forms.kept_values(form)
        return RedirectResponse("/app/dns-providers", 303)
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
