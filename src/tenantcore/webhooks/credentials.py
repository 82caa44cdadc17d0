"""Webhook signing secrets at rest: sealed with `tenantcore.sealing` (they must be read back to
sign, so they cannot be hashed like API keys); shown once, when made."""

from __future__ import annotations

from tenantcore import sealing

_PURPOSE = "webhook-signing-secret"


def seal(server_secret: bytes, secret: str) -> str:
    return sealing.seal(server_secret, _PURPOSE, secret)


def unseal(server_secret: bytes, token: str) -> str:
    return sealing.unseal(server_secret, _PURPOSE, token)
