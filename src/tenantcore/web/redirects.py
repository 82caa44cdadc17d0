"""Post/redirect/get, the other half: a GET on a URL that only takes the app's forms (a
reload, a bookmark, a link copied from the address bar) is sent to the page the form belongs
to, instead of a bare 405."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute

PREFIX = "/app"


def page_of(path: str, pages: set[str]) -> str:
    """The nearest page above a form's URL: `/app/tenants/{tenant_id}/domains` →
    `/app/tenants/{tenant_id}`, `/app/dns-providers/{provider_id}/test` → `/app/dns-providers`."""
    while path != PREFIX:
        path = path.rsplit("/", 1)[0] or PREFIX
        if path in pages:
            return path
    return PREFIX


def _redirect(page: str):  # type: ignore[no-untyped-def]
    async def to_page(request: Request) -> RedirectResponse:
        params = {k: quote(str(v), safe="") for k, v in request.path_params.items()}
        return RedirectResponse(page.format(**params), 303)

    return to_page


def install(app: FastAPI, *routers: APIRouter) -> None:
    """After the pages' routers: these routes only take the GETs no page answered."""
    routes = [r for router in routers for r in router.routes if isinstance(r, APIRoute)]
    pages = {r.path for r in routes if "GET" in r.methods}
    fallback = APIRouter(include_in_schema=False)
    for path in dict.fromkeys(r.path for r in routes if "POST" in r.methods):
        if path not in pages:
            fallback.add_api_route(path, _redirect(page_of(path, pages)), methods=["GET"])
    app.include_router(fallback)
