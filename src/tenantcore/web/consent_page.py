"""The page a tenant admin's browser lands on after Microsoft's admin-consent screen.

`GET /v1/tenants/callback` answers JSON to API clients. A browser (it asks for text/html) gets
this page instead: the same outcome in words, with a link into the app. Not a redirect: the
session cookie is SameSite=Strict, so a navigation that started on Microsoft's site arrives
without it, and a redirect would land on the sign-in page; a click on this page's link is
same-site and carries the cookie. The page never touches the session, so it cannot replace the
operator's session cookie with an empty one either.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from tenantcore.errors import TenantCoreError
from tenantcore.tenants.schemas import TenantOut
from tenantcore.web.session import templates


def wants_html(request: Request) -> bool:
    """A browser's navigation: it lists text/html, and not after JSON."""
    accept = request.headers.get("accept", "")
    html, json = accept.find("text/html"), accept.find("application/json")
    return html >= 0 and (json < 0 or html < json)


def consent_page(
    request: Request, tenant: TenantOut | None, error: TenantCoreError | None = None, already: str | None = None
) -> HTMLResponse:
    """The outcome: `tenant` just connected, `already` (its GUID) connected before, or `error`."""
    context = {"caller": None, "nav": [], "csrf": "", "flashes": [], "tenant": tenant, "error": error}
    context["already"] = already
    status = error.status if error is not None else 200
    return templates.TemplateResponse(request, "consent_result.html", context, status_code=status)
