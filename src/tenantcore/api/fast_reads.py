"""`GET /v1/tenants/{tenant_id}/domains` answered ahead of FastAPI's routing.

The domain list is what automations poll: FastAPI's path for it (routing through every route,
dependency injection, response-model validation) cost more CPU than the read itself. This
middleware answers that one path with `domains.listing.Listing` (authentication and read in
one statement, JSON encoded once) and the same errors, in the same order, as the route, which
stays in FastAPI for the OpenAPI document and uses the same `Listing`. Anything else (another
method, a query string, another path) goes on to FastAPI untouched."""

from __future__ import annotations

import json
import re

from starlette.types import ASGIApp, Receive, Scope, Send

from tenantcore.accounts.service import bearer_token
from tenantcore.api.deps import TenantIdConvertor
from tenantcore.errors import TenantCoreError
from tenantcore.runtime import Runtime
from tenantcore.tenants.service import tenant_guid

ROUTE = "/v1/tenants/{tenant_id}/domains"
# The route's own path converter: the same segments are a tenant id here as in FastAPI.
_PATH = re.compile(rf"^/v1/tenants/({TenantIdConvertor.regex})/domains$")
_JSON = (b"content-type", b"application/json")


class FastReads:
    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.listing = runtime.listing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = _PATH.match(scope["path"]) if scope["type"] == "http" and scope["method"] == "GET" else None
        if match is None or scope["query_string"]:
            await self.app(scope, receive, send)
            return
        scope["tenantcore.route"] = ROUTE  # what metrics label it by
        authorization = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
                break
        try:
            token = bearer_token(authorization)
            body = await self.listing.read(token, await self._tenant_id(token, match.group(1)))
            status, headers = 200, [_JSON]
            scope.setdefault("state", {})["authenticated"] = True
        except TenantCoreError as error:
            status = error.status
            if status != 401:  # the key was checked first: it is good (what the rate limiter learns)
                scope.setdefault("state", {})["authenticated"] = True
            body = json.dumps({"detail": {"code": error.code, "message": error.message}}).encode()
            headers = [_JSON, *((k.lower().encode(), v.encode()) for k, v in (error.headers or {}).items())]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _tenant_id(self, token: str, raw: str) -> str:
        """The GUID, or its 400: after the key is checked, as FastAPI's dependencies order it
        (a caller without a valid key learns nothing, not even that the id is malformed)."""
        try:
            return tenant_guid(raw)
        except TenantCoreError as invalid:
            try:
                await self.listing.read(token, "")
            except TenantCoreError as error:
                if error.status == 401:
                    raise
            raise invalid from None
