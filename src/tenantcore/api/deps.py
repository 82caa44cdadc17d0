"""FastAPI dependencies: the runtime, the calling account, and path parameters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.convertors import StringConvertor, register_url_convertor

from tenantcore.accounts.service import Caller, authenticate
from tenantcore.runtime import Runtime
from tenantcore.tenants import service as tenants


# Dependencies are `async def` on purpose: FastAPI runs plain `def` ones in a thread pool,
# a thread hop per dependency per request (it halved throughput, bench/README.md).
async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


async def get_session(runtime: Annotated[Runtime, Depends(get_runtime)]) -> AsyncIterator[AsyncSession]:
    """One session per request for authentication and reads: every database round trip on
    SQLite is a hop to aiosqlite's thread, so a request should make as few as it can."""
    async with runtime.sessions() as session:
        yield session


class ApiKeyBearer(HTTPBearer):
    """The `Authorization: Bearer <API key>` scheme as the OpenAPI document shows it. It hands
    the raw header on: `authenticate` tells a missing header, another scheme and an empty key
    apart (`invalid_auth_header`, `missing_api_key`), which HTTPBearer's own check would not."""

    async def __call__(self, request: Request) -> str | None:  # type: ignore[override]
        return request.headers.get("authorization")


api_key = ApiKeyBearer(
    scheme_name="ApiKey",
    bearerFormat="tc_live_… or tc_test_…",
    description="An API key: `tc_live_…` for real tenants, `tc_test_…` for the sandbox.",
    auto_error=False,
)


async def get_caller(
    request: Request,
    runtime: Annotated[Runtime, Depends(get_runtime)],
    session: Annotated[AsyncSession, Depends(get_session)],
    authorization: Annotated[str | None, Depends(api_key)],
) -> Caller:
    try:
        caller = await authenticate(session, runtime.secret, authorization)
        # Tells the rate limit (outside authentication) that this key is good, whatever the answer.
        request.scope.setdefault("state", {})["authenticated"] = True
        return caller
    finally:
        # Hand the connection back now: services open their own short sessions, and holding
        # this one across them exhausts the pool under concurrent writes.
        await session.close()


class TenantIdConvertor(StringConvertor):
    """`{tenant_id:tenant_id}` in a route's path: any segment but the words the tenants router
    uses for itself, so `DELETE /v1/tenants/connect` is a 405 for `/connect` (GET only) rather
    than a 400 for a tenant called "connect". A malformed GUID still reaches `tenant_guid`, which
    answers 400 `invalid_tenant_id`."""

    regex = "(?!(?:connect|callback)(?:/|$))[^/]+"


register_url_convertor("tenant_id", TenantIdConvertor())


async def tenant_guid(
    tenant_id: Annotated[
        str,
        # Declared as a string with format uuid (not a UUID) so a malformed one is our own
        # 400 `invalid_tenant_id`, not a generic validation error.
        Path(description="The Microsoft tenant GUID", json_schema_extra={"format": "uuid"}),
    ],
) -> str:
    return tenants.tenant_guid(tenant_id)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
CallerDep = Annotated[Caller, Depends(get_caller)]
TenantId = Annotated[str, Depends(tenant_guid)]
