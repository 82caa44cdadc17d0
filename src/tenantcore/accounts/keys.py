"""API keys: `tc_live_` or `tc_test_` + 48 hex characters, stored only as an HMAC."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

KEY_FORMAT = re.compile(r"^tc_(live|test)_[0-9a-f]{48}$")
MODES = ("live", "test")


def generate(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    return f"tc_{mode}_{secrets.token_hex(24)}"


def mode_of(key: str) -> str | None:
    match = KEY_FORMAT.match(key)
    return match.group(1) if match else None


def digest(secret: bytes, key: str) -> str:
    return hmac.new(secret, key.encode(), hashlib.sha256).hexdigest()


def load_or_create_secret(path: Path, configured: str | None) -> bytes:
    """The server's HMAC key: from settings, else a file in the data dir created once (0600).
    Losing it invalidates every API key, so it lives beside the database it protects."""
    if configured:
        return configured.encode()
    if path.exists():
        return bytes.fromhex(path.read_text().strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value.hex())
    return value
