"""Provider credentials at rest, sealed with `tenantcore.sealing` (never returned, never logged)."""

from __future__ import annotations

import json
from collections.abc import Mapping

from tenantcore import sealing
from tenantcore.errors import TenantCoreError

_PURPOSE = "dns-provider-credentials"


def seal(server_secret: bytes, credentials: Mapping[str, str]) -> str:
    return sealing.seal(server_secret, _PURPOSE, json.dumps(dict(credentials)))


def unseal(server_secret: bytes, token: str) -> dict[str, str]:
    if not token:
        return {}
    try:
        return json.loads(sealing.unseal(server_secret, _PURPOSE, token))
    except sealing.Unreadable as exc:
        raise TenantCoreError(
            500,
            "dns_provider_credentials_unreadable",
            "This provider's credentials were sealed under another server secret; connect it again.",
        ) from exc
