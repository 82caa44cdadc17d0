"""Secrets at rest (DNS provider credentials, webhook signing secrets): Fernet (AES-128-CBC +
HMAC-SHA256) under a key derived with HKDF from the server secret, one key per purpose, so
the database alone (a backup, a stolen file) reveals nothing. The server secret must be kept
with the database: without it, sealed values cannot be read back."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class Unreadable(Exception):
    """Sealed under another server secret."""


def _fernet(server_secret: bytes, purpose: str) -> Fernet:
    info = f"tenantcore/{purpose}/v1".encode()
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(server_secret)
    return Fernet(base64.urlsafe_b64encode(key))


def seal(server_secret: bytes, purpose: str, text: str) -> str:
    return _fernet(server_secret, purpose).encrypt(text.encode()).decode()


def unseal(server_secret: bytes, purpose: str, token: str) -> str:
    try:
        return _fernet(server_secret, purpose).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise Unreadable(purpose) from exc
