"""FastAPI dependencies: the runtime, the calling account, and path parameters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, Path, Request
from sqlalchemy.ext.asyncio import AsyncSession

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


async def get_caller(
    request: Request,
    runtime: Annotated[Runtime, Depends(get_runtime)],
    session: Annotated[AsyncSession, Depends(get_session)],
    authorization: Annotated[str | None, Header(description="Bearer tc_live_… or tc_test_…")] = None,
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


async def tenant_guid(tenant_id: Annotated[str, Path(description="The Microsoft tenant GUID")]) -> str:
    return tenants.tenant_guid(tenant_id)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
CallerDep = Annotated[Caller, Depends(get_caller)]
TenantId = Annotated[str, Depends(tenant_guid)]
