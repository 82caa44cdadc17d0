"""The TenantCore app: server-rendered pages over the same services as the API.

Signing in with an API key puts the caller (account, mode, key id — never the key) in a
signed, HttpOnly, SameSite=Strict session cookie; every page re-checks that the key is still
active, so rotating a key signs its sessions out. Every form carries a per-session CSRF token.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from sqlalchemy import case, func, select

from tenantcore.accounts.models import ApiKey
from tenantcore.accounts.service import Caller, authenticate
from tenantcore.api.errors import ApiError
from tenantcore.db import now
from tenantcore.dnshealth.names import registrable_zone, relative_to
from tenantcore.domains import repository as domains_repo
from tenantcore.domains import service as domains
from tenantcore.domains.models import Domain
from tenantcore.events.models import Event
from tenantcore.microsoft.errors import MicrosoftError
from tenantcore.runtime import Runtime
from tenantcore.tenants import service as tenants
from tenantcore.tenants.models import Tenant
from tenantcore.tenants.schemas import ConnectTenant

router = APIRouter(prefix="/app", include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
STATIC = Path(__file__).parent / "static"
GOOD, BAD = ("ok", "info"), ("warning", "error")
ACTIONS = {"check": "Re-check DNS", "verify": "Verify", "enable-dkim": "Enable DKIM", "publish": "Publish (sandbox)"}


def _badge(status: str | None) -> Markup:
    if status in (None, "missing"):
        return Markup('<span class="badge b-error">missing</span>')
    if status == "unknown":
        return Markup('<span class="badge b-unknown">unknown</span>')
    return Markup('<span class="badge b-ok" title="{}">present</span>').format(escape(status))


def _ago(when: datetime | None) -> str:
    if when is None:
        return "never"
    seconds = int((now() - when).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return "just now"


templates.env.globals.update(badge=_badge, ago=_ago)


def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def _csrf(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


async def _check_csrf(request: Request) -> dict[str, Any]:
    form = dict(await request.form())
    sent = str(form.get("csrf", ""))
    if not sent or not hmac.compare_digest(sent, request.session.get("csrf", "")):
        raise ApiError(403, "csrf_failed", "The form expired or did not come from this app; reload and try again.")
    return form


async def _caller(request: Request) -> Caller | None:
    data = request.session.get("caller")
    if not data:
        return None
    async with _runtime(request).sessions() as session:
        active = await session.scalar(select(ApiKey.id).where(ApiKey.id == data["key_id"], ApiKey.revoked_at.is_(None)))
    if active is None:  # the key was rotated: its sessions end with it
        request.session.clear()
        return None
    return Caller(data["account_id"], data["mode"], data["key_id"])


def _flash(request: Request, kind: str, text: str) -> None:
    request.session.setdefault("flashes", []).append([kind, text])


def _render(request: Request, name: str, caller: Caller | None, status: int = 200, **context: Any) -> HTMLResponse:
    interval = _runtime(request).settings.check_interval
    context |= {
        "caller": caller,
        "csrf": _csrf(request),
        "flashes": request.session.pop("flashes", []),
        "stale": lambda when: when is None or now() - when > timedelta(seconds=2 * interval),
    }
    return templates.TemplateResponse(request, name, context, status_code=status)


def _error(request: Request, caller: Caller | None, error: ApiError) -> HTMLResponse:
    title = {403: "Not allowed", 404: "Not found"}.get(error.status, "Something went wrong")
    return _render(request, "error.html", caller, error.status, code=error.status, title=title, message=error.message)


def _login() -> RedirectResponse:
    return RedirectResponse("/app/login", 303)


# --- sign in and out -----------------------------------------------------------------------


@router.get("/login")
async def login_page(request: Request) -> Response:
    return _render(request, "login.html", None)


@router.post("/login")
async def login(request: Request) -> Response:
    try:
        form = await _check_csrf(request)
        async with _runtime(request).sessions() as session:
            caller = await authenticate(
                session, _runtime(request).secret, f"Bearer {str(form.get('api_key', '')).strip()}"
            )
    except ApiError as exc:
        _flash(request, "error", exc.message)
        return _render(request, "login.html", None, 401 if exc.status == 401 else exc.status)
    request.session.clear()  # a fresh session (and CSRF token) at every sign-in
    request.session["caller"] = {"account_id": caller.account_id, "mode": caller.mode, "key_id": caller.key_id}
    return RedirectResponse("/app", 303)


@router.post("/logout")
async def logout(request: Request) -> Response:
    await _check_csrf(request)
    request.session.clear()
    return _login()


# --- pages ---------------------------------------------------------------------------------


@router.get("")
async def fleet(request: Request, problems: int = 0) -> Response:
    caller = await _caller(request)
    if caller is None:
        return _login()
    scope = (Tenant.account_id == caller.account_id, Tenant.mode == caller.mode)
    async with _runtime(request).sessions() as session:
        # One aggregate query for the whole fleet: fast with hundreds of tenants.
        listed = Domain.state != "pending"
        per_tenant = (
            await session.execute(
                select(
                    Tenant.ms_tenant_id.label("tenant_id"),
                    Tenant.tenant_name,
                    Tenant.tenant_domain,
                    Tenant.exchange_bootstrap_status.label("exchange"),
                    func.count(Domain.id).label("domains"),
                    func.count(case((Domain.grade.in_(GOOD), 1))).label("healthy"),
                    func.count(case((Domain.grade.in_(BAD), 1))).label("problems"),
                    func.count(case(((Domain.grade == "unknown") | (listed & Domain.grade.is_(None)), 1))).label(
                        "unknown"
                    ),
                    func.min(Domain.last_checked).label("oldest"),
                )
                .outerjoin(Domain, (Domain.tenant_id == Tenant.id) & listed)
                .where(*scope)
                .group_by(Tenant.id)
                .order_by(Tenant.tenant_name)
            )
        ).all()
        rows: list[Any] = list(per_tenant)
        if problems:
            rows = list(
                (
                    await session.execute(
                        select(
                            Domain.name,
                            Domain.grade,
                            Domain.spf_status,
                            Domain.dkim_status,
                            Domain.dmarc_status,
                            Domain.mx_status,
                            Domain.last_checked,
                            Tenant.ms_tenant_id.label("tenant_id"),
                            Tenant.tenant_name,
                        )
                        .join(Tenant, Tenant.id == Domain.tenant_id)
                        .where(*scope, Domain.grade.in_(BAD))
                        .order_by(Domain.grade.desc(), Domain.name)
                        .limit(1000)
                    )
                ).all()
            )
    totals = {
        "tenants": len(per_tenant),
        "domains": sum(t.domains for t in per_tenant),
        "healthy": sum(t.healthy for t in per_tenant),
        "problems": sum(t.problems for t in per_tenant),
        "unknown": sum(t.unknown for t in per_tenant),
    }
    return _render(request, "fleet.html", caller, rows=rows, totals=totals, problems=bool(problems))


@router.get("/connect")
async def connect_page(request: Request) -> Response:
    caller = await _caller(request)
    if caller is None:
        return _login()
    try:
        return RedirectResponse(tenants.consent_url(_runtime(request), caller), 303)
    except ApiError as exc:
        return _error(request, caller, exc)


@router.post("/tenants")
async def connect_tenant(request: Request) -> Response:
    caller = await _caller(request)
    if caller is None:
        return _login()
    form = await _check_csrf(request)
    try:
        tenant = await tenants.connect(
            _runtime(request), caller, ConnectTenant(tenant_name=str(form.get("tenant_name", "")).strip()[:64] or None)
        )
    except (ApiError, MicrosoftError) as exc:
        _flash(request, "error", exc.message)
        return RedirectResponse("/app", 303)
    _flash(request, "ok", f"Connected {tenant.tenant_name}.")
    return RedirectResponse(f"/app/tenants/{tenant.tenant_id}", 303)


async def _tenant_page(
    request: Request, caller: Caller, ms_tenant_id: str, results: list[Any] | None = None, status: int = 200
) -> Response:
    runtime = _runtime(request)
    tenant = await tenants.get(runtime, caller, ms_tenant_id)
    async with runtime.sessions() as session:
        rows = await domains_repo.for_tenant(session, tenant.id)
    return _render(
        request,
        "tenant.html",
        caller,
        status,
        tenant=tenant,
        domains=rows,
        results=results,
        limit=runtime.settings.domain_limit,
    )


@router.get("/tenants/{tenant_id}")
async def tenant_page(request: Request, tenant_id: str) -> Response:
    caller = await _caller(request)
    if caller is None:
        return _login()
    try:
        return await _tenant_page(request, caller, tenant_id)
    except ApiError as exc:
        return _error(request, caller, exc)


@router.post("/tenants/{tenant_id}/domains")
async def add_domains(request: Request, tenant_id: str) -> Response:
    caller = await _caller(request)
    if caller is None:
        return _login()
    form = await _check_csrf(request)
    names = [line.strip() for line in str(form.get("domains", "")).splitlines() if line.strip()][:100]
    results = []
    for name in names:
        try:
            domain, _ = await domains.add(_runtime(request), caller, tenant_id, name)
            results.append((domain.name, True, "Publish its records, then verify."))
        except (ApiError, MicrosoftError) as exc:
            results.append((name, False, exc.message))
    try:
        return await _tenant_page(request, caller, tenant_id, results)
    except ApiError as exc:
        return _error(request, caller, exc)


@router.get("/tenants/{tenant_id}/domains/{name}")
async def domain_page(request: Request, tenant_id: str, name: str) -> Response:
    caller = await _caller(request)
    if caller is None:
        return _login()
    runtime = _runtime(request)
    try:
        tenant, domain = await domains.load(runtime, caller, tenant_id, name)
    except ApiError as exc:
        return _error(request, caller, exc)
    zone = registrable_zone(domain.name)
    records = [
        {
            "host": relative_to(r.name, zone),
            "type": r.rtype,
            "value": f"{r.preference or 0} {r.value}" if r.rtype == "MX" else r.value,
            "ttl": r.ttl,
        }
        for r in domains.expected(domain).records
    ]
    async with runtime.sessions() as session:
        events = (
            await session.scalars(
                select(Event)
                .where(
                    Event.account_id == caller.account_id,
                    Event.mode == caller.mode,
                    Event.tenant_id == tenant.ms_tenant_id,
                    Event.domain_name == domain.name,
                )
                .order_by(Event.id.desc())
                .limit(20)
            )
        ).all()
    actions = [(a, label) for a, label in ACTIONS.items() if a != "publish" or caller.mode == "test"]
    return _render(
        request,
        "domain.html",
        caller,
        tenant=tenant,
        domain=domain,
        records=records,
        actions=actions,
        findings=(domain.health or {}).get("findings", []),
        events=events,
    )


@router.post("/tenants/{tenant_id}/domains/{name}/{action}")
async def domain_action(request: Request, tenant_id: str, name: str, action: str) -> Response:
    caller = await _caller(request)
    if caller is None:
        return _login()
    await _check_csrf(request)
    runtime = _runtime(request)
    calls = {
        "check": domains.dns_check,
        "verify": domains.verify,
        "enable-dkim": domains.enable_dkim,
        "publish": domains.publish,
    }
    if action not in calls:
        return _error(request, caller, ApiError(404, "not_found", f"No action {action}."))
    try:
        await calls[action](runtime, caller, tenant_id, name)
        _flash(
            request,
            "ok",
            {
                "check": "DNS re-checked.",
                "verify": "Verified in Microsoft 365.",
                "enable-dkim": "DKIM enabled.",
                "publish": "Records published to the sandbox DNS.",
            }[action],
        )
    except ApiError as exc:
        if exc.status == 404:
            return _error(request, caller, exc)
        _flash(request, "error", exc.message)
    except MicrosoftError as exc:
        _flash(request, "error", f"Microsoft: {exc.message}")
    return RedirectResponse(f"/app/tenants/{tenant_id}/domains/{name}", 303)


@router.get("/tenants/{tenant_id}/domains/{name}/export")
async def export(request: Request, tenant_id: str, name: str, format: str = "bind") -> Response:
    caller = await _caller(request)
    if caller is None:
        return _login()
    try:
        _, domain = await domains.load(_runtime(request), caller, tenant_id, name)
    except ApiError as exc:
        return _error(request, caller, exc)
    return domains.export_response(domain, format)


@router.get("/events")
async def events_page(request: Request) -> Response:
    caller = await _caller(request)
    if caller is None:
        return _login()
    async with _runtime(request).sessions() as session:
        rows = (
            await session.scalars(
                select(Event)
                .where(Event.account_id == caller.account_id, Event.mode == caller.mode)
                .order_by(Event.id.desc())
                .limit(100)
            )
        ).all()
    return _render(request, "events.html", caller, events=rows)
