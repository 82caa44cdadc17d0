"""`Idempotency-Key` on every POST of the API, with Stripe's semantics:

- the same key with the same request (method, path, query and body) gives the first response
  again, marked `Idempotent-Replayed: true`, without running anything again (no second call
  to Microsoft, no second slot);
- the same key with another request is a 422 `idempotency_key_reused`;
- while the first is still running, the same key gets a 409 `idempotency_key_in_use`;
- a 5xx is not kept (the retry runs again); keys live 24 h (`IDEMPOTENCY_TTL`), per API key.

A record whose holder died mid-request (a crash) is taken over once its running time is up."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tenantcore import sealing
from tenantcore.db import now
from tenantcore.idempotency import repository
from tenantcore.idempotency.models import IdempotencyRecord
from tenantcore.runtime import Runtime

IDEMPOTENCY_TTL = timedelta(hours=24)
RUNNING_FOR = timedelta(minutes=5)  # longer than any request may take (Microsoft's retries included)
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_PURPOSE = "idempotent-response"
NOT_REPLAYED = frozenset({"/v1/api-key/rotate"})


def _error(status: int, code: str, message: str) -> tuple[int, bytes]:
    return status, json.dumps({"detail": {"code": code, "message": message}}).encode()


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not scope["path"].startswith("/v1/")
            # A replay is given before authentication: a rotated key must not fetch its successor.
            or scope["path"] in NOT_REPLAYED
        ):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        raw_key = headers.get(b"idempotency-key")
        if raw_key is None or b"authorization" not in headers:  # nobody to keep it for: a 401 follows
            await self.app(scope, receive, send)
            return
        key = raw_key.decode("latin-1")
        if not _KEY.match(key):
            await _answer(send, *_error(400, "invalid_idempotency_key", "Idempotency-Key: 1 to 255 visible ASCII."))
            return
        body = await _read(receive)
        owner = hashlib.sha256(self.runtime.secret + b"\0" + headers.get(b"authorization", b"")).hexdigest()
        fingerprint = hashlib.sha256(
            b"\0".join((scope["method"].encode(), scope["path"].encode(), scope.get("query_string", b""), body))
        ).hexdigest()
        verdict = await self._begin(owner, key, fingerprint)
        if isinstance(verdict, IdempotencyRecord):
            replay = [*verdict.response_headers(), (b"idempotent-replayed", b"true")]
            content = sealing.unseal(self.runtime.secret, _PURPOSE, verdict.body).encode("latin-1")
            await _answer(send, verdict.status or 200, content, replay)
            return
        if verdict is not None:
            await _answer(send, *verdict)
            return
        await self._run(scope, body, send, owner, key)

    async def _begin(self, owner: str, key: str, fingerprint: str) -> IdempotencyRecord | tuple[int, bytes] | None:
        """None: this request runs. A record: its response is given again. (status, body): refused."""
        at = now()
        try:
            async with self.runtime.transaction() as session:
                session.add(
                    IdempotencyRecord(scope=owner, key=key, fingerprint=fingerprint, running_until=at + RUNNING_FOR)
                )
            return None
        except IntegrityError:
            pass
        async with self.runtime.transaction() as session:
            found = await repository.get(session, owner, key)
            if found is None or found.created_at < at - IDEMPOTENCY_TTL:
                if found is not None:
                    await repository.forget(session, owner, key)
                session.add(
                    IdempotencyRecord(scope=owner, key=key, fingerprint=fingerprint, running_until=at + RUNNING_FOR)
                )
                return None
            if found.fingerprint != fingerprint:
                return _error(
                    422, "idempotency_key_reused", "This Idempotency-Key was used with another request: use a new key."
                )
            if found.running_until is None:
                return found
            if await repository.take_over(session, owner, key, fingerprint, at + RUNNING_FOR, at):
                return None  # the first holder died mid-request
        return _error(
            409, "idempotency_key_in_use", "A request with this Idempotency-Key is still running; retry shortly."
        )

    async def _run(self, scope: Scope, body: bytes, send: Send, owner: str, key: str) -> None:
        start: Message | None = None
        chunks: list[bytes] = []
        delivered = False

        async def replay_body() -> Message:
            nonlocal delivered
            if delivered:
                return {"type": "http.disconnect"}
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def capture(message: Message) -> None:
            nonlocal start, kept
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False) and not kept:
                    # Kept before the response's last bytes leave: a client that retries the
                    # moment it has the answer gets it replayed, not a 409 "still running".
                    kept = True
                    await keep()
            await send(message)

        async def keep() -> None:
            async with self.runtime.transaction() as session:
                status = start["status"] if start is not None else 500
                if status >= 500:
                    await repository.forget(session, owner, key)  # not kept: the retry runs again
                else:
                    sealed = sealing.seal(self.runtime.secret, _PURPOSE, b"".join(chunks).decode("latin-1"))
                    headers = IdempotencyRecord.kept_headers(list(start.get("headers", [])))  # type: ignore[union-attr]
                    await repository.finish(session, owner, key, status, headers, sealed)

        kept = False
        try:
            await self.app(scope, replay_body, capture)
        finally:
            if not kept:  # the app raised, or never finished its answer
                kept = True
                await keep()


async def _read(receive: Receive) -> bytes:
    parts = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(parts)


async def _answer(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    out = [h for h in headers or [(b"content-type", b"application/json")]]
    out.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": body})
