"""Webhook signing secrets at rest: sealed with `tenantcore.sealing` (they must be read back to
sign, so they cannot be hashed like API keys); shown once, when made.

A rotation keeps the secret it replaces signing beside the new one for an overlap, so receivers
switch without losing a delivery. A second rotation during that overlap keeps both older
secrets, each until its own overlap ends (as Svix does): a receiver still on the oldest is not
cut off early. At most `MAX_PREVIOUS` sign beside the current one (Svix's bound too): each adds
a signature to every delivery's header."""

from __future__ import annotations

from datetime import datetime

from tenantcore import sealing

_PURPOSE = "webhook-signing-secret"
MAX_PREVIOUS = 5

Previous = dict[str, str]  # {"secret": sealed, "until": ISO 8601 time}


def seal(server_secret: bytes, secret: str) -> str:
    return sealing.seal(server_secret, _PURPOSE, secret)


def unseal(server_secret: bytes, token: str) -> str:
    return sealing.unseal(server_secret, _PURPOSE, token)


def still_signing(previous: list[Previous] | None, at: datetime) -> list[Previous]:
    """The replaced secrets whose overlap lasts beyond `at`, newest first."""
    kept = [p for p in previous or [] if until(p) > at]
    return sorted(kept, key=until, reverse=True)


def until(entry: Previous) -> datetime:
    return datetime.fromisoformat(entry["until"])


def previous(sealed: str, ends: datetime) -> Previous:
    return {"secret": sealed, "until": ends.isoformat()}


def last_until(previous: list[Previous] | None, at: datetime) -> datetime | None:
    """When the last replaced secret stops signing (None: only the current one signs)."""
    kept = still_signing(previous, at)
    return until(kept[0]) if kept else None
