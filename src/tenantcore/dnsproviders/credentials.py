"""Provider credentials at rest: Fernet (AES-128-CBC + HMAC-SHA256) under a key derived from
the server secret with HKDF, so the database alone (a backup, a stolen file) reveals nothing,
and rotating the server secret is the one thing that must be kept with the database."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tenantcore.errors import TenantCoreError

_PURPOSE = b"tenantcore/dns-provider-credentials/v1"


def _fernet(server_secret: bytes) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PURPOSE).derive(server_secret)
    return Fernet(base64.urlsafe_b64encode(key))


def seal(server_secret: bytes, credentials: Mapping[str, str]) -> str:
    return _fernet(server_secret).encrypt(json.dumps(dict(credentials)).encode()).decode()


def unseal(server_secret: bytes, token: str) -> dict[str, str]:
    if not token:
        return {}
    try:
        return json.loads(_fernet(server_secret).decrypt(token.encode()))
    except InvalidToken as exc:
        raise TenantCoreError(
            500,
            "dns_provider_credentials_unreadable",
            "This provider's credentials were sealed under another server secret; connect it again.",
        ) from exc
