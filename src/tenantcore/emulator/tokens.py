"""Access tokens the emulator issues and checks: JWTs with an audience, so a Graph token
sent to Exchange is refused, as Microsoft refuses it."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt

from tenantcore.emulator.state import EmulatorState, Tenant


def issue(state: EmulatorState, tenant: Tenant, client_id: str, audience: str, roles: list[str]) -> str:
    now = int(time.time())
    claims = {
        "aud": audience,
        "iss": f"https://sts.windows.net/{tenant.id}/",
        "tid": tenant.id,
        "appid": client_id,
        "roles": roles,
        "iat": now,
        "nbf": now,
        "exp": now + state.token_lifetime,
        "uti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, state.signing_key, algorithm="HS256")


def check(state: EmulatorState, authorization: str | None, audience: str) -> dict[str, Any] | None:
    """The token's claims, or None when it is missing, forged, expired or for another API."""
    if not authorization or not authorization.startswith("Bearer "):
        return None
    try:
        return jwt.decode(authorization[7:], state.signing_key, algorithms=["HS256"], audience=audience)
    except jwt.PyJWTError:
        return None
