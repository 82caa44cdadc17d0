"""The problems page (the fleet's work list, by next action) with its bulk actions, and the zone
files: one per tenant, or one per tenant of a selection, in a zip."""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import Awaitable, Callable
from typing import Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from tenantcore.accounts.service import Caller
from tenantcore.api.downloads import download
from tenantcore.db import now
from tenantcore.domains import publishing, worklist
from tenantcore.domains import service as domains
from tenantcore.domains.progress import ACTIONS, group_title, title
from tenantcore.errors import TenantCoreError
from tenantcore.microsoft.errors import MicrosoftError
from tenantcore.runtime import Runtime
from tenantcore.tenants import service as tenants
from tenantcore.web.session import CallerDep, checked_form, error_page, flash, render, runtime_of

router = APIRouter(prefix="/app", include_in_schema=False)

MAX_SELECTED: Final = 100  # a bulk action's domains (two pages of the list)
BULK_CONCURRENCY: Final = 4  # Microsoft throttles per tenant; a few at a time is fast enough

Call = Callable[[Runtime, Caller, str, str], Awaitable[Any]]


async def _apply(runtime: Runtime, caller: Caller, tenant_id: str, name: str) -> Any:
    return await publishing.apply(runtime, caller, tenant_id, name, replace_mx=False)


# op → (the call, the button's words, the past tense for the summary)
BULK: Final[dict[str, tuple[Call, str, str]]] = {
    "check": (domains.dns_check, "Re-check DNS", "re-checked"),
    "publish": (_apply, "Publish records", "published"),
    "verify": (domains.verify, "Verify", "verified"),
    "enable-dkim": (domains.enable_dkim, "Enable DKIM", "DKIM enabled"),
}


@router.get("/problems")
async def problems_page(request: Request, caller: CallerDep) -> Response:
    """Filters, sort and page come from the query string (`WorklistQuery.clean` reads them)."""
    runtime = runtime_of(request)
    wanted = worklist.WorklistQuery.clean(request.query_params)
    async with runtime.sessions() as session:
        work = await worklist.worklist(session, caller, wanted, now(), runtime.settings.dns_grace)
    return render(
        request,
        "problems.html",
        caller,
        work=work,
        actions=ACTIONS,
        action_title=title,
        group_title=group_title,
        grades=worklist.GRADES,
        sorts=worklist.SORTS,
        bulk=[(op, words) for op, (_, words, _) in BULK.items()],
        link=lambda **changes: "/app/problems?" + urlencode(work.query.params(**changes)),
        back=urlencode(work.query.params()),
        per_page=worklist.PER_PAGE,
        max_selected=MAX_SELECTED,
    )


def _selection(values: list[str]) -> list[tuple[str, str]]:
    """`tenant_id/name` pairs from the checkboxes, each once, in order."""
    out: dict[tuple[str, str], None] = {}  # ordered, and the same domain in any case once
    for value in values:
        tenant_id, sep, name = value.partition("/")
        pair = (tenant_id.strip().lower(), name.strip().lower().rstrip("."))
        if sep and all(pair):
            out[pair] = None
    return list(out)


@router.post("/problems/bulk")
async def bulk(request: Request, caller: CallerDep) -> Response:
    form = await checked_form(request)
    back = "/app/problems" + ("?" + str(form["back"]) if form.get("back") else "")
    selected = _selection([str(v) for v in (await request.form()).getlist("d")])
    op = str(form.get("op", ""))
    if not selected:
        flash(request, "error", "Select at least one domain (the boxes in the first column).")
        return RedirectResponse(back, 303)
    if len(selected) > MAX_SELECTED:
        flash(request, "error", f"{len(selected)} domains selected: at most {MAX_SELECTED} at a time.")
        return RedirectResponse(back, 303)
    if op == "export":
        return await _zones_of(request, caller, selected)
    if op not in BULK:
        flash(request, "error", "Choose an action: " + ", ".join(words for _, words, _ in BULK.values()) + ".")
        return RedirectResponse(back, 303)
    call, _, done = BULK[op]
    runtime = runtime_of(request)
    gate = asyncio.Semaphore(BULK_CONCURRENCY)

    async def one(tenant_id: str, name: str) -> tuple[str, str] | None:
        async with gate:
            try:
                await call(runtime, caller, tenant_id, name)
            except (TenantCoreError, MicrosoftError) as exc:
                return name, exc.message
            return None

    failures = [f for f in await asyncio.gather(*(one(t, n) for t, n in selected)) if f]
    ok = len(selected) - len(failures)
    if ok:
        flash(request, "ok", f"{ok} domain{'' if ok == 1 else 's'} {done}.")
    if failures:
        flash(request, "error", failure_message(failures))
    return RedirectResponse(back, 303)


FAILURE_BUDGET = 1200  # characters: the flash travels in the session cookie (4 KB in all)
REASONS_SHOWN = 3


def failure_message(failures: list[tuple[str, str]]) -> str:
    """The reasons of the first few failures, then every other failed domain by name, as many
    as the budget holds: '5 failed. a.com: …; b.com: …; c.com: …. Also d.com, e.com.'"""
    shown = failures[:REASONS_SHOWN]
    reasons = "; ".join(f"{name}: {message.rstrip('.')[:300]}" for name, message in shown)
    text = f"{len(failures)} failed. {reasons}."
    others = [name for name, _ in failures[REASONS_SHOWN:]]
    if others:
        listed: list[str] = []
        for name in others:
            if len(text) + len(", ".join([*listed, name])) + 60 > FAILURE_BUDGET:  # room for the tail
                break
            listed.append(name)
        left = len(others) - len(listed)
        text += " Also " + ", ".join(listed) + (f" and {left} more" if left else "") + " (reasons on their pages)."
    return text if len(text) <= FAILURE_BUDGET else text[: FAILURE_BUDGET - 1] + "…"  # very long names


async def _zones_of(request: Request, caller: Caller, selected: list[tuple[str, str]]) -> Response:
    """One zone file per tenant of the selection: a single file for one tenant, else a zip."""
    runtime = runtime_of(request)
    by_tenant: dict[str, list[str]] = {}
    for tenant_id, name in selected:
        by_tenant.setdefault(tenant_id, []).append(name)
    files: list[domains.Export] = []
    for tenant_id, names in by_tenant.items():
        try:
            tenant, rows = await tenants.with_domains(runtime, caller, tenant_id)
        except TenantCoreError as exc:
            return error_page(request, caller, exc)
        wanted = {n.lower() for n in names}
        files.append(domains.tenant_export(tenant.tenant_name, [d for d in rows if d.name in wanted], "bind"))
    if len(files) == 1:
        return download(files[0])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for export in files:
            archive.writestr(export.filename, export.body)
    return download(domains.Export(buffer.getvalue(), "application/zip", "zones.zip"))


@router.get("/tenants/{tenant_id}/zone")
async def tenant_zone(request: Request, caller: CallerDep, tenant_id: str, format: str = "bind") -> Response:
    """Every record of every domain of the tenant: one BIND file (a `$ORIGIN` per zone) or CSV."""
    try:
        tenant, rows = await tenants.with_domains(runtime_of(request), caller, tenant_id)
    except TenantCoreError as exc:
        return error_page(request, caller, exc)
    return download(domains.tenant_export(tenant.tenant_name, rows, "csv" if format == "csv" else "bind"))
