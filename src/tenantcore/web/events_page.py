"""The app's events page: what happened to the caller's domains, filtered by type, tenant and
domain, 50 at a time, paged with the event-id cursor the API uses (`starting_after` for older,
`ending_before` for newer). The queries are the events repository's; nothing here reads SQL."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tenantcore.accounts.service import Caller
from tenantcore.domains.service import domain_name
from tenantcore.errors import TenantCoreError
from tenantcore.events import service as events
from tenantcore.events.models import Event
from tenantcore.tenants import service as tenants
from tenantcore.web import forms
from tenantcore.web.session import CallerDep, flash, render, runtime_of

router = APIRouter(prefix="/app", include_in_schema=False)
PAGE = 50
# Every check that sees a record change records one: across a fleet they bury the events an
# operator acts on, so the page leaves them out unless asked ("All types" or the type itself).
NOISY = ("domain.dns_changed",)
ALL = "all"


@dataclass
class Filters:
    type: str = ""  # "" all but the NOISY types, ALL every type, or one of events.TYPES
    tenant: str = ""  # a Microsoft tenant GUID
    domain: str = ""

    def query(self, **cursor: int) -> str:
        """The page's URL with these filters (and a cursor)."""
        params = {k: v for k, v in (("type", self.type), ("tenant", self.tenant), ("domain", self.domain)) if v}
        return "/app/events" + (f"?{urlencode(params | cursor)}" if params or cursor else "")


def _filters(type_: str, tenant: str, domain: str) -> Filters:
    """The filters as asked, each checked as the API checks it (a TenantCoreError for a bad one)."""
    type_, tenant, domain = type_.strip(), tenant.strip(), domain.strip()
    if type_ and type_ != ALL and type_ not in events.TYPES:
        raise TenantCoreError(400, "invalid_event_type", f"No event type {type_[:64]!r}: choose one from the list.")
    if tenant:
        tenant = tenants.tenant_guid(tenant, "The tenant filter must be a tenant GUID.")
    if domain:
        domain = domain_name(domain, new=False)
    return Filters(type_, tenant, domain)


def _cursor(raw: str | None, name: str) -> int | None:
    if raw is None or raw == "":
        return None
    number = forms.small_number(raw)
    if number is None or number < 1:
        raise TenantCoreError(400, "invalid_cursor", f"{name} must be an event id (a positive number).")
    return number


async def _window(
    request: Request, caller: Caller, f: Filters, starting_after: int | None, ending_before: int | None
) -> tuple[list[Event], str | None, str | None]:
    """A page of events and the links to the newer and older pages (None where there is none)."""
    runtime = runtime_of(request)
    scope = {
        "tenant_id": f.tenant or None,
        "domain_name": f.domain or None,
        "type_": f.type if f.type not in ("", ALL) else None,
        "exclude_types": NOISY if f.type == "" else (),
    }
    rows = await events.window(
        runtime, caller, PAGE + 1, starting_after=starting_after, ending_before=ending_before, **scope
    )
    if ending_before is not None:
        if len(rows) <= PAGE:  # back at the newest: the first page, full, as without a cursor
            rows = await events.window(runtime, caller, PAGE + 1, **scope)
            ending_before = None
        else:
            rows = rows[1:]  # the extra one is the newest: it starts the page before
            return rows, f.query(ending_before=rows[0].id), f.query(starting_after=rows[-1].id)
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    newer = f.query(ending_before=rows[0].id) if starting_after is not None and rows else None
    older = f.query(starting_after=rows[-1].id) if more else None
    return rows, newer, older


@router.get("/events")
async def events_page(
    request: Request,
    caller: CallerDep,
    type: str = "",
    tenant: str = "",
    domain: str = "",
    starting_after: str | None = None,
    ending_before: str | None = None,
) -> Response:
    listing = await tenants.list_tenants(runtime_of(request), caller)
    status, rows, newer, older = 200, [], None, None
    f = Filters(type, tenant[:64], domain[:253])
    try:
        f = _filters(type, tenant, domain)
        rows, newer, older = await _window(
            request,
            caller,
            f,
            _cursor(starting_after, "starting_after"),
            _cursor(ending_before, "ending_before"),
        )
    except TenantCoreError as exc:
        status = exc.status
        flash(request, "error", exc.message)
    return render(
        request,
        "events.html",
        caller,
        status,
        section="events",
        events=rows,
        filters=f,
        types=events.TYPES,
        noisy=NOISY,
        all_types=Filters(ALL, f.tenant, f.domain).query(),
        tenants=listing.tenants,
        tenant_names={t.tenant_id: t.tenant_name for t in listing.tenants},
        newer=newer,
        older=older,
    )
