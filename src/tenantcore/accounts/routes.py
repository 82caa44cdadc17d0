from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from tenantcore.accounts import service
from tenantcore.api.deps import CallerDep, RuntimeDep

router = APIRouter(tags=["api keys"])


class RotatedKey(BaseModel):
    api_key: str
    mode: str
    message: str


@router.post("/v1/api-key/rotate", response_model=RotatedKey)
async def rotate(runtime: RuntimeDep, caller: CallerDep) -> RotatedKey:
    """Issue a new key of the same mode; the key used for this call stops working at once."""
    key = await service.rotate(runtime.sessions, runtime.secret, caller)
    return RotatedKey(api_key=key, mode=caller.mode, message="Store this key now: it is shown only once.")
