"""The app's lifecycle pages: delete a domain (after a page that says what goes at Microsoft
and at the DNS provider), sync and disconnect a tenant, connect a tenant by its GUID, and what
live mode still lacks before the consent button can work. Over the same services as the API
(`domains.delete`, `tenants.sync`, `tenants.disconnect`, `tenants.connect`); every form is
post/redirect/get."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from tenantcore.accounts.service import Caller
from tenantcore.dnshealth.names import registrable_zone, relative_to
from tenantcore.domains import publishing
from tenantcore.domains import service as domains
from tenantcore.errors import TenantCoreError
from tenantcore.microsoft.errors import MicrosoftError
from tenantcore.tenants import service as tenants
from tenantcore.tenants.schemas import ConnectTenant
from tenantcore.web.session import CallerDep, checked_form, error_page, flash, render, runtime_of, templates

router = APIRouter(prefix="/app", include_in_schema=False)


def connect_prerequisites(request: Request, caller: Caller | None) -> list[tenants.MissingSetting]:
    """For the fleet page's connect card (a template global: the card is self-contained)."""
    return [] if caller is None else tenants.consent_prerequisites(runtime_of(request), caller)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _names(names: list[str], shown: int = 5) -> str:
    """A few names and a count of the rest (a flash rides in the 4 KB session cookie)."""
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more} more" if more > 0 else "")


def kept_value(request: Request, key: str) -> str:
    """A value a refused form left in the session for the page it redirected to (read once)."""
    return str(request.session.pop(key, "") or "")


templates.env.globals.update(connect_prerequisites=connect_prerequisites, kept_value=kept_value)


# --- delete a domain ---------------------------------------------------------------------------


@router.get("/tenants/{tenant_id}/domains/{name}/delete")
async def delete_page(request: Request, caller: CallerDep, tenant_id: str, name: str) -> Response:
    """What a delete removes, read now: the domain in the Microsoft 365 tenant, and at the DNS
    provider only the values TenantCore wrote that nobody changed since."""
    runtime = runtime_of(request)
    try:
        tenant, domain = await domains.load(runtime, caller, tenant_id, name)
        preview = await publishing.removal(runtime, caller, tenant_id, name)
    except TenantCoreError as exc:
        return error_page(request, caller, exc)
    zone = preview.zone or registrable_zone(domain.name)

    def host(record_name: str) -> str:
        try:
            return relative_to(record_name, zone)
        except ValueError:
            return record_name

    return render(
        request,
        "domain_delete.html",
        caller,
        tenant=tenant,
        domain=domain,
        preview=preview,
        host=host,
        # The result after deleting counts record sets (the SPF and the MS= TXT share one): say both.
        taken_back_sets=len({(r.name, r.rtype) for r in preview.taken_back}),
    )


@router.post("/tenants/{tenant_id}/domains/{name}/delete")
async def delete_domain(request: Request, caller: CallerDep, tenant_id: str, name: str) -> Response:
    await checked_form(request)
    domain_url = f"/app/tenants/{tenant_id}/domains/{name}"
    try:
        taken_back = await domains.delete(runtime_of(request), caller, tenant_id, name)
    except TenantCoreError as exc:
        if exc.status == 404:  # gone already, or never here: the page says which
            return RedirectResponse(domain_url, 303)
        if exc.code == "domain_has_references":
            flash(
                request,
                "error",
                f"Nothing was deleted: {exc.message} Move those users, groups and mailboxes to another "
                "domain in the Microsoft 365 admin center, then delete again.",
            )
        else:
            flash(request, "error", f"Nothing was deleted: {exc.message}")
        return RedirectResponse(domain_url, 303)
    except MicrosoftError as exc:
        flash(request, "error", f"Nothing was deleted: Microsoft: {exc.message}")
        return RedirectResponse(domain_url, 303)
    dns_part = (
        f"{_plural(len(taken_back), 'record set')} TenantCore wrote taken back at the DNS provider"
        if taken_back
        else "nothing changed at the DNS provider"
    )
    flash(request, "ok", f"Deleted {name} from Microsoft 365 and TenantCore; {dns_part}.")
    return RedirectResponse(f"/app/tenants/{tenant_id}", 303)


# --- a tenant: sync, disconnect ----------------------------------------------------------------


@router.post("/tenants/{tenant_id}/sync")
async def sync_tenant(request: Request, caller: CallerDep, tenant_id: str) -> Response:
    """Read the tenant's domain list in Microsoft again and say what that changed here."""
    await checked_form(request)
    back = RedirectResponse(f"/app/tenants/{tenant_id}", 303)
    try:
        result = await tenants.sync(runtime_of(request), caller, tenant_id)
    except TenantCoreError as exc:
        if exc.status != 404:  # an unknown tenant: its page says so
            flash(request, "error", exc.message)
        return back
    except MicrosoftError as exc:
        flash(request, "error", f"Microsoft: {exc.message}")
        return back
    changes = [
        f"{label} {_names(names)}"
        for label, names in (("added", result.added), ("removed", result.removed), ("updated", result.updated))
        if names
    ]
    if changes:
        flash(request, "ok", f"Synced with Microsoft 365: {'; '.join(changes)}.")
    else:
        flash(request, "ok", f"Synced with Microsoft 365: no change ({_plural(result.domain_count, 'domain')}).")
    return back


@router.post("/tenants/{tenant_id}/disconnect")
async def disconnect_tenant(request: Request, caller: CallerDep, tenant_id: str) -> Response:
    await checked_form(request)
    runtime = runtime_of(request)
    try:
        tenant = await tenants.read(runtime, caller, tenant_id)
        await tenants.disconnect(runtime, caller, tenant_id)
    except TenantCoreError as exc:
        if exc.status != 404:
            flash(request, "error", exc.message)
            return RedirectResponse(f"/app/tenants/{tenant_id}", 303)
        flash(request, "error", exc.message)  # disconnected meanwhile: the fleet shows it is gone
        return RedirectResponse("/app", 303)
    flash(
        request,
        "ok",
        f"Disconnected {tenant.tenant_name}: TenantCore forgot it and its {_plural(tenant.domain_count, 'domain')}; "
        "nothing changed in Microsoft 365 or at DNS providers.",
    )
    return RedirectResponse("/app", 303)


# --- connect by tenant ID ----------------------------------------------------------------------


@router.get("/tenants/by-id")
async def connect_by_id_page(request: Request, caller: CallerDep) -> Response:
    # Before the tenant page's /tenants/{tenant_id} (this router comes first): a reload of the
    # form's URL lands on the fleet page's connect card, not on "no tenant by-id".
    return RedirectResponse("/app#connect", 303)


@router.post("/tenants/by-id")
async def connect_by_id(request: Request, caller: CallerDep) -> Response:
    """Connect a tenant whose admin has consented (live), or an existing sandbox tenant, by
    its Microsoft tenant GUID."""
    form = await checked_form(request)
    raw = str(form.get("tenant_id", "")).strip()
    back = RedirectResponse("/app#connect", 303)
    try:
        guid = UUID(raw)
    except ValueError:
        shown = raw[:64] or "nothing"
        flash(
            request,
            "error",
            f"Tenant ID: {shown!r} is not a tenant GUID. It looks like 72f988bf-86f1-41af-91ab-2d7cd011db47: "
            "Microsoft Entra admin center → Overview → Tenant ID.",
        )
        request.session["connect_tenant_id"] = raw[:64]
        return back
    name = str(form.get("tenant_name", "")).strip()[:64] or None
    try:
        tenant = await tenants.connect(runtime_of(request), caller, ConnectTenant(tenant_id=guid, tenant_name=name))
    except (TenantCoreError, MicrosoftError) as exc:
        flash(request, "error", exc.message)
        request.session["connect_tenant_id"] = raw[:64]
        return back
    flash(request, "ok", f"Connected {tenant.tenant_name} ({_plural(tenant.domain_count, 'domain')} found).")
    return RedirectResponse(f"/app/tenants/{tenant.tenant_id}", 303)
