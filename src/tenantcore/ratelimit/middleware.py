"""Rate limits on the API (`/v1/…`), as pure ASGI middleware.

It sits outside authentication (the fast read path authenticates on its own), so it learns
who is calling from the `Authorization` header and whether the key was good from what the
request ended as: authenticated (the marker `authenticated` in the scope's state, set by
whoever authenticated) or a 2xx/3xx. Only keys known good get a bucket (memory stays bounded
however many random keys an attacker sends); a request with an unknown key or none is counted
against its client address when it fails authentication (401), and an address over that
limit gets 429 for anything but a key already known good (a caller behind the same NAT with a
working key is not locked out by someone else's guessing).

Every response of the API carries `RateLimit-Limit`, `RateLimit-Remaining` and
`RateLimit-Reset`: of the key's bucket for a known key, else of the address's failed-sign-in
budget. A refusal is a 429 `rate_limited` with `Retry-After` (whole seconds, at least 1).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tenantcore.config import Settings
from tenantcore.ratelimit.buckets import Buckets, LocalBuckets, SharedBuckets, Verdict

log = logging.getLogger("tenantcore.ratelimit")
MAX_KNOWN_KEYS = 100_000


class RateLimiter:
    """The buckets of one process: per API key (`keys`) and failed authentications per client
    address (`failures`); either is None when switched off."""

    def __init__(self, settings: Settings, secret: bytes, engine: AsyncEngine) -> None:
        shared = engine.dialect.name == "postgresql"

        def buckets(rate: float, burst: int, prefix: str) -> Buckets:
            return SharedBuckets(engine, rate, burst, prefix) if shared else LocalBuckets(rate, burst)

        self.keys = buckets(settings.rate_limit, settings.rate_limit_burst, "key") if settings.rate_limit > 0 else None
        failures = settings.auth_failure_limit
        self.failures = buckets(failures / settings.auth_failure_window, failures, "auth") if failures > 0 else None
        # Keys are known by a keyed digest, never kept in clear; blake2b is ~3x cheaper than HMAC.
        self._digest_key = hmac.new(secret, b"tenantcore rate limit", hashlib.sha256).digest()
        self.known: set[str] = set()
        self._logged: dict[str, float] = {}

    def identity(self, authorization: bytes | None) -> str | None:
        if not authorization or len(authorization) > 200:
            return None
        # The key alone: the scheme's case and the spaces around the key are free to vary
        # (`bearer`, `Bearer  key `), and each spelling must not get a bucket of its own.
        token = authorization.partition(b" ")[2].strip()
        if not token:
            return None
        return hashlib.blake2b(token, key=self._digest_key, digest_size=16).hexdigest()

    def remember(self, name: str) -> None:
        if len(self.known) >= MAX_KNOWN_KEYS:
            self.known.clear()  # they prove themselves again on their next request
        self.known.add(name)

    def refused_address(self, address: str) -> Verdict | None:
        return self.failures.blocked(address) if self.failures is not None else None

    async def failed(self, address: str) -> Verdict | None:
        """Count a failed authentication from `address`; the verdict says what budget is left."""
        if self.failures is None:
            return None
        verdict = self.failures.try_take(address) or await self.failures.take(address)
        if not verdict.allowed:
            self.note(
                f"auth:{address}",
                "rate limit: too many failed authentications from %s; refused for %d s",
                address,
                verdict.reset,
            )
        return verdict

    def note(self, what: str, message: str, *args: object) -> None:
        """Log a throttling, once a minute per key or address (an attack must not flood the log)."""
        now = time.monotonic()
        if self._logged.get(what, 0.0) > now:
            return
        if len(self._logged) > 10_000:
            self._logged.clear()
        self._logged[what] = now + 60
        log.warning(message, *args)


def _refusal(verdict: Verdict, message: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    body = json.dumps({"detail": {"code": "rate_limited", "message": message}}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(max(1, verdict.reset)).encode()),
        *verdict.headers(),
    ]
    return headers, body


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        limiter = self.limiter
        authorization = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value
                break
        key = limiter.identity(authorization)
        client = scope.get("client")
        address = client[0] if client else "unknown"
        verdict: Verdict | None = None
        known = key is not None and key in limiter.known
        if known and limiter.keys is not None:
            assert key is not None
            verdict = limiter.keys.try_take(key) or await limiter.keys.take(key)
            if not verdict.allowed:
                limiter.note(f"key:{key}", "rate limit: API key %s… over its limit", key[:8])
                await _refuse(send, verdict, f"Too many requests for this API key; retry after {verdict.reset} s.")
                return
        elif not known:
            refused = limiter.refused_address(address)
            if refused is not None:
                limiter.note(f"auth:{address}", "rate limit: refusing %s (too many failed authentications)", address)
                await _refuse(
                    send, refused, f"Too many failed authentications from your address; retry after {refused.reset} s."
                )
                return
        state = scope.setdefault("state", {})

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = message["status"]
                current = verdict
                if status == 401:
                    if key is not None:
                        limiter.known.discard(key)  # rotated or revoked
                    current = await limiter.failed(address)
                elif not known and key is not None and (state.get("authenticated") or status < 400):
                    limiter.remember(key)
                    if limiter.keys is not None:  # charged after the fact: it has been served
                        current = limiter.keys.try_take(key) or await limiter.keys.take(key)
                elif known:
                    pass  # a good key: its bucket's verdict (none when per-key limits are off)
                elif limiter.failures is not None:
                    current = limiter.failures.peek(address)  # no good key: the address's budget
                if current is not None:
                    message.setdefault("headers", []).extend(current.headers())
            await send(message)

        await self.app(scope, receive, with_headers)


async def _refuse(send: Send, verdict: Verdict, message: str) -> None:
    headers, body = _refusal(verdict, message)
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body})
