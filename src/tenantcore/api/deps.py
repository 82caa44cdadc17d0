"""FastAPI dependencies: the runtime, the calling account, and path parameters."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Header, Path, Request

from tenantcore.accounts.service import Caller, authenticate
from tenantcore.api.errors import ApiError
from tenantcore.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


async def get_caller(
    runtime: Annotated[Runtime, Depends(get_runtime)],
    authorization: Annotated[str | None, Header(description="Bearer tc_live_… or tc_test_…")] = None,
) -> Caller:
    async with runtime.sessions() as session:
        return await authenticate(session, runtime.secret, authorization)


def tenant_guid(tenant_id: Annotated[str, Path(description="The Microsoft tenant GUID")]) -> str:
    try:
        return str(UUID(tenant_id))
    except ValueError as exc:
        raise ApiError(400, "invalid_tenant_id", f"'{tenant_id[:64]}' is not a tenant GUID.") from exc


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
CallerDep = Annotated[Caller, Depends(get_caller)]
TenantId = Annotated[str, Depends(tenant_guid)]
